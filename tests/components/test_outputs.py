"""Stack outputs for what sits around the tier (issue 14): the ALB's hosted zone id for a
Route 53 alias record, and the security-group ids, checked against what AWS (moto) holds."""

from __future__ import annotations

import boto3

from lbguard.offline.emulator import emulated_aws, run_program
from tests.conftest import ROOT


def test_zone_id_and_security_group_ids_match_aws():
    with emulated_aws("us-east-1"):
        run = run_program(ROOT, "dev")  # what `lbguard preflight --stack dev` runs and prints
        out = run.outputs
        elbv2, ec2 = boto3.client("elbv2", "us-east-1"), boto3.client("ec2", "us-east-1")
        (lb,) = elbv2.describe_load_balancers(LoadBalancerArns=[out["loadBalancerArn"]])["LoadBalancers"]
        groups = out["securityGroupIds"]
        described = {g["GroupId"]: g for g in ec2.describe_security_groups(
            GroupIds=[groups["loadBalancer"], *groups["pools"].values()])["SecurityGroups"]}
        instances = {}
        for key, name in out["autoScalingGroupNames"].items():
            asg = boto3.client("autoscaling", "us-east-1").describe_auto_scaling_groups(
                AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
            ids = [i["InstanceId"] for i in asg["Instances"]]
            reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"] if ids else []
            instances[key] = {g["GroupId"] for r in reservations for i in r["Instances"] for g in i["SecurityGroups"]}
    assert out["zoneId"] == lb["CanonicalHostedZoneId"] and out["zoneId"]
    assert lb["SecurityGroups"] == [groups["loadBalancer"]]
    assert set(groups["pools"]) == set(out["targetGroupArns"]) == {"blue", "green"}
    assert len(described) == 3 and all(g["VpcId"] == lb["VpcId"] for g in described.values())
    for key, sg in groups["pools"].items():
        # The pool's group admits the load balancer's group, and its instances carry it.
        sources = {p["GroupId"] for perm in described[sg]["IpPermissions"] for p in perm.get("UserIdGroupPairs", [])}
        assert groups["loadBalancer"] in sources, key
        assert instances[key] == {sg}, (key, instances[key])
