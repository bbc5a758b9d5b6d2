"""Shared plumbing of the live commands (promote, rollback, diagnose, drill)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from lbguard.live import rollback, state
from lbguard.cli.commands.common import resolve_project_dir
from lbguard.core.stackconfig import load_project
from lbguard.core.model import LbguardError


@dataclass
class Context:
    project_dir: Path
    project: str
    stack: str
    endpoint: str | None
    region: str

    def client(self, service: str):
        # The endpoint is passed explicitly: a service-specific endpoint variable or the
        # config file must not redirect a drill checked against AWS_ENDPOINT_URL.
        if service == "elbv2":
            return rollback.client(region=self.region, endpoint_url=self.endpoint)
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint, config=rollback.RETRY_CONFIG)

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
            raise LbguardError(f"no current snapshot for {self.project}/{self.stack} (SSM {name}): deploy the stack "
                               f"first; it names the load balancer this stack owns")
        validate_snapshot(current, f"SSM {name}")
        account = self.client("sts").get_caller_identity()["Account"]
        lb = current["loadBalancer"]["arn"]
        check_owner(current, project=self.project, stack=self.stack, region=self.region, account=account,
                    load_balancer_arn=lb, source=f"SSM {name}")
        return Target(self.project, self.stack, self.region, account, lb)

    def describe(self) -> str:
        return f"{self.endpoint or 'AWS (no endpoint override)'} region {self.region}"


def context(stack: str, cwd: Path | None) -> Context:
    project_dir = resolve_project_dir(cwd)
    project = load_project(project_dir)["name"]
    endpoint = state.use_endpoint(project_dir, stack)
    sandbox = state.load_sandbox(project_dir, stack) or {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or sandbox.get("region") or "us-east-1"
    return Context(project_dir, project, stack, endpoint, region)


def aws_errors(fn):
    """Turn AWS/connection errors into one line (exit 2)."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ClientError as err:
            e = err.response.get("Error", {})
            raise LbguardError(f"AWS: {err.operation_name}: {e.get('Code')}: {e.get('Message')}") from None
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
