"""lbguard.live.diagnose's pure parts over the one live model (lbguard.live.reader.Live): names by
the stack's keys with their kind (ARN id only when no key is known), shares of the listener in
ALB order, findings by severity, below-minimum from the stack's settings, the next step's order."""

from __future__ import annotations

from lbguard.core.profile import parse_profile
from lbguard.live import diagnose as dg
from lbguard.live import findings as fd
from lbguard.live.reader import Live, keys_from_snapshots

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


def path(p: str) -> list[dict]:
    return [{"Field": "path-pattern", "Values": [p]}]


def live(blue_healthy: int = 3, *, catch_all: bool = True) -> Live:
    rules = [{"RuleArn": API, "Priority": "10", "Actions": fwd({BLUE: 50, GREEN: 50}), "Conditions": path("/api/*")}]
    if catch_all:  # the June 1 rule, added by hand: no key
        rules.insert(0, {"RuleArn": EXTRA, "Priority": "1", "Actions": fwd({BLUE: 1}), "Conditions": path("/*")})
    state = Live(LB, listeners={LISTENER: {"ListenerArn": LISTENER, "Protocol": "HTTPS", "Port": 443,
                                           "DefaultActions": fwd({BLUE: 50, GREEN: 50})}},
                 rules={r["RuleArn"]: r for r in rules}, rules_by_listener={LISTENER: [r["RuleArn"] for r in rules]},
                 target_groups={BLUE: {"name": "web-dev-blue-1a2b", "exists": True, "healthy": blue_healthy,
                                       "registered": 3},
                                GREEN: {"name": "web-dev-green-3c4d", "exists": True, "healthy": 3, "registered": 3}})
    snapshot = {"targetGroups": {"blue": {"arn": BLUE}, "green": {"arn": GREEN}},
                "listeners": [{"key": "https", "arn": LISTENER, "rules": [{"key": "api", "arn": API}]}]}
    state.keys = keys_from_snapshots(snapshot)
    return state


def test_findings_are_named_by_key_with_their_kind_and_by_arn_id_without_one():
    routing = live(blue_healthy=1)
    rows, findings = dg.diagnose(routing)
    assert [(r["rule"], r["pool"]) for r in rows] == [("r9", "blue"), ("api", "blue"), ("api", "green"),
                                                     (None, "blue"), (None, "green")]  # ALB order, default last
    funnel = next(f for f in findings if f["kind"] == "funnel")
    assert (funnel["where"], funnel["pool"], funnel["rule"], funnel["listener"]) == (
        "listener https rule r9", "blue", "r9", "https")
    assert (funnel["poolName"], funnel["targetGroupArn"], funnel["listenerName"]) == ("web-dev-blue-1a2b", BLUE,
                                                                                     "HTTPS:443")
    shadowed = next(f for f in findings if f["kind"] == "shadowed-rule")
    assert shadowed["where"] == "listener https rule api"
    assert shadowed["message"].startswith("rule api (priority 10) can never match: rule r9 (priority 1)")
    routing.keys = {}
    assert routing.pool_name(BLUE) == "web-dev-blue-1a2b" and fd.where(routing, LISTENER, API) == "listener HTTPS:443 rule r1"


def test_shares_are_of_the_listener_so_a_shadowed_rule_reads_zero_during_the_outage():
    rows, findings = dg.diagnose(live(blue_healthy=1))
    by = {(r["rule"], r["pool"]): r for r in rows}
    assert by[("r9", "blue")]["share"] == 1.0 and by[("r9", "blue")]["reachSource"] == "catch-all"
    assert by[("r9", "blue")]["perInstance"] == 1.0
    for key in (("api", "blue"), ("api", "green"), (None, "blue"), (None, "green")):  # not 50%: nothing reaches them
        assert by[key]["share"] == 0.0 and by[key]["reach"] == 0.0, key
    assert by[("api", "blue")]["shadowedBy"] == ["r9"]
    # Without the catch-all, and no profile: the narrow rule's share is unknown (an upper bound),
    # the default action takes what is left.
    rows, findings = dg.diagnose(live(catch_all=False))
    by = {(r["rule"], r["pool"]): r for r in rows}
    assert by[("api", "blue")]["shareKnown"] is False and by[("api", "blue")]["share"] == 0.5
    assert findings == []


def test_a_profile_gives_each_rule_its_measured_share_and_expected_share_is_used_without_one():
    profile = parse_profile({"version": 1, "classes": [{"name": "api", "weight": 30, "path": "/api/v1"},
                                                       {"name": "pages", "weight": 70, "path": "/"}]})
    rows, _ = dg.diagnose(live(catch_all=False), profile=profile)
    by = {(r["rule"], r["pool"]): r for r in rows}
    assert round(by[("api", "blue")]["share"], 6) == 0.15 and round(by[(None, "green")]["share"], 6) == 0.35
    assert by[("api", "blue")]["shareKnown"] and by[("api", "blue")]["reachSource"] == "profile"
    rows, _ = dg.diagnose(live(catch_all=False), expected_shares={"api": 0.2})
    by = {(r["rule"], r["pool"]): r for r in rows}
    assert round(by[("api", "green")]["share"], 6) == 0.1 and round(by[(None, "blue")]["share"], 6) == 0.4


def test_a_narrow_funnel_of_unknown_share_is_a_warning_not_an_outage():
    routing = live(blue_healthy=1, catch_all=False)
    routing.rules[API]["Actions"] = fwd({BLUE: 1})
    _, findings = dg.diagnose(routing)
    assert [(f["kind"], f["severity"]) for f in findings] == [("possible-funnel", "warning")]
    assert not dg.is_outage(findings) and "up to 100%" in findings[0]["message"]
    profile = parse_profile({"version": 1, "classes": [{"name": "api", "weight": 1, "path": "/api/v1"}]})
    _, findings = dg.diagnose(routing, profile=profile)
    assert [(f["kind"], f["severity"]) for f in findings] == [("funnel", "critical")] and dg.is_outage(findings)


def test_forwards_of_one_listener_funnel_together():
    """40% and 20% of the listener onto a pool of one instance: no forward alone passes 50%."""
    routing = live(blue_healthy=1, catch_all=False)
    routing.rules[API]["Actions"] = fwd({BLUE: 1})
    routing.listeners[LISTENER]["DefaultActions"] = fwd({BLUE: 1, GREEN: 2})
    profile = parse_profile({"version": 1, "classes": [{"name": "api", "weight": 40, "path": "/api/v1"},
                                                       {"name": "pages", "weight": 60, "path": "/"}]})
    _, findings = dg.diagnose(routing, profile=profile, max_instance_share=0.5)
    assert [(f["kind"], f["where"], f["pool"], round(f["share"], 6)) for f in findings if f["kind"] == "funnel"] == [
        ("funnel", "listener https", "blue", 0.6)]


def test_findings_by_severity_then_alb_order():
    routing = live(blue_healthy=1)
    _, findings = dg.diagnose(routing, minimums_=dg.settings_minimums({"blue": {"minSize": 3}}, routing.keys))
    assert [f["severity"] for f in findings] == sorted((f["severity"] for f in findings), key=fd.SEVERITIES.index)
    assert [f["kind"] for f in findings][:2] == ["funnel", "below-minimum"]


def test_below_minimum_from_the_stack_settings_when_no_auto_scaling_group_says():
    routing = live(blue_healthy=2)
    mins = dg.settings_minimums({"blue": {"minSize": 3}, "green": {"minSize": 3}}, routing.keys)
    low = [f for f in dg.diagnose(routing, minimums_=mins)[1] if f["kind"] == "below-minimum"]
    assert [(f["pool"], f["severity"], f["healthy"], f["minimum"], f["where"]) for f in low] == [
        ("blue", "high", 2, 3, "pool blue")]
    assert "stack setting pools.blue.minSize" in low[0]["message"]
    routing.target_groups[BLUE]["healthy"] = 3
    assert not [f for f in dg.diagnose(routing, minimums_=mins)[1] if f["kind"] == "below-minimum"]


def test_next_step_undo_first_then_rollback_then_nothing():
    outage = [{"kind": "funnel"}, {"kind": "below-minimum", "pool": "blue"}]
    assert dg.next_step(outage, "dev", drill_record=".lbguard/drill-dev.json")["command"] == "lbguard drill --undo --stack dev"
    assert dg.next_step(outage, "dev")["command"] == "lbguard rollback --stack dev"
    assert dg.next_step([{"kind": "drift-from-known-good"}], "dev")["command"] == "lbguard rollback --stack dev"
    assert dg.next_step([{"kind": "possible-funnel"}], "dev")["command"] is None
    low = dg.next_step([{"kind": "below-minimum", "pool": "blue"}], "dev")
    assert low["command"] is None and "blue" in low["reason"]
    assert dg.next_step([], "dev") == {"command": None, "reason": "nothing to do"}
