"""lbguard.live.diagnose's pure parts: names by the stack's keys (ARN id only when no key is known),
below-minimum from the stack's settings, and the next step's order."""

from __future__ import annotations

from lbguard.live import diagnose as dg

ELB = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LB = f"{ELB}:loadbalancer/app/web/1"
LISTENER = f"{ELB}:listener/app/web/1/l1"
API = f"{ELB}:listener-rule/app/web/1/l1/r1"
EXTRA = f"{ELB}:listener-rule/app/web/1/l1/r9"
BLUE = f"{ELB}:targetgroup/web-dev-blue-1a2b/b1"
GREEN = f"{ELB}:targetgroup/web-dev-green-3c4d/g1"


def fwd(weights: dict[str, int]) -> list[dict]:
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": a, "Weight": w} for a, w in weights.items()]}}]


def live(blue_healthy: int = 3) -> dg.LiveRouting:
    routing = dg.LiveRouting(LB, listeners=[{"ListenerArn": LISTENER, "Protocol": "HTTPS", "Port": 443,
                                             "DefaultActions": fwd({BLUE: 50, GREEN: 50})}],
                             rules={LISTENER: [
                                 {"RuleArn": EXTRA, "Priority": "1", "Actions": fwd({BLUE: 1}),
                                  "Conditions": [{"Field": "path-pattern", "Values": ["/*"]}]},
                                 {"RuleArn": API, "Priority": "10", "Actions": fwd({BLUE: 50, GREEN: 50}),
                                  "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"]}]}]},
                             target_groups={BLUE: {"name": "web-dev-blue-1a2b", "healthy": blue_healthy, "registered": 3},
                                            GREEN: {"name": "web-dev-green-3c4d", "healthy": 3, "registered": 3}})
    snapshot = {"targetGroups": {"blue": {"arn": BLUE}, "green": {"arn": GREEN}},
                "listeners": [{"key": "https", "arn": LISTENER, "rules": [{"key": "api", "arn": API}]}]}
    routing.keys = dg.keys_from_snapshots(snapshot)
    return routing


def test_forwards_and_findings_are_named_by_key_and_by_arn_id_without_one():
    routing = live(blue_healthy=1)
    assert [f.label for f in routing.forwards()] == [
        "listener https default", "listener https rule r9 (priority 1)", "listener https rule api (priority 10)"]
    findings = dg.diagnose(routing)
    funnel = next(f for f in findings if f["kind"] == "funnel")
    assert (funnel["where"], funnel["pool"]) == ("https/r9", "blue")
    shadowed = next(f for f in findings if f["kind"] == "shadowed-rule")
    assert shadowed["where"] == "https/api" and shadowed["message"].startswith("rule api (priority 10) can never match: "
                                                                                "rule(s) r9 (1)")
    assert {r["pool"] for r in dg.shares_table(routing)} == {"blue", "green"}
    routing.keys = {}
    assert routing.name(BLUE) == "web-dev-blue-1a2b" and routing.where(LISTENER, API) == "HTTPS:443/r1"


def test_below_minimum_from_the_stack_settings_when_no_auto_scaling_group_says():
    routing = live(blue_healthy=2)
    routing.minimums = dg.settings_minimums({"blue": {"minSize": 3}, "green": {"minSize": 3}}, routing.keys)
    low = [f for f in dg.diagnose(routing) if f["kind"] == "below-minimum"]
    assert [(f["pool"], f["severity"], f["healthy"], f["minimum"]) for f in low] == [("blue", "high", 2, 3)]
    assert "stack setting pools.blue.minSize" in low[0]["message"]
    routing.target_groups[BLUE]["healthy"] = 3
    assert not [f for f in dg.diagnose(routing) if f["kind"] == "below-minimum"]


def test_next_step_undo_first_then_rollback_then_nothing():
    outage = [{"kind": "funnel"}, {"kind": "below-minimum", "pool": "blue"}]
    assert dg.next_step(outage, "dev", drill_record=".lbguard/drill-dev.json")["command"] == "lbguard drill --undo --stack dev"
    assert dg.next_step(outage, "dev")["command"] == "lbguard rollback --stack dev"
    assert dg.next_step([{"kind": "drift-from-known-good"}], "dev")["command"] == "lbguard rollback --stack dev"
    low = dg.next_step([{"kind": "below-minimum", "pool": "blue"}], "dev")
    assert low["command"] is None and "blue" in low["reason"]
    assert dg.next_step([], "dev") == {"command": None, "reason": "nothing to do"}
