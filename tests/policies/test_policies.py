"""Every policy through the real gRPC path (the pack as its own process, started as the
engine starts it): a compliant stack, then one mutation per policy asserting the exact
violations (policy, enforcement level, resource URN), for aws:lb/ and aws:alb/ tokens."""

from __future__ import annotations

import copy

import pytest

from tests.policies.conftest import CONFIGS
from tests.policies.fixtures import (add_resource, alb_tokens, by_name, forward, mutate, refresh_rollback,
                                     setter, web_tier)

BASE = web_tier()
ARNS = BASE.outputs["targetGroupArns"]


def routed(run):
    """The mutation is a routing change made on purpose: the rollback output follows it."""
    return refresh_rollback(run)


def tag(name, key, value):
    def fn(p):
        p["tags"] = [t for t in p["tags"] if t["key"] != key] + [{"key": key, "value": value, "propagateAtLaunch": False}]
    return name, fn


def shadowing_rule(run):
    run = add_resource(run, "aws:lb/listenerRule:ListenerRule", "web-routing-rule-all", {
        "listenerArn": by_name(run, "web-routing-https").outputs["arn"], "priority": 5,
        "conditions": [{"pathPattern": {"values": ["/*"]}}],
        "actions": [forward((ARNS["blue"], 1), (ARNS["green"], 1))]},
        {"arn": by_name(run, "web-routing-rule-api").outputs["arn"][:-2] + "a0"},
        deps={"listenerArn": ["web-routing-https"], "actions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    return routed(run)


def duplicate_priority(run):
    run = add_resource(run, "aws:lb/listenerRule:ListenerRule", "web-routing-rule-static", {
        "listenerArn": by_name(run, "web-routing-https").outputs["arn"], "priority": 10,
        "conditions": [{"pathPattern": {"values": ["/static/*"]}}],
        "actions": [forward((ARNS["blue"], 1), (ARNS["green"], 1))],
        "tags": {"lbguard:traffic-fraction": "0.2"}},
        {"arn": by_name(run, "web-routing-rule-api").outputs["arn"][:-2] + "b0"},
        deps={"listenerArn": ["web-routing-https"], "actions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    return routed(run)


def http_forwarding_rule(run):
    run = add_resource(run, "aws:lb/listenerRule:ListenerRule", "web-routing-http-legacy", {
        "listenerArn": by_name(run, "web-routing-http").outputs["arn"], "priority": 20,
        "conditions": [{"hostHeader": {"values": ["legacy.example.com"]}}],
        "actions": [forward((ARNS["blue"], 1), (ARNS["green"], 1))],
        "tags": {"lbguard:traffic-fraction": "0.1"}},
        {"arn": by_name(run, "web-routing-http").outputs["arn"].replace(":listener/", ":listener-rule/") + "/c0"},
        deps={"listenerArn": ["web-routing-http"], "actions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    return routed(run)


def stale_rollback(run):
    run = copy.deepcopy(run)
    https = next(l for l in run.outputs["rollback"]["listeners"] if l["key"] == "web-routing-https")
    https["rules"].append(dict(https["rules"][0], key="gone", priority=99,
                               arn=https["rules"][0]["arn"][:-2] + "ff"))
    return run


def urn(run, name):
    return by_name(run, name).urn


M = "mandatory"
# case id -> (mutation(run) -> run, [(policy, resource name or None for the stack)])
CASES = {
    "even-target-weights/listener": (
        lambda r: routed(mutate(r, "web-routing-https", setter(["defaultActions"], [forward((ARNS["blue"], 60), (ARNS["green"], 40))]))),
        [("even-target-weights", "web-routing-https")]),
    "even-target-weights/rule": (
        lambda r: routed(mutate(r, "web-routing-rule-api", setter(["actions"], [forward((ARNS["blue"], 3), (ARNS["green"], 1))]))),
        [("even-target-weights", "web-routing-rule-api")]),
    "even-target-weights/out-of-range": (
        lambda r: routed(mutate(r, "web-routing-https", setter(["defaultActions"], [forward((ARNS["blue"], 1000), (ARNS["green"], 1000))]))),
        [("even-target-weights", "web-routing-https")]),
    "no-traffic-funnel": (  # the api rule declared to take the whole listener: 1/3 per instance with one lost
        lambda r: mutate(r, "web-routing-rule-api", lambda p: p["tags"].update({"lbguard:traffic-fraction": "1"})),
        [("no-traffic-funnel", "web-routing-rule-api")]),
    "capacity-covers-share": (lambda r: mutate(r, *tag("web-pool-blue-asg", "lbguard:rps-per-instance", "50")),
                              [("capacity-covers-share", "web-routing-https")]),
    "rollback-output-required/weights": (
        lambda r: mutate(r, "web-routing-https", setter(["defaultActions"], [forward((ARNS["blue"], 51), (ARNS["green"], 51))])),
        [("rollback-output-required", "web-routing-https")]),
    "rollback-output-required/missing": (lambda r: (r := copy.deepcopy(r), r.outputs.pop("rollback"), r)[-1],
                                         [("rollback-output-required", None)]),
    "rollback-output-required/stale": (stale_rollback, [("rollback-output-required", None)]),
    "target-group-health-check": (lambda r: mutate(r, "web-pool-blue-tg", setter(["healthCheck", "timeout"], 10)),
                                  [("target-group-health-check", "web-pool-blue-tg")]),
    "listener-rule-shadowing/covered": (shadowing_rule, [("listener-rule-shadowing", "web-routing-rule-api")]),
    # A snapshot with two rules at one priority is itself invalid: the rollback check says so too.
    "listener-rule-shadowing/duplicate": (duplicate_priority, [("listener-rule-shadowing", "web-routing-rule-api"),
                                                               ("listener-rule-shadowing", "web-routing-rule-static"),
                                                               ("rollback-output-required", None)]),
    "alarm-coverage": (lambda r: mutate(r, "web-alarms-green-unhealthy-hosts", setter(["alarmActions"], [])),
                       [("alarm-coverage", "web-pool-green-tg")]),
    "alb-https-redirect/default": (
        lambda r: routed(mutate(r, "web-routing-http", setter(["defaultActions"], [forward((ARNS["blue"], 1), (ARNS["green"], 1))]))),
        [("alb-https-redirect", "web-routing-http")]),
    "alb-https-redirect/rule": (http_forwarding_rule, [("alb-https-redirect", "web-routing-http-legacy")]),
    "alb-tls-policy": (lambda r: mutate(r, "web-routing-https", setter(["sslPolicy"], "ELBSecurityPolicy-2016-08")),
                       [("alb-tls-policy", "web-routing-https")]),
    "alb-drop-invalid-headers": (lambda r: mutate(r, "web-lb-alb", setter(["dropInvalidHeaderFields"], False)),
                                 [("alb-drop-invalid-headers", "web-lb-alb")]),
    "alb-access-logs": (lambda r: mutate(r, "web-lb-alb", setter(["accessLogs", "enabled"], False)),
                        [("alb-access-logs", "web-lb-alb")]),
    "alb-deletion-protection": (lambda r: mutate(r, "web-lb-alb", setter(["enableDeletionProtection"], False)),
                                [("alb-deletion-protection", "web-lb-alb")]),
    "alb-desync-mitigation": (lambda r: mutate(r, "web-lb-alb", setter(["desyncMitigationMode"], "monitor")),
                              [("alb-desync-mitigation", "web-lb-alb")]),
    "alb-multi-az": (lambda r: mutate(r, "web-lb-alb", lambda p: p.__setitem__("subnets", p["subnets"][:1])),
                     [("alb-multi-az", "web-lb-alb")]),
    "asg-elb-health-check": (lambda r: mutate(r, "web-pool-green-asg", setter(["healthCheckType"], "EC2")),
                             [("asg-elb-health-check", "web-pool-green-asg")]),
    "asg-health-check-grace": (lambda r: mutate(r, "web-pool-green-asg", setter(["healthCheckGracePeriod"], 0)),
                               [("asg-health-check-grace", "web-pool-green-asg")]),
    # One AZ: the pool cannot survive losing it, which capacity-covers-share also reports.
    "asg-multi-az": (lambda r: mutate(r, "web-pool-green-asg", lambda p: p.__setitem__("vpcZoneIdentifiers", p["vpcZoneIdentifiers"][:1])),
                     [("asg-multi-az", "web-pool-green-asg"), ("capacity-covers-share", "web-routing-https")]),
    "launch-template-imdsv2": (lambda r: mutate(r, "web-pool-lt", setter(["metadataOptions", "httpTokens"], "optional")),
                               [("launch-template-imdsv2", "web-pool-lt")]),
    "alb-ingress-restricted/EC2.18": (lambda r: mutate(r, "web-lb-in-443-ipv4", lambda p: p.update(fromPort=8443, toPort=8443)),
                                      [("alb-ingress-restricted", "web-lb-in-443-ipv4")]),
    "alb-ingress-restricted/EC2.19": (lambda r: mutate(r, "web-lb-in-443-ipv6", lambda p: p.update(fromPort=22, toPort=22)),
                                      [("alb-ingress-restricted", "web-lb-in-443-ipv6")]),
    "instance-ingress-from-alb-only": (
        lambda r: mutate(r, "web-app-from-lb", lambda p: (p.pop("referencedSecurityGroupId"), p.update(cidrIpv4="10.0.0.0/8"))),
        [("instance-ingress-from-alb-only", "web-app-from-lb")]),
    "default-security-group-closed": (
        lambda r: add_resource(r, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "web-default-sg", {
            "vpcId": "vpc-0123456789abcdef0",
            "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]}, {"id": "sg-0default"}),
        [("default-security-group-closed", "web-default-sg")]),
    "access-log-bucket-secure": (lambda r: mutate(r, "web-logs-public-access", setter(["blockPublicPolicy"], False)),
                                 [("access-log-bucket-secure", "web-logs-bucket")]),
    # The load balancer's egress opens 9090, the health checks go to 8080: every pool fails its checks.
    "health-check-port-reachable": (lambda r: mutate(r, "web-lb-out-app", lambda p: p.update(fromPort=9090, toPort=9090)),
                                    [("health-check-port-reachable", f"web-pool-{p}-tg") for p in ("api", "blue", "green")]),
    "stickiness-duration/target-group": (
        lambda r: mutate(r, "web-pool-blue-tg", setter(["stickiness"], {"enabled": True, "type": "lb_cookie",
                                                                        "cookieDuration": 604800})),
        [("stickiness-duration", "web-pool-blue-tg")]),
    "stickiness-duration/forward": (
        lambda r: routed(mutate(r, "web-routing-https", setter(["defaultActions", 0, "forward", "stickiness"],
                                                               {"enabled": True, "duration": 172800}))),
        [("stickiness-duration", "web-routing-https")]),
}


def test_every_policy_has_a_case(pack):
    assert {p.name for p in pack.info.policies} == {c.split("/")[0] for c in CASES}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_compliant_stack_passes_every_stack_config(pack, stack):
    assert pack.found(BASE, CONFIGS[stack]) == []


def test_compliant_stack_passes_pack_defaults(pack):
    assert pack.found(BASE, {}) == []


@pytest.mark.parametrize("family", ["aws:lb/", "aws:alb/"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_one_mutation_exact_violations(pack, case, family):
    make, expected = CASES[case]
    run = make(BASE)
    if family == "aws:alb/":
        run = alb_tokens(run)
    stack_urn = run.resources[0].urn
    want = sorted((policy, M, urn(run, name) if name else stack_urn) for policy, name in expected)
    assert pack.found(run) == want


def test_default_levels(pack):
    """Pack defaults (no config file): the outage class is mandatory, FSBP controls advisory."""
    run = CASES["even-target-weights/listener"][0](BASE)
    run = CASES["alb-tls-policy"][0](run)
    assert pack.found(run, {}) == sorted([("even-target-weights", "mandatory", urn(run, "web-routing-https")),
                                          ("alb-tls-policy", "advisory", urn(run, "web-routing-https"))])


def test_a_narrow_rule_without_profile_or_share_is_advisory_share_unknown(pack):
    """No profile, no expectedShare: the api rule's share is unknown, so capacity and funnel
    say so (advisory, naming the fix) instead of assuming it takes 100% of the listener."""
    run = mutate(BASE, "web-routing-rule-api", lambda p: p.pop("tags"))
    found = pack.evaluate(run)
    assert not [v for v in found if v.enforcement_level == "mandatory"], found
    for policy in ("capacity-covers-share", "no-traffic-funnel"):
        [v] = [v for v in found if v.policy == policy]
        assert v.enforcement_level == "advisory" and "web-routing-rule-api: share unknown" in v.message
        assert "expectedShare" in v.message and "traffic." in v.message


def test_messages_say_how_to_fix(pack):
    run = CASES["no-traffic-funnel"][0](BASE)
    [v] = pack.evaluate(run)
    assert v.type == "aws:lb/listenerRule:ListenerRule" and v.name == "web-routing-rule-api"
    assert "instance-lost:api" in v.message and "33.3%" in v.message and "limit 25%" in v.message
    assert "raise the Auto Scaling minimum" in v.message
    run = CASES["alb-tls-policy"][0](BASE)
    [v] = pack.evaluate(run)
    assert "ELBSecurityPolicy-TLS13-1-2-2021-06" in v.message and "ELB.17" in v.message


def test_canary_exemption(pack):
    run = routed(mutate(BASE, "web-routing-https", setter(["defaultActions"], [forward((ARNS["blue"], 95), (ARNS["green"], 5))])))
    exempt = {**CONFIGS["dev"], "even-target-weights": {"canaryExemptions": [{"name": "web-routing-https", "maxShare": 0.1}]}}
    assert "even-target-weights" not in {p for p, _, _ in pack.found(run, exempt)}
    assert ("even-target-weights", "mandatory", urn(run, "web-routing-https")) in pack.found(run, CONFIGS["dev"])
    # Weights ALB refuses violate even when exempted.
    run = routed(mutate(BASE, "web-routing-https", setter(["defaultActions"], [forward((ARNS["blue"], 0), (ARNS["green"], 0))])))
    assert ("even-target-weights", "mandatory", urn(run, "web-routing-https")) in pack.found(run, exempt)


def test_tolerance(pack):
    run = routed(mutate(BASE, "web-routing-https", setter(["defaultActions"], [forward((ARNS["blue"], 52), (ARNS["green"], 48))])))
    assert pack.found(run, {"even-target-weights": {"tolerance": 0.05}}) == []
    assert [p for p, _, _ in pack.found(run, {})] == ["even-target-weights"]


def test_launch_configuration_is_autoscaling_3(pack):
    run = add_resource(BASE, "aws:ec2/launchConfiguration:LaunchConfiguration", "web-legacy-lc", {
        "imageId": "ami-0123456789abcdef0", "instanceType": "t3.small"}, {"id": "web-legacy-lc"})
    [v] = pack.evaluate(run)
    assert (v.policy, v.name) == ("launch-template-imdsv2", "web-legacy-lc") and "AutoScaling.3" in v.message


def test_sse_kms_log_bucket(pack):
    run = mutate(BASE, "web-logs-sse", setter(["rules"], [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]))
    [v] = pack.evaluate(run)
    assert (v.policy, v.name) == ("access-log-bucket-secure", "web-logs-bucket") and "SSE-S3" in v.message


def _pool_rps(run, pool: str, rps: float):
    """The pool's Auto Scaling group declares ``rps`` requests/s per instance."""
    def set_tag(props):
        props["tags"] = [t for t in props["tags"] if t["key"] != "lbguard:rps-per-instance"] + [
            {"key": "lbguard:rps-per-instance", "value": f"{rps:g}", "propagateAtLaunch": False}]
    return mutate(run, f"web-pool-{pool}-asg", set_tag)


def test_capacity_keeps_twenty_percent_headroom_by_default(pack):
    """capacity-covers-share's default headroom is 0.2: blue and green each take 140 of 400 req/s
    on 4 x 40 req/s (87.5% all healthy). With the degraded limit raised only the all-healthy
    headroom decides: over 80% by default, within 90% when the config allows 10%."""
    run = _pool_rps(_pool_rps(BASE, "blue", 40), "green", 40)
    degraded_only = {"capacity-covers-share": {"degradedMaxUtilisation": 2.0}}
    found = [(p, u) for p, _, u in pack.found(run, degraded_only) if p == "capacity-covers-share"]
    assert found == [("capacity-covers-share", urn(run, "web-routing-https"))]
    [v] = [v for v in pack.evaluate(run, degraded_only) if v.policy == "capacity-covers-share"]
    assert "utilisation 87.5% > 80%" in v.message and "'all-healthy'" in v.message
    looser = {"capacity-covers-share": {"degradedMaxUtilisation": 2.0, "headroom": 0.1}}
    assert "capacity-covers-share" not in {p for p, _, _ in pack.found(run, looser)}


def test_a_forward_to_a_pool_with_no_instances_is_a_funnel_fault(pack):
    """no-traffic-funnel reports every pool a forward sends a share to that has no instance
    (Auto Scaling minimum 0), whatever the share."""
    run = mutate(BASE, "web-pool-green-asg", lambda props: props.update(minSize=0, desiredCapacity=0))
    messages = [v.message for v in pack.evaluate(run) if v.policy == "no-traffic-funnel"]
    assert any("which has no instances (Auto Scaling minimum 0)" in m and "sends 35% " in m for m in messages), messages
