"""The FSBP controls of policies/lb_safety/security.py through the pack (in-process or its own
process, as conftest opens it): each control on the resources it covers and on none other,
the exact message it reports, what config changes, and "could not be evaluated" where a
preview leaves it unknown. The compliant web tier (fixtures.web_tier) is the base."""

from __future__ import annotations

import copy

import pytest

from tests.policies.fixtures import UNKNOWN, add_resource, by_name, forward, mutate, setter, web_tier

BASE = web_tier()
ARNS = BASE.outputs["targetGroupArns"]
LB_SG, APP_SG = "sg-0aaaaaaaaaaaaaaaa", "sg-0bbbbbbbbbbbbbbbb"
STACK = "web-tier-prod"
CANT = "can't run policy '{}' from policy pack"


def findings(pack, run, policy, user=None):
    """(level, resource name, message) of ``policy``'s findings under ``user`` config (default: pack defaults)."""
    return sorted((v.enforcement_level, v.name, v.message)
                  for v in pack.evaluate(run, {} if user is None else user) if v.policy == policy)


def names(pack, run, policy, user=None):
    return [(level, name) for level, name, _ in findings(pack, run, policy, user)]


def only(pack, run, policy, user=None):
    [(level, name, message)] = findings(pack, run, policy, user)
    return level, name, message


def set_props(name, **values):
    return lambda run: mutate(run, name, lambda p: p.update(copy.deepcopy(values)))


def drop(name, *keys):
    return lambda run: mutate(run, name, lambda p: [p.pop(k, None) for k in keys])


def load_balancer(run, name, **props):
    """A second load balancer in the stack (no listener), two AZs unless ``props`` say otherwise."""
    base = {"name": name, "loadBalancerType": "application", "subnets": ["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"],
            "dropInvalidHeaderFields": True, "enableDeletionProtection": True, "desyncMitigationMode": "defensive"}
    base.update(props)
    base = {k: v for k, v in base.items() if v is not None}
    return add_resource(run, "aws:lb/loadBalancer:LoadBalancer", name, base, {"arn": f"arn:{name}", "id": f"arn:{name}"},
                        deps={"subnets": [f"web-subnet-{z}" for z in "ab"]} if "subnets" not in props else None)


# ------------------------------------------------------------------ load balancer attributes (ELB.4, ELB.6, ELB.12)

HEADERS = "invalid HTTP header fields are passed to targets; set dropInvalidHeaderFields: true (AWS FSBP ELB.4)."
DELETION = "deletion protection is off; set enableDeletionProtection: true (AWS FSBP ELB.6)."


def desync(mode):
    return (f"desync mitigation mode is {mode!r}; set desyncMitigationMode: defensive (or strictest) "
            f"(AWS FSBP ELB.12).")


# (change to the stack, {policy: [(resource, message)]}); every other attribute policy stays clean.
ATTRIBUTE_CASES = [
    (lambda r: r, {}),
    (set_props("web-lb-alb", dropInvalidHeaderFields=False), {"alb-drop-invalid-headers": [("web-lb-alb", HEADERS)]}),
    (drop("web-lb-alb", "dropInvalidHeaderFields"), {"alb-drop-invalid-headers": [("web-lb-alb", HEADERS)]}),
    (set_props("web-lb-alb", dropInvalidHeaderFields="true"), {"alb-drop-invalid-headers": [("web-lb-alb", HEADERS)]}),
    (set_props("web-lb-alb", enableDeletionProtection=False), {"alb-deletion-protection": [("web-lb-alb", DELETION)]}),
    (drop("web-lb-alb", "enableDeletionProtection"), {"alb-deletion-protection": [("web-lb-alb", DELETION)]}),
    (set_props("web-lb-alb", desyncMitigationMode="monitor"),
     {"alb-desync-mitigation": [("web-lb-alb", desync("monitor"))]}),
    (set_props("web-lb-alb", desyncMitigationMode="strictest"), {}),
    (drop("web-lb-alb", "desyncMitigationMode"), {}),  # the API default is defensive
    # No loadBalancerType: an application load balancer (the provider's default).
    (lambda r: drop("web-lb-alb", "loadBalancerType")(set_props("web-lb-alb", dropInvalidHeaderFields=False,
                                                                  desyncMitigationMode="monitor")(r)),
     {"alb-drop-invalid-headers": [("web-lb-alb", HEADERS)],
      "alb-desync-mitigation": [("web-lb-alb", desync("monitor"))]}),
    # A network or gateway load balancer has neither HTTP headers nor desync mitigation, but deletion protection.
    (lambda r: load_balancer(r, "web-nlb", loadBalancerType="network", dropInvalidHeaderFields=None,
                             desyncMitigationMode="monitor", enableDeletionProtection=False),
     {"alb-deletion-protection": [("web-nlb", DELETION)]}),
    (lambda r: load_balancer(r, "web-gwlb", loadBalancerType="gateway", dropInvalidHeaderFields=None,
                             desyncMitigationMode="monitor", enableDeletionProtection=False),
     {"alb-deletion-protection": [("web-gwlb", DELETION)]}),
    (lambda r: load_balancer(r, "web-alb-2", dropInvalidHeaderFields=None, enableDeletionProtection=None,
                             desyncMitigationMode="monitor"),
     {"alb-drop-invalid-headers": [("web-alb-2", HEADERS)], "alb-deletion-protection": [("web-alb-2", DELETION)],
      "alb-desync-mitigation": [("web-alb-2", desync("monitor"))]}),
]
ATTRIBUTE_POLICIES = {"alb-drop-invalid-headers": "ELB.4", "alb-deletion-protection": "ELB.6",
                      "alb-desync-mitigation": "ELB.12"}


def test_load_balancer_attribute_controls(pack):
    """ELB.4, ELB.6, ELB.12 on every load balancer they cover (and no other resource), advisory
    by default, mandatory in prod. One test walks the whole table: these policies are built when
    the pack loads, which a test-selecting mutation run attributes to the module's first test."""
    for i, (change, want) in enumerate(ATTRIBUTE_CASES):
        run = change(BASE)
        violations = pack.evaluate(run, {})
        got = {p: sorted((v.name, v.message) for v in violations if v.policy == p) for p in ATTRIBUTE_POLICIES}
        assert got == {p: [(n, f"load balancer {n}: {m}") for n, m in want.get(p, [])] for p in ATTRIBUTE_POLICIES}, i
        assert all(v.enforcement_level == "advisory" and v.type.endswith("loadBalancer:LoadBalancer")
                   for v in violations if v.policy in ATTRIBUTE_POLICIES), i
    run = ATTRIBUTE_CASES[-1][0](BASE)
    assert sorted(p for p, level, _ in pack.found(run) if p in ATTRIBUTE_POLICIES and level == "mandatory") == \
        sorted(ATTRIBUTE_POLICIES)
    described = {p.name: p.description for p in pack.info.policies}
    for policy, control in ATTRIBUTE_POLICIES.items():
        assert described[policy].endswith(f"(AWS FSBP {control}).") and "Load Balancers" in described[policy]


# ------------------------------------------------------------------ alb-multi-az (ELB.13)


def without_subnet_deps(run, name):
    run = copy.deepcopy(run)
    by_name(run, name).property_dependencies.pop("subnets", None)
    return run


def multi_az_message(name, count, where):
    return (f"load balancer {name}: its {count} subnet(s) are in {where}; give it subnets in at least two AZs "
            f"(AWS FSBP ELB.13: AZs are counted, not subnets).")


@pytest.mark.parametrize("change, want", [
    (lambda r: r, []),
    (lambda r: mutate(r, "web-lb-alb", lambda p: p.update(subnets=p["subnets"][:1])),
     [("web-lb-alb", multi_az_message("web-lb-alb", 1, "one AZ (us-east-1a)"))]),
    (lambda r: mutate(r, "web-lb-alb", lambda p: p.update(subnets=[p["subnets"][1]] * 2)),
     [("web-lb-alb", multi_az_message("web-lb-alb", 2, "one AZ (us-east-1b)"))]),
    (lambda r: without_subnet_deps(mutate(r, "web-lb-alb", setter(["subnets"], [])), "web-lb-alb"),
     [("web-lb-alb", multi_az_message("web-lb-alb", 0, "no subnet"))]),
    # subnetMappings count as subnets (entries that are no mapping are skipped).
    (lambda r: mutate(r, "web-lb-alb", lambda p: (p.pop("subnets"), p.update(subnetMappings=[
        {"subnetId": "subnet-0aaaaaaaa"}, "junk"]))),
     [("web-lb-alb", multi_az_message("web-lb-alb", 1, "one AZ (us-east-1a)"))]),
    (lambda r: without_subnet_deps(mutate(r, "web-lb-alb", lambda p: (p.pop("subnets"), p.update(subnetMappings=[
        {"subnetId": "subnet-0aaaaaaaa"}, {"subnetId": "subnet-0bbbbbbbb"}]))), "web-lb-alb"), []),
    # Network and gateway load balancers too; an unnamed type is an application load balancer.
    (lambda r: load_balancer(r, "web-nlb", loadBalancerType="network", subnets=["subnet-0aaaaaaaa"]),
     [("web-nlb", multi_az_message("web-nlb", 1, "one AZ (us-east-1a)"))]),
    (lambda r: load_balancer(r, "web-gwlb", loadBalancerType="gateway", subnets=["subnet-0bbbbbbbb"]),
     [("web-gwlb", multi_az_message("web-gwlb", 1, "one AZ (us-east-1b)"))]),
    (lambda r: load_balancer(r, "web-untyped", loadBalancerType=None, subnets=["subnet-0bbbbbbbb"]),
     [("web-untyped", multi_az_message("web-untyped", 1, "one AZ (us-east-1b)"))]),
    (lambda r: load_balancer(r, "web-other", loadBalancerType="classic", subnets=["subnet-0bbbbbbbb"]), []),
], ids=["two-azs", "one-subnet", "two-subnets-one-az", "no-subnet", "one-mapping", "two-mappings", "network",
        "gateway", "untyped", "other-type"])
def test_load_balancers_span_two_azs(pack, change, want):
    run = change(BASE)
    assert findings(pack, run, "alb-multi-az") == sorted(("advisory", n, m) for n, m in want)


def test_subnets_outside_the_stack_cannot_be_counted(pack):
    """A subnet the stack does not declare has no known AZ: advisory "could not be evaluated",
    never a pass nor a violation; a second, countable load balancer is still judged."""
    run = without_subnet_deps(mutate(BASE, "web-lb-alb", setter(["subnets"], ["subnet-0aaaaaaaa", "subnet-0elsewhere"])),
                              "web-lb-alb")
    run = load_balancer(run, "web-alb-2", subnets=["subnet-0bbbbbbbb"])
    [bad, (level, name, message)] = sorted(findings(pack, run, "alb-multi-az"), key=lambda f: f[1])
    assert (level, name) == ("advisory", STACK) and CANT.format("alb-multi-az") in message
    assert message.endswith("could not be evaluated: web-lb-alb: 1 of its subnets are outside this stack or "
                            "unknown, so their AZs cannot be counted")
    assert bad == ("advisory", "web-alb-2", multi_az_message("web-alb-2", 1, "one AZ (us-east-1b)"))


# ------------------------------------------------------------------ alb-https-redirect (ELB.1)

REDIRECT = {"type": "redirect", "order": 1, "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
FIXED = {"type": "fixed-response", "order": 2, "fixedResponse": {"contentType": "text/plain", "statusCode": "404"}}


def http_defaults(*actions):
    return lambda r: mutate(r, "web-routing-http", setter(["defaultActions"], list(actions)))


def http_rule(*actions, name="web-routing-http-legacy"):
    def change(run):
        return add_resource(run, "aws:lb/listenerRule:ListenerRule", name, {
            "listenerArn": by_name(run, "web-routing-http").outputs["arn"], "priority": 20,
            "conditions": [{"hostHeader": {"values": ["legacy.example.com"]}}], "actions": list(actions)},
            {"arn": by_name(run, "web-routing-http").outputs["arn"].replace(":listener/", ":listener-rule/") + "/c0"},
            deps={"listenerArn": ["web-routing-http"]})
    return change


PLAIN = ("listener web-routing-http serves plain HTTP; make its default action a redirect to HTTPS (type: redirect, "
         "redirect.protocol: HTTPS, statusCode: HTTP_301) (AWS FSBP ELB.1).")
BYPASS = ("listener rule web-routing-http-legacy forwards plain-HTTP requests on listener web-routing-http, "
          "bypassing the HTTPS redirect; move the rule to the HTTPS listener (AWS FSBP ELB.1).")
OIDC = {"type": "authenticate-oidc", "order": 1, "authenticateOidc": {
    "issuer": "https://idp.example.com", "authorizationEndpoint": "https://idp.example.com/auth",
    "tokenEndpoint": "https://idp.example.com/token", "userInfoEndpoint": "https://idp.example.com/user",
    "clientId": "web", "clientSecret": "secret"}}
COGNITO = {"type": "authenticate-cognito", "order": 1, "authenticateCognito": {
    "userPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x", "userPoolClientId": "c",
    "userPoolDomain": "web"}}


@pytest.mark.parametrize("change, want", [
    (lambda r: r, []),
    (http_defaults(dict(REDIRECT, redirect={"protocol": "https", "port": "443", "statusCode": "HTTP_301"})), []),
    (http_defaults(dict(REDIRECT, redirect={"protocol": "HTTP", "port": "8080", "statusCode": "HTTP_301"})),
     [("web-routing-http", PLAIN)]),
    (http_defaults(dict(REDIRECT, redirect={"port": "8080", "statusCode": "HTTP_301"})), [("web-routing-http", PLAIN)]),
    (http_defaults(FIXED), [("web-routing-http", PLAIN)]),
    (http_defaults(forward((ARNS["blue"], 1))), [("web-routing-http", PLAIN)]),
    (http_defaults(), [("web-routing-http", PLAIN)]),
    # ALB runs the action with the lowest order first.
    (http_defaults(dict(FIXED, order=2), dict(REDIRECT, order=1)), []),
    (http_defaults(dict(REDIRECT, order=2), dict(FIXED, order=1)), [("web-routing-http", PLAIN)]),
    (http_defaults(dict(REDIRECT, order=3), {k: v for k, v in FIXED.items() if k != "order"}),
     [("web-routing-http", PLAIN)]),
    # Rules on the HTTP listener that serve content over plain HTTP bypass the redirect.
    (http_rule(forward((ARNS["blue"], 1))), [("web-routing-http-legacy", BYPASS)]),
    (http_rule(OIDC, dict(forward((ARNS["blue"], 1)), order=2)), [("web-routing-http-legacy", BYPASS)]),
    (http_rule(COGNITO, dict(forward((ARNS["blue"], 1)), order=2)), [("web-routing-http-legacy", BYPASS)]),
    (http_rule(REDIRECT), []),
    (http_rule(FIXED), []),
    # An HTTP listener in lower case is still plain HTTP; HTTPS listeners are not judged.
    (lambda r: http_defaults(FIXED)(mutate(r, "web-routing-http", setter(["protocol"], "http"))),
     [("web-routing-http", PLAIN)]),
], ids=["redirect", "lowercase-https", "redirect-to-http", "redirect-no-protocol", "fixed-response", "forward",
        "no-action", "redirect-first-by-order", "fixed-first-by-order", "unordered-first", "rule-forward",
        "rule-oidc", "rule-cognito", "rule-redirect", "rule-fixed", "lowercase-http"])
def test_http_listeners_redirect_to_https(pack, change, want):
    assert findings(pack, change(BASE), "alb-https-redirect") == sorted(("advisory", n, m) for n, m in want)


def test_an_unknown_listener_protocol_cannot_be_evaluated(pack):
    run = mutate(http_defaults(FIXED)(BASE), "web-routing-http", setter(["protocol"], UNKNOWN))
    [(level, name, message)] = findings(pack, run, "alb-https-redirect")
    assert (level, name) == ("advisory", STACK)
    assert message.endswith("could not be evaluated: web-routing-http: protocol unknown")


# ------------------------------------------------------------------ alb-tls-policy (ELB.17)

RECOMMENDED = ["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
               "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
               "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
               "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", "ELBSecurityPolicy-FS-1-2-Res-2020-10",
               "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-TLS-1-2-2017-01"]


def tls(policy):
    return (f"listener web-routing-https uses TLS policy {policy}; set sslPolicy to a recommended policy such as "
            f"ELBSecurityPolicy-TLS13-1-2-2021-06 (AWS FSBP ELB.17).")


def https(**props):
    return set_props("web-routing-https", **props)


@pytest.mark.parametrize("change, user, want", [
    *[(https(sslPolicy=p), None, None) for p in RECOMMENDED],
    (https(sslPolicy="ELBSecurityPolicy-2016-08"), None, tls("'ELBSecurityPolicy-2016-08'")),
    (drop("web-routing-https", "sslPolicy"), None,
     tls("none (the API default, ELBSecurityPolicy-2016-08, allows TLS 1.0)")),
    (https(protocol="https", sslPolicy="ELBSecurityPolicy-TLS-1-1-2017-01"), None,
     tls("'ELBSecurityPolicy-TLS-1-1-2017-01'")),
    (https(protocol="TLS", sslPolicy="ELBSecurityPolicy-TLS-1-1-2017-01"), None,
     tls("'ELBSecurityPolicy-TLS-1-1-2017-01'")),
    (https(protocol="HTTP", sslPolicy="ELBSecurityPolicy-TLS-1-1-2017-01"), None, None),
    # allowedPolicies replaces the recommended list.
    (https(sslPolicy="ELBSecurityPolicy-2016-08"), {"alb-tls-policy": {"allowedPolicies": ["ELBSecurityPolicy-2016-08"]}},
     None),
    (lambda r: r, {"alb-tls-policy": {"allowedPolicies": ["ELBSecurityPolicy-TLS13-1-3-2021-06"]}},
     tls("'ELBSecurityPolicy-TLS13-1-2-2021-06'")),
], ids=[*[f"recommended-{p}" for p in RECOMMENDED], "2016-08", "unset", "lowercase-https", "tls-nlb",
        "http-not-judged", "allowed-by-config", "not-in-config"])
def test_tls_listeners_use_a_recommended_policy(pack, change, user, want):
    got = findings(pack, change(BASE), "alb-tls-policy", user)
    assert got == ([("advisory", "web-routing-https", want)] if want else [])


# ------------------------------------------------------------------ alb-ingress-restricted (EC2.18, EC2.19)


def ingress_rule(name, **props):
    """A vpc ingress rule on the load balancer's group."""
    return lambda run: add_resource(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name,
                                    {"securityGroupId": LB_SG, "ipProtocol": "tcp", **props}, {"id": f"sgr-{name}"},
                                    deps={"securityGroupId": ["web-lb-sg"]})


def sg_rule(name, **props):
    return lambda run: add_resource(run, "aws:ec2/securityGroupRule:SecurityGroupRule", name,
                                    {"securityGroupId": LB_SG, "protocol": "tcp", "type": "ingress", **props},
                                    {"id": f"sgr-{name}"}, deps={"securityGroupId": ["web-lb-sg"]})


def inline(name, *ingress, egress=()):
    return lambda run: add_resource(run, "aws:ec2/securityGroup:SecurityGroup", name,
                                    {"vpcId": "vpc-0123456789abcdef0", "ingress": list(ingress), "egress": list(egress)},
                                    {"id": f"sg-{name}"})


def risky(name, ports):
    return (f"{name} opens high-risk port(s) {ports} to the whole internet (AWS FSBP EC2.19); restrict the source to "
            f"known networks or a security group.")


def opened(name, lo, hi, allowed=(80, 443)):
    return (f"{name} opens port(s) {lo}-{hi} to the whole internet; only {sorted(allowed)} may be open to 0.0.0.0/0 "
            f"or ::/0 (AWS FSBP EC2.18). Restrict the source or the ports.")


ALL_RISKY = "20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, " \
            "8080, 8088, 8888, 9200, 9300"
V4, V6 = {"cidrIpv4": "0.0.0.0/0"}, {"cidrIpv6": "::/0"}


@pytest.mark.parametrize("change, user, want", [
    (lambda r: r, None, []),
    (ingress_rule("r", fromPort=22, toPort=22, **V4), None, [("r", risky("r", "22"))]),
    (ingress_rule("r", fromPort=22, toPort=22, **V6), None, [("r", risky("r", "22"))]),
    (ingress_rule("r", fromPort=22, toPort=22, cidrIpv4="10.0.0.0/8"), None, []),
    (ingress_rule("r", fromPort=22, toPort=22, cidrIpv6="2001:db8::/32"), None, []),
    (ingress_rule("r", fromPort=8443, toPort=8443, **V4), None, [("r", opened("r", 8443, 8443))]),
    (ingress_rule("r", fromPort=80, toPort=81, **V4), {"alb-ingress-restricted": {"allowedPorts": [80, 81, 443]}},
     [("r", opened("r", 80, 81, [80, 81, 443]))]),
    (ingress_rule("r", fromPort=24, toPort=26, **V4), None, [("r", risky("r", "25"))]),
    (ingress_rule("r", fromPort=26, toPort=109, **V4), None, [("r", opened("r", 26, 109))]),
    (ingress_rule("r", fromPort=9300, toPort=9301, **V4), None, [("r", risky("r", "9300"))]),
    (ingress_rule("r", fromPort=19, toPort=20, **V4), None, [("r", risky("r", "20"))]),
    (ingress_rule("r", ipProtocol="-1", **V4), None, [("r", risky("r", ALL_RISKY))]),
    (ingress_rule("r", ipProtocol="-1", fromPort=443, toPort=443, **V4), None, [("r", risky("r", ALL_RISKY))]),
    (ingress_rule("r", toPort=19, **V4), None, [("r", opened("r", 0, 19))]),
    (ingress_rule("r", fromPort=9301, **V4), None, [("r", opened("r", 9301, 65535))]),
    # allowedPorts replaces 80/443, never admits a high-risk port.
    (ingress_rule("r", fromPort=8443, toPort=8443, **V4), {"alb-ingress-restricted": {"allowedPorts": [80, 443, 8443]}},
     []),
    (lambda r: r, {"alb-ingress-restricted": {"allowedPorts": [80]}},
     [(f"web-lb-in-443-{f}", opened(f"web-lb-in-443-{f}", 443, 443, [80])) for f in ("ipv4", "ipv6")]),
    (ingress_rule("r", fromPort=22, toPort=22, **V4), {"alb-ingress-restricted": {"allowedPorts": [22, 80, 443]}},
     [("r", risky("r", "22"))]),
    # SecurityGroupRule (ingress only) and inline rules of a security group.
    (sg_rule("r", fromPort=3389, toPort=3389, cidrBlocks=["10.0.0.0/8", "0.0.0.0/0"]), None,
     [("r", risky("r", "3389"))]),
    (sg_rule("r", fromPort=3389, toPort=3389, ipv6CidrBlocks=["::/0"]), None, [("r", risky("r", "3389"))]),
    (sg_rule("r", fromPort=3389, toPort=3389, cidrBlocks=["0.0.0.0/0"], type="egress"), None, []),
    (sg_rule("r", protocol="all", fromPort=0, toPort=0, cidrBlocks=["0.0.0.0/0"]), None, [("r", risky("r", ALL_RISKY))]),
    (inline("g", {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
            {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "ipv6CidrBlocks": ["::/0"]},
            egress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]), None,
     [("g", risky("g", "5432"))]),
    (inline("g", {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}), None, []),
], ids=["base", "ssh-v4", "ssh-v6", "ssh-private-v4", "ssh-private-v6", "8443", "range-of-allowed-ports", "range-holding-25",
        "range-between-risky", "range-from-9300", "range-to-20", "all-protocols", "all-protocols-ports-ignored",
        "no-from-port", "no-to-port", "allowed-8443", "only-80-allowed", "risky-never-allowed", "sg-rule-v4",
        "sg-rule-v6", "sg-rule-egress", "sg-rule-all", "inline", "inline-private"])
def test_only_listener_ports_are_open_to_the_internet(pack, change, user, want):
    got = findings(pack, change(BASE), "alb-ingress-restricted", user)
    assert got == sorted(("advisory", n, m) for n, m in want)


def test_allowed_ports_are_shown_as_written(pack):
    [(_, _, message)] = findings(pack, ingress_rule("r", fromPort=8443, toPort=8443, **V4)(BASE), "alb-ingress-restricted")
    assert "only [80, 443] may be open" in message


def test_every_high_risk_port_is_refused_even_when_allowed(pack):
    ports = [int(p) for p in ALL_RISKY.split(", ")]
    run = BASE
    for p in ports:
        run = ingress_rule(f"open-{p}", fromPort=p, toPort=p, **V4)(run)
    user = {"alb-ingress-restricted": {"allowedPorts": ports + [80, 443]}}
    assert findings(pack, run, "alb-ingress-restricted", user) == sorted(
        ("advisory", f"open-{p}", risky(f"open-{p}", str(p))) for p in ports)


# ------------------------------------------------------------------ default-security-group-closed (EC2.2)

DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
ANY = {"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}


@pytest.mark.parametrize("props, reported", [
    ({}, False), ({"ingress": [], "egress": []}, False), ({"ingress": [ANY]}, True),
    ({"egress": [dict(ANY, cidrBlocks=["0.0.0.0/0"])]}, True),
], ids=["no-rules", "empty-rules", "ingress", "egress"])
def test_the_default_security_group_has_no_rules(pack, props, reported):
    run = add_resource(BASE, DEFAULT_SG, "web-default-sg", {"vpcId": "vpc-0123456789abcdef0", **props},
                       {"id": "sg-0default"})
    msg = ("web-default-sg manages the VPC's default security group with rules; remove every ingress and egress rule "
           "so nothing that falls back to it is reachable (AWS FSBP EC2.2).")
    assert findings(pack, run, "default-security-group-closed") == ([("advisory", "web-default-sg", msg)] if reported
                                                                    else [])


def test_an_ordinary_security_group_with_rules_is_not_the_default_one(pack):
    run = inline("g", {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]})(BASE)
    assert findings(pack, run, "default-security-group-closed") == []


# ------------------------------------------------------------------ launch-template-imdsv2 (EC2.170, AutoScaling.3, EC2.8)


def imds(name, tokens, control):
    return (f"{name} allows IMDSv1 (metadataOptions.httpTokens is {tokens}); set metadataOptions.httpTokens: required "
            f"(AWS FSBP {control}).")


@pytest.mark.parametrize("type_, name, options, want", [
    ("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"httpTokens": "required"}, None),
    ("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"httpTokens": "optional"}, imds("lt", "optional", "EC2.170")),
    ("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"httpEndpoint": "enabled"}, imds("lt", "not set", "EC2.170")),
    ("aws:ec2/launchTemplate:LaunchTemplate", "lt", None, imds("lt", "not set", "EC2.170")),
    ("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"httpEndpoint": "disabled", "httpTokens": "optional"}, None),
    ("aws:ec2/launchConfiguration:LaunchConfiguration", "lc", {"httpTokens": "optional"},
     imds("lc", "optional", "AutoScaling.3")),
    ("aws:ec2/instance:Instance", "vm", {}, imds("vm", "not set", "EC2.8")),
    ("aws:ec2/instance:Instance", "vm", {"httpTokens": "required", "httpEndpoint": "enabled"}, None),
    ("aws:ec2/spotInstanceRequest:SpotInstanceRequest", "spot", {"httpTokens": "optional"}, None),
], ids=["lt-required", "lt-optional", "lt-unset", "lt-no-options", "lt-endpoint-disabled", "lc", "instance-unset",
        "instance-required", "not-covered"])
def test_instances_require_imdsv2(pack, type_, name, options, want):
    props = {"imageId": "ami-0123456789abcdef0", "instanceType": "t3.small"}
    if options is not None:
        props["metadataOptions"] = options
    run = add_resource(BASE, type_, name, props, {"id": f"id-{name}"})
    assert findings(pack, run, "launch-template-imdsv2") == ([("advisory", name, want)] if want else [])


# ------------------------------------------------------------------ instance-ingress-from-alb-only


def direct(name, source):
    return (f"{name} lets {source} reach the instances behind the load balancer directly; admit only the load "
            f"balancer's security group (referencedSecurityGroupId) so every request goes through the ALB's routing "
            f"and logs.")


INLINE = "has an inline ingress rule from outside the load balancer's security group; admit only the load balancer's group."


def app_rule(**props):
    """web-app-from-lb (the instances' only ingress, from the load balancer's group) with ``props`` instead of its source."""
    def change(run):
        run = mutate(run, "web-app-from-lb", lambda p: (p.pop("referencedSecurityGroupId"), p.update(props)))
        by_name(run, "web-app-from-lb").property_dependencies.pop("referencedSecurityGroupId")
        return run
    return change


def app_sg_inline(*ingress):
    return lambda run: mutate(run, "web-app-sg", setter(["ingress"], list(ingress)))


def legacy_rule(type_, **props):
    """An ingress rule on a second group, sg-0cccccccccccccccc, from 10.0.0.0/8."""
    def change(run):
        run = add_resource(run, "aws:ec2/securityGroup:SecurityGroup", "web-legacy-sg",
                           {"vpcId": "vpc-0123456789abcdef0"}, {"id": "sg-0cccccccccccccccc"})
        return add_resource(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "web-legacy-in",
                            {"securityGroupId": "sg-0cccccccccccccccc", "ipProtocol": "tcp", "fromPort": 8080,
                             "toPort": 8080, "cidrIpv4": "10.0.0.0/8"}, {"id": "sgr-legacy"},
                            deps={"securityGroupId": ["web-legacy-sg"]})
    return change


def legacy_user(type_, prop):
    """legacy_rule, and a ``type_`` resource that puts its instances in that group through ``prop``."""
    def change(run):
        run = legacy_rule(type_)(run)
        return add_resource(run, type_, "web-legacy", {"imageId": "ami-0123456789abcdef0", "instanceType": "t3.small",
                                                       prop: ["sg-0cccccccccccccccc"],
                                                       "metadataOptions": {"httpTokens": "required"}},
                            {"id": "web-legacy"}, deps={prop: ["web-legacy-sg"]})
    return change


SG_RULE_TYPE = "aws:ec2/securityGroupRule:SecurityGroupRule"


def app_sg_rule(name, **props):
    return lambda run: add_resource(run, SG_RULE_TYPE, name, {"securityGroupId": APP_SG, "protocol": "tcp",
                                                              "fromPort": 8080, "toPort": 8080, **props},
                                    {"id": f"sgr-{name}"}, deps={"securityGroupId": ["web-app-sg"]})


LB_IN = {"protocol": "tcp", "fromPort": 8080, "toPort": 8080, "securityGroups": [LB_SG]}


@pytest.mark.parametrize("change, want", [
    (lambda r: r, []),
    (app_rule(cidrIpv4="10.0.0.0/8"), [("web-app-from-lb", direct("web-app-from-lb", "10.0.0.0/8"))]),
    (app_rule(cidrIpv6="2001:db8::/32"), [("web-app-from-lb", direct("web-app-from-lb", "2001:db8::/32"))]),
    (app_rule(prefixListId="pl-0123456789abcdef0"),
     [("web-app-from-lb", direct("web-app-from-lb", "pl-0123456789abcdef0"))]),
    (app_rule(referencedSecurityGroupId="sg-0dddddddddddddddd"),
     [("web-app-from-lb", direct("web-app-from-lb", "another security group"))]),
    (app_rule(referencedSecurityGroupId=LB_SG), []),
    (app_rule(referencedSecurityGroupId=APP_SG),  # instances reaching each other, not through the ALB
     [("web-app-from-lb", direct("web-app-from-lb", "another security group"))]),
    # SecurityGroupRule: ingress judged, egress not.
    (app_sg_rule("web-app-from-lb-2", type="ingress", sourceSecurityGroupId=LB_SG), []),
    (app_sg_rule("web-app-from-net", type="ingress", cidrBlocks=["10.0.0.0/8"]),
     [("web-app-from-net", direct("web-app-from-net", "['10.0.0.0/8']"))]),
    (app_sg_rule("web-app-from-v6", type="ingress", ipv6CidrBlocks=["2001:db8::/32"]),
     [("web-app-from-v6", direct("web-app-from-v6", "['2001:db8::/32']"))]),
    (app_sg_rule("web-app-from-other", type="ingress", sourceSecurityGroupId="sg-0dddddddddddddddd"),
     [("web-app-from-other", direct("web-app-from-other", "another security group"))]),
    (app_sg_rule("web-app-out", type="egress", cidrBlocks=["0.0.0.0/0"]), []),
    # Inline rules of the instances' group: one finding per group.
    (app_sg_inline(LB_IN), []),
    (app_sg_inline(dict(LB_IN, securityGroups=[LB_SG, "sg-0dddddddddddddddd"])), [("web-app-sg", f"web-app-sg {INLINE}")]),
    (app_sg_inline(dict(LB_IN, securityGroups=[UNKNOWN])), []),
    (app_sg_inline(LB_IN, {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]},
                   {"protocol": "tcp", "fromPort": 23, "toPort": 23, "cidrBlocks": ["10.0.0.0/8"]}),
     [("web-app-sg", f"web-app-sg {INLINE}")]),
    (app_sg_inline(dict(LB_IN, securityGroups=[], ipv6CidrBlocks=["2001:db8::/32"])), [("web-app-sg", f"web-app-sg {INLINE}")]),
    (app_sg_inline(dict(LB_IN, securityGroups=[], prefixListIds=["pl-0123456789abcdef0"])),
     [("web-app-sg", f"web-app-sg {INLINE}")]),
    (app_sg_inline(dict(LB_IN, self=True)), [("web-app-sg", f"web-app-sg {INLINE}")]),
    (lambda r: mutate(r, "web-lb-sg", setter(["ingress"], [{"protocol": "tcp", "fromPort": 443, "toPort": 443,
                                                             "cidrBlocks": ["0.0.0.0/0"]}])), []),
    # Groups of instances and launch configurations count as instance groups; a group nothing runs in does not.
    (legacy_rule(None), []),
    (legacy_user("aws:ec2/instance:Instance", "vpcSecurityGroupIds"),
     [("web-legacy-in", direct("web-legacy-in", "10.0.0.0/8"))]),
    (legacy_user("aws:ec2/launchConfiguration:LaunchConfiguration", "securityGroups"),
     [("web-legacy-in", direct("web-legacy-in", "10.0.0.0/8"))]),
    (legacy_user("aws:ec2/launchTemplate:LaunchTemplate", "vpcSecurityGroupIds"),
     [("web-legacy-in", direct("web-legacy-in", "10.0.0.0/8"))]),
], ids=["base", "cidr-v4", "cidr-v6", "prefix-list", "other-group", "lb-group", "own-group", "sg-rule-from-lb",
        "sg-rule-cidr", "sg-rule-v6", "sg-rule-other-group", "sg-rule-egress", "inline-from-lb",
        "inline-lb-and-other", "inline-unknown-group", "inline-two-bad", "inline-v6", "inline-prefix-list",
        "inline-self", "lb-group-inline", "group-of-nothing", "instance", "launch-configuration", "launch-template"])
def test_instances_admit_only_the_load_balancer(pack, change, want):
    got = findings(pack, change(BASE), "instance-ingress-from-alb-only")
    assert got == sorted(("advisory", n, m) for n, m in want)


def test_an_inline_entry_that_is_no_rule_is_skipped(pack):
    """Only alb-ingress-restricted (disabled here) would stumble on it."""
    bad = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}
    user = {"alb-ingress-restricted": "disabled"}
    assert findings(pack, app_sg_inline("junk", LB_IN)(BASE), "instance-ingress-from-alb-only", user) == []
    assert findings(pack, app_sg_inline("junk", bad)(BASE), "instance-ingress-from-alb-only", user) == [
        ("advisory", "web-app-sg", f"web-app-sg {INLINE}")]


def test_in_a_preview_groups_are_linked_through_dependencies(pack):
    """Every group id unknown: which group a rule is on and which it admits come from the
    rules' propertyDependencies."""
    from tests.policies.fixtures import preview

    assert findings(pack, preview(BASE), "instance-ingress-from-alb-only") == []
    run = preview(mutate(BASE, "web-app-from-lb", setter(["referencedSecurityGroupId"], "sg-0dddddddddddddddd")))
    by_name(run, "web-app-from-lb").property_dependencies["referencedSecurityGroupId"] = [by_name(run, "web-app-sg").urn]
    assert findings(pack, run, "instance-ingress-from-alb-only") == [
        ("advisory", "web-app-from-lb", direct("web-app-from-lb", "another security group"))]


def test_an_unknown_source_group_cannot_be_evaluated(pack):
    run = app_rule(referencedSecurityGroupId=UNKNOWN)(BASE)
    [(level, name, message)] = findings(pack, run, "instance-ingress-from-alb-only")
    assert (level, name) == ("advisory", STACK) and CANT.format("instance-ingress-from-alb-only") in message
    assert message.endswith("could not be evaluated: web-app-from-lb: its source security group is unknown")
