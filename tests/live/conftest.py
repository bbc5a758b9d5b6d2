"""One moto server process for the rollback tests, a fault proxy per test in front of it, and the
environment that sends lbguard's boto3 clients through the proxy."""

from __future__ import annotations

import json
import shutil
import uuid

import boto3
import botocore.retries.standard
import pytest
from click.testing import CliRunner

from lbguard.cli.app import main
from lbguard.cli.commands.sandbox import free_port, start_moto_server
from tests.conftest import ROOT
from tests.live.faultproxy import FaultProxy


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory):
    port = free_port()
    proc = start_moto_server(port, tmp_path_factory.mktemp("moto") / "moto.log")
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


@pytest.fixture
def proxy(moto_url, monkeypatch):
    """Every lbguard call goes through the proxy; botocore's retry backoff is 0 s here
    (the retries themselves still happen: the proxy's log counts them)."""
    p = FaultProxy(moto_url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)
    yield p
    p.stop()


@pytest.fixture
def stack() -> str:
    return "t" + uuid.uuid4().hex[:8]


@pytest.fixture
def project(tmp_path, stack):
    """A project directory: lbguard's live commands read the project name and the stack's (empty)
    settings from it."""
    path = tmp_path / "project"
    (path / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", path / "Pulumi.yaml")
    (path / "stacks" / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    return path


class Direct:
    """Clients straight to moto (no proxy): setup and read-backs."""

    def __init__(self, url: str):
        self.url = url
        self.elbv2 = boto3.client("elbv2", region_name="us-east-1", endpoint_url=url)
        self.ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=url)


@pytest.fixture
def direct(moto_url) -> Direct:
    return Direct(moto_url)


def cli(project, stack: str, *args: str):
    """Run `lbguard ARGS --stack STACK --cwd PROJECT`; (exit code, JSON document or None, stderr)."""
    r = CliRunner().invoke(main, [*args, "--stack", stack, "--cwd", str(project)])
    doc = None
    if "--json" in args and args[args.index("--json") + 1] == "-" and r.stdout.strip().startswith("{"):
        doc = json.loads(r.stdout)
    return r.exit_code, doc, r.stderr
