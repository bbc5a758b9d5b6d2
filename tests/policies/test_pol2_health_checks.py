"""target-group-health-check: what each health-check setting must be, and what the policy says.

The rules are ELBv2's (CreateTargetGroup): omitted fields take AWS's defaults (interval 30 s,
timeout 5 s, thresholds 3), a failed target keeps its share for interval x unhealthyThreshold,
and an HTTP(S) check needs a path and a matcher of 2xx/3xx codes."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT
from tests.policies.fixtures import add_resource, health_check, mutate, setter, web_tier

if str(ROOT / "policies") not in sys.path:
    sys.path.insert(0, str(ROOT / "policies"))

from lb_safety.health import health_check_problems, matcher_codes  # noqa: E402

NO_BLOCK = ("no healthCheck block; set one explicitly (enabled, path, matcher, interval, timeout, thresholds) so "
            "failed instances stop receiving traffic")
DISABLED = "health checks are disabled; set healthCheck.enabled: true so failed instances stop receiving traffic"
NO_PATH = "an HTTP(S) health check needs healthCheck.path (e.g. /health)"
NO_MATCHER = "an HTTP(S) health check needs healthCheck.matcher (e.g. 200)"


def four_xx(matcher: str) -> str:
    return (f"healthCheck.matcher {matcher!r} counts 4xx/5xx answers as healthy, so a target that fails every "
            f"request stays in service; match 200-399 at most (e.g. 200)")


def detection(seconds: str, limit: str = "60") -> str:
    return (f"a failed target is detected only after interval x unhealthyThreshold = {seconds}s, above {limit}s, and "
            f"keeps receiving traffic until then; lower the interval or the unhealthy threshold")


def interval_above(interval: str, limit: str = "30") -> str:
    return f"healthCheck.interval {interval}s is above {limit}s: a dead instance keeps receiving traffic too long; lower it"


GOOD = {"path": "/health", "matcher": "200", "interval": 10, "timeout": 5, "healthyThreshold": 3,
        "unhealthyThreshold": 2}

# (case, health check, target group protocol, expected problems), max interval 30 s, max detection 60 s
CASES = [
    ("no block", None, "HTTP", [NO_BLOCK]),
    ("empty block", {}, "HTTP", [NO_BLOCK]),
    ("disabled", {**GOOD, "enabled": False}, "HTTP", [DISABLED]),
    ("explicitly enabled", {**GOOD, "enabled": True}, "HTTP", []),
    # Every omitted field takes AWS's default: 30 s x 3 = 90 s to detect a failure.
    ("AWS defaults", {"enabled": True}, "HTTP", [NO_PATH, NO_MATCHER, detection("90")]),
    ("protocol from the target group", {"enabled": True}, None, [NO_PATH, NO_MATCHER, detection("90")]),
    ("HTTPS check", {**GOOD, "protocol": "HTTPS", "path": ""}, "HTTP", [NO_PATH]),
    ("lower-case protocol", {**GOOD, "protocol": "https", "matcher": None}, "TCP", [NO_MATCHER]),
    ("TCP check of an HTTP target group", {**GOOD, "protocol": "TCP", "path": None, "matcher": None}, "HTTP", []),
    ("TCP target group", {k: v for k, v in GOOD.items() if k not in ("path", "matcher")}, "TCP", []),
    ("matcher range", {**GOOD, "matcher": "200-399"}, "HTTP", []),
    ("matcher list", {**GOOD, "matcher": "200,302"}, "HTTP", []),
    ("4xx range", {**GOOD, "matcher": "200-499"}, "HTTP", [four_xx("200-499")]),
    ("400 exactly", {**GOOD, "matcher": "400"}, "HTTP", [four_xx("400")]),
    ("4xx in a list", {**GOOD, "matcher": "200, 404"}, "HTTP", [four_xx("200, 404")]),
    ("not a code", {**GOOD, "matcher": "ok"}, "HTTP",
     ["healthCheck.matcher 'ok' is not an HTTP code, range or list"]),
    ("timeout equal to interval", {**GOOD, "timeout": 10}, "HTTP",
     ["healthCheck.timeout (10s) must be less than healthCheck.interval (10s)"]),
    ("timeout just below", {**GOOD, "timeout": 9}, "HTTP", []),
    ("interval at the limit", {**GOOD, "interval": 30, "unhealthyThreshold": 2}, "HTTP", []),
    ("interval above the limit", {**GOOD, "interval": 31, "unhealthyThreshold": 2}, "HTTP",
     [interval_above("31"), detection("62")]),
    ("thresholds 2 and 10", {**GOOD, "interval": 5, "timeout": 4, "healthyThreshold": 10, "unhealthyThreshold": 2}, "HTTP", []),
    ("unhealthy threshold 10", {**GOOD, "interval": 6, "unhealthyThreshold": 10}, "HTTP", []),
    ("healthy threshold 1", {**GOOD, "healthyThreshold": 1}, "HTTP", ["healthCheck.healthyThreshold 1 is outside 2..10"]),
    ("healthy threshold 11", {**GOOD, "healthyThreshold": 11}, "HTTP",
     ["healthCheck.healthyThreshold 11 is outside 2..10"]),
    ("unhealthy threshold 1", {**GOOD, "unhealthyThreshold": 1}, "HTTP",
     ["healthCheck.unhealthyThreshold 1 is outside 2..10"]),
    ("detection at the limit", {**GOOD, "interval": 20, "unhealthyThreshold": 3}, "HTTP", []),
    ("detection above the limit", {**GOOD, "interval": 20, "unhealthyThreshold": 4}, "HTTP", [detection("80")]),
    ("default unhealthy threshold", {k: v for k, v in GOOD.items() if k != "unhealthyThreshold"} | {"interval": 25},
     "HTTP", [detection("75")]),
    ("default interval and timeout", {k: v for k, v in GOOD.items() if k not in ("interval", "timeout")}, "HTTP", []),
]


@pytest.mark.parametrize("hc, protocol, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_health_check_problems(hc, protocol, expected):
    assert health_check_problems(hc, protocol, 30, 60) == expected


def test_default_timeout_is_checked_against_a_short_interval():
    """AWS's default timeout is 5 s: an interval of 5 s without a timeout is refused."""
    hc = {**GOOD, "interval": 5}
    del hc["timeout"]
    assert health_check_problems(hc, "HTTP", 30, 60) == [
        "healthCheck.timeout (5s) must be less than healthCheck.interval (5s)"]


@pytest.mark.parametrize("matcher, codes", [
    ("200", [(200, 200)]), ("200-299", [(200, 299)]), ("200,302", [(200, 200), (302, 302)]),
    (" 200 , 301-308 ", [(200, 200), (301, 308)]), ("2xx", None), ("200-2x", None), ("", None)])
def test_matcher_codes(matcher, codes):
    assert matcher_codes(matcher) == codes


# ------------------------------------------------------------------ through the pack

BASE = web_tier()


def health_messages(pack, run, user=None):
    return [(v.name, v.message) for v in pack.evaluate(run, {} if user is None else user)
            if v.policy == "target-group-health-check"]


def test_the_report_names_the_target_group_and_every_problem(pack):
    run = mutate(BASE, "web-pool-blue-tg", setter(["healthCheck"], health_check(matcher="200-499", timeout=10)))
    assert health_messages(pack, run) == [("web-pool-blue-tg", f"target group web-pool-blue-tg: {four_xx('200-499')}; "
                                          f"healthCheck.timeout (10s) must be less than healthCheck.interval (10s).")]


def test_lambda_target_groups_are_not_health_checked_by_the_policy(pack):
    """ALB checks a Lambda target only on request: nothing to enforce there, unlike an instance pool."""
    def lambda_tg(run, name, target_type):
        return add_resource(run, "aws:lb/targetGroup:TargetGroup", name,
                            {"name": name, "targetType": target_type, "healthCheck": {"enabled": False}},
                            {"arn": f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/1"})
    assert health_messages(pack, lambda_tg(BASE, "web-fn-tg", "lambda")) == []
    assert health_messages(pack, lambda_tg(BASE, "web-ip-tg", "ip")) == [
        ("web-ip-tg", f"target group web-ip-tg: {DISABLED}.")]


def test_limits_come_from_the_config(pack):
    """An interval of 31 s is above the default 30 s limit; 62 s to detect is above 60 s. The
    config raises both limits (maxIntervalSeconds, maxDetectionSeconds)."""
    run = mutate(BASE, "web-pool-blue-tg", setter(["healthCheck"], health_check(interval=31)))
    assert health_messages(pack, run) == [
        ("web-pool-blue-tg", f"target group web-pool-blue-tg: {interval_above('31')}; {detection('62')}.")]
    loose = {"target-group-health-check": {"maxIntervalSeconds": 40, "maxDetectionSeconds": 62}}
    assert health_messages(pack, run, loose) == []
    assert health_messages(pack, run, {"target-group-health-check": {"maxIntervalSeconds": 40}}) == [
        ("web-pool-blue-tg", f"target group web-pool-blue-tg: {detection('62')}.")]
    assert health_messages(pack, run, {"target-group-health-check": {"maxDetectionSeconds": 62}}) == [
        ("web-pool-blue-tg", f"target group web-pool-blue-tg: {interval_above('31')}.")]


def test_protocol_of_the_target_group_decides_when_the_check_names_none(pack):
    hc = {k: v for k, v in health_check().items() if k not in ("protocol", "path", "matcher")}
    tcp = mutate(BASE, "web-pool-blue-tg", lambda p: p.update(protocol="TCP", healthCheck=hc))
    assert health_messages(pack, tcp) == []
    http = mutate(BASE, "web-pool-blue-tg", setter(["healthCheck"], hc))
    assert health_messages(pack, http) == [("web-pool-blue-tg", f"target group web-pool-blue-tg: {NO_PATH}; {NO_MATCHER}.")]


def test_grpc_matchers_are_grpc_codes(pack):
    """protocolVersion GRPC: the matcher holds gRPC codes (0-99), not HTTP codes; an HTTP/1.1
    group with the same unparsable matcher is reported."""
    run = mutate(BASE, "web-pool-blue-tg", lambda p: p.update(protocolVersion="GRPC", healthCheck=health_check(matcher="0-99,x")))
    assert health_messages(pack, run) == []
    run = mutate(BASE, "web-pool-blue-tg", lambda p: p.update(protocolVersion="HTTP1", healthCheck=health_check(matcher="0-99,x")))
    assert health_messages(pack, run) == [
        ("web-pool-blue-tg", "target group web-pool-blue-tg: healthCheck.matcher '0-99,x' is not an HTTP code, range "
                             "or list.")]


APP_SG = "sg-0bbbbbbbbbbbbbbbb, urn:pulumi:dev::web-tier::aws:ec2/securityGroup:SecurityGroup::shop-app-sg"
LB_SG = "sg-0aaaaaaaaaaaaaaaa, urn:pulumi:dev::web-tier::aws:ec2/securityGroup:SecurityGroup::shop-lb-sg"
DEAD = ("every target will fail its checks and the load balancer will fail open onto targets it believes dead")


@pytest.mark.parametrize("change, want", [
    ({"hc_port": "8081"},
     f"target group shop-web-tg health-checks port 8081, but no ingress rule of the instances' security group(s) "
     f"({APP_SG}) admits TCP 8081 from the load balancer's ({LB_SG}): {DEAD}; add an ingress rule on {APP_SG} for "
     f"port 8081 from the load balancer's group (aws.vpc.SecurityGroupIngressRule referencedSecurityGroupId, or an "
     f"inline ingress rule)."),
    ({"egress": False},
     f"target group shop-web-tg health-checks port 80, but no egress rule of the load balancer's security group(s) "
     f"({LB_SG}) lets TCP 80 out to the instances' ({APP_SG}): {DEAD}; add an egress rule on {LB_SG} for port 80 to "
     f"the instances' group (aws.vpc.SecurityGroupEgressRule referencedSecurityGroupId, or an inline egress rule)."),
], ids=["ingress", "egress"])
def test_an_unreachable_health_check_port_says_which_rule_is_missing_and_where(pack, change, want):
    """Word for word (the groups as the policy names them: id and URN)."""
    from tests.policies.test_gaps import messages, secured

    assert messages(pack, secured(rules="vpc", **change), "health-check-port-reachable") == [want]
