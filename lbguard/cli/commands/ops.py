"""Shared plumbing of the live commands (promote, rollback, diagnose, drill, freeze, unfreeze):
where they go (said on the first line, before any AWS call), their clients, their errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from botocore.parsers import ResponseParserError

from lbguard.live import endpoint as ep
from lbguard.live import reader, state
from lbguard.cli.commands.common import header, resolve_project_dir
from lbguard.core.stackconfig import load_project
from lbguard.core.model import LbguardError


@dataclass
class Context:
    project_dir: Path
    project: str
    stack: str
    where: ep.Endpoint
    _clients: dict = field(default_factory=dict, repr=False)

    @property
    def endpoint(self) -> str | None:
        return self.where.url

    @property
    def region(self) -> str:
        return self.where.region

    def client(self, service: str):
        # The endpoint is passed explicitly: a service-specific endpoint variable or the
        # config file must not redirect a drill checked against the endpoint named here.
        if service not in self._clients:
            session = self._clients.setdefault("session", self.where.session())
            self._clients[service] = session.client(service, endpoint_url=self.endpoint, config=reader.RETRY_CONFIG)
        return self._clients[service]

    def parameter(self, name: str) -> dict | None:
        try:
            value = self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ParameterNotFound":
                return None
            raise
        return state.decode_snapshot(value, f"SSM parameter {name}")

    def current(self) -> dict | None:
        return self.parameter(state.ssm_name(self.project, self.stack, "current"))

    def known_good(self) -> dict | None:
        return self.parameter(state.ssm_name(self.project, self.stack, "known-good"))

    def target(self):
        """What this stack owns, from AWS and the deploy's own record: the account the
        credentials are in, the region, and the load balancer of ``routing/current``
        (which must itself name this project, stack, region and account)."""
        from lbguard.live.operation import Target
        from lbguard.core.snapshot import check_owner, validate_snapshot

        name = state.ssm_name(self.project, self.stack, "current")
        current = self.current()
        if current is None:
            raise LbguardError(f"no current snapshot for {self.project}/{self.stack} (SSM {name}) at {self.describe()}: "
                               f"deploy the stack first (or `lbguard sandbox --stack {self.stack}`); it names the load "
                               f"balancer this stack owns")
        validate_snapshot(current, f"SSM {name}")
        account = self.client("sts").get_caller_identity()["Account"]
        lb = current["loadBalancer"]["arn"]
        check_owner(current, project=self.project, stack=self.stack, region=self.region, account=account,
                    load_balancer_arn=lb, source=f"SSM {name}")
        return Target(self.project, self.stack, self.region, account, lb)

    def describe(self) -> str:
        return self.where.describe(None if self.endpoint else self.client("elbv2").meta.endpoint_url)

    def short(self) -> str:
        """The endpoint and region alone, for lines after the first."""
        return f"{self.endpoint or self.client('elbv2').meta.endpoint_url} region {self.region}"


def endpoint_option(f):
    return click.option("--endpoint", "endpoint_url", default=None, metavar="URL",
                        help="the AWS endpoint (default: $AWS_ENDPOINT_URL, else the stack's sandbox record, "
                             "else AWS's own)")(f)


def context(command: str, stack: str, cwd: Path | None, json_path: str | None, endpoint_url: str | None = None,
            *, local_only: bool = False) -> Context:
    """Resolve the project and where the command goes, and say it on the first line (stderr when
    stdout carries the JSON), before any AWS call."""
    project_dir = resolve_project_dir(cwd)
    project = load_project(project_dir)["name"]
    ctx = Context(project_dir, project, stack, ep.resolve(project_dir, stack, endpoint_url, local_only=local_only))
    header(command, project_dir, stack, ctx.describe(), json_path=json_path, project=project)
    return ctx


def aws_errors(fn):
    """Turn AWS/connection errors into one line (exit 2)."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ClientError as err:
            e = err.response.get("Error", {})
            raise LbguardError(f"AWS: {err.operation_name}: {e.get('Code')}: {e.get('Message')}") from None
        except EndpointConnectionError as err:
            stack = kwargs.get("stack") or "STACK"
            raise LbguardError(f"AWS: {err} (the first line names the target: a stopped sandbox starts again with "
                               f"`lbguard sandbox --stack {stack}`)") from None
        except BotoCoreError as err:
            raise LbguardError(f"AWS: {err}") from None
        except ResponseParserError as err:
            raise LbguardError(f"AWS: unreadable response: {str(err).splitlines()[0][:200]}") from None
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def emit(json_path: str | None, doc: dict) -> None:
    if json_path:
        from lbguard.cli.commands.common import write_json

        write_json(json_path, doc)


def echo(json_path: str | None, text: str) -> None:
    if json_path != "-":
        click.echo(text)


def announce(json_path: str | None, text: str) -> None:
    """What a live command is about to write to: always said, on stderr when stdout is JSON."""
    click.echo(text, err=json_path == "-")
