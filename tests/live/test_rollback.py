"""Sandbox, promote, drill, diagnose, rollback: against a real moto server process."""

from __future__ import annotations

import copy
import json

import boto3
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from click.testing import CliRunner

from components.known_good import rollback_policy_document
from lbguard.live import rollback as rb
from lbguard.core import shapes
from lbguard.live import endpoint, reader, state
from lbguard.cli.app import main
from lbguard.live.lambda_handler import handler
from lbguard.core.model import LbguardError
from tests.conftest import ScratchProject


@pytest.fixture(scope="module")
def server(moto_url):
    return moto_url  # the rollback tests' shared moto server (tests/live/conftest.py)


@pytest.fixture(scope="module")
def sandbox(server, tmp_path_factory):
    """The dev stack applied into the server, then promoted to known-good."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ENDPOINT_URL", server)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    project = ScratchProject(tmp_path_factory.mktemp("sb") / "project")
    r = cli("sandbox", "--stack", "dev", "--cwd", str(project.path))
    assert r.exit_code == 0, r.output
    assert f"sandbox: web-tier/dev -> moto at {server} (environment AWS_ENDPOINT_URL), region us-east-1" in r.stderr
    outputs = json.loads(r.stdout)
    assert cli("promote", "--stack", "dev", "--cwd", str(project.path)).exit_code == 0
    yield project, outputs
    mp.undo()


def cli(*args):
    return CliRunner().invoke(main, list(args))


def elbv2():
    return boto3.client("elbv2", region_name="us-east-1")


def known_good(project):
    value = boto3.client("ssm", region_name="us-east-1").get_parameter(Name="/web-tier/dev/routing/known-good")
    return state.decode_snapshot(value["Parameter"]["Value"], "known-good")


def assert_live_equals(snapshot):
    client = elbv2()
    for lst in snapshot["listeners"]:
        held = client.describe_listeners(ListenerArns=[lst["arn"]])["Listeners"][0]
        assert shapes.canonical_actions(held["DefaultActions"]) == shapes.canonical_actions(lst["defaultActions"])
        rules = {r["RuleArn"]: r for r in client.describe_rules(ListenerArn=lst["arn"])["Rules"] if not r["IsDefault"]}
        assert set(rules) == {r["arn"] for r in lst["rules"]}
        for r in lst["rules"]:
            assert int(rules[r["arn"]]["Priority"]) == r["priority"]
            assert shapes.canonical_actions(rules[r["arn"]]["Actions"]) == shapes.canonical_actions(r["actions"])
            assert shapes.canonical_conditions(rules[r["arn"]]["Conditions"]) == shapes.canonical_conditions(r["conditions"])


def test_drill_diagnose_rollback_end_to_end(sandbox):
    project, outputs = sandbox
    cwd = ("--stack", "dev", "--cwd", str(project.path))
    promoted = known_good(project)
    assert promoted == outputs["rollback"]

    drill = cli("drill", "--scenario", "funnel", *cwd, "--json", "-")
    assert drill.exit_code == 0, drill.output
    culprit = json.loads(drill.stdout)["changes"][-1].split("(")[1].split(")")[0]

    diag = cli("diagnose", *cwd, "--json", "-")
    assert diag.exit_code == 1, diag.output
    findings = json.loads(diag.stdout)["findings"]
    funnel = [f for f in findings if f["kind"] == "funnel"]
    assert funnel and funnel[0]["ruleArn"] == culprit and funnel[0]["severity"] == "critical"
    assert "receives 100%" in funnel[0]["message"]
    assert any(f["kind"] == "drift-from-known-good" and f["ruleArn"] == culprit for f in findings)

    first = cli("rollback", *cwd, "--json", "-")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["verified"] is True and doc["writeCalls"] == 1 and doc["notApplied"] == []
    assert doc["applied"][0]["call"] == "DeleteRule" and doc["applied"][0]["params"]["RuleArn"] == culprit
    assert doc["target"]["loadBalancerArn"] == outputs["loadBalancerArn"]
    assert_live_equals(promoted)

    second = json.loads(cli("rollback", *cwd, "--json", "-").stdout)
    assert (second["writeCalls"], second["applied"], second["notApplied"], second["verified"], second["differences"],
            second["freeze"]) == (0, [], [], True, [], None)
    diag = cli("diagnose", *cwd, "--json", "-")  # the outage is over; the pool is still short
    assert diag.exit_code == 0
    assert [f["kind"] for f in json.loads(diag.stdout)["findings"]] == ["below-minimum"]
    assert json.loads(diag.stdout)["next"]["command"] == "lbguard drill --undo --stack dev"
    assert cli("unfreeze", *cwd).exit_code == 0
    # The rollback deleted the drill's rule; --undo re-registers the targets it cannot.
    undo = cli("drill", "--undo", *cwd, "--json", "-")
    assert undo.exit_code == 0, undo.output
    doc = json.loads(undo.stdout)
    assert doc["recordRemoved"] is True and doc["failed"] == [] and doc["left"] == []
    assert [line.startswith("re-registered 2 target(s) in pool blue") for line in doc["restored"]] == [True], doc
    assert any("already deleted" in line for line in doc["already"])
    assert len(targets(promoted, "blue")) == 3
    assert_live_equals(promoted)


def targets(snapshot, pool):
    """(id, port, state) of every target registered in ``pool``, read back from moto."""
    health = elbv2().describe_target_health(TargetGroupArn=snapshot["targetGroups"][pool]["arn"])
    return sorted((h["Target"]["Id"], h["Target"].get("Port"), h["TargetHealth"]["State"])
                  for h in health["TargetHealthDescriptions"])


def test_funnel_drill_is_recorded_refused_twice_and_undone(sandbox, server):
    project, outputs = sandbox
    cwd = ("--stack", "dev", "--cwd", str(project.path))
    promoted = known_good(project)
    before = {pool: targets(promoted, pool) for pool in promoted["targetGroups"]}
    assert len(before["blue"]) == 3 and all(state == "healthy" for _, _, state in before["blue"])
    record = project.path / ".lbguard" / "drill-dev.json"

    drill = cli("drill", "--scenario", "funnel", *cwd)
    assert drill.exit_code == 0, drill.output
    first, second = drill.stdout.splitlines()[:2]
    assert first == (f"lbguard drill funnel: web-tier/dev in {project.path}; target: {server} region us-east-1 "
                     f"(endpoint: environment AWS_ENDPOINT_URL; region: environment AWS_DEFAULT_REGION; credentials: env)")
    assert second.startswith("drill funnel: web-tier/dev load balancer " + outputs["loadBalancerArn"])
    assert f"(account 123456789012) at {server} region us-east-1; record {record}" in second
    doc = json.loads(record.read_text())
    gone = sorted((t["id"], t["port"], "healthy") for t in doc["deregisteredTargets"])
    assert len(gone) == 2 and sorted(gone + targets(promoted, "blue")) == before["blue"]
    assert {t["targetGroupArn"] for t in doc["deregisteredTargets"]} == {promoted["targetGroups"]["blue"]["arn"]}
    [created] = doc["createdRules"]
    https = next(l for l in promoted["listeners"] if l["key"] == "https")
    assert created["listenerArn"] == https["arn"]
    rules_after_drill = {r["RuleArn"] for r in elbv2().describe_rules(ListenerArn=https["arn"])["Rules"]}
    assert created["ruleArn"] in rules_after_drill

    diag = cli("diagnose", *cwd, "--json", "-")
    assert diag.exit_code == 1, diag.output
    doc = json.loads(diag.stdout)
    low = [f for f in doc["findings"] if f["kind"] == "below-minimum"]
    assert [(f["pool"], f["severity"], f["where"], f["healthy"], f["minimum"]) for f in low] == [
        ("blue", "high", "pool blue", 1, 3)]
    assert "MinSize of Auto Scaling group" in low[0]["message"]
    [funnel] = [f for f in doc["findings"] if f["kind"] == "funnel"]
    assert funnel["where"] == "listener https rule " + created["ruleArn"].rsplit("/", 1)[-1] and funnel["pool"] == "blue"
    assert f"listener https rule {created['ruleArn'].rsplit('/', 1)[-1]} (priority" in funnel["message"]
    assert doc["next"]["command"] == "lbguard drill --undo --stack dev" and doc["drillRecord"] == str(record)
    text = cli("diagnose", *cwd)
    assert text.stdout.splitlines()[0].startswith("lbguard diagnose: web-tier/dev in ")
    assert text.stdout.splitlines()[1].startswith(f"diagnose: reading load balancer {outputs['loadBalancerArn']}")
    assert text.stdout.strip().splitlines()[-1].startswith("next: lbguard drill --undo --stack dev (")
    assert {r["pool"] for r in json.loads(diag.stdout)["shares"]} == {"blue", "green", None}  # None: http's redirect
    api = [r for r in doc["shares"] if r["rule"] == "api"]  # shadowed by the drill's catch-all: nothing reaches it
    assert api and {(r["listener"], r["priority"], r["reach"], r["share"], r["reachSource"]) for r in api} == {
        ("https", 10, 0.0, 0.0, "shadowed")}

    again = cli("drill", "--scenario", "uneven", *cwd)
    assert again.exit_code == 2
    assert again.stderr.strip().count("\n") == 0 and "lbguard drill --undo --stack dev" in again.stderr
    assert {r["RuleArn"] for r in elbv2().describe_rules(ListenerArn=https["arn"])["Rules"]} == rules_after_drill
    held = elbv2().describe_listeners(ListenerArns=[https["arn"]])["Listeners"][0]["DefaultActions"]
    assert shapes.canonical_actions(held) == shapes.canonical_actions(https["defaultActions"])  # uneven not applied

    undo = cli("drill", "--undo", *cwd)
    assert undo.exit_code == 0, undo.output
    assert undo.stdout.splitlines()[1].startswith("drill --undo: web-tier/dev load balancer ")
    assert "next: lbguard diagnose --stack dev" in undo.stdout
    assert {pool: targets(promoted, pool) for pool in promoted["targetGroups"]} == before
    assert created["ruleArn"] not in {r["RuleArn"] for r in elbv2().describe_rules(ListenerArn=https["arn"])["Rules"]}
    assert_live_equals(promoted)
    assert not record.exists()

    after = cli("diagnose", *cwd, "--json", "-")
    assert after.exit_code == 0 and json.loads(after.stdout)["findings"] == []
    assert json.loads(after.stdout)["next"] == {"command": None, "reason": "nothing to do"}
    lines = cli("diagnose", *cwd).stdout.strip().splitlines()
    assert lines[-2:] == ["no findings", "next: nothing to do"]

    twice = cli("drill", "--undo", *cwd, "--json", "-")
    assert twice.exit_code == 0 and json.loads(twice.stdout)["nothingToUndo"] is True
    assert "nothing to undo for dev" in cli("drill", "--undo", *cwd).stdout
    assert {pool: targets(promoted, pool) for pool in promoted["targetGroups"]} == before
    assert_live_equals(promoted)


def test_drill_failing_part_way_is_recorded_and_undone(sandbox, monkeypatch):
    project, outputs = sandbox
    cwd = ("--stack", "dev", "--cwd", str(project.path))
    promoted = known_good(project)
    before = targets(promoted, "blue")
    from lbguard.cli.commands import ops

    real = ops.Context.client

    def failing(self, service):
        client = real(self, service)
        if service == "elbv2":
            def refuse(**_):
                raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected"}}, "CreateRule")
            client.meta.events.register("before-call.elastic-load-balancing-v2.CreateRule", refuse)
        return client

    monkeypatch.setattr(ops.Context, "client", failing)
    r = cli("drill", "--scenario", "funnel", *cwd)
    assert r.exit_code == 2 and "CreateRule: InternalFailure: injected" in r.stderr
    monkeypatch.undo()
    assert len(targets(promoted, "blue")) == 1  # the deregistration landed before the failure...
    doc = json.loads((project.path / ".lbguard" / "drill-dev.json").read_text())
    assert len(doc["deregisteredTargets"]) == 2 and [c["ruleArn"] for c in doc["createdRules"]] == [None]  # ...recorded
    assert cli("drill", "--scenario", "funnel", *cwd).exit_code == 2  # refused until undone
    undo = cli("drill", "--undo", *cwd, "--json", "-")
    assert undo.exit_code == 0, undo.output
    doc = json.loads(undo.stdout)
    assert [line.split(":")[0] for line in doc["restored"]] == ["re-registered 2 target(s) in pool blue"]
    assert doc["already"] == ["rule priority 1: already deleted (or never created)"] and doc["recordRemoved"]
    assert targets(promoted, "blue") == before
    assert_live_equals(promoted)


def test_undo_leaves_a_default_action_changed_since_the_drill(sandbox):
    project, outputs = sandbox
    cwd = ("--stack", "dev", "--cwd", str(project.path))
    promoted = known_good(project)
    https = next(l for l in promoted["listeners"] if l["key"] == "https")
    assert cli("drill", "--scenario", "uneven", *cwd).exit_code == 0
    held = elbv2().describe_listeners(ListenerArns=[https["arn"]])["Listeners"][0]["DefaultActions"]
    assert [g["Weight"] for g in held[0]["ForwardConfig"]["TargetGroups"]] == [90, 10]
    other = copy.deepcopy(https["defaultActions"])
    other[0]["ForwardConfig"]["TargetGroups"][0]["Weight"] = 70  # someone else's change, after the drill
    elbv2().modify_listener(ListenerArn=https["arn"], DefaultActions=other)
    undo = cli("drill", "--undo", *cwd, "--json", "-")
    assert undo.exit_code == 0, undo.output
    doc = json.loads(undo.stdout)
    assert doc["restored"] == [] and doc["recordRemoved"] is True
    assert [line.split(":")[0] for line in doc["left"]] == ["listener https"]
    held = elbv2().describe_listeners(ListenerArns=[https["arn"]])["Listeners"][0]["DefaultActions"]
    assert shapes.canonical_actions(held) == shapes.canonical_actions(other)  # not overwritten
    rb.converge(reader.client(region="us-east-1"), promoted)
    assert_live_equals(promoted)


def test_rollback_restores_weights_priorities_and_default_actions(sandbox):
    project, outputs = sandbox
    promoted = known_good(project)
    https = next(l for l in promoted["listeners"] if l["key"] == "https")
    client = elbv2()
    api, maint = https["rules"]
    # Break three things at once: a swap of priorities, rule weights, the default forward.
    client.set_rule_priorities(RulePriorities=[{"RuleArn": api["arn"], "Priority": 30}])
    client.set_rule_priorities(RulePriorities=[{"RuleArn": maint["arn"], "Priority": 10}])
    client.set_rule_priorities(RulePriorities=[{"RuleArn": api["arn"], "Priority": 20}])
    skew = copy.deepcopy(https["defaultActions"])
    skew[0]["ForwardConfig"]["TargetGroups"][0]["Weight"] = 99
    client.modify_listener(ListenerArn=https["arn"], DefaultActions=skew)
    client.modify_rule(RuleArn=api["arn"], Actions=skew)
    result = rb.converge(reader.client(region="us-east-1"), promoted)
    # Default action and rule first (outage-class skew), priorities (two calls: a swap) after.
    assert result.verified and [a["call"] for a in result.applied] == ["ModifyListener", "ModifyRule",
                                                                       "SetRulePriorities"]
    assert [w["call"] for w in result.writes] == ["ModifyListener", "ModifyRule", "SetRulePriorities",
                                                  "SetRulePriorities"]
    assert_live_equals(promoted)
    assert rb.converge(reader.client(region="us-east-1"), promoted).writes == []


def test_stale_snapshot_is_refused_without_writes(sandbox):
    project, outputs = sandbox
    promoted = known_good(project)
    client = elbv2()
    vpc = client.describe_target_groups(TargetGroupArns=[promoted["targetGroups"]["blue"]["arn"]])["TargetGroups"][0]["VpcId"]
    ghost = client.create_target_group(Name="ghost", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    client.delete_target_group(TargetGroupArn=ghost)
    stale = copy.deepcopy(promoted)
    https = next(l for l in stale["listeners"] if l["key"] == "https")
    https["defaultActions"][0]["ForwardConfig"]["TargetGroups"][1]["TargetGroupArn"] = ghost
    path = project.path / "stale.json"
    path.write_text(json.dumps(stale))
    # Something to restore, so a write would be visible.
    skew = copy.deepcopy(promoted["listeners"][0]["defaultActions"])
    client.modify_listener(ListenerArn=https["arn"], DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "503", "ContentType": "text/plain"}}])
    r = cli("rollback", "--stack", "dev", "--cwd", str(project.path), "--snapshot", str(path), "--json", "-")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["writeCalls"] == 0 and doc["applied"] == [] and not doc["verified"]
    assert [(n["call"], n["reason"]) for n in doc["notApplied"]] == [
        ("ModifyListener", "target group ghost no longer exists")]
    held = client.describe_listeners(ListenerArns=[https["arn"]])["Listeners"][0]["DefaultActions"]
    assert held[0]["Type"] == "fixed-response"  # untouched: restoring it would forward to a target group that is gone
    rb.converge(reader.client(region="us-east-1"), promoted)
    assert_live_equals(promoted)
    del skew


def _throttle_first(n):
    """A before-send hook answering the first n sends with 400 Throttling."""
    count = {"n": 0}

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **_):
            yield self.body

    def hook(request, **_):
        if count["n"] < n:
            count["n"] += 1
            body = (b'<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>'
                    b'<Message>Rate exceeded</Message></Error></ErrorResponse>')
            return AWSResponse(request.url, 400, {}, Raw(body))
        return None
    return hook, count


def test_throttling_and_failure_part_way_converge(sandbox, monkeypatch):
    project, outputs = sandbox
    promoted = known_good(project)
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)
    client = elbv2()
    https = next(l for l in promoted["listeners"] if l["key"] == "https")
    api = https["rules"][0]
    skew = copy.deepcopy(https["defaultActions"])
    skew[0]["ForwardConfig"]["TargetGroups"][0]["Weight"] = 7
    client.modify_listener(ListenerArn=https["arn"], DefaultActions=skew)
    client.modify_rule(RuleArn=api["arn"], Actions=skew)

    # 1. The first three writes are throttled: botocore's standard retry mode absorbs them.
    throttled = reader.client(region="us-east-1")
    hook, count = _throttle_first(3)
    throttled.meta.events.register("before-send.elastic-load-balancing-v2.ModifyRule", hook)
    # 2. ...and ModifyListener then fails for good: the run stops part-way.
    def fail(**_):
        raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected"}}, "ModifyListener")
    throttled.meta.events.register("before-call.elastic-load-balancing-v2.ModifyListener", fail)
    result = rb.converge(throttled, promoted)
    assert count["n"] == 3
    assert [a["call"] for a in result.applied] == ["ModifyRule"]
    assert [(n["call"], "injected" in n["reason"]) for n in result.not_applied] == [("ModifyListener", True)]
    assert "injected" in result.error and not result.verified
    # Given up after two failures, every write listed with its outcome.
    assert [(w["call"], w["outcome"].split(":")[0]) for w in result.writes] == [
        ("ModifyListener", "InternalFailure"), ("ModifyRule", "ok"), ("ModifyListener", "InternalFailure")]
    for lst in promoted["listeners"]:  # never without a default action
        assert client.describe_listeners(ListenerArns=[lst["arn"]])["Listeners"][0]["DefaultActions"]

    # A re-run converges.
    again = rb.converge(reader.client(region="us-east-1"), promoted)
    assert [a["call"] for a in again.applied] == ["ModifyListener"] and again.verified
    assert_live_equals(promoted)


def test_lambda_handler_rolls_back_on_alarm(sandbox, monkeypatch):
    project, outputs = sandbox
    promoted = known_good(project)
    monkeypatch.setenv("LBGUARD_PROJECT", "web-tier")
    monkeypatch.setenv("LBGUARD_STACK", "dev")
    monkeypatch.setenv("LBGUARD_COOLDOWN_SECONDS", "900")
    monkeypatch.setenv("LBGUARD_TRIGGER_ALARMS", "web-tier-dev-share-skew-https-default")
    monkeypatch.setenv("LBGUARD_LOAD_BALANCER_ARN", outputs["loadBalancerArn"])
    assert cli("drill", "--scenario", "uneven", "--stack", "dev", "--cwd", str(project.path)).exit_code == 0
    event = {"Records": [{"Sns": {"Message": json.dumps({
        "AlarmName": "web-tier-dev-share-skew-https-default", "NewStateValue": "ALARM"})}}]}
    ssm = boto3.client("ssm", region_name="us-east-1")
    out = handler(event, None, ssm=ssm, elbv2=reader.client(region="us-east-1"), now=10_000.0)
    assert out["action"] == "rollback" and out["verified"] is True and out["writeCalls"] == 1
    assert out["applied"][0]["call"] == "ModifyListener" and out["freeze"]["recorded"] is True
    assert_live_equals(promoted)
    assert ssm.get_parameter(Name="/web-tier/dev/routing/last-auto-rollback")["Parameter"]["Value"] == "10000.0"
    # The rollback restored the default action: --undo finds it done and removes the record.
    undo = cli("drill", "--undo", "--stack", "dev", "--cwd", str(project.path), "--json", "-")
    assert undo.exit_code == 0 and json.loads(undo.stdout)["already"] == [
        "listener https: default action is as before the drill"]
    # Within the cool-down: nothing, even with a fresh drill.
    assert cli("drill", "--scenario", "uneven", "--stack", "dev", "--cwd", str(project.path)).exit_code == 0
    again = handler(event, None, ssm=ssm, elbv2=reader.client(region="us-east-1"), now=10_300.0)
    assert again["action"] == "none" and "cool-down" in again["reason"]
    # An OK notification or another alarm does nothing either.
    ok = {"Records": [{"Sns": {"Message": json.dumps({"AlarmName": "x", "NewStateValue": "ALARM"})}}]}
    assert handler(ok, None, ssm=ssm, elbv2=reader.client(region="us-east-1"), now=99_999.0)["action"] == "none"
    undo = cli("drill", "--undo", "--stack", "dev", "--cwd", str(project.path), "--json", "-")
    assert undo.exit_code == 0 and json.loads(undo.stdout)["restored"] == ["listener https: default action restored"]
    assert_live_equals(promoted)
    ssm.delete_parameter(Name="/web-tier/dev/routing/freeze")


def test_drill_refuses_non_local_endpoints(sandbox, monkeypatch):
    project, _ = sandbox
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://elasticloadbalancing.us-east-1.amazonaws.com")
    r = cli("drill", "--stack", "dev", "--cwd", str(project.path))
    assert r.exit_code == 2 and "only against a local emulator" in r.stderr
    with pytest.raises(LbguardError):
        endpoint.require_local("http://10.0.0.5:5000")
    assert endpoint.require_local("http://localhost:5000")


def test_rollback_policy_document_exact():
    doc = rollback_policy_document(region="us-east-1", account="123456789012", lb_arn_suffix="app/web-tier-prod/abc",
                                   project="web-tier", stack="prod",
                                   log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/web-tier-prod-auto-rollback")
    elb = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
    ssm = "arn:aws:ssm:us-east-1:123456789012:parameter/web-tier/prod/routing"
    assert doc == {"Version": "2012-10-17", "Statement": [
        {"Sid": "RestoreRouting", "Effect": "Allow",
         "Action": ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:SetRulePriorities", "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteListener"],
         "Resource": [f"{elb}:listener/app/web-tier-prod/abc/*", f"{elb}:listener-rule/app/web-tier-prod/abc/*"]},
        {"Sid": "RecreateListener", "Effect": "Allow", "Action": ["elasticloadbalancing:CreateListener"],
         "Resource": [f"{elb}:loadbalancer/app/web-tier-prod/abc"]},
        {"Sid": "ReadRouting", "Effect": "Allow",
         "Action": ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"],
         "Resource": "*"},
        {"Sid": "ReadSnapshots", "Effect": "Allow", "Action": ["ssm:GetParameter"],
         "Resource": [f"{ssm}/known-good", f"{ssm}/current"]},
        {"Sid": "CoolDownLockFreeze", "Effect": "Allow",
         "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
         "Resource": [f"{ssm}/last-auto-rollback", f"{ssm}/lock", f"{ssm}/freeze"]},
        {"Sid": "Journal", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:PutParameter"],
         "Resource": [f"{ssm}/journal/*"]},
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/web-tier-prod-auto-rollback:*"]}]}
