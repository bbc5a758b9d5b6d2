"""The web tier as AWS holds it: run each stack in the emulator, read back through boto3."""

from __future__ import annotations

import json

import boto3
import pytest

from lbguard.core import shapes
from lbguard.offline.emulator import emulated_aws, run_program
from tests.conftest import ROOT

STACKS = ["dev", "staging", "prod"]


@pytest.fixture(scope="module")
def dev():
    """The dev stack applied to a fresh in-process moto, kept for the module's read-backs."""
    with emulated_aws("us-east-1"):
        run = run_program(ROOT, "dev")
        yield run, boto3.client("elbv2", "us-east-1"), boto3.client("autoscaling", "us-east-1"), \
            boto3.client("ec2", "us-east-1")


def _by_port(elbv2, lb_arn):
    return {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]}


def test_load_balancer_attributes(dev):
    run, elbv2, _, _ = dev
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[run.outputs["loadBalancerArn"]])["LoadBalancers"][0]
    assert lb["LoadBalancerName"] == "web-tier-dev"
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert len(lb["AvailabilityZones"]) == 2
    attrs = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attrs["deletion_protection.enabled"] == "false"  # dev opts out; prod below
    assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attrs["routing.http.desync_mitigation_mode"] == "defensive"
    assert attrs["idle_timeout.timeout_seconds"] == "60"


def test_listeners_redirect_and_weighted_forward(dev):
    run, elbv2, _, _ = dev
    tg = run.outputs["targetGroupArns"]
    listeners = _by_port(elbv2, run.outputs["loadBalancerArn"])
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    # The program asks for the stack's certificate; the emulator holds a self-signed stand-in in ACM.
    listener = next(r for r in run.resources if r.name == "web-routing-https")
    assert listener.inputs["certificateArn"].endswith("certificate/11111111-2222-3333-4444-555555555555")
    held = boto3.client("acm", "us-east-1").describe_certificate(
        CertificateArn=https["Certificates"][0]["CertificateArn"])["Certificate"]
    assert held["Type"] == "IMPORTED"
    assert shapes.forward_weights(https["DefaultActions"][0]) == {tg["blue"]: 50, tg["green"]: 50}
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"


def test_rules_weights_priorities_conditions(dev):
    run, elbv2, _, _ = dev
    tg = run.outputs["targetGroupArns"]
    https = _by_port(elbv2, run.outputs["loadBalancerArn"])[443]
    rules = {r["Priority"]: r for r in elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]}
    assert set(rules) == {"10", "20", "default"}
    api = rules["10"]
    assert shapes.canonical_conditions(api["Conditions"]) == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}]
    assert shapes.forward_weights(api["Actions"][0]) == {tg["blue"]: 50, tg["green"]: 50}
    maint = rules["20"]["Actions"][0]
    assert maint["Type"] == "fixed-response"
    assert maint["FixedResponseConfig"]["StatusCode"] == "503"
    assert run.outputs["ruleArns"] == {"api": api["RuleArn"], "maintenance": rules["20"]["RuleArn"]}


def test_target_groups_health_checks_and_attributes(dev):
    run, elbv2, _, _ = dev
    arns = run.outputs["targetGroupArns"]
    tgs = {t["TargetGroupArn"]: t for t in elbv2.describe_target_groups(TargetGroupArns=list(arns.values()))["TargetGroups"]}
    blue = tgs[arns["blue"]]
    assert len(blue["TargetGroupName"]) <= 32 and blue["TargetGroupName"].startswith("dev-blue-")
    assert (blue["Protocol"], blue["Port"], blue["TargetType"]) == ("HTTP", 80, "instance")
    assert blue["HealthCheckEnabled"] is True
    assert blue["HealthCheckPath"] == "/health"
    assert blue["HealthCheckProtocol"] == "HTTP"
    assert blue["HealthCheckPort"] == "traffic-port"
    assert blue["Matcher"] == {"HttpCode": "200"}
    assert blue["HealthCheckIntervalSeconds"] == 15
    assert blue["HealthCheckTimeoutSeconds"] == 5
    assert blue["HealthyThresholdCount"] == 3
    assert blue["UnhealthyThresholdCount"] == 3
    attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arns["blue"])["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "30"
    assert attrs["slow_start.duration_seconds"] == "0"
    assert attrs["load_balancing.algorithm.type"] == "least_outstanding_requests"


def test_auto_scaling_groups_wired_to_target_groups(dev):
    run, _, autoscaling, ec2 = dev
    arns = run.outputs["targetGroupArns"]
    names = run.outputs["autoScalingGroupNames"]
    private = {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]
               if any(t["Key"] == "Name" and "-private-" in t["Value"] for t in s.get("Tags", []))}
    assert len(private) == 2
    for key in ("blue", "green"):
        asg = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[names[key]])["AutoScalingGroups"][0]
        assert asg["TargetGroupARNs"] == [arns[key]]
        assert set(asg["VPCZoneIdentifier"].split(",")) == private
        assert (asg["MinSize"], asg["DesiredCapacity"], asg["MaxSize"]) == (3, 3, 6)
        assert asg["HealthCheckType"] == "ELB" and asg["HealthCheckGracePeriod"] == 300
        tags = {t["Key"]: t["Value"] for t in asg["Tags"]}
        assert tags["lbguard:rps-per-instance"] == "150" and tags["lbguard:pool"] == key
        policies = {p["PolicyName"]: p for p in autoscaling.describe_policies(AutoScalingGroupName=names[key])["ScalingPolicies"]}
        per_target = [p for p in policies.values() if p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
                      ["PredefinedMetricType"] == "ALBRequestCountPerTarget"][0]
        spec = per_target["TargetTrackingConfiguration"]
        lb_suffix = run.outputs["loadBalancerArn"].split(":loadbalancer/")[1]
        tg_suffix = arns[key].split(":")[-1]
        assert spec["PredefinedMetricSpecification"]["ResourceLabel"] == f"{lb_suffix}/{tg_suffix}"
        assert spec["TargetValue"] == 150 * 60 * 0.7


def test_launch_templates_require_imdsv2(dev):
    run, _, autoscaling, ec2 = dev
    for key, name in run.outputs["autoScalingGroupNames"].items():
        asg = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        lt_id = asg["LaunchTemplate"]["LaunchTemplateId"]
        data = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id)["LaunchTemplateVersions"][-1]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["MetadataOptions"]["HttpEndpoint"] == "enabled"
        assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        assert data["ImageId"] == "ami-0c7217cdde317cfec"


def _rules(ec2, group_id):
    out = []
    for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]:
        src = r.get("CidrIpv4") or r.get("CidrIpv6") or (r.get("ReferencedGroupInfo") or {}).get("GroupId")
        out.append(("egress" if r["IsEgress"] else "ingress", r["IpProtocol"], r["FromPort"], r["ToPort"], src))
    return sorted(out)


def test_security_groups_exact(dev):
    run, elbv2, _, ec2 = dev
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[run.outputs["loadBalancerArn"]])["LoadBalancers"][0]
    alb_sg = lb["SecurityGroups"][0]
    names = run.outputs["autoScalingGroupNames"]
    lt_ids = [boto3.client("autoscaling", "us-east-1").describe_auto_scaling_groups(AutoScalingGroupNames=[n])
              ["AutoScalingGroups"][0]["LaunchTemplate"]["LaunchTemplateId"] for n in names.values()]
    pool_sgs = [ec2.describe_launch_template_versions(LaunchTemplateId=i)["LaunchTemplateVersions"][-1]
                ["LaunchTemplateData"]["SecurityGroupIds"][0] for i in lt_ids]
    assert _rules(ec2, alb_sg) == sorted(
        [("ingress", "tcp", p, p, src) for p in (80, 443) for src in ("0.0.0.0/0", "::/0")]
        + [("egress", "tcp", 80, 80, sg) for sg in pool_sgs])
    for sg in pool_sgs:
        assert _rules(ec2, sg) == [("egress", "tcp", 443, 443, "0.0.0.0/0"), ("ingress", "tcp", 80, 80, alb_sg)]


def test_rollback_output_matches_what_aws_holds(dev):
    run, elbv2, _, _ = dev
    snap = run.outputs["rollback"]
    json.dumps(snap)  # JSON-serialisable
    assert snap["schemaVersion"] == 2 and snap["stack"] == "dev" and (snap["region"], snap["account"]) == ("us-east-1", "123456789012")
    assert snap["loadBalancer"]["arn"] == run.outputs["loadBalancerArn"]
    assert {k: v["arn"] for k, v in snap["targetGroups"].items()} == run.outputs["targetGroupArns"]
    live = {l["ListenerArn"]: l for l in elbv2.describe_listeners(LoadBalancerArn=snap["loadBalancer"]["arn"])["Listeners"]}
    assert {l["arn"] for l in snap["listeners"]} == set(live)
    for lst in snap["listeners"]:
        assert shapes.canonical_actions(lst["defaultActions"]) == shapes.canonical_actions(live[lst["arn"]]["DefaultActions"])
        rules = {r["RuleArn"]: r for r in elbv2.describe_rules(ListenerArn=lst["arn"])["Rules"] if not r["IsDefault"]}
        assert {r["arn"] for r in lst["rules"]} == set(rules)
        for r in lst["rules"]:
            aws_rule = rules[r["arn"]]
            assert str(r["priority"]) == aws_rule["Priority"]
            assert shapes.canonical_conditions(r["conditions"]) == shapes.canonical_conditions(aws_rule["Conditions"])
            assert shapes.canonical_actions(r["actions"]) == shapes.canonical_actions(aws_rule["Actions"])
