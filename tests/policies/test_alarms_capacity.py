"""alarm-coverage and capacity-covers-share on the compliant web tier (tests/policies/fixtures.py),
one change at a time: which alarms count, which target groups need which alarm; where a
forward's peak comes from, which limit applies in which scenario, which scenario is named,
and forwards of one listener added up.

The web tier: peak 400 req/s; the /api/* rule takes 30% (its lbguard:traffic-fraction) to api
(4 x 250 req/s), the default action the other 70% split 50/50 over blue and green (4 x 150
req/s each, over two AZs): 140 req/s on blue and on green."""

from __future__ import annotations

import copy
import sys

import pytest

from tests.conftest import ROOT
from tests.policies.fixtures import ELB, UNKNOWN, add_resource, by_name, forward, mutate, setter, web_tier

if str(ROOT / "policies") not in sys.path:
    sys.path.insert(0, str(ROOT / "policies"))

from lb_safety.alarms import target_group_suffix  # noqa: E402

BASE = web_tier()
ARNS = BASE.outputs["targetGroupArns"]
STACK = "web-tier-prod"
HTTPS = "web-routing-https"
FIX = (". Raise its Auto Scaling minimum, spread it over more AZs, or lower its weight.")


def said(pack, run, policy, user=None):
    return [(v.enforcement_level, v.name, v.message) for v in pack.evaluate(run, {} if user is None else user)
            if v.policy == policy]


def cannot(policy: str, reasons: str) -> tuple[str, str, str]:
    return ("advisory", STACK, f"can't run policy '{policy}' from policy pack 'lb-safety@v0.0.1' during preview: "
                               f"could not be evaluated: {reasons}")


def without(run, *names):
    run = copy.deepcopy(run)
    run.resources = [r for r in run.resources if r.name not in names]
    return run


# ------------------------------------------------------------------ alarm-coverage

ALARMS = "alarm-coverage"


def coverage(pool: str, *missing: str, actions: str = "alarm actions") -> tuple[str, str, str]:
    return ("mandatory", f"web-pool-{pool}-tg",
            f"target group {pool} receives traffic but has no {' and no '.join(missing)} with {actions}. Add them with "
            f"actions to the stack's alarm topic (components/alarms.py builds both for every pool and every forward "
            f"of two or more pools), so a sick pool or a funnel pages someone within minutes.")


UNHEALTHY = "UnHealthyHostCount alarm"
SKEW = "share-skew alarm for web-routing-https/default (metric math over the RequestCount of blue, green)"


@pytest.mark.parametrize("arn, suffix", [
    (ARNS["blue"], ARNS["blue"].split(":", 5)[5]),
    (f"{ELB}:loadbalancer/app/web-prod/50dc6c495c0c9188", None),
    ("arn:aws:elasticloadbalancing:us-east-1", None),
    ("targetgroup/web-blue/1", None),
    (UNKNOWN, None),
    (None, None),
])
def test_the_cloudwatch_dimension_of_a_target_group(arn, suffix):
    """CloudWatch's TargetGroup dimension is the ARN's resource part, 'targetgroup/<name>/<id>'."""
    assert target_group_suffix(arn) == suffix


@pytest.mark.parametrize("change, found", [
    ({"actionsEnabled": True}, []),
    ({"actionsEnabled": False}, [coverage("blue", UNHEALTHY)]),
    ({"alarmActions": []}, [coverage("blue", UNHEALTHY)]),
    ({"alarmActions": None, "okActions": ["arn:aws:sns:us-east-1:123456789012:web-alarms"]}, [coverage("blue", UNHEALTHY)]),
    ({"dimensions": {"TargetGroup": ARNS["green"].split(":", 5)[5]}}, [coverage("blue", UNHEALTHY)]),
    ({"dimensions": {}}, [coverage("blue", UNHEALTHY)]),
    ({"metricName": "HealthyHostCount"}, [coverage("blue", UNHEALTHY)]),
], ids=["enabled", "disabled", "no-actions", "ok-actions-only", "other-target-group", "no-dimensions", "other-metric"])
def test_which_unhealthy_host_alarms_count(pack, change, found):
    run = mutate(BASE, "web-alarms-blue-unhealthy-hosts", lambda p: p.update(change))
    assert said(pack, run, ALARMS) == found


def test_an_unhealthy_host_alarm_through_metric_math_counts(pack):
    def as_math(p):
        metric = {k: p.pop(k) for k in ("metricName", "namespace", "period", "dimensions")}
        p.pop("statistic")
        p["metricQueries"] = [{"id": "m", "metric": {**metric, "stat": "Maximum"}, "returnData": True}]
    assert said(pack, mutate(BASE, "web-alarms-blue-unhealthy-hosts", as_math), ALARMS) == []


def test_a_share_skew_alarm_is_metric_math_over_every_target_group_of_the_forward(pack):
    assert said(pack, without(BASE, "web-alarms-https-share-skew"), ALARMS) == [
        coverage("blue", SKEW), coverage("green", SKEW)]
    # Only blue's RequestCount: a share is relative, green's is needed too.
    one = mutate(BASE, "web-alarms-https-share-skew", lambda p: p.update(metricQueries=[
        q for q in p["metricQueries"] if q["id"] != "green"]))
    assert said(pack, one, ALARMS) == [coverage("blue", SKEW), coverage("green", SKEW)]
    # A plain RequestCount alarm (no metric math) on each does not watch the share.
    plain = without(BASE, "web-alarms-https-share-skew")
    for pool in ("blue", "green"):
        plain = add_resource(plain, "aws:cloudwatch/metricAlarm:MetricAlarm", f"web-alarms-{pool}-requests", {
            "metricName": "RequestCount", "namespace": "AWS/ApplicationELB", "period": 60, "statistic": "Sum",
            "threshold": 1000, "comparisonOperator": "GreaterThanThreshold", "evaluationPeriods": 1,
            "dimensions": {"TargetGroup": ARNS[pool].split(":", 5)[5]},
            "alarmActions": ["arn:aws:sns:us-east-1:123456789012:web-alarms"]})
    assert said(pack, plain, ALARMS) == [coverage("blue", SKEW), coverage("green", SKEW)]


def test_a_target_group_missing_both_alarms_names_both(pack):
    run = without(BASE, "web-alarms-https-share-skew", "web-alarms-green-unhealthy-hosts")
    assert said(pack, run, ALARMS) == [coverage("blue", SKEW), coverage("green", UNHEALTHY, SKEW)]


@pytest.mark.parametrize("weights, found", [
    ((1, 1), [coverage("blue", UNHEALTHY)]),  # weights of 1 are traffic
    ((1, 0), [coverage("blue", UNHEALTHY)]),  # green receives nothing: no alarm needed, no skew
    ((0, 1), []),
], ids=["both", "blue-only", "green-only"])
def test_only_target_groups_that_receive_traffic_need_alarms(pack, weights, found):
    run = mutate(BASE, HTTPS, setter(["defaultActions"], [forward((ARNS["blue"], weights[0]), (ARNS["green"], weights[1]))]))
    run = without(run, "web-alarms-blue-unhealthy-hosts")
    if 0 in weights:
        run = without(run, "web-alarms-https-share-skew")
    assert said(pack, run, ALARMS) == found


def test_ok_actions_required_by_config(pack):
    """The share-skew alarm of the web tier has no OK actions: with requireOkActions it does not count."""
    assert said(pack, BASE, ALARMS, {ALARMS: {"requireOkActions": False}}) == []
    assert said(pack, BASE, ALARMS, {ALARMS: {"requireOkActions": True}}) == [
        coverage("blue", SKEW, actions="alarm and OK actions"), coverage("green", SKEW, actions="alarm and OK actions")]


def test_share_skew_alarms_not_required_by_config(pack):
    run = without(BASE, "web-alarms-https-share-skew", "web-alarms-green-unhealthy-hosts")
    assert said(pack, run, ALARMS, {ALARMS: {"requireShareSkew": False}}) == [coverage("green", UNHEALTHY)]
    assert said(pack, run, ALARMS, {ALARMS: {"requireShareSkew": True}}) == [coverage("blue", SKEW),
                                                                            coverage("green", UNHEALTHY, SKEW)]


def test_unknown_alarm_dimensions_are_said(pack):
    run = mutate(BASE, "web-alarms-api-unhealthy-hosts", setter(["dimensions"], UNKNOWN))
    # the alarm may be api's (a preview): said, never a mandatory "no alarm"
    assert said(pack, run, ALARMS) == [cannot(ALARMS, "some alarms' dimensions are unknown")]


def test_a_target_group_with_an_unknown_arn_is_said_and_the_others_still_checked(pack):
    """A preview of a new api pool: its ARN is unknown, the rule reaches it through its dependencies.
    api sorts first; green, missing its alarm, is still reported."""
    run = mutate(BASE, "web-pool-api-tg", lambda p: p.update(arn=UNKNOWN, id=UNKNOWN, arnSuffix=UNKNOWN))
    run = mutate(run, "web-routing-rule-api", setter(["actions"], [forward((UNKNOWN, 1))]))
    run = without(run, "web-alarms-green-unhealthy-hosts")
    assert said(pack, run, ALARMS) == [coverage("green", UNHEALTHY),
                                       cannot(ALARMS, "web-pool-api-tg: its ARN is unknown, so its alarms cannot be "
                                                      "matched")]


def test_metric_math_over_other_metrics_is_not_a_share_skew_alarm(pack):
    """The 5xx rate of blue and green in one metric-math alarm says nothing about their shares."""
    def five_xx(p):
        for q in p["metricQueries"]:
            if "metric" in q:
                q["metric"]["metricName"] = "HTTPCode_Target_5XX_Count"
    assert said(pack, mutate(BASE, "web-alarms-https-share-skew", five_xx), ALARMS) == [
        coverage("blue", SKEW), coverage("green", SKEW)]


def test_a_target_group_with_weight_0_is_not_part_of_the_share(pack):
    """blue 1, green 1, api 0: the skew alarm over blue and green covers the forward."""
    run = mutate(BASE, HTTPS, setter(["defaultActions"], [
        forward((ARNS["blue"], 1), (ARNS["green"], 1), (ARNS["api"], 0))]))
    assert said(pack, run, ALARMS) == []


def test_reports_come_in_the_order_of_the_pools(pack):
    """Pools are named by their lbguard:pool key: green's key 'amber' sorts before blue."""
    run = mutate(BASE, "web-pool-green-tg", lambda p: p["tags"].update({"lbguard:pool": "amber"}))
    run = without(run, "web-alarms-blue-unhealthy-hosts", "web-alarms-green-unhealthy-hosts")
    assert [name for _, name, _ in said(pack, run, ALARMS)] == ["web-pool-green-tg", "web-pool-blue-tg"]


@pytest.mark.parametrize("queries", [UNKNOWN, [UNKNOWN]], ids=["unknown-list", "unknown-element"])
def test_unknown_metric_queries_are_said_never_a_mandatory_failure(pack, queries):
    run = mutate(BASE, "web-alarms-https-share-skew", setter(["metricQueries"], queries))
    assert said(pack, run, ALARMS) == [cannot(ALARMS, "some alarms' metric queries are unknown")]


def test_an_unknown_alarm_leaves_the_known_metrics_judged(pack):
    """api's unhealthy-host alarm has unknown dimensions and the share-skew alarm is gone: the
    unhealthy-host check cannot tell (the unknown alarm may be any pool's), the share-skew check
    still can."""
    run = mutate(BASE, "web-alarms-api-unhealthy-hosts", setter(["dimensions"], UNKNOWN))
    run = without(run, "web-alarms-https-share-skew")
    assert said(pack, run, ALARMS) == [coverage("blue", SKEW), coverage("green", SKEW),
                                       cannot(ALARMS, "some alarms' dimensions are unknown")]


# ------------------------------------------------------------------ capacity-covers-share

CAPACITY = "capacity-covers-share"


def rps(run, pool: str, value: str | None):
    """The pool's Auto Scaling group serves ``value`` requests/s per instance (None: no tag)."""
    def fn(p):
        p["tags"] = [t for t in p["tags"] if t["key"] != "lbguard:rps-per-instance"]
        if value is not None:
            p["tags"].append({"key": "lbguard:rps-per-instance", "value": value, "propagateAtLaunch": False})
    return mutate(run, f"web-pool-{pool}-asg", fn)


def both(run, value):
    return rps(rps(run, "blue", value), "green", value)


def over(where: str, scenario: str, pool: str, share: str, peak: str, load: str, healthy: int, cap: str,
         util: str, limit: str, name: str = HTTPS, prefix: str | None = None) -> tuple[str, str, str]:
    return ("mandatory", name,
            f"{prefix or where}: in scenario '{scenario}' target group {pool} takes {share} of {peak} req/s = {load} "
            f"req/s on {healthy} healthy instance(s), {cap}: utilisation {util} > {limit}{FIX}")


DEGRADED_2 = {CAPACITY: {"degradedMaxUtilisation": 2.0}}


def test_exactly_at_the_headroom_limit_passes(pack):
    """140 req/s on 4 x 43.75 = 175 req/s is 80% exactly: the limit is reached, not exceeded."""
    assert said(pack, both(BASE, "43.75"), CAPACITY, DEGRADED_2) == []
    assert said(pack, both(BASE, "43.7"), CAPACITY, DEGRADED_2) == [
        over("web-routing-https/default", "all-healthy", "blue", "35%", "400", "140", 4, "capacity 174.8 req/s",
             "80.1%", "80%")]


def test_degraded_scenarios_have_their_own_limit(pack):
    """4 x 80 req/s: 44% all healthy, 87.5% with an AZ lost. Within the degraded limit (100%),
    though above the all-healthy one (80%), which applies only with every instance healthy."""
    run = both(BASE, "80")
    assert said(pack, run, CAPACITY) == []
    assert said(pack, run, CAPACITY, {CAPACITY: {"degradedMaxUtilisation": 0.85}}) == [
        over("web-routing-https/default", "az-lost", "blue", "35%", "400", "140", 2, "capacity 160 req/s", "87.5%",
             "85%")]


def test_the_scenario_furthest_over_its_limit_is_named(pack):
    """4 x 35 req/s with the degraded limit at 170%: all healthy 100% (1.25 x its 80%), an AZ lost
    200% (1.18 x 170%): the all-healthy scenario is the worse one. blue and green are equal:
    the first is named."""
    assert said(pack, both(BASE, "35"), CAPACITY, {CAPACITY: {"degradedMaxUtilisation": 1.7}}) == [
        over("web-routing-https/default", "all-healthy", "blue", "35%", "400", "140", 4, "capacity 140 req/s", "100%",
             "80%")]


def test_a_pool_left_with_no_instance(pack):
    run = mutate(BASE, "web-pool-api-asg", lambda p: p.update(minSize=1, desiredCapacity=1))
    assert said(pack, run, CAPACITY) == [
        over("", "instance-lost:api", "api", "30%", "400", "120", 0, "no healthy instance left", "unbounded", "100%",
             name="web-routing-rule-api", prefix="web-routing-https/web-routing-rule-api")]


def test_the_headroom_and_degraded_limits_come_from_the_config(pack):
    run = both(BASE, "80")
    assert said(pack, run, CAPACITY, {CAPACITY: {"headroom": 0.6}}) == [
        over("web-routing-https/default", "all-healthy", "blue", "35%", "400", "140", 4, "capacity 320 req/s",
             "43.8%", "40%")]


# ---- where the peak comes from


def untagged(run):
    return mutate(run, "web-lb-alb", setter(["tags"], {}))


NO_PEAK = ("{}: no peak requests/s known (tag the load balancer 'lbguard:peak-rps' or set peakRequestsPerSecond in "
           "the pack config)")


def test_without_a_peak_nothing_is_judged_and_it_is_said(pack):
    assert said(pack, untagged(BASE), CAPACITY) == [
        cannot(CAPACITY, f"{NO_PEAK.format('web-routing-https/default')}; "
                         f"{NO_PEAK.format('web-routing-https/web-routing-rule-api')}")]


PROFILE = {"version": 1, "classes": [{"name": "pages", "weight": 70, "path": "/"},
                                     {"name": "api", "weight": 30, "path": "/api/v1/items"}]}
AZ_LOST_1000 = over("web-routing-https/default", "az-lost", "blue", "35%", "1000", "350", 2, "capacity 300 req/s",
                    "116.7%", "100%")


@pytest.mark.parametrize("tagged, config, found", [
    (False, {"peakRequestsPerSecond": 1000}, [AZ_LOST_1000]),
    (False, {"trafficProfile": {**PROFILE, "peakRequestsPerSecond": 1000}}, [AZ_LOST_1000]),
    (False, {"peakRequestsPerSecond": 400, "trafficProfile": {**PROFILE, "peakRequestsPerSecond": 1000}}, []),
    (True, {"peakRequestsPerSecond": 1000}, []),
    (True, {"trafficProfile": {**PROFILE, "peakRequestsPerSecond": 1000}}, []),
], ids=["config", "profile", "config-before-profile", "tag-before-config", "tag-before-profile"])
def test_the_peak_is_the_tag_then_the_config_then_the_profile(pack, tagged, config, found):
    run = BASE if tagged else untagged(BASE)
    assert said(pack, run, CAPACITY, {CAPACITY: config}) == found


def second_load_balancer(run, peak: str):
    return add_resource(run, "aws:lb/loadBalancer:LoadBalancer", "web-lb-admin", {
        "name": "web-admin", "loadBalancerType": "application", "internal": True, "tags": {"lbguard:peak-rps": peak}},
        {"arn": f"{ELB}:loadbalancer/app/web-admin/2222222222222222"})


def test_each_listener_takes_the_peak_of_its_own_load_balancer(pack):
    run = second_load_balancer(BASE, "4000")
    assert said(pack, run, CAPACITY) == []
    # The load balancer's ARN written as a string (no dependency): the ARN names it.
    by_arn = copy.deepcopy(run)
    del by_name(by_arn, HTTPS).property_dependencies["loadBalancerArn"]
    assert said(pack, by_arn, CAPACITY) == []
    # A preview: the listener's loadBalancerArn is unknown, its dependency still names its load balancer.
    preview = mutate(run, HTTPS, setter(["loadBalancerArn"], UNKNOWN))
    assert said(pack, preview, CAPACITY) == []
    # Neither the ARN nor a dependency: with two peaks, which one is unknown.
    lost = copy.deepcopy(preview)
    del by_name(lost, HTTPS).property_dependencies["loadBalancerArn"]
    assert said(pack, lost, CAPACITY) == [
        cannot(CAPACITY, f"{NO_PEAK.format('web-routing-https/default')}; "
                         f"{NO_PEAK.format('web-routing-https/web-routing-rule-api')}")]
    # With one tagged load balancer its peak is the only candidate.
    single = mutate(BASE, HTTPS, setter(["loadBalancerArn"], UNKNOWN))
    by_name(single, HTTPS).property_dependencies["loadBalancerArn"] = []
    assert said(pack, single, CAPACITY) == []


def test_a_listener_without_a_peak_does_not_stop_the_others(pack):
    """The https listener's load balancer cannot be told (two tagged ones); a second listener on the
    admin load balancer (peak 4000) forwards everything to api: 4000 req/s on 1000."""
    run = second_load_balancer(BASE, "4000")
    run = mutate(run, HTTPS, setter(["loadBalancerArn"], UNKNOWN))
    by_name(run, HTTPS).property_dependencies["loadBalancerArn"] = []
    admin_lb = by_name(run, "web-lb-admin").outputs["arn"]
    run = add_resource(run, "aws:lb/listener:Listener", "web-admin-http", {
        "loadBalancerArn": admin_lb, "port": 8080, "protocol": "HTTP",
        "defaultActions": [{"type": "forward", "targetGroupArn": ARNS["api"]}]},
        {"arn": f"{ELB}:listener/app/web-admin/2222222222222222/0000000000008080"},
        deps={"loadBalancerArn": ["web-lb-admin"], "defaultActions": ["web-pool-api-tg"]})
    found = said(pack, run, CAPACITY)
    assert found[0] == over("web-admin-http/default", "az-lost", "api", "100%", "4000", "4000", 2,
                            "capacity 500 req/s", "800%", "100%", name="web-admin-http")
    assert found[1][0] == "advisory" and NO_PEAK.format("web-routing-https/default") in found[1][2]


# ---- requests/s per instance


RPS_UNKNOWN = ("web-routing-https/default: requests/s per instance unknown for target group {} (tag its Auto Scaling "
               "group 'lbguard:rps-per-instance' or set defaultRpsPerInstance in the pack config)")


def test_requests_per_instance_from_the_tag_or_the_config(pack):
    run = rps(BASE, "blue", None)
    assert said(pack, run, CAPACITY) == [cannot(CAPACITY, RPS_UNKNOWN.format("blue"))]
    assert said(pack, run, CAPACITY, {CAPACITY: {"defaultRpsPerInstance": 150}}) == []
    assert said(pack, run, CAPACITY, {CAPACITY: {"defaultRpsPerInstance": 40}}) == [
        over("web-routing-https/default", "az-lost", "blue", "35%", "400", "140", 2, "capacity 80 req/s", "175%",
             "100%")]


def test_a_pool_with_weight_0_needs_no_capacity_figure(pack):
    run = mutate(rps(BASE, "green", None), HTTPS,
                 setter(["defaultActions"], [forward((ARNS["blue"], 1), (ARNS["green"], 0))]))
    assert said(pack, run, CAPACITY) == []


def test_a_forward_whose_capacity_is_unknown_does_not_stop_the_others(pack):
    """blue's capacity is unknown (default action: not judged, said); api, 4 x 10 req/s, is over."""
    run = rps(rps(BASE, "blue", None), "api", "10")
    assert said(pack, run, CAPACITY) == [
        over("", "az-lost", "api", "30%", "400", "120", 2, "capacity 20 req/s", "600%", "100%",
             name="web-routing-rule-api", prefix="web-routing-https/web-routing-rule-api"),
        cannot(CAPACITY, RPS_UNKNOWN.format("blue"))]


# ---- forwards of one listener add up


def api_rule_to(run, *pools):
    return mutate(run, "web-routing-rule-api", setter(["actions"], [forward(*[(ARNS[p], 1) for p in pools])]))


def test_forwards_to_the_same_pools_add_up(pack):
    """The api rule (30%) sent to blue and green too: 60 + 140 = 200 req/s on blue's 4 x 50. Each
    forward alone is within 80%; together blue is at 100%."""
    run = both(api_rule_to(BASE, "blue", "green"), "50")
    assert said(pack, run, CAPACITY, DEGRADED_2) == [
        over("", "all-healthy", "blue", "50%", "400", "200", 4, "capacity 200 req/s", "100%", "80%",
             prefix="listener web-routing-https: its forwards (web-routing-https/default, "
                    "web-routing-https/web-routing-rule-api) together")]
    # Capacity enough for both together: nothing to say.
    assert said(pack, both(api_rule_to(BASE, "blue", "green"), "70"), CAPACITY, DEGRADED_2) == []


def test_a_listener_with_a_forward_not_evaluated_is_not_added_up(pack):
    """A third rule whose share is unknown: the listener's total is not known, so no sum is judged."""
    run = both(api_rule_to(BASE, "blue", "green"), "50")
    https_arn = by_name(run, HTTPS).outputs["arn"]
    run = add_resource(run, "aws:lb/listenerRule:ListenerRule", "web-routing-rule-static", {
        "listenerArn": https_arn, "priority": 20, "conditions": [{"pathPattern": {"values": ["/static/*"]}}],
        "actions": [forward((ARNS["api"], 1))]},
        {"arn": https_arn.replace(":listener/", ":listener-rule/") + "/00000000000000b2"},
        deps={"listenerArn": [HTTPS], "actions": ["web-pool-api-tg"]})
    found = said(pack, run, CAPACITY, DEGRADED_2)
    assert [(level, name) for level, name, _ in found] == [("advisory", STACK)]
    assert "web-routing-https/web-routing-rule-static: share unknown" in found[0][2]


def rule(run, name: str, priority: int, path: str, pools, fraction: str | None = None, listener: str = HTTPS):
    """A listener rule forwarding ``path`` evenly to ``pools``, with its share if given."""
    listener_arn = by_name(run, listener).outputs["arn"]
    return add_resource(run, "aws:lb/listenerRule:ListenerRule", name, {
        "listenerArn": listener_arn, "priority": priority, "conditions": [{"pathPattern": {"values": [path]}}],
        "actions": [forward(*[(ARNS[p], 1) for p in pools])],
        **({"tags": {"lbguard:traffic-fraction": fraction}} if fraction else {})},
        {"arn": f"{listener_arn.replace(':listener/', ':listener-rule/')}/{priority:016x}"},
        deps={"listenerArn": [listener], "actions": [f"web-pool-{p}-tg" for p in pools]})


def untagged_api_rule(run):
    return mutate(run, "web-routing-rule-api", lambda p: p.pop("tags"))


STATIC_OVER = over("", "az-lost", "api", "20%", "400", "80", 2, "capacity 20 req/s", "400%", "100%",
                   name="web-routing-rule-static", prefix="web-routing-https/web-routing-rule-static")
API_SHARE_UNKNOWN = ("web-routing-https/web-routing-rule-api: share unknown (a rule that matches only some requests, "
                     "no traffic profile and no expectedShare): add stacks/traffic.<stack>.yaml (lbguard profile "
                     "--from-logs) or set the rule's expectedShare")


def test_a_forward_whose_share_is_unknown_does_not_stop_the_others(pack):
    """The api rule's share is unknown (said); a later /static/* rule (20%) to api, 4 x 10 req/s, is over."""
    run = rule(rps(untagged_api_rule(BASE), "api", "10"), "web-routing-rule-static", 20, "/static/*", ["api"], "0.2")
    assert said(pack, run, CAPACITY) == [STATIC_OVER, cannot(CAPACITY, API_SHARE_UNKNOWN)]


def test_every_forward_over_capacity_is_reported(pack):
    run = rps(both(BASE, "40"), "api", "10")
    assert [name for _, name, _ in said(pack, run, CAPACITY)] == [HTTPS, "web-routing-rule-api"]


def test_a_target_group_without_instances_in_the_stack_is_said(pack):
    """api's Auto Scaling group is gone: nothing in the stack registers targets in it."""
    run = without(BASE, "web-pool-api-asg")
    assert said(pack, run, CAPACITY) == [cannot(
        CAPACITY, "web-routing-https/web-routing-rule-api: no Auto Scaling group or registered target in this stack "
                  "is linked to target group api, so its instances are unknown")]


def test_weights_of_1_are_traffic_that_needs_a_capacity_figure(pack):
    run = mutate(rps(BASE, "blue", None), HTTPS, setter(["defaultActions"], [forward((ARNS["blue"], 1), (ARNS["green"], 1))]))
    assert said(pack, run, CAPACITY) == [cannot(CAPACITY, RPS_UNKNOWN.format("blue"))]


def test_what_could_not_be_evaluated_is_said_in_full(pack):
    """A rule on a listener that cannot be told, and blue's capacity unknown: both reasons."""
    run = add_resource(BASE, "aws:lb/listenerRule:ListenerRule", "web-routing-rule-lost", {
        "listenerArn": UNKNOWN, "priority": 30, "conditions": [{"pathPattern": {"values": ["/lost/*"]}}],
        "actions": [forward((ARNS["api"], 1))]}, {"arn": UNKNOWN})
    run = rps(run, "blue", None)
    assert said(pack, run, CAPACITY) == [cannot(
        CAPACITY, "web-routing-rule-lost: listenerArn names a listener that cannot be resolved; "
                  + RPS_UNKNOWN.format("blue"))]


@pytest.mark.parametrize("why", ["capacity-unknown", "reported"])
def test_a_listener_with_a_forward_not_judged_or_already_reported_is_not_added_up(pack, why):
    """default (50%) and api (30%) to blue and green: 160 of 4 x 45 = 180 req/s together (89%),
    each within 80% alone. A /static/* rule (20%) to api, whose capacity is unknown or which is
    over capacity itself: the listener's sum is not judged."""
    run = both(api_rule_to(BASE, "blue", "green"), "45")
    run = rule(run, "web-routing-rule-static", 20, "/static/*", ["api"], "0.2")
    run = rps(run, "api", None if why == "capacity-unknown" else "10")
    found = said(pack, run, CAPACITY, DEGRADED_2)
    if why == "reported":
        assert found == [over("", "all-healthy", "api", "20%", "400", "80", 4, "capacity 40 req/s", "200%", "80%",
                              name="web-routing-rule-static", prefix="web-routing-https/web-routing-rule-static")]
    else:
        assert [(level, name) for level, name, _ in found] == [("advisory", STACK)]


def test_each_listener_is_added_up_on_its_own(pack):
    """https: its api rule (to api, 4 x 10 req/s) is over capacity itself, so https is not added up.
    A second listener (port 8443) sends half by default and half by a rule to blue and green,
    4 x 50 req/s: 100 + 100 = 200 req/s on blue together."""
    run = rps(both(BASE, "50"), "api", "10")
    lb_arn = by_name(run, "web-lb-alb").outputs["arn"]
    run = add_resource(run, "aws:lb/listener:Listener", "web-routing-alt", {
        "loadBalancerArn": lb_arn, "port": 8443, "protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "certificateArn": by_name(run, HTTPS).inputs["certificateArn"],
        "defaultActions": [forward((ARNS["blue"], 1), (ARNS["green"], 1))]},
        {"arn": f"{ELB}:listener/app/web-prod/50dc6c495c0c9188/0000000000008443"},
        deps={"loadBalancerArn": ["web-lb-alb"], "defaultActions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    run = rule(run, "web-routing-alt-half", 10, "/half/*", ["blue", "green"], "0.5", listener="web-routing-alt")
    assert [name for _, name, _ in said(pack, run, CAPACITY, DEGRADED_2)] == ["web-routing-rule-api", "web-routing-alt"]
    assert said(pack, run, CAPACITY, DEGRADED_2)[1] == over(
        "", "all-healthy", "blue", "50%", "400", "200", 4, "capacity 200 req/s", "100%", "80%", name="web-routing-alt",
        prefix="listener web-routing-alt: its forwards (web-routing-alt/default, web-routing-alt/web-routing-alt-half) "
               "together")


def test_unknown_metric_queries_may_read_any_metric(pack):
    """A metric-math alarm whose queries are unknown may read a target group's unhealthy hosts
    as well as its requests: with it, a missing unhealthy-host alarm is said, not reported."""
    run = mutate(BASE, "web-alarms-https-share-skew", setter(["metricQueries"], UNKNOWN))
    run = without(run, "web-alarms-green-unhealthy-hosts")
    assert said(pack, run, ALARMS) == [cannot(ALARMS, "some alarms' metric queries are unknown")]
