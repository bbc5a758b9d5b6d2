"""Issue 26, the live layer: one reader whose errors are errors (a throttled read is retried or
reported, never taken for a deleted target group), a dry run whose JSON plan is the list of steps
the real run then applies, and a run with nothing to do that writes nothing at all (SSM included),
all through the fault proxy in front of a moto server; no import circle inside lbguard.live."""

from __future__ import annotations

import boto3
import grimp
import pytest

from lbguard.live import operation, reader, state
from lbguard.live.lambda_handler import handler
from tests.live import world as W
from tests.live.conftest import cli
from tests.live.faultproxy import WRITE_PREFIXES


def _writes(proxy, since: int = 0) -> list[str]:
    """Every write call of any kind (ELB, SSM, ...) the proxy forwarded or answered since ``since``."""
    return [e.op for e in proxy.log[since:] if e.op.startswith(WRITE_PREFIXES)]


def _steps(entries: list[dict]) -> list[dict]:
    """The step objects of an applied list (without the outcome a real run adds)."""
    return [{k: v for k, v in e.items() if k != "result"} for e in entries]


# ---------------------------------------------------------------- drifts a rollback repairs


def _both(w: W.World) -> list[str]:
    return list(w.tgs.values())


def _rules(w: W.World) -> list[dict]:
    return w.snapshot["listeners"][0]["rules"]


def extra_rule(w, d):  # the June 1 change
    W.june_1(w, d.url)


def extra_listener(w, d):
    d.elbv2.create_listener(LoadBalancerArn=w.lb, Protocol="HTTP", Port=8080, DefaultActions=W.fwd([w.tgs["green"]], [1]))


def default_action(w, d):
    d.elbv2.modify_listener(ListenerArn=w.listener, DefaultActions=W.fwd(_both(w), [100, 0]))


def rule_actions(w, d):
    d.elbv2.modify_rule(RuleArn=_rules(w)[0]["arn"], Actions=W.fwd(_both(w), [90, 10]))


def rule_conditions(w, d):
    d.elbv2.modify_rule(RuleArn=_rules(w)[0]["arn"], Conditions=W.path("/elsewhere/*"))


def priorities_swapped(w, d):
    a, b = _rules(w)[0]["arn"], _rules(w)[1]["arn"]
    d.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": a, "Priority": 999}])
    d.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": b, "Priority": 10}])
    d.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": a, "Priority": 20}])


def rule_deleted(w, d):
    d.elbv2.delete_rule(RuleArn=_rules(w)[1]["arn"])


def listener_deleted(w, d):  # its rules go with it: re-created after it, in the same plan
    d.elbv2.delete_listener(ListenerArn=w.listener)


def listener_replaced(w, d):
    d.elbv2.delete_listener(ListenerArn=w.listener)
    d.elbv2.create_listener(LoadBalancerArn=w.lb, Protocol="HTTP", Port=80, DefaultActions=W.fwd([w.tgs["green"]], [1]))


def everything(w, d):
    W.june_1(w, d.url)
    W.drift_all(w, d.url)
    d.elbv2.delete_rule(RuleArn=_rules(w)[2]["arn"])


DRIFTS = [extra_rule, extra_listener, default_action, rule_actions, rule_conditions, priorities_swapped, rule_deleted,
          listener_deleted, listener_replaced, everything]
CORE = {"listener_deleted", "everything"}  # in the default run; the rest with -m faults


@pytest.mark.parametrize("drift", [pytest.param(d, marks=() if d.__name__ in CORE else pytest.mark.faults)
                                   for d in DRIFTS], ids=[d.__name__ for d in DRIFTS])
def test_dry_run_plan_is_what_the_real_run_applies_and_a_second_run_writes_nothing(drift, proxy, direct, project,
                                                                                   stack):
    world = W.build(stack, rules=3, endpoint=direct.url)
    drift(world, direct)
    before = W.routing_now(world, direct.url)
    start = len(proxy.log)
    code, dry, err = cli(project, stack, "rollback", "--dry-run", "--json", "-")
    assert code == 0, err
    assert _writes(proxy, start) == [] and W.routing_now(world, direct.url) == before  # a dry run writes nothing
    assert dry["plan"] and not any("blocked" in step for step in dry["plan"]) and dry["applied"] == []

    code, real, err = cli(project, stack, "rollback", "--json", "-")
    assert code == 0 and real["verified"], (err, real["notApplied"])
    assert _steps(real["applied"]) == dry["plan"] == real["plan"]
    assert all(a["result"] == "applied" for a in real["applied"]) and real["notApplied"] == []
    assert W.routing_now(world, direct.url) == W.freeze_routing(world.snapshot)  # read straight from moto

    start = len(proxy.log)
    code, again, err = cli(project, stack, "rollback", "--json", "-")
    assert code == 0, err
    assert (again["plan"], again["writeCalls"], again["applied"], "journal" in again, again["freeze"]) == (
        [], 0, [], False, None)
    assert _writes(proxy, start) == []  # no lock, journal, freeze: no write call of any kind
    assert proxy.count("DescribeListeners") > 0 and proxy.count("GetParameter") > 0  # it did read


def test_lambda_with_nothing_to_restore_writes_nothing(proxy, direct, stack, monkeypatch):
    world = W.build(stack, endpoint=direct.url)
    W.june_1(world, direct.url)
    monkeypatch.setenv("LBGUARD_PROJECT", "web-tier")
    monkeypatch.setenv("LBGUARD_STACK", stack)
    monkeypatch.setenv("LBGUARD_LOAD_BALANCER_ARN", world.lb)
    event = {"Records": [{"Sns": {"Message": {"AlarmName": "skew", "NewStateValue": "ALARM"}}}]}
    ssm, elbv2 = boto3.client("ssm", region_name="us-east-1", config=reader.RETRY_CONFIG), reader.client(region="us-east-1")
    first = handler(event, None, ssm=ssm, elbv2=elbv2, now=1e6)
    assert first["action"] == "rollback" and first["verified"] and first["writeCalls"] == 1
    start = len(proxy.log)
    later = handler(event, None, ssm=ssm, elbv2=elbv2, now=1e6 + 3600)  # past the cool-down, the alarm still firing
    assert (later["action"], later["reason"], later["writeCalls"]) == ("none", "live routing already equals known-good", 0)
    assert _writes(proxy, start) == []
    assert direct.ssm.get_parameter(Name=state.ssm_name("web-tier", stack, "last-auto-rollback"))[
        "Parameter"]["Value"] == str(1e6)  # the cool-down mark is the first run's


@pytest.mark.faults
def test_a_run_that_finds_the_fix_done_under_the_lock_writes_no_journal(proxy, direct, stack, monkeypatch):
    """Planned, then another writer fixes it while this run takes the lock: re-planned, nothing more."""
    world = W.build(stack, endpoint=direct.url)
    funnel = W.june_1(world, direct.url)
    real_acquire = state.Lock.acquire

    def acquire(lock, *args, **kwargs):
        real_acquire(lock, *args, **kwargs)
        direct.elbv2.delete_rule(RuleArn=funnel)  # someone else's fix lands meanwhile

    monkeypatch.setattr(state.Lock, "acquire", acquire)
    start = len(proxy.log)
    ssm = boto3.client("ssm", region_name="us-east-1", config=reader.RETRY_CONFIG)
    run = operation.run_rollback(reader.client(region="us-east-1"), ssm, world.snapshot, world.target, source="t")
    assert run.result.verified and run.result.write_calls == 0 and run.journal is None and run.freeze is None
    assert [s["call"] for s in run.to_json()["plan"]] == []  # the plan made under the lock
    assert _writes(proxy, start) == ["PutParameter", "DeleteParameter"]  # the lock, taken and released
    with pytest.raises(direct.ssm.exceptions.ParameterNotFound):
        direct.ssm.get_parameter(Name=state.ssm_name("web-tier", stack, "journal/latest"))


# ---------------------------------------------------------------- errors are errors


@pytest.mark.faults
def test_throttled_target_health_is_retried_not_taken_for_a_deleted_pool(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    proxy.add("throttle", {"DescribeTargetHealth", "DescribeTargetGroups"}, times=5)
    code, doc, err = cli(project, stack, "diagnose", "--json", "-")
    assert code == 0, err
    assert proxy.count(fault="throttle") == 5  # botocore's standard retry mode absorbed them
    assert [f for f in doc["findings"] if "healthy" in f["kind"]] == [] and doc["next"]["command"] is None
    assert {(r["pool"], r["healthy"]) for r in doc["shares"]} == {("blue", 2), ("green", 2)}
    del world


def test_a_read_throttled_past_the_retries_is_reported_not_diagnosed(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    W.june_1(world, direct.url)
    proxy.add("throttle", {"DescribeTargetHealth"}, times=None)
    code, doc, err = cli(project, stack, "diagnose", "--json", "-")
    lines = err.strip().splitlines()
    assert code == 2 and doc is None and "Traceback" not in err
    assert lines[-1] == "lbguard: error: AWS: DescribeTargetHealth: Throttling: Rate exceeded"
    assert not any("rollback" in line for line in lines)  # no outage finding, no rollback recommended
    assert proxy.count("DescribeTargetHealth", "throttle") == 9  # the first call and 8 retries
    start = len(proxy.log)
    code, _, err = cli(project, stack, "rollback")  # and a rollback refuses to plan on it: nothing written
    assert code == 2 and "Throttling" in err and _writes(proxy, start) == []


@pytest.mark.faults
def test_a_deleted_target_group_is_gone_and_blocks_what_forwards_to_it(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)
    gone = direct.elbv2.create_target_group(Name=f"{stack}-old", Protocol="HTTP", Port=80, VpcId=world.vpc,
                                            TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    direct.elbv2.delete_target_group(TargetGroupArn=gone)
    live = reader.read(reader.client(region="us-east-1"), world.lb,
                       {"listeners": [{"defaultActions": W.fwd([gone], [1]), "rules": []}]})
    assert live.target_groups[gone] == {"name": f"{stack}-old", "exists": False, "healthy": 0, "registered": 0}
    assert live.target_groups[world.tgs["blue"]]["exists"] and live.target_groups[world.tgs["blue"]]["healthy"] == 2


# ---------------------------------------------------------------- one model, no circle


def test_no_import_circle_inside_the_live_layer():
    graph = grimp.build_graph("lbguard")
    live = sorted(m for m in graph.modules if m.startswith("lbguard.live."))
    circles = [(a, b) for a in live for b in live
               if a < b and graph.chain_exists(a, b, as_packages=False) and graph.chain_exists(b, a, as_packages=False)]
    assert circles == []
    for user in ("diagnose", "rollback", "operation", "lambda_handler"):
        assert graph.direct_import_exists(importer=f"lbguard.live.{user}", imported="lbguard.live.reader") or \
            graph.chain_exists(f"lbguard.live.{user}", "lbguard.live.reader"), user


@pytest.mark.faults
def test_promote_of_what_is_known_good_already_writes_nothing(proxy, direct, project, stack):
    world = W.build(stack, endpoint=direct.url)  # recorded as deployed and known-good
    start = len(proxy.log)
    code, doc, err = cli(project, stack, "promote", "--json", "-")
    assert code == 0 and (doc["promoted"], doc["unchanged"]) == (False, True), err
    assert _writes(proxy, start) == []
    name = state.ssm_name("web-tier", stack, "known-good")
    direct.ssm.delete_parameter(Name=name)
    start = len(proxy.log)
    code, doc, err = cli(project, stack, "promote", "--json", "-")
    assert code == 0 and (doc["promoted"], doc["unchanged"]) == (True, False) and "promote: writing SSM" in err
    assert _writes(proxy, start) == ["PutParameter"]
    assert state.decode_snapshot(direct.ssm.get_parameter(Name=name)["Parameter"]["Value"], name) == world.snapshot


@pytest.mark.faults
def test_an_auto_scaling_read_that_fails_is_said_not_silently_dropped(proxy, direct, project, stack):
    W.build(stack, endpoint=direct.url)
    proxy.add("throttle", {"DescribeAutoScalingGroups"}, times=None)
    code, doc, err = cli(project, stack, "diagnose", "--json", "-")
    assert code == 0, err
    assert doc["notes"] == ["Auto Scaling groups not read (Throttling: Rate exceeded): pool minimums are the stack's "
                            "minSize settings only"]
