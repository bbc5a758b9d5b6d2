"""Issue 11, items 1-9: rollback against a moto server with faults injected by a proxy
between boto3 and the server. Each test asserts what AWS (moto, read straight, not
through the proxy) holds afterwards and the report's applied / not-applied lists."""

from __future__ import annotations

import json
import threading

import boto3
import pytest

from lbguard.core import freeze

from lbguard.live import operation, reader, rollback, state
from lbguard.live.lambda_handler import handler
from tests.live import world as W
from tests.live.conftest import cli


def _assert_routing(world: W.World, direct, snapshot: dict | None = None) -> None:
    """The whole load balancer's routing, read straight from moto, equals the snapshot."""
    assert W.routing_now(world, direct.url) == freeze.routing(snapshot or world.snapshot)


def _elb_writes(proxy) -> int:
    return sum(proxy.count(op) for op in rollback.WRITE_METHODS)


def _calls(entries: list[dict]) -> list[str]:
    return [e["call"] for e in entries]


# ---------------------------------------------------------------- 1. wrong load balancer


@pytest.mark.faults
def test_foreign_snapshot_refused_in_ssm_and_file_and_nothing_written(proxy, direct, project, stack, tmp_path):
    dev, prod = W.build(stack, endpoint=direct.url), W.build(stack + "p", endpoint=direct.url)
    both = list(prod.tgs.values())
    direct.elbv2.modify_listener(ListenerArn=prod.listener, DefaultActions=W.fwd(both, [100, 0]))  # prod drifted
    prod_before = W.routing_now(prod, direct.url)
    dev.record(direct.url, known_good=prod.snapshot)  # another stack's snapshot in dev's known-good
    code, _, err = cli(project, stack, "rollback")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"belongs to web-tier/{stack}p (stack {stack}p), not to the target web-tier/{stack}" in err
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(prod.snapshot))
    code, _, err = cli(project, stack, "rollback", "--snapshot", str(path))
    assert code == 2 and "refusing it, nothing was changed" in err
    # Right labels, wrong load balancer inside: a listener of prod's.
    forged = W.clone(dev.snapshot)
    forged["listeners"][0]["arn"] = prod.listener
    path.write_text(json.dumps(forged))
    code, _, err = cli(project, stack, "rollback", "--snapshot", str(path))
    assert code == 2 and f"names {prod.listener}, which is not on load balancer {dev.lb}" in err
    # A schemaVersion 1 snapshot (no ownership fields) is refused with the way out.
    old = {k: v for k, v in dev.snapshot.items() if k not in ("region", "account")} | {"schemaVersion": 1}
    path.write_text(json.dumps(old))
    code, _, err = cli(project, stack, "rollback", "--snapshot", str(path))
    assert code == 2 and "schemaVersion 1 predates the ownership fields" in err and "lbguard promote" in err
    assert W.routing_now(prod, direct.url) == prod_before
    assert proxy.writes_forwarded() == 0


@pytest.mark.faults
def test_deployed_record_of_another_stack_is_refused(proxy, direct, project, stack):
    dev, prod = W.build(stack, endpoint=direct.url), W.build(stack + "p", endpoint=direct.url)
    dev.record(direct.url, current=prod.snapshot, known_good=prod.snapshot)
    for args in (("rollback",), ("promote",)):
        code, _, err = cli(project, stack, *args)
        assert code == 2 and f"SSM /web-tier/{stack}/routing/current belongs to web-tier/{stack}p" in err
    assert proxy.writes_forwarded() == 0


# ---------------------------------------------------------------- 2. complete state


def _funnel_listener(world: W.World, direct, port: int = 8080) -> str:
    blue = world.tgs["blue"]
    targets = direct.elbv2.describe_target_health(TargetGroupArn=blue)["TargetHealthDescriptions"]
    direct.elbv2.deregister_targets(TargetGroupArn=blue, Targets=[{"Id": t["Target"]["Id"], "Port": t["Target"]["Port"]}
                                                                  for t in targets[1:]])
    return direct.elbv2.create_listener(LoadBalancerArn=world.lb, Protocol="HTTP", Port=port,
                                        DefaultActions=W.fwd([blue], [1]))["Listeners"][0]["ListenerArn"]


@pytest.mark.faults
def test_listener_added_by_hand_is_removed_and_verified_over_the_whole_lb(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    extra = _funnel_listener(world, direct)
    code, doc, _ = cli(project, stack, "diagnose", "--json", "-")
    assert code == 1
    code, doc, _ = cli(project, stack, "rollback", "--json", "-")
    assert code == 0 and doc["verified"] is True
    assert [(a["call"], a["params"]) for a in doc["applied"]] == [("DeleteListener", {"ListenerArn": extra})]
    held = direct.elbv2.describe_listeners(LoadBalancerArn=world.lb)["Listeners"]
    assert [l["ListenerArn"] for l in held] == [world.listener]
    _assert_routing(world, direct)


@pytest.mark.faults
def test_keep_extra_leaves_it_and_is_not_verified(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    extra = _funnel_listener(world, direct)
    rule = direct.elbv2.create_rule(ListenerArn=world.listener, Priority=5, Conditions=W.path("/x"),
                                    Actions=W.fwd([world.tgs["green"]], [1]))["Rules"][0]["RuleArn"]
    code, doc, _ = cli(project, stack, "rollback", "--keep-extra", "--json", "-")
    assert code == 1 and doc["verified"] is False and doc["writeCalls"] == 0
    assert sorted((n["call"], n["reason"]) for n in doc["notApplied"]) == [
        ("DeleteListener", "kept (--keep-extra)"), ("DeleteRule", "kept (--keep-extra)")]
    assert {l["ListenerArn"] for l in direct.elbv2.describe_listeners(LoadBalancerArn=world.lb)["Listeners"]} == {
        world.listener, extra}
    assert rule in {r["RuleArn"] for r in direct.elbv2.describe_rules(ListenerArn=world.listener)["Rules"]}


@pytest.mark.faults
def test_replaced_listener_gets_the_snapshot_routing_and_rules_recreated(proxy, direct, stack):
    """The snapshot's listener is gone and another sits on its port: it is restored in place."""
    world = W.build(stack, endpoint=direct.url)
    direct.elbv2.delete_listener(ListenerArn=world.listener)
    new = direct.elbv2.create_listener(LoadBalancerArn=world.lb, Protocol="HTTP", Port=80, DefaultActions=W.fwd(
        [world.tgs["green"]], [1]))["Listeners"][0]["ListenerArn"]
    result = rollback.converge(reader.client(region="us-east-1"), world.snapshot)
    assert result.verified, result.not_applied
    assert sorted(_calls(result.applied)) == ["CreateRule", "CreateRule", "ModifyListener"]
    assert [l["ListenerArn"] for l in direct.elbv2.describe_listeners(LoadBalancerArn=world.lb)["Listeners"]] == [new]
    _assert_routing(world, direct)


# ---------------------------------------------------------------- 3. lost responses, concurrency


def test_lost_delete_response_is_already_done_and_the_default_action_is_restored(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    rule = W.june_1(world, direct.url)
    direct.elbv2.modify_listener(ListenerArn=world.listener, DefaultActions=W.fwd(list(world.tgs.values()), [100, 0]))
    proxy.add("lost", {"DeleteRule"})
    code, doc, err = cli(project, stack, "rollback", "--json", "-")
    assert code == 0, err
    assert doc["verified"] is True and doc["notApplied"] == []
    assert _calls(doc["applied"]) == ["DeleteRule", "ModifyListener"]  # the capturing rule first
    assert doc["applied"][0]["params"] == {"RuleArn": rule}
    # The retry met what AWS answers for a rule already gone.
    assert proxy.count("DeleteRule", "lost") == 1 and proxy.count("DeleteRule") == 2
    assert doc["writes"][0]["outcome"] == "already done (RuleNotFound)"
    _assert_routing(world, direct)


@pytest.mark.faults
def test_lost_create_and_priority_responses_converge_without_duplicates(proxy, direct, stack):
    world = W.build(stack, rules=3, endpoint=direct.url)
    rules = world.snapshot["listeners"][0]["rules"]
    direct.elbv2.delete_rule(RuleArn=rules[1]["arn"])  # gone: re-created from its definition
    direct.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": rules[0]["arn"], "Priority": 99}])
    direct.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": rules[2]["arn"], "Priority": 10}])
    direct.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": rules[0]["arn"], "Priority": 30}])
    proxy.add("lost", {"CreateRule", "SetRulePriorities"}, times=2)
    result = rollback.converge(reader.client(region="us-east-1"), world.snapshot)
    assert result.verified, result.not_applied
    assert sorted(_calls(result.applied)) == ["CreateRule", "SetRulePriorities"]
    assert proxy.count(fault="lost") == 2
    held = [r for r in direct.elbv2.describe_rules(ListenerArn=world.listener)["Rules"] if not r["IsDefault"]]
    assert len(held) == 3  # no duplicate of the re-created rule
    _assert_routing(world, direct)


@pytest.mark.faults
def test_two_concurrent_rollbacks_one_applies_the_other_finds_it_done(proxy, direct, stack):
    world = W.build(stack, rules=4, endpoint=direct.url)
    W.june_1(world, direct.url)
    W.drift_all(world, direct.url)
    runs, errors = [], []

    def one():
        try:
            ssm = boto3.client("ssm", region_name="us-east-1", config=reader.RETRY_CONFIG)
            runs.append(operation.run_rollback(reader.client(region="us-east-1"), ssm, world.snapshot, world.target,
                                               source="test", wait=30))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(runs) == 2
    first, second = sorted(runs, key=lambda r: -r.result.write_calls)
    assert first.result.verified and second.result.verified
    assert sorted(_calls(first.result.applied)) == ["DeleteRule", "ModifyListener", "ModifyRule", "ModifyRule",
                                                    "ModifyRule", "ModifyRule", "SetRulePriorities"]
    assert second.result.write_calls == 0 and second.result.applied == [] and second.result.not_applied == []
    assert first.journal is not None and second.journal is None  # re-planned under the lock: nothing to journal
    _assert_routing(world, direct)
    with pytest.raises(direct.ssm.exceptions.ParameterNotFound):  # both released the lock
        direct.ssm.get_parameter(Name=state.ssm_name("web-tier", stack, "lock"))


@pytest.mark.faults
def test_lock_held_by_another_exits_2_naming_the_holder(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    W.june_1(world, direct.url)
    direct.ssm.put_parameter(Name=state.ssm_name("web-tier", stack, "lock"), Type="String",
                             Value=json.dumps({"owner": "alice@bastion", "token": "x", "expires": 4e9}))
    code, _, err = cli(project, stack, "rollback", "--wait", "0.2")
    assert code == 2 and "another rollback holds the lock" in err and "alice@bastion" in err
    assert _elb_writes(proxy) == 0 and proxy.count("PutParameter") >= 1  # lock attempts only
    # An expired lock (its holder died) is taken over.
    direct.ssm.put_parameter(Name=state.ssm_name("web-tier", stack, "lock"), Type="String", Overwrite=True,
                             Value=json.dumps({"owner": "alice@bastion", "token": "x", "expires": 1}))
    code, doc, _ = cli(project, stack, "rollback", "--json", "-")
    assert code == 0 and doc["verified"]
    _assert_routing(world, direct)


# ---------------------------------------------------------------- 4. partial recovery (must show)


def test_june_1_with_an_unrelated_rule_gone_removes_the_funnel_and_reports_the_rest(proxy, direct, project, stack):
    world = W.build(stack, rules=2, endpoint=direct.url)
    funnel = W.june_1(world, direct.url)
    svc1 = world.snapshot["listeners"][0]["rules"][1]
    # An unrelated rule deleted since the snapshot, with the pool it forwarded to.
    direct.elbv2.delete_rule(RuleArn=svc1["arn"])
    vpc = world.vpc
    gone = direct.elbv2.create_target_group(Name=f"{stack}-old", Protocol="HTTP", Port=80, VpcId=vpc,
                                            TargetType="ip")["TargetGroups"][0]
    direct.elbv2.delete_target_group(TargetGroupArn=gone["TargetGroupArn"])
    snapshot = W.clone(world.snapshot)
    snapshot["listeners"][0]["rules"][1]["actions"] = W.fwd([gone["TargetGroupArn"]], [1])
    world.record(direct.url, known_good=snapshot)
    code, doc, err = cli(project, stack, "rollback", "--json", "-")
    assert code == 1 and "Traceback" not in err
    assert [(a["call"], a["params"]) for a in doc["applied"]] == [("DeleteRule", {"RuleArn": funnel})]
    assert [(n["call"], n["reason"]) for n in doc["notApplied"]] == [
        ("CreateRule", f"target group {stack}-old no longer exists")]
    assert doc["verified"] is False and len(doc["differences"]) == 1
    held = {r["RuleArn"] for r in direct.elbv2.describe_rules(ListenerArn=world.listener)["Rules"] if not r["IsDefault"]}
    assert held == {world.snapshot["listeners"][0]["rules"][0]["arn"]}  # funnel gone; svc0 as it was
    code, _, diag_err = cli(project, stack, "diagnose")
    assert code == 0, diag_err  # the outage is over


@pytest.mark.faults
def test_rule_deleted_since_the_snapshot_is_recreated_from_its_full_definition(proxy, direct, stack):
    world = W.build(stack, rules=2, endpoint=direct.url)
    svc0 = world.snapshot["listeners"][0]["rules"][0]
    direct.elbv2.delete_rule(RuleArn=svc0["arn"])
    result = rollback.converge(reader.client(region="us-east-1"), world.snapshot)
    assert result.verified and _calls(result.applied) == ["CreateRule"]
    assert result.applied[0]["params"]["Conditions"] == svc0["conditions"]
    _assert_routing(world, direct)


# ---------------------------------------------------------------- 5. journal and undo (must show)


def test_journal_holds_full_definitions_and_undo_restores_exactly_what_was_live(proxy, direct, project, stack, tmp_path):
    world = W.build(stack, rules=3, endpoint=direct.url)
    funnel = W.june_1(world, direct.url)
    W.drift_all(world, direct.url)
    before = W.routing_now(world, direct.url)
    path = tmp_path / "journal.json"
    code, doc, _ = cli(project, stack, "rollback", "--journal", str(path), "--json", "-")
    assert code == 0 and doc["verified"]
    journal = json.loads(path.read_text())
    assert journal == state.get_document(direct.ssm, state.ssm_name("web-tier", stack, f"journal/{journal['id']}"))
    assert direct.ssm.get_parameter(Name=state.ssm_name("web-tier", stack, "journal/latest"))["Parameter"]["Value"] == journal["id"]
    deleted = next(t for t in journal["touched"] if t.get("rule") == funnel)
    assert deleted["after"] is None and deleted["before"]["conditions"] == W.path("/*")
    assert deleted["before"]["actions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": world.tgs["blue"], "Weight": 1}]
    assert freeze.routing(journal["before"]) == before and freeze.routing(journal["after"]) == freeze.routing(
        world.snapshot)
    code, doc, err = cli(project, stack, "rollback", "--undo", str(path), "--json", "-")
    assert code == 0, err
    assert W.routing_now(world, direct.url) == before  # exactly what was live before the rollback
    assert doc["freeze"]["lifted"]["journal"] == journal["id"]
    # Undo is itself journaled: undoing the undo restores the rollback's result.
    code, doc, _ = cli(project, stack, "rollback", "--undo", "latest", "--json", "-")
    assert code == 0
    _assert_routing(world, direct)


@pytest.mark.faults
def test_undo_refuses_another_stacks_journal(proxy, direct, project, stack, tmp_path):
    dev, prod = W.build(stack, endpoint=direct.url), W.build(stack + "p", endpoint=direct.url)
    W.june_1(prod, direct.url)
    (project / "stacks" / f"Pulumi.{stack}p.yaml").write_text("config: {}\n")
    path = tmp_path / "j.json"
    assert cli(project, stack + "p", "rollback", "--journal", str(path))[0] == 0
    code, _, err = cli(project, stack, "rollback", "--undo", str(path))
    assert code == 2 and f"is for web-tier/{stack}p" in err and "nothing was changed" in err
    del dev


# ---------------------------------------------------------------- 6. part-way reports


@pytest.mark.faults
def test_connection_dropped_after_the_second_write_reports_exactly_what_landed(proxy, direct, stack):
    world = W.build(stack, rules=2, endpoint=direct.url)
    W.june_1(world, direct.url)
    W.drift_all(world, direct.url)
    proxy.add("dead", "write", after=1)  # the 2nd write lands, then the connection stays down
    ssm = boto3.client("ssm", region_name="us-east-1", config=reader.RETRY_CONFIG)
    # SSM (lock, journal) is written before the first ELB write: count ELB writes only.
    proxy.faults[-1].ops = {"DeleteRule", "ModifyListener", "ModifyRule", "SetRulePriorities", "CreateRule"}
    run = operation.run_rollback(reader.client(region="us-east-1"), ssm, world.snapshot, world.target, source="test")
    r = run.result
    assert not r.verified and "reading back failed" in r.error
    assert [(w["call"], w["outcome"]) for w in r.writes][:1] == [("DeleteRule", "ok")]
    assert r.writes[1]["call"] == "ModifyListener" and "Connection" in r.writes[1]["outcome"]
    assert len(r.writes) == 2  # nothing written after the connection went down
    assert [(a["call"], a["result"]) for a in r.applied] == [("DeleteRule", "acknowledged by AWS, not read back")]
    assert _calls(r.not_applied) == ["ModifyListener", "ModifyRule", "ModifyRule", "SetRulePriorities"]
    # What AWS holds: the delete and the lost ModifyListener landed; the rules did not.
    now = direct.elbv2.describe_rules(ListenerArn=world.listener)["Rules"]
    assert len([x for x in now if not x["IsDefault"]]) == 2
    assert all(x["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"] == 100 for x in now if not x["IsDefault"])
    default = direct.elbv2.describe_listeners(ListenerArns=[world.listener])["Listeners"][0]["DefaultActions"]
    assert [t["Weight"] for t in default[0]["ForwardConfig"]["TargetGroups"]] == [50, 50]
    # The lock could not be released over a dead connection: said; the re-run sees its
    # holder has ended (this process, token no longer active) and takes it over.
    assert any("not released" in w for w in run.journal.warnings)
    assert json.loads(direct.ssm.get_parameter(Name=state.ssm_name("web-tier", stack, "lock"))["Parameter"]["Value"])[
        "token"] == run.lock.token
    proxy.clear()
    again = operation.run_rollback(reader.client(region="us-east-1"), ssm, world.snapshot, world.target, source="t")
    assert again.result.verified and sorted(_calls(again.result.applied)) == ["ModifyRule", "ModifyRule",
                                                                              "SetRulePriorities"]
    _assert_routing(world, direct)


@pytest.mark.faults
def test_failed_verify_read_lists_the_writes_applied(proxy, direct, stack):
    world = W.build(stack, rules=1, endpoint=direct.url)
    W.june_1(world, direct.url)
    proxy.add("error500", {"DescribeListeners"}, after=1, times=None)  # the first read works, later ones fail
    result = rollback.converge(reader.client(region="us-east-1"), world.snapshot)
    assert not result.verified and "reading back failed" in result.error and "InternalFailure" in result.error
    assert [(a["call"], a["result"]) for a in result.applied] == [("DeleteRule", "acknowledged by AWS, not read back")]
    assert result.not_applied == []
    # botocore Config retries.max_attempts=8 counts retries, not the first call: 9 answers.
    assert proxy.count("DescribeListeners", "error500") == 9
    proxy.clear()
    _assert_routing(world, direct)


# ---------------------------------------------------------------- throttling, 500s, stale reads


@pytest.mark.faults
def test_throttling_and_500s_on_every_kind_of_call_are_retried(proxy, direct, project, stack):
    world = W.build(stack, rules=2, endpoint=direct.url)
    W.june_1(world, direct.url)
    W.drift_all(world, direct.url)
    proxy.add("throttle", "write", times=6)
    proxy.add("error500", "read", times=4)
    code, doc, err = cli(project, stack, "rollback", "--json", "-")
    assert code == 0, err
    assert doc["verified"] and doc["notApplied"] == []
    assert proxy.count(fault="throttle") == 6 and proxy.count(fault="error500") == 4
    _assert_routing(world, direct)


@pytest.mark.faults
def test_stale_reads_after_writes_do_not_duplicate_or_misreport(proxy, direct, stack):
    world = W.build(stack, rules=3, endpoint=direct.url)
    W.june_1(world, direct.url)
    W.drift_all(world, direct.url)
    rules = world.snapshot["listeners"][0]["rules"]
    direct.elbv2.delete_rule(RuleArn=rules[2]["arn"])
    proxy.add("stale", {"DescribeRules", "DescribeListeners"}, after=2, times=4)
    result = rollback.converge(reader.client(region="us-east-1"), world.snapshot, settle=lambda s: None)
    assert proxy.count(fault="stale") == 4
    assert result.verified, result.not_applied
    assert sorted(_calls(result.applied)) == ["CreateRule", "DeleteRule", "ModifyListener", "ModifyRule", "ModifyRule",
                                              "SetRulePriorities"]
    held = [r for r in direct.elbv2.describe_rules(ListenerArn=world.listener)["Rules"] if not r["IsDefault"]]
    assert len(held) == 3
    _assert_routing(world, direct)


# ---------------------------------------------------------------- 7. bad snapshot files

BAD = {
    "garbage.json": (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    "truncated.json": (b'{"schemaVersion": 2, "listeners": [', "not valid JSON"),
    "list.json": (b"[]", "(top): must be a JSON object, got list"),
}


def _bad_docs(snapshot: dict) -> dict[str, tuple[dict, str]]:
    no_values = W.clone(snapshot)
    no_values["listeners"][0]["rules"][0]["conditions"] = [{"Field": "path-pattern"}]
    empty_values = W.clone(snapshot)
    empty_values["listeners"][0]["rules"][0]["conditions"][0]["PathPatternConfig"]["Values"] = []
    no_arn = W.clone(snapshot)
    del no_arn["listeners"][0]["arn"]
    bad_prio = W.clone(snapshot)
    bad_prio["listeners"][0]["rules"][0]["priority"] = "ten"
    bad_action = W.clone(snapshot)
    bad_action["listeners"][0]["defaultActions"] = [{"Type": "forward"}]
    no_lb = W.clone(snapshot)
    no_lb["loadBalancer"] = "x"
    return {"no-values": (no_values, "listeners[0].rules[0].conditions[0]: 'PathPatternConfig' is a required property"),
            "empty-values": (empty_values, "listeners[0].rules[0].conditions[0].PathPatternConfig.Values: [] should be non-empty"),
            "no-arn": (no_arn, "listeners[0]: 'arn' is a required property"),
            "bad-priority": (bad_prio, "listeners[0].rules[0].priority: 'ten' is not of type 'integer'"),
            "bad-action": (bad_action, "listeners[0].defaultActions[0]:"),
            "no-lb": (no_lb, "loadBalancer: 'x' is not of type 'object'")}


@pytest.mark.faults
def test_bad_snapshot_files_one_line_exit_2_nothing_written(proxy, direct, project, stack, tmp_path):
    world = W.build(stack, endpoint=direct.url)
    W.june_1(world, direct.url)
    cases = {name: (data, msg) for name, (data, msg) in BAD.items()}
    cases.update({f"{n}.json": (json.dumps(d).encode(), m) for n, (d, m) in _bad_docs(world.snapshot).items()})
    for name, (data, msg) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        code, _, err = cli(project, stack, "rollback", "--snapshot", str(path))
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err and msg in err, (name, err)
        assert err.startswith(f"lbguard: error: --snapshot {path}"), err
    assert proxy.writes_forwarded() == 0


# ---------------------------------------------------------------- 8. the function never raises


@pytest.mark.parametrize("event", [None, [], "x", 7, {}, {"Records": None}, {"Records": "x"}, {"Records": [None]},
                                   {"Records": [{"Sns": None}]}, {"Records": [{"Sns": {"Message": None}}]},
                                   {"Records": [{"Sns": {"Message": "null"}}]}, {"Records": [{"Sns": {"Message": "[]"}}]},
                                   {"Records": [{"Sns": {"Message": "{not json"}}]},
                                   {"Records": [{"Sns": {"Message": {"AlarmName": 1}}}]}])
def test_lambda_returns_a_result_for_malformed_events(event, monkeypatch, capsys):
    monkeypatch.setenv("LBGUARD_PROJECT", "web-tier")
    monkeypatch.setenv("LBGUARD_STACK", "dev")
    monkeypatch.setenv("LBGUARD_LOAD_BALANCER_ARN", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1")
    out = handler(event, None)
    assert out["action"] == "none" and out["reason"] == "no trigger alarm in ALARM state"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["action"] == "none"


def _alarm_env(monkeypatch, world: W.World):
    monkeypatch.setenv("LBGUARD_PROJECT", "web-tier")
    monkeypatch.setenv("LBGUARD_STACK", world.stack)
    monkeypatch.setenv("LBGUARD_LOAD_BALANCER_ARN", world.lb)
    monkeypatch.setenv("LBGUARD_TRIGGER_ALARMS", "skew")
    return {"Records": [{"Sns": {"Message": {"AlarmName": "skew", "NewStateValue": "ALARM"}}}]}  # already a dict


@pytest.mark.faults
def test_lambda_corrupted_known_good_and_foreign_snapshot_are_refused(proxy, direct, stack, monkeypatch):
    world, other = W.build(stack, endpoint=direct.url), W.build(stack + "o", endpoint=direct.url)
    W.june_1(world, direct.url)
    event = _alarm_env(monkeypatch, world)
    ssm, elbv2 = boto3.client("ssm", region_name="us-east-1"), reader.client(region="us-east-1")
    name = state.ssm_name("web-tier", stack, "known-good")
    for value, reason in (("{corrupt", "does not hold a routing snapshot"), ('{"schemaVersion": 2}', "is a required property"),
                          ("gz:!!!", "does not hold a routing snapshot"), (json.dumps(other.snapshot), "belongs to")):
        direct.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
        out = handler(event, None, ssm=ssm, elbv2=elbv2, now=1e6)
        assert out["action"] == "refused" and reason in out["reason"], out
    assert proxy.count("DeleteRule") == 0
    monkeypatch.setenv("LBGUARD_COOLDOWN_SECONDS", "soon")
    assert handler(event, None, ssm=ssm, elbv2=elbv2)["action"] == "refused"
    monkeypatch.delenv("LBGUARD_LOAD_BALANCER_ARN")
    assert handler(event, None, ssm=ssm, elbv2=elbv2)["action"] == "refused"


@pytest.mark.faults
def test_lambda_with_a_dict_message_rolls_back_under_the_lock(proxy, direct, stack, monkeypatch):
    world = W.build(stack, endpoint=direct.url)
    funnel = W.june_1(world, direct.url)
    event = _alarm_env(monkeypatch, world)
    out = handler(event, None, ssm=boto3.client("ssm", region_name="us-east-1"), elbv2=reader.client(region="us-east-1"),
                  now=1e6)
    assert out["action"] == "rollback" and out["verified"] and out["applied"][0]["params"] == {"RuleArn": funnel}
    assert out["freeze"]["recorded"] and out["journal"]["warnings"] == []
    _assert_routing(world, direct)


# ---------------------------------------------------------------- 9. the freeze reaches the deploy


@pytest.mark.faults
def test_freeze_record_and_pure_refusal(proxy, direct, project, stack, tmp_path):
    world = W.build(stack, rules=2, endpoint=direct.url)
    bad = W.clone(world.snapshot)
    bad["listeners"][0]["rules"][0]["actions"] = W.fwd([world.tgs["blue"]], [1])  # the bad deploy
    direct.elbv2.modify_rule(RuleArn=bad["listeners"][0]["rules"][0]["arn"], Actions=bad["listeners"][0]["rules"][0]["actions"])
    world.record(direct.url, current=bad, known_good=world.snapshot)
    code, doc, _ = cli(project, stack, "rollback", "--json", "-")
    assert code == 0 and doc["freeze"]["recorded"]
    record = json.loads(direct.ssm.get_parameter(Name=state.ssm_name("web-tier", stack, "freeze"))["Parameter"]["Value"])
    assert record["by"] and record["at"] and record["journal"] == doc["journal"]["id"]
    assert [e["what"] for e in record["rolledBackFrom"]] == ["live routing before the rollback"]  # == deployed: once
    export = tmp_path / "freeze.json"
    assert cli(project, stack, "freeze", "--json", str(export))[0] == 0
    loaded = freeze.load_export(export, project="web-tier", stack=stack)
    # The head program's routing, as preflight sees it: other ARNs (emulator), same names, ports, priorities.
    head = W.clone(bad)
    for lst in head["listeners"]:
        lst["arn"] = lst["arn"].replace(lst["arn"].rsplit("/", 1)[-1], "0000")
    assert "deploy freeze on web-tier/" in freeze.freeze_refusal(loaded, head)
    assert freeze.freeze_refusal(loaded, world.snapshot) is None  # a head that differs
    assert cli(project, stack, "unfreeze")[0] == 0
    assert cli(project, stack, "freeze", "--json", str(export))[0] == 0
    assert freeze.load_export(export, project="web-tier", stack=stack) is None
    with pytest.raises(Exception, match="is for web-tier/"):
        freeze.load_export(export, project="web-tier", stack="prod")


@pytest.mark.faults
def test_preflight_refuses_a_head_equal_to_routing_rolled_back_from(tmp_path):
    """Offline: the export file is all preflight reads; the head's `rollback` output is compared."""
    from click.testing import CliRunner

    from lbguard.cli.app import main
    from lbguard.offline.emulator import emulated_aws, run_program
    from tests.conftest import ROOT

    with emulated_aws("us-east-1"):
        head = run_program(ROOT, "dev").outputs["rollback"]
    other = W.clone(head)
    other["listeners"][0]["defaultActions"] = [{"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "503", "ContentType": "text/plain"}}]
    record = freeze.freeze_record(project="web-tier", stack="dev", rolled_back_from=[("deployed routing", head)],
                                  restored=other, by="alice@bastion", at="2026-12-02T03:00:00Z", journal="j1",
                                  summary="journal j1: 1 step(s) applied")
    path = tmp_path / "freeze.json"
    path.write_text(json.dumps(freeze.export_document("web-tier", "dev", record)))
    r = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--no-policy", "--freeze", str(path),
                                  "--json", str(tmp_path / "out.json")])
    assert r.exit_code == 1
    shown = r.output + r.stderr  # the refusal is part of the verdict at the end of the summary
    assert "deploy freeze on web-tier/dev: this head's routing equals the deployed routing" in shown
    assert "alice@bastion" in shown and "lbguard unfreeze --stack dev" in shown
    assert json.loads((tmp_path / "out.json").read_text())["freeze"]["refusal"].startswith("deploy freeze")
    path.write_text("{}")
    r = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--no-policy", "--freeze", str(path)])
    assert r.exit_code == 2 and "not a freeze export" in r.stderr


@pytest.mark.faults
def test_garbled_answers_and_dropped_requests(proxy, direct, project, stack):
    """A write whose answer is unreadable landed or not: the next read settles it. A
    garbled first read is one line, exit 2, nothing written. Dropped requests are retried."""
    world = W.build(stack, rules=2, endpoint=direct.url)
    W.june_1(world, direct.url)
    W.drift_all(world, direct.url)
    proxy.add("garbled", {"ModifyListener"})
    proxy.add("drop", {"ModifyRule"}, times=2)
    result = rollback.converge(reader.client(region="us-east-1"), world.snapshot)
    assert result.verified, result.not_applied
    assert "ModifyListener" in _calls(result.applied) and proxy.count(fault="drop") == 2
    _assert_routing(world, direct)
    W.june_1(world, direct.url)
    proxy.clear()
    proxy.add("garbled", {"DescribeListeners"})
    writes = _elb_writes(proxy)
    code, _, err = cli(project, stack, "rollback")
    assert code == 2 and err.count("\n") == 1 and "unreadable response" in err and "Traceback" not in err
    assert _elb_writes(proxy) == writes


@pytest.mark.faults
def test_dry_run_lists_the_steps_and_writes_nothing(proxy, direct, project, stack):
    world = W.build(stack, rules=2, endpoint=direct.url)
    funnel = W.june_1(world, direct.url)
    before = W.routing_now(world, direct.url)
    code, doc, _ = cli(project, stack, "rollback", "--dry-run", "--json", "-")
    assert code == 0 and doc["writeCalls"] == 0 and doc["verified"] is False
    assert [(n["call"], n["params"], n["reason"]) for n in doc["notApplied"]] == [
        ("DeleteRule", {"RuleArn": funnel}, "dry run")]
    assert W.routing_now(world, direct.url) == before and _elb_writes(proxy) == 0
    assert proxy.count("PutParameter") == 0  # no lock, journal or freeze either
    code, _, err = cli(project, stack, "rollback", "--snapshot", "x.json", "--undo", "latest")
    assert code == 2 and "exclusive" in err
