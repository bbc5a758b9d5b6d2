"""Policy accuracy on raw pulumi_aws programs (no components, no lbguard tags except the
capacity figures): correct programs get no mandatory violation, broken ones get exactly the
one they deserve. Each test failed before the fix it names (issue 10, "Policy accuracy")."""

from __future__ import annotations

import pytest

from tests.policies.fixtures import ELB, REGION, Stack, health_check, subnets, tg_arn

LB_ARN = f"{ELB}:loadbalancer/app/shop/1111111111111111"
LISTENER_ARN = f"{ELB}:listener/app/shop/1111111111111111/2222222222222222"


def shop(rules: list[tuple[str, int, list[dict]]] | None = None, *, attachment: bool = False, min_size: int = 4,
         tg_over: dict | None = None, asg_over: dict | None = None) -> Stack:
    """An ALB (peak 200 req/s) with one target group "web" served by an Auto Scaling group of
    ``min_size`` over two AZs (100 req/s per instance), wired through ``targetGroupArns`` or
    an ``aws.autoscaling.Attachment``; ``rules``: (name, priority, conditions) forwarding to web."""
    s = Stack("dev")
    ids = subnets(s)
    s.add("aws:lb/loadBalancer:LoadBalancer", "shop-lb",
          {"name": "shop", "loadBalancerType": "application", "subnets": ids, "tags": {"lbguard:peak-rps": "200"}},
          {"arn": LB_ARN, "id": LB_ARN}, deps={"subnets": ["web-subnet-a", "web-subnet-b"]})
    arn = tg_arn("shop-web")
    s.add("aws:lb/targetGroup:TargetGroup", "shop-web-tg",
          {"name": "shop-web", "port": 80, "protocol": "HTTP", "vpcId": "vpc-0123456789abcdef0",
           "healthCheck": health_check(), **(tg_over or {})}, {"arn": arn, "id": arn})
    props = {"name": "shop-web", "minSize": min_size, "maxSize": min_size * 2, "desiredCapacity": min_size,
             "vpcZoneIdentifiers": ids, "healthCheckType": "ELB", "healthCheckGracePeriod": 120,
             "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "$Latest"},
             "tags": [{"key": "lbguard:rps-per-instance", "value": "100", "propagateAtLaunch": False}],
             **({} if attachment else {"targetGroupArns": [arn]}), **(asg_over or {})}
    s.add("aws:autoscaling/group:Group", "shop-web-asg", props, {"id": "shop-web", "arn": "arn:asg:shop-web"},
          deps={"vpcZoneIdentifiers": ["web-subnet-a", "web-subnet-b"],
                **({} if attachment else {"targetGroupArns": ["shop-web-tg"]})})
    if attachment:
        s.add("aws:autoscaling/attachment:Attachment", "shop-web-attach",
              {"autoscalingGroupName": "shop-web", "lbTargetGroupArn": arn}, {"id": "shop-web-attach"},
              deps={"autoscalingGroupName": ["shop-web-asg"], "lbTargetGroupArn": ["shop-web-tg"]})
    s.add("aws:lb/listener:Listener", "shop-http",
          {"loadBalancerArn": LB_ARN, "port": 80, "protocol": "HTTP",
           "defaultActions": [{"type": "forward", "targetGroupArn": arn}]},
          {"arn": LISTENER_ARN, "id": LISTENER_ARN}, deps={"loadBalancerArn": ["shop-lb"]})
    for i, (name, priority, conditions) in enumerate(rules or []):
        s.add("aws:lb/listenerRule:ListenerRule", name,
              {"listenerArn": LISTENER_ARN, "priority": priority, "conditions": conditions,
               "actions": [{"type": "forward", "targetGroupArn": arn}]},
              {"arn": f"{ELB}:listener-rule/app/shop/1111111111111111/2222222222222222/{i:016d}"},
              deps={"listenerArn": ["shop-http"], "actions": ["shop-web-tg"]})
    return s


def mandatory(pack, s: Stack, policy: str | None = None) -> list[tuple[str, str]]:
    return sorted((v.policy, v.name) for v in pack.evaluate(s.run(), {})
                  if v.enforcement_level == "mandatory" and (policy is None or v.policy == policy))


def messages(pack, s: Stack, policy: str) -> list[str]:
    return [v.message for v in pack.evaluate(s.run(), {}) if v.policy == policy]


@pytest.mark.parametrize("attachment", [False, True])
def test_auto_scaling_attachment_counts_the_groups_azs(pack, attachment):
    """4 instances over 2 AZs at 200 req/s, 100 each: one AZ lost leaves 2 (100%, allowed).
    Wired through aws.autoscaling.Attachment the AZs were not counted: the pool looked
    single-AZ, so losing "its" AZ lost everything (a false capacity violation)."""
    s = shop(attachment=attachment)
    assert mandatory(pack, s, "capacity-covers-share") == []
    assert mandatory(pack, s, "no-traffic-funnel") == []


def test_a_path_catch_all_above_a_host_rule_shadows_it(pack):
    """`/*` on the path matches every request whatever its host: the host-only rule below is
    dead. Shadowing used to be checked within one condition field only."""
    s = shop([("everything", 5, [{"pathPattern": {"values": ["/*"]}}]),
              ("admin", 10, [{"hostHeader": {"values": ["admin.example.com"]}}])])
    assert mandatory(pack, s, "listener-rule-shadowing") == [("listener-rule-shadowing", "admin")]
    [msg] = messages(pack, s, "listener-rule-shadowing")
    assert "rule everything (priority 5)" in msg


def test_two_earlier_rules_that_together_cover_a_later_one_shadow_it(pack):
    s = shop([("a", 5, [{"pathPattern": {"values": ["/a/*"]}}]),
              ("b", 6, [{"pathPattern": {"values": ["/b/*"]}}]),
              ("ab", 10, [{"pathPattern": {"values": ["/a/x", "/b/y"]}}]),
              ("ac", 11, [{"pathPattern": {"values": ["/a/x", "/c/y"]}}])])  # /c/y still reaches it
    assert mandatory(pack, s, "listener-rule-shadowing") == [("listener-rule-shadowing", "ab")]
    [msg] = messages(pack, s, "listener-rule-shadowing")
    assert "rules a (priority 5) and b (priority 6) on the same listener together match" in msg


def test_a_correct_narrow_layout_is_not_reported(pack):
    s = shop([("api", 5, [{"pathPattern": {"values": ["/api/*"]}}]),
              ("admin", 10, [{"hostHeader": {"values": ["admin.example.com"]}}]),
              ("admin-api", 20, [{"hostHeader": {"values": ["admin.example.com"]}},
                                 {"pathPattern": {"values": ["/internal/*"]}}])])
    # admin-api is dead (admin covers it: same host, any path), and only it.
    assert mandatory(pack, s, "listener-rule-shadowing") == [("listener-rule-shadowing", "admin-api")]


@pytest.mark.parametrize("hc, needle", [
    ({"interval": 30, "timeout": 5, "unhealthyThreshold": 5}, "interval x unhealthyThreshold = 150s, above 60s"),
    ({"matcher": "200-499"}, "counts 4xx/5xx answers as healthy"),
    ({"matcher": "200,404"}, "counts 4xx/5xx answers as healthy"),
])
def test_health_check_detection_time_and_matcher_are_bounded(pack, hc, needle):
    s = shop(tg_over={"healthCheck": health_check(**hc)})
    assert mandatory(pack, s, "target-group-health-check") == [("target-group-health-check", "shop-web-tg")]
    [msg] = messages(pack, s, "target-group-health-check")
    assert needle in msg


def test_health_check_within_bounds_passes(pack):
    s = shop(tg_over={"healthCheck": health_check(interval=20, unhealthyThreshold=3, matcher="200-399")})
    assert mandatory(pack, s, "target-group-health-check") == []


def test_zero_grace_period_with_elb_health_checks_fails(pack):
    s = shop(asg_over={"healthCheckGracePeriod": 0})
    assert mandatory(pack, s, "asg-health-check-grace") == [("asg-health-check-grace", "shop-web-asg")]
    assert mandatory(pack, shop(asg_over={"healthCheckGracePeriod": 0, "healthCheckType": "EC2"}),
                     "asg-health-check-grace") == []


def test_two_subnets_in_one_az_are_one_az(pack):
    """AZs are counted, not subnets: a load balancer and an Auto Scaling group on two subnets
    of the same AZ are single-AZ (ELB.13 / AutoScaling.2), and capacity sees one AZ too."""
    s = shop()
    s.by_name["web-subnet-b"].outputs["availabilityZone"] = f"{REGION}a"
    s.by_name["web-subnet-b"].inputs["availabilityZone"] = f"{REGION}a"
    found = {(v.policy, v.name): v.message for v in pack.evaluate(s.run(), {})}
    assert "one AZ (us-east-1a)" in found[("alb-multi-az", "shop-lb")]
    assert "covers 1 Availability Zone(s)" in found[("asg-multi-az", "shop-web-asg")]
    # One AZ lost takes all four instances: capacity fails (it passed over two AZs, above).
    assert mandatory(pack, s, "capacity-covers-share") == [("capacity-covers-share", "shop-http")]
    # And over two AZs neither is reported.
    ok = {(v.policy, v.name) for v in pack.evaluate(shop().run(), {})}
    assert ("alb-multi-az", "shop-lb") not in ok and ("asg-multi-az", "shop-web-asg") not in ok
