"""More of policies/lb_safety/security.py through the pack: AZs counted through a preview's
property dependencies, authentication over plain HTTP, every listener and every rule judged
(not only those before the first that is skipped), ALB's action order, the listener ports
open by default, and the load-balancer attribute controls of a freshly loaded pack."""

from __future__ import annotations

import copy

from google.protobuf import empty_pb2

from tests.policies.conftest import Pack, open_pack
from tests.policies.fixtures import UNKNOWN, add_resource, by_name, forward, mutate, preview, setter, web_tier
from tests.policies.test_routing_security import (BYPASS, COGNITO, FIXED, OIDC, PLAIN, REDIRECT, V4, findings,
                                                  http_defaults, http_rule, ingress_rule, inline, opened, risky)

BASE = web_tier()
ARNS = BASE.outputs["targetGroupArns"]
LB = "web-lb-alb"


def test_a_fresh_pack_judges_load_balancer_attributes():
    """The attribute controls (ELB.4, ELB.6, ELB.12) are built while the pack loads: a pack
    loaded inside the test, so that what it builds is what this test judges."""
    bad = mutate(BASE, LB, lambda p: p.update(dropInvalidHeaderFields=False, enableDeletionProtection=False,
                                               desyncMitigationMode="monitor", loadBalancerType="application"))
    with open_pack(fresh=True, project="web-tier", stack="prod", timeout=60) as process:
        pack = Pack(process, process.call("GetAnalyzerInfo", empty_pb2.Empty()))
        clean = {(v.policy, v.message) for v in pack.evaluate(BASE, {})}
        found = sorted((v.policy, v.enforcement_level, v.message) for v in pack.evaluate(bad, {})
                       if (v.policy, v.message) not in clean)
        described = {p.name: p.description for p in pack.info.policies}
    assert found == [
        ("alb-deletion-protection", "advisory",
         f"load balancer {LB}: deletion protection is off; set enableDeletionProtection: true (AWS FSBP ELB.6)."),
        ("alb-desync-mitigation", "advisory",
         f"load balancer {LB}: desync mitigation mode is 'monitor'; set desyncMitigationMode: defensive (or "
         f"strictest) (AWS FSBP ELB.12)."),
        ("alb-drop-invalid-headers", "advisory",
         f"load balancer {LB}: invalid HTTP header fields are passed to targets; set dropInvalidHeaderFields: true "
         f"(AWS FSBP ELB.4)."),
    ]
    assert described["alb-drop-invalid-headers"].endswith("(AWS FSBP ELB.4).")
    assert described["alb-deletion-protection"].endswith("(AWS FSBP ELB.6).")
    assert described["alb-desync-mitigation"].endswith("(AWS FSBP ELB.12).")
    # a network load balancer has no HTTP headers nor desync mode: only deletion protection applies;
    # one of no declared type is an application load balancer (the provider's default)
    nlb = mutate(bad, LB, setter(["loadBalancerType"], "network"))
    untyped = mutate(bad, LB, lambda p: p.pop("loadBalancerType"))
    with open_pack(fresh=True, project="web-tier", stack="prod", timeout=60) as process:
        pack = Pack(process, process.call("GetAnalyzerInfo", empty_pb2.Empty()))
        policies = sorted(v.policy for v in pack.evaluate(nlb, {}) if v.policy.startswith("alb-d"))
        untyped_policies = sorted(v.policy for v in pack.evaluate(untyped, {}) if v.policy.startswith("alb-d"))
    assert policies == ["alb-deletion-protection"]
    assert untyped_policies == ["alb-deletion-protection", "alb-desync-mitigation", "alb-drop-invalid-headers"]


def test_in_a_preview_subnets_are_counted_through_their_dependencies(pack):
    assert findings(pack, preview(BASE), "alb-multi-az") == []


def test_in_a_preview_subnet_mappings_are_counted_through_their_dependencies(pack):
    run = copy.deepcopy(preview(BASE))
    lb = by_name(run, LB)
    subnets = lb.property_dependencies.pop("subnets")
    lb.inputs.pop("subnets", None)
    lb.outputs.pop("subnets", None)
    for props in (lb.inputs, lb.outputs):
        props["subnetMappings"] = [{"subnetId": UNKNOWN}, {"subnetId": UNKNOWN}]
    lb.property_dependencies["subnetMappings"] = subnets
    assert findings(pack, run, "alb-multi-az") == []
    # one subnet named twice is one AZ
    lb.property_dependencies["subnetMappings"] = subnets[:1]
    for props in (lb.inputs, lb.outputs):
        props["subnetMappings"] = [{"subnetId": UNKNOWN}]
    [(level, name, message)] = findings(pack, run, "alb-multi-az")
    assert name == LB and "its 1 subnet(s) are in one AZ (us-east-1a)" in message


def test_authentication_over_plain_http_bypasses_the_redirect(pack):
    for auth in (OIDC, COGNITO):
        run = http_rule(auth, dict(FIXED, order=2))(BASE)
        assert findings(pack, run, "alb-https-redirect") == [("advisory", "web-routing-http-legacy", BYPASS)]


def plain_listener(name):
    def change(run):
        lb = by_name(run, LB)
        return add_resource(run, "aws:lb/listener:Listener", name, {
            "loadBalancerArn": lb.outputs["arn"], "port": 8080, "protocol": "HTTP",
            "defaultActions": [dict(forward((ARNS["blue"], 1)), order=1)]},
            {"arn": lb.outputs["arn"].replace(":loadbalancer/", ":listener/") + "/f0"},
            deps={"loadBalancerArn": [LB]})
    return change


def test_every_http_listener_is_judged_whatever_comes_before_it(pack):
    run = plain_listener("web-routing-http-8080")(BASE)  # after the HTTPS listener
    want = PLAIN.replace("web-routing-http ", "web-routing-http-8080 ")
    assert findings(pack, run, "alb-https-redirect") == [("advisory", "web-routing-http-8080", want)]


def test_a_listener_of_unknown_protocol_leaves_the_others_judged(pack):
    run = plain_listener("web-routing-http-8080")(mutate(BASE, "web-routing-http", setter(["protocol"], UNKNOWN)))
    got = findings(pack, run, "alb-https-redirect")
    assert ("advisory", "web-routing-http-8080", PLAIN.replace("web-routing-http ", "web-routing-http-8080 ")) in got
    assert any(m.endswith("could not be evaluated: web-routing-http: protocol unknown") for _, _, m in got)


def test_an_action_without_order_runs_before_those_with_one(pack):
    """ALB orders actions by Order; the provider leaves it unset for a single action, which the
    pack reads as first (order 0), before an action of order 1."""
    plain_first = http_defaults(dict(forward((ARNS["blue"], 1)), order=1),
                                {k: v for k, v in REDIRECT.items() if k != "order"})
    assert findings(pack, plain_first(BASE), "alb-https-redirect") == []


def test_the_listener_ports_are_open_by_default(pack):
    for port in (80, 443):
        assert findings(pack, ingress_rule("r", fromPort=port, toPort=port, **V4)(BASE), "alb-ingress-restricted") == []
    assert findings(pack, ingress_rule("r", fromPort=81, toPort=81, **V4)(BASE), "alb-ingress-restricted") == [
        ("advisory", "r", opened("r", 81, 81))]


def test_every_inline_rule_is_judged_after_a_private_one(pack):
    run = inline("g", {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]},
                 {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["0.0.0.0/0"]})(BASE)
    assert findings(pack, run, "alb-ingress-restricted") == [("advisory", "g", risky("g", "5432"))]


def test_groups_named_by_id_on_one_side_and_by_dependency_on_the_other_are_one(pack):
    """The load balancer names its group by id only (no dependency), the instances' rule names
    its source through the dependency only (its id unknown): the same group, admitted."""
    from tests.policies.test_routing_security import LB_SG, direct

    run = copy.deepcopy(BASE)
    by_name(run, LB).property_dependencies.pop("securityGroups")
    run = mutate(run, "web-app-from-lb", setter(["referencedSecurityGroupId"], UNKNOWN))
    assert by_name(run, LB).inputs["securityGroups"] == [LB_SG]
    assert findings(pack, run, "instance-ingress-from-alb-only") == []
    # the same rule from another group is still refused
    other = add_resource(run, "aws:ec2/securityGroup:SecurityGroup", "web-other-sg", {"vpcId": "vpc-0123456789abcdef0"},
                         {"id": "sg-0dddddddddddddddd"})
    by_name(other, "web-app-from-lb").property_dependencies["referencedSecurityGroupId"] = [
        by_name(other, "web-other-sg").urn]
    assert findings(pack, other, "instance-ingress-from-alb-only") == [
        ("advisory", "web-app-from-lb", direct("web-app-from-lb", "another security group"))]


def test_a_second_load_balancer_keeps_the_first_ones_groups(pack):
    from tests.policies.test_routing_security import load_balancer

    assert findings(pack, load_balancer(BASE, "web-internal-alb"), "instance-ingress-from-alb-only") == []


def test_an_inline_rule_from_exactly_the_load_balancers_groups_is_admitted(pack):
    """The load balancer names its group by id only: the groups it is in are exactly those the
    instances' inline rule admits, which is what the control asks for."""
    from tests.policies.test_routing_security import LB_IN, app_sg_inline

    run = copy.deepcopy(BASE)
    by_name(run, LB).property_dependencies.pop("securityGroups")
    assert findings(pack, app_sg_inline(LB_IN)(run), "instance-ingress-from-alb-only") == []


def test_every_group_with_an_inline_rule_from_outside_is_reported(pack):
    from tests.policies.test_routing_security import INLINE, LB_IN, app_sg_inline, legacy_user

    bad = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}
    run = legacy_user("aws:ec2/instance:Instance", "vpcSecurityGroupIds")(app_sg_inline(LB_IN, bad)(BASE))
    run = mutate(run, "web-legacy-sg", setter(["ingress"], [bad]))
    got = findings(pack, run, "instance-ingress-from-alb-only")
    assert ("advisory", "web-app-sg", f"web-app-sg {INLINE}") in got
    assert ("advisory", "web-legacy-sg", f"web-legacy-sg {INLINE}") in got


def test_instances_of_every_template_and_instance_are_covered(pack):
    """A launch template's group and a later instance's group: a direct rule on the first is
    still reported."""
    from tests.policies.test_routing_security import direct, legacy_user

    run = legacy_user("aws:ec2/instance:Instance", "vpcSecurityGroupIds")(BASE)
    run = mutate(run, "web-legacy-in", setter(["cidrIpv4"], "10.0.0.0/8"))
    run = mutate(run, "web-app-from-lb", lambda p: (p.pop("referencedSecurityGroupId"),
                                                    p.update(cidrIpv4="192.168.0.0/16")))
    by_name(run, "web-app-from-lb").property_dependencies.pop("referencedSecurityGroupId")
    got = findings(pack, run, "instance-ingress-from-alb-only")
    assert ("advisory", "web-app-from-lb", direct("web-app-from-lb", "192.168.0.0/16")) in got
    assert ("advisory", "web-legacy-in", direct("web-legacy-in", "10.0.0.0/8")) in got
