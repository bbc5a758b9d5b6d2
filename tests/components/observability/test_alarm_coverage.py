"""alarm-coverage, validator called directly on hand-built stack resources.

A happy-path stack (two target groups split 50/50 by a listener, each with an
unhealthy-host alarm, one share-skew alarm over both), then one property changed per
test and the exact violation asserted. Last, the real dev stack from the emulator.
"""

from __future__ import annotations

import copy
import sys

import pytest
from pulumi_policy import EnforcementLevel, PolicyResource, PolicyResourceOptions, StackValidationArgs

from tests.conftest import ROOT

if str(ROOT / "policies") not in sys.path:
    sys.path.insert(0, str(ROOT / "policies"))

from lb_safety.alarms import alarm_coverage, check_alarm_coverage, target_group_suffix  # noqa: E402
from lb_safety.common import CannotEvaluate, UNKNOWN, stack_topology  # noqa: E402

REGION_ACCOUNT = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
TG = {k: f"{REGION_ACCOUNT}:targetgroup/dev-{k}-abc123/{i}0f00ba4" for i, k in enumerate(("blue", "green", "red"))}
LB = "app/web-tier-dev/50dc6c495c0c9188"
TOPIC = "arn:aws:sns:us-east-1:123456789012:web-tier-dev-alarms"
URN = "urn:pulumi:dev::web-tier::{}::{}"


def suffix(key: str) -> str:
    return TG[key].split(":", 5)[5]


def tg(key):
    return ("aws:lb/targetGroup:TargetGroup", f"web-pool-{key}-tg",
            {"arn": TG[key], "name": f"dev-{key}-abc123", "tags": {"lbguard:pool": key}, "port": 80})


def listener(weights: dict[str, int], name="web-routing-https"):
    return ("aws:lb/listener:Listener", name, {
        "arn": f"{REGION_ACCOUNT}:listener/{LB}/{name}", "port": 443, "protocol": "HTTPS",
        "defaultActions": [{"type": "forward", "forward": {
            "targetGroups": [{"arn": TG[k], "weight": float(w)} for k, w in weights.items()]}}]})


def unhealthy_alarm(key):
    return ("aws:cloudwatch/metricAlarm:MetricAlarm", f"web-alarms-{key}-unhealthy-hosts", {
        "name": f"web-tier-dev-{key}-unhealthy-hosts", "namespace": "AWS/ApplicationELB",
        "metricName": "UnHealthyHostCount", "statistic": "Maximum", "period": 60.0,
        "dimensions": {"LoadBalancer": LB, "TargetGroup": suffix(key)}, "threshold": 0.0,
        "comparisonOperator": "GreaterThanThreshold", "actionsEnabled": True,
        "alarmActions": [TOPIC], "okActions": [TOPIC]})


def skew_alarm(keys, where="default"):
    queries = [{"id": f"m{i}", "returnData": False, "metric": {
        "namespace": "AWS/ApplicationELB", "metricName": "RequestCount", "period": 60.0, "stat": "Sum",
        "dimensions": {"LoadBalancer": LB, "TargetGroup": suffix(k)}}} for i, k in enumerate(keys)]
    queries.append({"id": "skew", "returnData": True, "expression": "..."})
    return ("aws:cloudwatch/metricAlarm:MetricAlarm", f"web-alarms-share-skew-https-{where}", {
        "name": f"web-tier-dev-share-skew-https-{where}", "metricQueries": queries, "threshold": 0.0,
        "comparisonOperator": "GreaterThanThreshold", "alarmActions": [TOPIC], "okActions": [TOPIC]})


def happy() -> list[tuple]:
    return [tg("blue"), tg("green"), listener({"blue": 50, "green": 50}),
            unhealthy_alarm("blue"), unhealthy_alarm("green"), skew_alarm(["blue", "green"])]


def args_of(resources, config=None) -> StackValidationArgs:
    opts = PolicyResourceOptions(False, [], None, [], None, [])
    return StackValidationArgs([PolicyResource(t, copy.deepcopy(p), URN.format(t, n), n, opts, None, None, [], {})
                                for t, n, p in resources], config or {})


def violations(resources, config=None) -> list[tuple[str, str]]:
    found = []
    alarm_coverage.validate(args_of(resources, config), lambda message, urn=None: found.append((message, urn)))
    return found


def edit(resources, name, fn):
    out = copy.deepcopy(resources)
    fn(next(p for t, n, p in out if n == name))
    return out


def test_happy_path_has_no_violation():
    assert violations(happy()) == []


def test_policy_metadata():
    assert alarm_coverage.name == "alarm-coverage"
    assert alarm_coverage.enforcement_level == EnforcementLevel.MANDATORY
    props = alarm_coverage.config_schema.properties
    assert props["requireShareSkew"]["default"] is True and props["requireOkActions"]["default"] is False


def test_unhealthy_alarm_without_actions_is_a_violation_on_its_target_group():
    found = violations(edit(happy(), "web-alarms-green-unhealthy-hosts", lambda p: p.update(alarmActions=[])))
    assert len(found) == 1
    message, urn = found[0]
    assert urn == URN.format("aws:lb/targetGroup:TargetGroup", "web-pool-green-tg")
    assert message.startswith("target group green receives traffic but has no UnHealthyHostCount alarm with alarm "
                              "actions.")
    assert "Add them with actions to the stack's alarm topic" in message


def test_alarm_with_actions_disabled_does_not_count():
    found = violations(edit(happy(), "web-alarms-share-skew-https-default", lambda p: p.update(actionsEnabled=False)))
    assert [urn.rsplit("::", 1)[1] for _, urn in found] == ["web-pool-blue-tg", "web-pool-green-tg"]
    assert all("no share-skew alarm for web-routing-https/default (metric math over the RequestCount of blue, green)"
               in m for m, _ in found)


def test_unhealthy_alarm_on_another_target_group_does_not_count():
    found = violations(edit(happy(), "web-alarms-green-unhealthy-hosts",
                            lambda p: p["dimensions"].update(TargetGroup=suffix("blue"))))
    assert [(m.split(" receives")[0], "UnHealthyHostCount" in m) for m, _ in found] == [("target group green", True)]


def test_skew_alarm_must_read_every_target_group_of_the_forward():
    resources = [r for r in happy() if r[1] != "web-alarms-share-skew-https-default"] + [skew_alarm(["blue"])]
    found = violations(resources)
    assert len(found) == 2 and all("share-skew alarm" in m for m, _ in found)


def test_a_three_way_split_needs_all_three_in_one_skew_alarm():
    base = [tg("blue"), tg("green"), tg("red"), listener({"blue": 1, "green": 1, "red": 1})] + [
        unhealthy_alarm(k) for k in ("blue", "green", "red")]
    assert violations(base + [skew_alarm(["blue", "green", "red"])]) == []
    found = violations(base + [skew_alarm(["blue", "green"])])
    assert len(found) == 3 and "RequestCount of blue, green, red" in found[0][0]


def test_no_traffic_no_requirement():
    """green's weight is 0: it receives nothing and the forward has one live target group."""
    resources = [tg("blue"), tg("green"), listener({"blue": 1, "green": 0}), unhealthy_alarm("blue")]
    assert violations(resources) == []


def test_single_target_group_forward_needs_no_skew_alarm_but_an_unhealthy_alarm():
    resources = [tg("blue"), listener({"blue": 1})]
    found = violations(resources)
    assert len(found) == 1 and "UnHealthyHostCount" in found[0][0] and "share-skew" not in found[0][0]
    assert violations(resources + [unhealthy_alarm("blue")]) == []


def test_config_require_ok_actions():
    no_ok = edit(happy(), "web-alarms-blue-unhealthy-hosts", lambda p: p.pop("okActions"))
    assert violations(no_ok) == []
    found = violations(no_ok, {"requireOkActions": True})
    assert len(found) == 1 and "alarm and OK actions" in found[0][0] and "target group blue" in found[0][0]


def test_config_share_skew_not_required():
    resources = [r for r in happy() if r[1] != "web-alarms-share-skew-https-default"]
    assert len(violations(resources)) == 2
    assert violations(resources, {"requireShareSkew": False}) == []


def test_alb_tokens_are_covered():
    resources = [(t.replace("aws:lb/", "aws:alb/"), n, p) for t, n, p in happy()]
    assert violations(resources) == []
    resources = [r for r in resources if r[1] != "web-alarms-blue-unhealthy-hosts"]
    assert [urn.rsplit("::", 1)[1] for _, urn in violations(resources)] == ["web-pool-blue-tg"]


def test_unknown_target_group_arn_cannot_be_evaluated_never_a_mandatory_pass_or_fail():
    """A new stack in a preview: ARNs unknown. The policy says it could not run (advisory)."""
    resources = edit(happy(), "web-pool-green-tg", lambda p: p.update(arn=UNKNOWN))
    with pytest.raises(CannotEvaluate, match="could not be evaluated"):
        violations(resources)


def test_check_function_directly():
    topo = stack_topology(args_of(happy()))
    alarms = [p for t, n, p in happy() if t.startswith("aws:cloudwatch")]
    assert check_alarm_coverage(topo, alarms) == ([], [])
    found, notes = check_alarm_coverage(topo, alarms[1:])
    assert notes == [] and [urn.rsplit("::", 1)[1] for _, urn in found] == ["web-pool-blue-tg"]


def test_target_group_suffix():
    assert target_group_suffix(TG["blue"]) == "targetgroup/dev-blue-abc123/00f00ba4"
    assert target_group_suffix(f"{REGION_ACCOUNT}:loadbalancer/{LB}") is None
    assert target_group_suffix(UNKNOWN) is None


def test_the_dev_stack_passes_and_loses_coverage_when_an_alarm_goes(dev):
    resources = [(r.type, r.name, r.outputs) for r in dev.run.resources if r.custom]
    assert violations(resources) == []
    resources = edit(resources, "web-alarms-share-skew-https-api", lambda p: None)
    resources = [r for r in resources if r[1] not in ("web-alarms-share-skew-https-api",
                                                      "web-alarms-share-skew-https-default")]
    found = violations(resources)
    assert sorted(urn.rsplit("::", 1)[1] for _, urn in found) == ["web-pool-blue-tg", "web-pool-green-tg"]
    assert "share-skew alarm for web-routing-https/default" in found[0][0]
