"""The emulator's update and delete handlers call AWS as terraform-provider-aws v6 does
(resourceXUpdate / resourceXDelete; sources cited in lbguard/offline/emulator/services), read
back through boto3 from moto, or from the calls recorded in order where moto cannot show it."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from lbguard.offline.emulator import AwsEmulator, emulated_aws
from lbguard.offline.emulator.core import Prior

REGION = "us-east-1"
TG, LT, ASG, SG = ("aws:lb/targetGroup:TargetGroup", "aws:ec2/launchTemplate:LaunchTemplate",
                   "aws:autoscaling/group:Group", "aws:ec2/securityGroup:SecurityGroup")


@pytest.fixture
def em():
    with emulated_aws(REGION):
        yield AwsEmulator(REGION)


class Stack:
    """Create, update, delete through the emulator as the preview drives it, keeping state."""

    def __init__(self, em: AwsEmulator):
        self.em, self.state = em, {}

    def create(self, typ: str, name: str, inputs: dict) -> str:
        rid, outputs = self.em.create(SimpleNamespace(typ=typ, name=name), dict(inputs))
        self.state[name] = Prior(typ, name, rid, dict(inputs), outputs)
        return rid

    def update(self, name: str, inputs: dict) -> list[tuple[str, str]]:
        old = self.state[name]
        diffs = {k for k in set(old.inputs) | set(inputs) if old.inputs.get(k) != inputs.get(k)}
        since = len(self.em.calls)
        outputs = self.em.update(SimpleNamespace(typ=old.type, name=name), dict(inputs), old, diffs)
        self.state[name] = Prior(old.type, name, old.id, dict(inputs), outputs)
        return self.em.writes(since)

    def delete(self, name: str) -> None:
        self.em.delete(self.state.pop(name))


def _on_call(em: AwsEmulator, service: str, operation: str, handler) -> None:
    """Run ``handler(params=...)`` with the parameters of every ``operation`` call the emulator makes."""
    client = em.client(service)
    client.meta.events.register(f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}.{operation}",
                                handler)


def _vpc(stack: Stack) -> tuple[str, list[str]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for n, az in ((1, "a"), (2, "b"))]
    return vpc, subnets


def _tg_inputs(vpc: str, **extra) -> dict:
    return {"name": "blue", "port": 80, "protocol": "HTTP", "vpcId": vpc, "targetType": "instance", **extra}


# ------------------------------------------------------------------ target group


def test_health_check_change_sends_the_whole_block_with_schema_defaults(em):
    stack = Stack(em)
    vpc, _ = _vpc(stack)
    arn = stack.create(TG, "tg", _tg_inputs(vpc, healthCheck={"path": "/health", "interval": 10, "healthyThreshold": 5,
                                                              "unhealthyThreshold": 4, "timeout": 5, "matcher": "200"}))
    sent: list[dict] = []
    _on_call(em, "elbv2", "ModifyTargetGroup",
                                            lambda params, **_: sent.append(dict(params)))
    # Only the path is left in the program: interval and thresholds go back to their defaults
    # (target_group.go schema Default: 30, 3, 3), timeout and matcher keep the prior state's value.
    writes = stack.update("tg", _tg_inputs(vpc, healthCheck={"path": "/ready"}))
    assert writes == [("elbv2", "ModifyTargetGroup")]
    assert sent == [{"TargetGroupArn": arn, "HealthCheckEnabled": True, "HealthCheckIntervalSeconds": 30,
                     "HealthyThresholdCount": 3, "UnhealthyThresholdCount": 3, "HealthCheckTimeoutSeconds": 5,
                     "Matcher": {"HttpCode": "200"}, "HealthCheckPath": "/ready", "HealthCheckPort": "traffic-port",
                     "HealthCheckProtocol": "HTTP"}]
    held = em.client("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (held["HealthCheckPath"], held["HealthCheckIntervalSeconds"], held["HealthyThresholdCount"]) == ("/ready", 30, 3)


def test_attributes_only_when_changed_and_stickiness_off_on_removal(em):
    stack = Stack(em)
    vpc, _ = _vpc(stack)
    sticky = {"type": "lb_cookie", "enabled": True, "cookieDuration": 600}
    arn = stack.create(TG, "tg", _tg_inputs(vpc, deregistrationDelay=60, slowStart=30, stickiness=sticky))
    sent: list[list] = []
    _on_call(em, "elbv2", "ModifyTargetGroupAttributes",
                                            lambda params, **_: sent.append(params["Attributes"]))
    stack.update("tg", _tg_inputs(vpc, deregistrationDelay=45, slowStart=30, stickiness=sticky))
    assert sent == [[{"Key": "deregistration_delay.timeout_seconds", "Value": "45"}]]  # slow start unchanged: not sent
    sent.clear()
    writes = stack.update("tg", _tg_inputs(vpc, deregistrationDelay=45, slowStart=30))
    assert writes == [("elbv2", "ModifyTargetGroupAttributes")]
    assert sent == [[{"Key": "stickiness.enabled", "Value": "false"}]]
    held = {a["Key"]: a["Value"] for a in
            em.client("elbv2").describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    assert (held["stickiness.enabled"], held["deregistration_delay.timeout_seconds"], held["slow_start.duration_seconds"]) \
        == ("false", "45", "30")
    sent.clear()
    stack.update("tg", _tg_inputs(vpc, slowStart=30))  # removed: back to the schema default, 300
    assert sent == [[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}]]


def test_target_group_in_use_is_not_deleted(em):
    stack = Stack(em)
    vpc, subnets = _vpc(stack)
    arn = stack.create(TG, "tg", _tg_inputs(vpc))
    elbv2 = em.client("elbv2")
    lb = elbv2.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    with pytest.raises(ClientError) as err:
        stack.delete("tg")
    assert err.value.response["Error"]["Code"] == "ResourceInUse" and "2-minute retry" in str(err.value)
    assert elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]


# ------------------------------------------------------------------ launch template


def _lt_inputs(**extra) -> dict:
    return {"name": "web-lt", "imageId": "ami-12c6146b", "instanceType": "t3.micro", "updateDefaultVersion": True,
            "description": "first", **extra}


def test_launch_template_description_makes_a_new_version_and_moves_the_default(em):
    stack = Stack(em)
    lid = stack.create(LT, "lt", _lt_inputs())
    writes = stack.update("lt", _lt_inputs(description="second"))
    assert writes == [("ec2", "CreateLaunchTemplateVersion"), ("ec2", "ModifyLaunchTemplate")]
    ec2 = em.client("ec2")
    versions = {v["VersionNumber"]: v for v in ec2.describe_launch_template_versions(LaunchTemplateId=lid)["LaunchTemplateVersions"]}
    assert versions[1]["VersionDescription"] == "first" and versions[2]["VersionDescription"] == "second"
    held = ec2.describe_launch_templates(LaunchTemplateIds=[lid])["LaunchTemplates"][0]
    assert (held["LatestVersionNumber"], held["DefaultVersionNumber"]) == (2, 2)
    assert stack.state["lt"].outputs["latestVersion"] == 2


def test_launch_template_default_version_alone_calls_modify(em):
    stack = Stack(em)
    lid = stack.create(LT, "lt", _lt_inputs(updateDefaultVersion=False))
    stack.update("lt", _lt_inputs(updateDefaultVersion=False, instanceType="t3.small"))
    writes = stack.update("lt", _lt_inputs(updateDefaultVersion=False, instanceType="t3.small", defaultVersion=2))
    assert writes == [("ec2", "ModifyLaunchTemplate")]  # no new version for default_version
    held = em.client("ec2").describe_launch_templates(LaunchTemplateIds=[lid])["LaunchTemplates"][0]
    assert (held["LatestVersionNumber"], held["DefaultVersionNumber"]) == (2, 2)


def test_launch_template_tags_only_make_no_version(em):
    stack = Stack(em)
    lid = stack.create(LT, "lt", _lt_inputs(updateDefaultVersion=False, tags={"a": "1"}))
    writes = stack.update("lt", _lt_inputs(updateDefaultVersion=False, tags={"b": "2"}))
    assert writes == [("ec2", "DeleteTags"), ("ec2", "CreateTags")]  # removed keys first (updateTags)
    ec2 = em.client("ec2")
    assert ec2.describe_launch_templates(LaunchTemplateIds=[lid])["LaunchTemplates"][0]["LatestVersionNumber"] == 1
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lid]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"b": "2"}


# ------------------------------------------------------------------ auto scaling group


def _asg_setup(stack: Stack):
    vpc, subnets = _vpc(stack)
    blue = stack.create(TG, "blue", _tg_inputs(vpc))
    green = stack.create(TG, "green", _tg_inputs(vpc, name="green"))
    lid = stack.create(LT, "lt", _lt_inputs())
    return subnets, blue, green, lid


def _asg_inputs(subnets, tgs, lid, version="1", **extra) -> dict:
    return {"name": "web-asg", "minSize": 2, "maxSize": 4, "desiredCapacity": 2, "vpcZoneIdentifiers": subnets,
            "targetGroupArns": tgs, "launchTemplate": {"id": lid, "version": version},
            "instanceRefresh": {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 90}}, **extra}


def test_asg_target_group_swap_detaches_the_old_before_attaching_the_new(em):
    stack = Stack(em)
    subnets, blue, green, lid = _asg_setup(stack)
    stack.create(ASG, "asg", _asg_inputs(subnets, [blue], lid))
    since = len(em.calls)
    writes = stack.update("asg", _asg_inputs(subnets, [green], lid))
    assert writes == [("autoscaling", "DetachLoadBalancerTargetGroups"), ("autoscaling", "AttachLoadBalancerTargetGroups")]
    calls = em.calls[since:]
    detach, attach = calls.index(("autoscaling", "DetachLoadBalancerTargetGroups")), \
        calls.index(("autoscaling", "AttachLoadBalancerTargetGroups"))
    assert calls[detach + 1] == ("autoscaling", "DescribeLoadBalancerTargetGroups")  # waited for the removal
    assert detach < attach
    held = em.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    assert held["TargetGroupARNs"] == [green]
    # no capacity wait: min and desired did not change
    assert ("autoscaling", "DescribeScalingActivities") not in calls


def test_asg_waits_for_capacity_only_on_min_or_desired_changes(em):
    stack = Stack(em)
    subnets, blue, _, lid = _asg_setup(stack)
    stack.create(ASG, "asg", _asg_inputs(subnets, [blue], lid))
    since = len(em.calls)
    stack.update("asg", _asg_inputs(subnets, [blue], lid, maxSize=6))
    assert ("autoscaling", "DescribeScalingActivities") not in em.calls[since:]
    since = len(em.calls)
    writes = stack.update("asg", _asg_inputs(subnets, [blue], lid, maxSize=6, minSize=3, desiredCapacity=3))
    assert writes == [("autoscaling", "UpdateAutoScalingGroup")]
    assert ("autoscaling", "DescribeScalingActivities") in em.calls[since:]
    held = em.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    assert (held["MinSize"], held["DesiredCapacity"], held["MaxSize"], len(held["Instances"])) == (3, 3, 6, 3)


def test_asg_update_sends_only_the_changed_fields(em):
    stack = Stack(em)
    subnets, blue, _, lid = _asg_setup(stack)
    stack.create(ASG, "asg", _asg_inputs(subnets, [blue], lid))
    sent: list[dict] = []
    _on_call(em, "autoscaling", "UpdateAutoScalingGroup",
                                                  lambda params, **_: sent.append(dict(params)))
    stack.update("asg", _asg_inputs(subnets, [blue], lid, healthCheckType="ELB"))
    # health_check_type goes with health_check_grace_period (its schema default, 300)
    assert sent == [{"AutoScalingGroupName": "web-asg", "NewInstancesProtectedFromScaleIn": False,
                     "HealthCheckType": "ELB", "HealthCheckGracePeriod": 300}]


def test_asg_instance_refresh_on_template_change_and_on_triggers(em):
    stack = Stack(em)
    subnets, blue, _, lid = _asg_setup(stack)
    stack.create(ASG, "asg", _asg_inputs(subnets, [blue], lid))
    writes = stack.update("asg", _asg_inputs(subnets, [blue], lid, version="2"))
    assert writes == [("autoscaling", "UpdateAutoScalingGroup"), ("autoscaling", "StartInstanceRefresh")]
    # a tag change starts none unless "tag" is a trigger
    writes = stack.update("asg", _asg_inputs(subnets, [blue], lid, version="2", tags=[{"key": "a", "value": "1"}]))
    assert ("autoscaling", "StartInstanceRefresh") not in writes
    refresh = {"strategy": "Rolling", "triggers": ["tag"], "preferences": {"minHealthyPercentage": 90}}
    stack.update("asg", _asg_inputs(subnets, [blue], lid, version="2", tags=[{"key": "a", "value": "1"}],
                                    instanceRefresh=refresh))
    writes = stack.update("asg", _asg_inputs(subnets, [blue], lid, version="2", tags=[{"key": "a", "value": "2"}],
                                             instanceRefresh=refresh))
    assert writes[-1] == ("autoscaling", "StartInstanceRefresh")


# ------------------------------------------------------------------ security group delete


def test_security_group_delete_retries_and_revokes_on_delete(em):
    stack = Stack(em)
    vpc, _ = _vpc(stack)
    ec2 = em.client("ec2")
    gid = stack.create(SG, "sg", {"name": "pool", "vpcId": vpc, "description": "pool"})
    other = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_egress(GroupId=other, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                                                                       "UserIdGroupPairs": [{"GroupId": gid}]}])
    with pytest.raises(ClientError) as err:  # referenced by another group: DependencyViolation after the timeout
        stack.delete("sg")
    assert err.value.response["Error"]["Code"] == "DependencyViolation" and "15-minute retry" in str(err.value)
    assert em.delete_retries == [(gid, "DependencyViolation", 60), (gid, "DependencyViolation", 840)]
    assert ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]

    em.delete_retries.clear()
    stack.state["sg"] = Prior(SG, "sg", gid, {"name": "pool", "vpcId": vpc, "description": "pool",
                                              "revokeRulesOnDelete": True}, {})
    stack.delete("sg")  # revoke_rules_on_delete: the referencing rule is revoked after the first window
    assert em.delete_retries == [(gid, "DependencyViolation", 60)]
    assert gid not in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    held = ec2.describe_security_groups(GroupIds=[other])["SecurityGroups"][0]
    assert held["IpPermissionsEgress"] == [] or all(
        p.get("UserIdGroupPairs", []) == [] for p in held["IpPermissionsEgress"])


def test_security_group_delete_removes_lingering_network_interfaces(em):
    stack = Stack(em)
    vpc, subnets = _vpc(stack)
    ec2 = em.client("ec2")
    gid = stack.create(SG, "sg", {"name": "fn", "vpcId": vpc, "description": "fn"})
    eni = ec2.create_network_interface(SubnetId=subnets[0], Groups=[gid])["NetworkInterface"]["NetworkInterfaceId"]
    stack.delete("sg")
    assert em.delete_retries == []
    assert not ec2.describe_network_interfaces(Filters=[{"Name": "network-interface-id", "Values": [eni]}])["NetworkInterfaces"]
    assert gid not in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
