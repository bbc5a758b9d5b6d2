"""Whole-stack runs that each need a fresh emulator (no shared module state)."""

from __future__ import annotations

import boto3
import pytest

from lbguard.core import shapes
from lbguard.offline.emulator import emulated_aws, run_program
from tests.conftest import ROOT, load_stack
from tests.core.test_names import assert_keyed_names

STACKS = ["dev", "staging", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_is_emulated(stack):
    with emulated_aws("us-east-1"):
        run = run_program(ROOT, stack)
    assert run.not_emulated == []
    assert run.unconsumed == {}  # every input reached an AWS call (or is the provider's own)
    assert set(run.outputs) >= {"dnsName", "loadBalancerArn", "rollback", "targetGroupArns", "listenerArns"}
    assert_keyed_names(run, load_stack(stack)["config"])  # lbguard.core.names reads every key back


def test_prod_has_deletion_protection_and_three_azs():
    with emulated_aws("us-east-1"):
        run = run_program(ROOT, "prod")
        elbv2 = boto3.client("elbv2", "us-east-1")
        arn = run.outputs["loadBalancerArn"]
        attrs = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
        lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert attrs["deletion_protection.enabled"] == "true"
    assert attrs["routing.http.desync_mitigation_mode"] == "strictest"
    assert sorted(z["ZoneName"] for z in lb["AvailabilityZones"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_insecure_http_only_is_an_explicit_opt_out(scratch):
    cfg = scratch.config("dev")
    cfg["web-tier:listeners"] = {"insecureHttpOnly": True}
    scratch.write("dev", cfg)
    with emulated_aws("us-east-1"):
        run = run_program(scratch.path, "dev")
        listeners = boto3.client("elbv2", "us-east-1").describe_listeners(
            LoadBalancerArn=run.outputs["loadBalancerArn"])["Listeners"]
    assert [(l["Port"], l["Protocol"]) for l in listeners] == [(80, "HTTP")]
    assert listeners[0]["DefaultActions"][0]["Type"] == "forward"


def _names(run):
    return sorted((r.urn, r.inputs.get("name")) for r in run.resources)


def test_editing_weights_or_health_checks_changes_no_name(scratch):
    with emulated_aws("us-east-1"):
        before = run_program(scratch.path, "dev")
    cfg = scratch.config("dev")
    cfg["web-tier:routing"]["default"]["forward"]["weights"] = {"blue": 20, "green": 80}
    cfg["web-tier:routing"]["rules"]["api"]["priority"] = 15
    hc = cfg["web-tier:pools"]["blue"]["healthCheck"]
    hc.update(intervalSeconds=30, timeoutSeconds=10, path="/ready", unhealthyThreshold=5)
    scratch.write("dev", cfg)
    with emulated_aws("us-east-1"):
        after = run_program(scratch.path, "dev")
    assert _names(after) == _names(before)
    # ... and the edit did land (the test would be empty otherwise).
    tg = after.outputs["targetGroupArns"]
    https = next(l for l in after.outputs["rollback"]["listeners"] if l["key"] == "https")
    assert shapes.forward_weights(https["defaultActions"][0]) == {tg["blue"]: 20, tg["green"]: 80}
    assert [r["priority"] for r in https["rules"]] == [15, 20]


def test_existing_vpc_and_subnets(scratch):
    with emulated_aws("us-east-1"):
        ec2 = boto3.client("ec2", "us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=f"us-east-1{'ab'[i % 2]}")
                   ["Subnet"]["SubnetId"] for i in range(4)]
        cfg = scratch.config("dev")
        cfg["web-tier:network"] = {"vpcId": vpc, "publicSubnetIds": subnets[:2], "privateSubnetIds": subnets[2:]}
        scratch.write("dev", cfg)
        run = run_program(scratch.path, "dev")
        elbv2 = boto3.client("elbv2", "us-east-1")
        lb = elbv2.describe_load_balancers(LoadBalancerArns=[run.outputs["loadBalancerArn"]])["LoadBalancers"][0]
        asg = boto3.client("autoscaling", "us-east-1").describe_auto_scaling_groups(
            AutoScalingGroupNames=[run.outputs["autoScalingGroupNames"]["blue"]])["AutoScalingGroups"][0]
    assert not [r for r in run.resources if r.type == "aws:ec2/vpc:Vpc"]
    assert lb["VpcId"] == vpc and sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(subnets[:2])
    assert sorted(asg["VPCZoneIdentifier"].split(",")) == sorted(subnets[2:])
