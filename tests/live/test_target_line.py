"""Issue 29, live commands: the target line (endpoint, region, credentials and where each came from)
comes first, before any AWS call; with no sandbox and no credentials one line names both ways out;
an unknown stack lists the stacks that exist (every command); a missing known-good names every way
out; the sandbox names the project by its Pulumi.yaml name."""

from __future__ import annotations

import json
import time

import botocore.retries.standard
import pytest
from click.testing import CliRunner

from lbguard.cli.app import main
from lbguard.cli.commands.ops import Context
from lbguard.cli.commands.sandbox import free_port
from lbguard.live import endpoint, state
from tests.conftest import ROOT, ScratchProject
from tests.live import world as W
from tests.live.conftest import cli
from tests.live.faultproxy import WRITE_PREFIXES

LIVE = ["diagnose", "rollback", "promote", "freeze", "unfreeze"]


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No endpoint, no credentials anywhere botocore looks (instance metadata off: not on EC2)."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("command", LIVE + ["drill"])
def test_no_sandbox_and_no_credentials_is_one_line_naming_both_ways(no_aws, command):
    project = ScratchProject(no_aws / "p")
    start = time.monotonic()
    r = run(command, "--stack", "dev", "--cwd", str(project.path))
    assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "lbguard sandbox --stack dev" in r.stderr and "Traceback" not in r.stderr
    if command != "drill":  # a drill only ever goes to a local emulator
        assert "no AWS credentials" in r.stderr and "AWS_PROFILE" in r.stderr and ".lbguard/sandbox-dev.json" in r.stderr
    else:
        assert "drills run only against a local emulator and there is none for dev" in r.stderr
    assert time.monotonic() - start < 5  # refused before any AWS call, not after a timeout
    assert not (project.path / ".lbguard").exists()


def test_the_target_line_names_the_sandbox_record(no_aws, moto_url):
    project = ScratchProject(no_aws / "p")
    state.save_state_file(state.sandbox_file(project.path, "dev"), {"endpoint": moto_url, "region": "eu-west-1"})
    r = run("freeze", "--stack", "dev", "--cwd", str(project.path))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (
        f"lbguard freeze: web-tier/dev in {project.path}; target: {moto_url} region eu-west-1 (endpoint: sandbox "
        f"record .lbguard/sandbox-dev.json; region: sandbox record .lbguard/sandbox-dev.json; credentials: "
        f"placeholders (a local emulator takes any))")
    # --json -: the same line on stderr, stdout holds the JSON alone
    r = run("freeze", "--stack", "dev", "--cwd", str(project.path), "--json", "-")
    assert r.stderr.splitlines()[0].startswith("lbguard freeze: web-tier/dev in ") and json.loads(r.stdout)


def test_the_target_line_names_the_endpoint_option_and_the_environment(no_aws, moto_url, monkeypatch):
    project = ScratchProject(no_aws / "p")
    r = run("freeze", "--stack", "dev", "--cwd", str(project.path), "--endpoint", moto_url)
    assert r.exit_code == 0 and f"target: {moto_url} region us-east-1 (endpoint: --endpoint; region: default (none " \
                                 f"configured); credentials: placeholders" in r.stdout.splitlines()[0], r.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    r = run("freeze", "--stack", "dev", "--cwd", str(project.path))
    assert r.exit_code == 0 and f"target: {moto_url} region us-west-2 (endpoint: environment AWS_ENDPOINT_URL; " \
                                 f"region: environment AWS_REGION; credentials: env)" in r.stdout.splitlines()[0]


def test_the_target_line_names_the_profile_and_the_aws_endpoint_without_calling_aws(no_aws, monkeypatch):
    (no_aws / "no-config").write_text("[profile ops]\nregion = eu-west-2\n")
    (no_aws / "no-credentials").write_text("[ops]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_PROFILE", "ops")
    project = ScratchProject(no_aws / "p")
    where = endpoint.resolve(project.path, "dev")
    assert (where.url, where.region, where.region_source, where.credentials) == (
        None, "eu-west-2", "profile ops (AWS config file)", "shared-credentials-file (profile ops)")
    ctx = Context(project.path, "web-tier", "dev", where)
    assert ctx.describe().startswith("AWS https://elasticloadbalancing.eu-west-2.amazonaws.com region eu-west-2 "
                                     "(endpoint: none set (no --endpoint, no AWS_ENDPOINT_URL, no sandbox record")
    assert ctx.client("ssm").meta.region_name == "eu-west-2"


def test_the_target_line_comes_before_the_first_aws_call(no_aws, monkeypatch):
    """Nothing listens at the endpoint: the line is out before the call that fails."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)
    project = ScratchProject(no_aws / "p")
    url = f"http://127.0.0.1:{free_port()}"
    r = run("diagnose", "--stack", "dev", "--cwd", str(project.path), "--endpoint", url)
    assert r.exit_code == 2 and r.stdout.splitlines()[0].startswith(f"lbguard diagnose: web-tier/dev in {project.path}; "
                                                                    f"target: {url} region us-east-1 (endpoint: --endpoint")
    assert r.stderr.strip().splitlines() == [f'lbguard: error: AWS: Could not connect to the endpoint URL: "{url}/" (the '
                                             f'first line names the target: a stopped sandbox starts again with '
                                             f'`lbguard sandbox --stack dev`)']


COMMANDS = ["preflight", "route", "preview", "rehearse", "sandbox", "diagnose", "rollback", "promote", "drill", "freeze",
            "unfreeze"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("order", ["stack-first", "cwd-first"])
def test_an_unknown_stack_lists_the_stacks_that_exist(command, order, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--stack", "dve", "--cwd", str(ROOT)] if order == "stack-first" else ["--cwd", str(ROOT), "--stack", "dve"]
    r = run(command, *args)
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert r.stderr.strip().splitlines() == [f"lbguard: error: stack 'dve' not found in {ROOT}: the stacks here are dev, "
                                             f"prod, staging (did you mean --stack dev?)"]
    assert list(tmp_path.iterdir()) == []


def test_rollback_without_known_good_names_every_way_out(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    W.june_1(world, direct.url)
    direct.ssm.delete_parameter(Name=state.ssm_name("web-tier", stack, "known-good"))
    start = len(proxy.log)
    code, _, err = cli(project, stack, "rollback")
    assert code == 2 and len(err.strip().splitlines()) == 1
    for way in (f"lbguard rollback --stack {stack} --to current", f"lbguard rollback --stack {stack} --snapshot FILE",
                f"lbguard promote --stack {stack}"):
        assert way in err, way
    assert [e.op for e in proxy.log[start:] if e.op.startswith(WRITE_PREFIXES)] == []
    code, doc, err = cli(project, stack, "rollback", "--to", "current", "--json", "-")  # the first way out works
    assert code == 0 and doc["verified"], err
    assert W.routing_now(world, direct.url) == W.freeze_routing(world.snapshot)


def test_a_remote_endpoint_without_credentials_says_so(no_aws, monkeypatch):
    project = ScratchProject(no_aws / "p")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://elasticloadbalancing.example.internal")
    r = run("diagnose", "--stack", "dev", "--cwd", str(project.path))
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        "lbguard: error: no AWS credentials for https://elasticloadbalancing.example.internal (environment "
        "AWS_ENDPOINT_URL): set AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; or work on the "
        "local sandbox: `lbguard sandbox --stack dev`"]
