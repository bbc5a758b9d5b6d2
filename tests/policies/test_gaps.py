"""Issue 27, policy gaps, on raw pulumi_aws programs (no components): each broken program gets the
finding it deserves (each failed before this issue) and the correct one stays clean.

1. asg-elb-health-check sees every wiring of a group to a load balancer: targetGroupArns,
   trafficSources, aws.autoscaling.Attachment and TrafficSourceAttachment, also in a preview.
2. health-check-port-reachable: the load balancer's groups reach each health-check port on the
   instances (ingress and egress), through SecurityGroupRule, vpc rule resources and inline rules.
3. A host condition covering every name the listener's certificates serve is a catch-all for
   that listener: the traffic model gives it the whole listener.
4. stickiness-duration: target-group and forward stickiness above a bound (default one day).
"""

from __future__ import annotations

import pytest

from tests.policies.fixtures import ELB, REGION, ACCOUNT, Stack, UNKNOWN, health_check, preview, subnets, tg_arn
from tests.policies.test_accuracy import LISTENER_ARN, shop

LB_SG, APP_SG = "sg-0aaaaaaaaaaaaaaaa", "sg-0bbbbbbbbbbbbbbbb"


def found(pack, s_or_run, policy, user=None):
    run = s_or_run.run() if isinstance(s_or_run, Stack) else s_or_run
    return sorted((v.enforcement_level, v.name) for v in pack.evaluate(run, {} if user is None else user)
                  if v.policy == policy)


def messages(pack, s, policy, user=None):
    return [v.message for v in pack.evaluate(s.run(), {} if user is None else user) if v.policy == policy]


# ------------------------------------------------------------------ 1. Auto Scaling wiring


def _traffic_source_attachment(s: Stack) -> None:
    s.add("aws:autoscaling/trafficSourceAttachment:TrafficSourceAttachment", "shop-web-source",
          {"autoscalingGroupName": "shop-web", "trafficSource": {"identifier": tg_arn("shop-web"), "type": "elbv2"}},
          {"id": "shop-web-source"}, deps={"autoscalingGroupName": ["shop-web-asg"]})


@pytest.mark.parametrize("wiring", ["attachment", "traffic-source-attachment", "inline-traffic-sources"])
def test_ec2_health_checks_behind_a_load_balancer_are_found_whatever_the_wiring(pack, wiring):
    over = {"healthCheckType": "EC2"}
    if wiring == "inline-traffic-sources":
        over["trafficSources"] = [{"identifier": tg_arn("shop-web"), "type": "elbv2"}]
    s = shop(attachment=True, asg_over=over)
    if wiring != "attachment":
        s.resources = [r for r in s.resources if r.type != "aws:autoscaling/attachment:Attachment"]
    if wiring == "traffic-source-attachment":
        _traffic_source_attachment(s)
    assert found(pack, s, "asg-elb-health-check") == [("advisory", "shop-web-asg")]
    [msg] = messages(pack, s, "asg-elb-health-check")
    assert "healthCheckType: ELB" in msg and "AutoScaling.1" in msg
    # ELB health checks: clean, whatever the wiring.
    assert found(pack, shop(attachment=True), "asg-elb-health-check") == []


def test_attachment_wiring_is_found_in_a_preview_through_dependencies(pack):
    s = shop(attachment=True, asg_over={"healthCheckType": "EC2", "name": None})
    run = preview(s.run())
    for r in run.resources:
        if r.type == "aws:autoscaling/attachment:Attachment":
            r.inputs["autoscalingGroupName"] = r.outputs["autoscalingGroupName"] = UNKNOWN
    assert found(pack, run, "asg-elb-health-check") == [("advisory", "shop-web-asg")]


def test_a_group_serving_no_load_balancer_may_use_ec2_checks(pack):
    s = shop(attachment=True, asg_over={"healthCheckType": "EC2"})
    s.resources = [r for r in s.resources if r.type != "aws:autoscaling/attachment:Attachment"]
    assert found(pack, s, "asg-elb-health-check") == []


# ------------------------------------------------------------------ 2. health-check port and security groups


def secured(*, rules: str = "vpc", port: int = 80, hc_port: str = "traffic-port", egress: bool = True,
            attach: str = "asg") -> Stack:
    """shop() with security groups: the ALB's (80 from anywhere) and the instances' (``port`` from
    the ALB's), written as ``rules`` (vpc rule resources, SecurityGroupRule or inline), the ALB's
    egress to the instances on ``port`` unless not ``egress``."""
    s = shop(tg_over={"healthCheck": health_check(port=hc_port)}, asg_over={"launchTemplate": {"id": "lt-0123456789abcdef0"}})
    inline = rules == "inline"
    lb_in = [{"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"]}]
    lb_out = [{"protocol": "tcp", "fromPort": port, "toPort": port, "securityGroups": [APP_SG]}] if egress else []
    app_in = [{"protocol": "tcp", "fromPort": port, "toPort": port, "securityGroups": [LB_SG]}]
    s.add("aws:ec2/securityGroup:SecurityGroup", "shop-lb-sg",
          {"vpcId": "vpc-0123456789abcdef0", **({"ingress": lb_in, "egress": lb_out} if inline else {})}, {"id": LB_SG})
    s.add("aws:ec2/securityGroup:SecurityGroup", "shop-app-sg",
          {"vpcId": "vpc-0123456789abcdef0", **({"ingress": app_in} if inline else {})}, {"id": APP_SG})
    if rules == "vpc":
        s.add("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "shop-app-from-lb",
              {"securityGroupId": APP_SG, "referencedSecurityGroupId": LB_SG, "ipProtocol": "tcp", "fromPort": port,
               "toPort": port}, {"id": "sgr-1"}, deps={"securityGroupId": ["shop-app-sg"],
                                                       "referencedSecurityGroupId": ["shop-lb-sg"]})
        if egress:
            s.add("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "shop-lb-to-app",
                  {"securityGroupId": LB_SG, "referencedSecurityGroupId": APP_SG, "ipProtocol": "tcp",
                   "fromPort": port, "toPort": port}, {"id": "sgr-2"},
                  deps={"securityGroupId": ["shop-lb-sg"], "referencedSecurityGroupId": ["shop-app-sg"]})
    elif rules == "sg-rule":
        s.add("aws:ec2/securityGroupRule:SecurityGroupRule", "shop-app-from-lb",
              {"type": "ingress", "securityGroupId": APP_SG, "sourceSecurityGroupId": LB_SG, "protocol": "tcp",
               "fromPort": port, "toPort": port}, {"id": "sgr-1"},
              deps={"securityGroupId": ["shop-app-sg"], "sourceSecurityGroupId": ["shop-lb-sg"]})
        if egress:
            s.add("aws:ec2/securityGroupRule:SecurityGroupRule", "shop-lb-to-app",
                  {"type": "egress", "securityGroupId": LB_SG, "sourceSecurityGroupId": APP_SG, "protocol": "tcp",
                   "fromPort": port, "toPort": port}, {"id": "sgr-2"},
                  deps={"securityGroupId": ["shop-lb-sg"], "sourceSecurityGroupId": ["shop-app-sg"]})
    for r in s.resources:
        if r.type == "aws:lb/loadBalancer:LoadBalancer":
            for props in (r.inputs, r.outputs):
                props["securityGroups"] = [LB_SG]
            r.property_dependencies["securityGroups"] = [s.by_name["shop-lb-sg"].urn]
    s.add("aws:ec2/launchTemplate:LaunchTemplate", "shop-lt",
          {"imageId": "ami-0123456789abcdef0", "instanceType": "t3.small", "vpcSecurityGroupIds": [APP_SG],
           "metadataOptions": {"httpTokens": "required"}},
          {"id": "lt-0123456789abcdef0"}, deps={"vpcSecurityGroupIds": ["shop-app-sg"]})
    s.by_name["shop-web-asg"].property_dependencies["launchTemplate"] = [s.by_name["shop-lt"].urn]
    return s


@pytest.mark.parametrize("rules", ["vpc", "sg-rule", "inline"])
def test_the_health_check_port_admitted_from_the_load_balancer_is_clean(pack, rules):
    assert found(pack, secured(rules=rules), "health-check-port-reachable") == []
    assert found(pack, secured(rules=rules, port=8081, hc_port="8081"), "health-check-port-reachable") == []


@pytest.mark.parametrize("rules", ["vpc", "sg-rule", "inline"])
def test_a_health_check_port_no_rule_admits_fails_every_target(pack, rules):
    """Traffic on 80 is admitted; the health check goes to 8081, which nothing opens."""
    s = secured(rules=rules, hc_port="8081")
    assert found(pack, s, "health-check-port-reachable") == [("mandatory", "shop-web-tg")]
    [msg] = messages(pack, s, "health-check-port-reachable")
    assert "health-checks port 8081" in msg and "every target will fail its checks" in msg and "ingress" in msg


@pytest.mark.parametrize("rules", ["vpc", "sg-rule", "inline"])
def test_no_egress_from_the_load_balancer_to_the_port_fails(pack, rules):
    s = secured(rules=rules, egress=False)
    assert found(pack, s, "health-check-port-reachable") == [("mandatory", "shop-web-tg")]
    assert "no egress rule of the load balancer's security group" in messages(pack, s, "health-check-port-reachable")[0]


def test_the_instances_port_admitted_from_elsewhere_only_fails(pack):
    s = secured(rules="vpc")
    rule = s.by_name["shop-app-from-lb"]
    for props in (rule.inputs, rule.outputs):
        props.pop("referencedSecurityGroupId")
        props["cidrIpv4"] = "203.0.113.0/24"
    rule.property_dependencies.pop("referencedSecurityGroupId")
    assert found(pack, s, "health-check-port-reachable") == [("mandatory", "shop-web-tg")]


def test_a_cidr_holding_the_load_balancers_subnets_admits_it(pack):
    s = secured(rules="vpc")
    rule = s.by_name["shop-app-from-lb"]
    for props in (rule.inputs, rule.outputs):
        props.pop("referencedSecurityGroupId")
        props["cidrIpv4"] = "10.0.0.0/16"  # the subnets are 10.0.1.0/24 and 10.0.2.0/24
    rule.property_dependencies.pop("referencedSecurityGroupId")
    assert found(pack, s, "health-check-port-reachable") == []


def _previewed(s: Stack):
    """A preview of a new stack: every id and ARN unknown, links only through dependencies (the
    listener's forward names its target group by dependency, as the SDK records it)."""
    s.by_name["shop-http"].property_dependencies["defaultActions"] = [s.by_name["shop-web-tg"].urn]
    return preview(s.run())


def test_in_a_preview_the_groups_are_linked_through_dependencies(pack):
    assert found(pack, _previewed(secured(rules="vpc", hc_port="8081")), "health-check-port-reachable") == \
        [("mandatory", "shop-web-tg")]
    assert found(pack, _previewed(secured(rules="vpc")), "health-check-port-reachable") == []


def test_groups_outside_the_program_are_not_judged(pack):
    s = secured(rules="vpc", hc_port="8081")
    lt = s.by_name["shop-lt"]
    for props in (lt.inputs, lt.outputs):
        props["vpcSecurityGroupIds"] = ["sg-0ccccccccccccccc0"]
    lt.property_dependencies.clear()
    [(level, _)] = found(pack, s, "health-check-port-reachable")
    assert level == "advisory"  # "could not be evaluated", never a pass and never mandatory


# ------------------------------------------------------------------ 3. host conditions and certificates


CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/8c9e1f5a-0000-4000-8000-000000000000"


def https_shop(hosts: list[str], *, names=("example.com", "*.example.com"), via: str = "certificate",
               instances: int = 1, extra_cert: tuple[str, ...] = ()) -> Stack:
    """A raw program: an HTTPS listener whose certificate (aws.acm.Certificate) serves ``names``,
    a fixed-response default and one rule with host condition ``hosts`` forwarding to a target
    group of ``instances`` registered instances (the June 1 shape, through a host rule)."""
    s = Stack("dev")
    ids = subnets(s)
    lb_arn = f"{ELB}:loadbalancer/app/shop/1111111111111111"
    s.add("aws:lb/loadBalancer:LoadBalancer", "shop-lb", {"name": "shop", "loadBalancerType": "application",
                                                          "subnets": ids}, {"arn": lb_arn, "id": lb_arn})
    s.add("aws:acm/certificate:Certificate", "shop-cert",
          {"domainName": names[0], "subjectAlternativeNames": list(names[1:]), "validationMethod": "DNS"},
          {"arn": CERT_ARN, "id": CERT_ARN})
    cert_ref, cert_dep = CERT_ARN, "shop-cert"
    if via == "validation":
        s.add("aws:acm/certificateValidation:CertificateValidation", "shop-cert-validation",
              {"certificateArn": CERT_ARN}, {"id": "x", "certificateArn": CERT_ARN},
              deps={"certificateArn": ["shop-cert"]})
        cert_dep = "shop-cert-validation"
    arn = tg_arn("shop-0")
    s.add("aws:lb/targetGroup:TargetGroup", "shop-tg", {"name": "shop-0", "port": 80, "protocol": "HTTP",
                                                        "vpcId": "vpc-0123456789abcdef0", "healthCheck": health_check()},
          {"arn": arn, "id": arn})
    for i in range(instances):
        iid = f"i-0{i:016d}"
        zone = "ab"[i % 2]
        s.add("aws:ec2/instance:Instance", f"shop-server-{i}",
              {"ami": "ami-0123456789abcdef0", "instanceType": "t3.small",
               "subnetId": s.by_name[f"web-subnet-{zone}"].outputs["id"]},
              {"id": iid, "availabilityZone": f"{REGION}{zone}"})
        s.add("aws:lb/targetGroupAttachment:TargetGroupAttachment", f"shop-attach-{i}",
              {"targetGroupArn": arn, "targetId": iid, "port": 80}, {"id": f"{arn}-{iid}"},
              deps={"targetGroupArn": ["shop-tg"], "targetId": [f"shop-server-{i}"]})
    s.add("aws:lb/listener:Listener", "shop-https",
          {"loadBalancerArn": lb_arn, "port": 443, "protocol": "HTTPS", "certificateArn": cert_ref,
           "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
           "defaultActions": [{"type": "fixed-response", "fixedResponse": {"contentType": "text/plain",
                                                                           "statusCode": "404"}}]},
          {"arn": LISTENER_ARN, "id": LISTENER_ARN}, deps={"loadBalancerArn": ["shop-lb"], "certificateArn": [cert_dep]})
    if extra_cert:
        other = CERT_ARN[:-1] + "1"
        s.add("aws:acm/certificate:Certificate", "shop-cert-2",
              {"domainName": extra_cert[0], "subjectAlternativeNames": list(extra_cert[1:])}, {"arn": other, "id": other})
        s.add("aws:lb/listenerCertificate:ListenerCertificate", "shop-https-cert-2",
              {"listenerArn": LISTENER_ARN, "certificateArn": other}, {"id": "lc"},
              deps={"listenerArn": ["shop-https"], "certificateArn": ["shop-cert-2"]})
    s.add("aws:lb/listenerRule:ListenerRule", "shop-hosts",
          {"listenerArn": LISTENER_ARN, "priority": 1, "conditions": [{"hostHeader": {"values": hosts}}],
           "actions": [{"type": "forward", "targetGroupArn": arn}]},
          {"arn": f"{ELB}:listener-rule/app/shop/1111111111111111/2222222222222222/3333333333333333"},
          deps={"listenerArn": ["shop-https"], "actions": ["shop-tg"]})
    return s


@pytest.mark.parametrize("via", ["certificate", "validation"])
def test_a_host_rule_covering_every_certificate_name_takes_the_whole_listener(pack, via):
    """June 1 through a host rule: *.example.com + example.com on a listener serving exactly those
    names sends everything to one instance. It used to be 'share unknown' (advisory)."""
    s = https_shop(["*.example.com", "example.com"], via=via)
    assert found(pack, s, "no-traffic-funnel") == [("mandatory", "shop-hosts")]
    [msg] = messages(pack, s, "no-traffic-funnel")
    assert "share unknown" not in msg


def test_a_host_rule_missing_a_certificate_name_stays_narrow(pack):
    s = https_shop(["*.example.com"])  # example.com itself goes to the default action
    [(level, _)] = found(pack, s, "no-traffic-funnel")
    assert level == "advisory" and "share unknown" in messages(pack, s, "no-traffic-funnel")[0]


def test_every_listener_certificate_counts(pack):
    s = https_shop(["*.example.com", "example.com"], extra_cert=("shop.example.org",))
    assert found(pack, s, "no-traffic-funnel")[0][0] == "advisory"  # shop.example.org is not covered
    s = https_shop(["*.example.com", "example.com", "*.example.org"], extra_cert=("shop.example.org",))
    assert found(pack, s, "no-traffic-funnel") == [("mandatory", "shop-hosts")]


def test_a_catch_all_host_rule_over_enough_capacity_is_clean(pack):
    s = https_shop(["*.example.com", "example.com"], instances=4)
    for r in s.resources:
        if r.type == "aws:lb/loadBalancer:LoadBalancer":
            r.inputs["tags"] = r.outputs["tags"] = {"lbguard:peak-rps": "100"}
    run = s.run()
    assert [v for v in pack.evaluate(run, {}) if v.enforcement_level == "mandatory"
            and v.policy in ("no-traffic-funnel", "capacity-covers-share")] == []
    assert not [v for v in pack.evaluate(run, {}) if "share unknown" in v.message]


# ------------------------------------------------------------------ 4. stickiness duration


@pytest.mark.parametrize("block, hazard", [
    ({"enabled": True, "type": "lb_cookie", "cookieDuration": 604800}, "pins each client to one instance"),
    ({"enabled": True, "type": "app_cookie", "cookieName": "SESSION", "cookieDuration": 172800}, "slow funnel"),
])
def test_target_group_stickiness_of_days_is_reported_naming_its_hazard(pack, block, hazard):
    s = shop(tg_over={"stickiness": block})
    assert found(pack, s, "stickiness-duration") == [("advisory", "shop-web-tg")]
    [msg] = messages(pack, s, "stickiness-duration")
    assert hazard in msg and "stickiness.cookieDuration" in msg


def test_forward_stickiness_of_days_is_reported_naming_its_hazard(pack):
    s = shop()
    listener = s.by_name["shop-http"]
    arn = tg_arn("shop-web")
    action = {"type": "forward", "forward": {"targetGroups": [{"arn": arn, "weight": 1}],
                                             "stickiness": {"enabled": True, "duration": 259200}}}
    listener.inputs["defaultActions"] = listener.outputs["defaultActions"] = [action]
    assert found(pack, s, "stickiness-duration") == [("advisory", "shop-http")]
    [msg] = messages(pack, s, "stickiness-duration")
    assert "3 days" in msg and "weight shifts" in msg and "rollbacks" in msg and "forward.stickiness.duration" in msg


@pytest.mark.parametrize("block", [
    {"enabled": True, "type": "lb_cookie"},  # the API default: one day
    {"enabled": True, "type": "lb_cookie", "cookieDuration": 3600},
    {"enabled": False, "type": "lb_cookie", "cookieDuration": 604800},
])
def test_stickiness_within_a_day_or_off_is_clean(pack, block):
    assert found(pack, shop(tg_over={"stickiness": block}), "stickiness-duration") == []


def test_the_bound_is_configurable_and_prod_makes_it_mandatory(pack):
    from tests.policies.conftest import CONFIGS

    s = shop(tg_over={"stickiness": {"enabled": True, "type": "lb_cookie"}})
    assert found(pack, s, "stickiness-duration", {"stickiness-duration": {"maxSeconds": 3600}}) == \
        [("advisory", "shop-web-tg")]
    s = shop(tg_over={"stickiness": {"enabled": True, "type": "lb_cookie", "cookieDuration": 604800}})
    assert found(pack, s, "stickiness-duration", CONFIGS["prod"]) == [("mandatory", "shop-web-tg")]


@pytest.mark.parametrize("wiring", ["attachment", "traffic-source-attachment", "inline-traffic-sources"])
def test_capacity_counts_the_group_whatever_the_wiring(pack, wiring):
    """4 instances over 2 AZs behind the listener: enough, however the group is attached (it was
    'no Auto Scaling group ... is linked' for trafficSources and TrafficSourceAttachment)."""
    over = {"trafficSources": [{"identifier": tg_arn("shop-web"), "type": "elbv2"}]} \
        if wiring == "inline-traffic-sources" else {}
    s = shop(attachment=True, asg_over=over)
    if wiring != "attachment":
        s.resources = [r for r in s.resources if r.type != "aws:autoscaling/attachment:Attachment"]
    if wiring == "traffic-source-attachment":
        _traffic_source_attachment(s)
    assert found(pack, s, "capacity-covers-share") == []
    s.by_name["shop-web-asg"].inputs["minSize"] = s.by_name["shop-web-asg"].outputs["minSize"] = 1
    assert found(pack, s, "capacity-covers-share") == [("mandatory", "shop-http")]
