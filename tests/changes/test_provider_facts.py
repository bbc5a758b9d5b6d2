"""The replacement-facts file: known provider facts, read back through the loader.

Sources (terraform-provider-aws, the schemas pulumi-aws bridges):
internal/service/elbv2/target_group.go (port, protocol, vpc_id: ForceNew),
internal/service/elbv2/load_balancer.go (internal: ForceNew; subnets only for NLBs, customizeDiffNLB),
internal/service/ec2/vpc_security_group.go (name, description: ForceNew),
internal/service/ssm/parameter.go (tier: CustomizeDiff ForceNewIfChange Advanced -> Standard),
internal/service/elbv2/listener_rule.go (priority: in place, SetRulePriorities; listener_arn: ForceNew).
"""

from __future__ import annotations

import pytest

from lbguard.core import provider_facts as pf

TG, LB = "aws:lb/targetGroup:TargetGroup", "aws:lb/loadBalancer:LoadBalancer"
SG, SSM, RULE = "aws:ec2/securityGroup:SecurityGroup", "aws:ssm/parameter:Parameter", "aws:lb/listenerRule:ListenerRule"


@pytest.mark.parametrize("type_token,path,expected", [
    (TG, "port", True), (TG, "protocol", True), (TG, "vpcId", True), (TG, "name", True),
    (TG, "healthCheck.port", False), (TG, "deregistrationDelay", False), (TG, "slowStart", False),
    (TG, "loadBalancingAlgorithmType", False), (TG, "loadBalancingAnomalyMitigation", False),
    (LB, "internal", True), (LB, "name", True), (LB, "loadBalancerType", True),
    (LB, "enableDeletionProtection", False), (LB, "idleTimeout", False), (LB, "accessLogs.bucket", False),
    (SG, "description", True), (SG, "name", True), (SG, "vpcId", True), (SG, "tags", False),
    (RULE, "priority", False), (RULE, "conditions", False), (RULE, "actions[0].forward.targetGroups[1].weight", False),
    (RULE, "listenerArn", True),
    ("aws:autoscaling/group:Group", "desiredCapacity", False), ("aws:autoscaling/group:Group", "name", True),
    ("aws:ec2/launchTemplate:LaunchTemplate", "blockDeviceMappings[0].deviceName", False),
    ("aws:ec2/instance:Instance", "rootBlockDevice.encrypted", True),
    ("aws:ec2/instance:Instance", "rootBlockDevice.volumeSize", False),
    ("aws:lambda/function:Function", "reservedConcurrentExecutions", False),
    ("aws:lambda/function:Function", "name", True),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "fromPort", False),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "securityGroupId", True),
])
def test_known_facts(type_token, path, expected):
    assert pf.forces_replacement(type_token, path) is expected


def test_alb_tokens_are_lb_tokens():
    assert pf.forces_replacement("aws:alb/targetGroup:TargetGroup", "port") is True
    assert pf.forces_replacement("aws:alb/listenerRule:ListenerRule", "priority") is False
    assert pf.source("aws:alb/loadBalancer:LoadBalancer") == "internal/service/elbv2/load_balancer.go"


def test_ssm_tier_replaces_only_advanced_to_standard():
    assert pf.forces_replacement(SSM, "tier", old="Advanced", new="Standard") is True
    assert pf.forces_replacement(SSM, "tier", old="Standard", new="Advanced") is False
    assert pf.forces_replacement(SSM, "tier", old="Advanced", new="Intelligent-Tiering") is False
    assert pf.forces_replacement(SSM, "tier") is True  # values unknown: it may


def test_lb_subnets_replace_network_load_balancers_only():
    assert pf.forces_replacement(LB, "subnets", inputs={"loadBalancerType": "application"}) is False
    assert pf.forces_replacement(LB, "subnets", inputs={"loadBalancerType": "network"}) is True


def test_unclassified_is_none():
    assert pf.forces_replacement("aws:ec2/vpnGateway:VpnGateway", "vpcId") is None
    assert pf.forces_replacement(TG, "noSuchProperty") is None


def test_file_records_provider_and_source_per_type():
    facts = pf.facts()
    assert facts["provider"]["pulumi-aws"] == "7.51.1"
    assert "terraform-provider-aws" in facts["provider"]["bridges"]
    for token, entry in facts["types"].items():
        assert entry["source"].startswith("internal/service/") and entry["source"].endswith(".go"), token
        assert entry["terraform"].startswith("aws_"), token
        assert not set(entry["replace"]) & set(entry["update"]), token


def test_physical_names():
    assert pf.physical_name_property(LB) == "name"
    assert pf.physical_name_property("aws:s3/bucket:Bucket") == "bucket"
    assert pf.physical_name_property("aws:lb/listener:Listener") is None
    assert pf.in_use_hazard(SG) and pf.in_use_hazard(TG) is None
