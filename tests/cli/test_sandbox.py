"""`lbguard sandbox`: apply, edit, apply again converges (no duplicates); loopback only; stop."""

from __future__ import annotations

import json

import boto3
import pytest
from click.testing import CliRunner

from lbguard.cli.app import main
from lbguard.cli.commands.sandbox import free_port, start_moto_server
from tests.conftest import ScratchProject


@pytest.fixture
def server(tmp_path):
    port = free_port()
    proc = start_moto_server(port, tmp_path / "moto.log")
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def _held(server):
    kw = dict(region_name="us-east-1", endpoint_url=server, aws_access_key_id="t", aws_secret_access_key="t")
    elbv2, ec2 = boto3.client("elbv2", **kw), boto3.client("ec2", **kw)
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    listeners = [l for lb in lbs for l in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
    https = next(l for l in listeners if l["Port"] == 443)
    return {"lbs": len(lbs), "tgs": sorted(t["TargetGroupName"] for t in elbv2.describe_target_groups()["TargetGroups"]),
            "vpcs": len([v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]),
            "rules": sorted(r["Priority"] for r in elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]),
            "paths": sorted(t["HealthCheckPath"] for t in elbv2.describe_target_groups()["TargetGroups"])}


def test_apply_edit_apply_converges_without_duplicates(server, tmp_path):
    project = ScratchProject(tmp_path / "p")
    args = ["sandbox", "--stack", "dev", "--cwd", str(project.path), "--endpoint", server]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    before = _held(server)
    assert before["lbs"] == 1 and before["vpcs"] == 1 and len(before["tgs"]) == 2
    cfg = project.config("dev")
    cfg["web-tier:pools"]["blue"]["healthCheck"]["path"] = "/healthz"
    cfg["web-tier:routing"]["rules"]["static"] = {"priority": 30, "conditions": {"path": ["/static/*"]},
                                                 "forward": {"weights": {"blue": 50, "green": 50}}}
    project.write("dev", cfg)
    out = tmp_path / "second.json"
    second = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert second.exit_code == 0, second.output
    after = _held(server)
    assert after["lbs"] == 1 and after["vpcs"] == 1 and after["tgs"] == before["tgs"]  # updated in place
    assert after["rules"] == sorted(["10", "20", "30", "default"])
    assert after["paths"] == ["/health", "/healthz"]
    ops = {(s["name"], s["op"]) for s in json.loads(out.read_text())["steps"]}
    assert ("web-routing-rule-static", "create") in ops and ("web-pool-blue-tg", "update") in ops
    third = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert third.exit_code == 0 and json.loads(out.read_text())["steps"] == []  # nothing left to do
    assert _held(server) == after


def test_non_local_endpoint_refused_without_a_write(tmp_path):
    project = ScratchProject(tmp_path / "p")
    r = CliRunner().invoke(main, ["sandbox", "--cwd", str(project.path), "--endpoint", "https://example.com"])
    assert r.exit_code == 2 and "only uses an emulator on this machine" in r.output
    assert not (project.path / ".lbguard").exists()


def test_stop_forgets_the_sandbox(tmp_path):
    project = ScratchProject(tmp_path / "p")
    r = CliRunner().invoke(main, ["sandbox", "--cwd", str(project.path), "--stop"])
    assert r.exit_code == 0 and "no server of ours to stop" in r.output


def test_stop_forgets_a_drill_record_with_the_emulator(tmp_path):
    project = ScratchProject(tmp_path / "p")
    record = project.path / ".lbguard" / "drill-dev.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"scenario": "funnel", "endpoint": "http://127.0.0.1:1"}))
    r = CliRunner().invoke(main, ["sandbox", "--cwd", str(project.path), "--stop"])
    assert r.exit_code == 0 and "forgot the drill record" in r.output
    assert not record.exists()
