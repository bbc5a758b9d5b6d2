"""The provider-facts file: known provider facts, the conditional predicates on both sides,
pulumi-aws's resource info, and completeness against the installed pulumi-aws SDK.

Sources (terraform-provider-aws v6, the schemas pulumi-aws 7.51.1 bridges; commits in the file):
internal/service/elbv2/target_group.go (port, protocol, vpc_id: ForceNew; health-check defaults),
internal/service/elbv2/load_balancer.go (internal: ForceNew; customizeDiffLoadBalancerNLB/ALB),
internal/service/ssm/parameter.go (data_type ForceNew; tier ForceNewIfChange Advanced -> Standard),
internal/service/ec2/vpc_security_group_ingress_rule.go (ModifyPlan: source kind -> RequiresReplace),
pulumi/pulumi-aws provider/resource_overrides.go, autonaming.go, aliases.go (resource info).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from lbguard.core import provider_facts as pf

from tests.conftest import ROOT

TG, LB = "aws:lb/targetGroup:TargetGroup", "aws:lb/loadBalancer:LoadBalancer"
SG, SSM, RULE = "aws:ec2/securityGroup:SecurityGroup", "aws:ssm/parameter:Parameter", "aws:lb/listenerRule:ListenerRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


@pytest.mark.parametrize("type_token,path,expected", [
    (TG, "port", True), (TG, "protocol", True), (TG, "vpcId", True), (TG, "name", True), (TG, "targetType", True),
    (TG, "healthCheck.port", False), (TG, "deregistrationDelay", False), (TG, "slowStart", False),
    (TG, "loadBalancingAlgorithmType", False), (TG, "loadBalancingAnomalyMitigation", False),
    (LB, "internal", True), (LB, "name", True), (LB, "loadBalancerType", True),
    (LB, "enableDeletionProtection", False), (LB, "idleTimeout", False), (LB, "accessLogs.bucket", False),
    (LB, "ipamPools", False), (LB, "clientKeepAlive", False),
    (SG, "description", True), (SG, "name", True), (SG, "vpcId", True), (SG, "tags", False),
    (RULE, "priority", False), (RULE, "conditions", False), (RULE, "actions[0].forward.targetGroups[1].weight", False),
    (RULE, "listenerArn", True),
    (SSM, "dataType", True), (SSM, "name", True), (SSM, "value", False), (SSM, "type", False),
    ("aws:autoscaling/group:Group", "desiredCapacity", False), ("aws:autoscaling/group:Group", "name", True),
    ("aws:autoscaling/group:Group", "targetGroupArns", False), ("aws:autoscaling/group:Group", "initialLifecycleHooks", True),
    ("aws:ec2/launchTemplate:LaunchTemplate", "blockDeviceMappings[0].deviceName", False),
    ("aws:ec2/launchTemplate:LaunchTemplate", "description", False),
    ("aws:ec2/instance:Instance", "rootBlockDevice.encrypted", True),
    ("aws:ec2/instance:Instance", "rootBlockDevice.volumeSize", False),
    ("aws:ec2/subnet:Subnet", "ipv4IpamPoolId", True), ("aws:ec2/subnet:Subnet", "ipv4NetmaskLength", True),
    ("aws:ec2/subnet:Subnet", "ipv6IpamPoolId", True), ("aws:ec2/subnet:Subnet", "mapPublicIpOnLaunch", False),
    ("aws:lambda/function:Function", "reservedConcurrentExecutions", False),
    ("aws:lambda/function:Function", "tenancyConfig", True), ("aws:lambda/function:Function", "tenancyConfig.tenantIsolationMode", True),
    ("aws:lambda/function:Function", "name", True),
    (INGRESS, "fromPort", False), (INGRESS, "securityGroupId", True), (EGRESS, "ipProtocol", False),
])
def test_known_facts(type_token, path, expected):
    assert pf.forces_replacement(type_token, path) is expected


def test_alb_tokens_are_lb_tokens():
    assert pf.forces_replacement("aws:alb/targetGroup:TargetGroup", "port") is True
    assert pf.forces_replacement("aws:alb/listenerRule:ListenerRule", "priority") is False
    assert pf.source("aws:alb/loadBalancer:LoadBalancer")["file"] == "internal/service/elbv2/load_balancer.go"


def test_unclassified_is_none():
    assert pf.forces_replacement("aws:ec2/vpnGateway:VpnGateway", "vpcId") is None
    assert pf.forces_replacement(TG, "noSuchProperty") is None


# ------------------------------------------------------------------ conditional predicates, both sides

NLB, ALB, GWLB = {"loadBalancerType": "network"}, {"loadBalancerType": "application"}, {"loadBalancerType": "gateway"}


@pytest.mark.parametrize("inputs,old,new,expected", [
    (NLB, ["a", "b"], ["a"], True),            # a subnet removed from an NLB
    (NLB, ["a", "b"], ["a", "c"], True),       # same count, one swapped
    (NLB, ["a"], ["a", "b"], False),           # only added: in place
    (ALB, ["a", "b"], ["a"], False),           # application: SetSubnets in place
    (ALB, ["a", "b"], ["a", "c"], False),
    ({}, ["a", "b"], ["a"], False),            # loadBalancerType unset: the schema default (application)
])
def test_lb_subnets(inputs, old, new, expected):
    assert pf.forces_replacement(LB, "subnets", old=old, new=new, inputs=inputs) is expected


def test_lb_subnets_unknown_values():
    assert pf.forces_replacement(LB, "subnets", inputs=NLB) is True        # values unknown: may replace
    assert pf.forces_replacement(LB, "subnets", inputs=ALB) is False       # never for application
    assert pf.forces_replacement(LB, "subnets", old=["a"], new=["b"], old_state=NLB) is True  # type from prior state


@pytest.mark.parametrize("inputs,old,new,expected", [
    (NLB, [], ["sg-1"], True), (NLB, ["sg-1"], [], True),
    (NLB, ["sg-1"], ["sg-1", "sg-2"], False), (NLB, ["sg-1"], ["sg-2"], False),
    (ALB, [], ["sg-1"], False), (ALB, ["sg-1"], [], False),
])
def test_lb_security_groups(inputs, old, new, expected):
    assert pf.forces_replacement(LB, "securityGroups", old=old, new=new, inputs=inputs) is expected


M1, M2, M3 = {"subnetId": "s-1"}, {"subnetId": "s-2"}, {"subnetId": "s-3", "allocationId": "eip-1"}


@pytest.mark.parametrize("inputs,old,new,expected", [
    (ALB, [M1], [M1, M2], False), (ALB, [M1, M2], [M1], False), (ALB, [M1, M2], [M1, M3], True),
    (ALB, [M1], [M2, M3], True),                 # added, but the previous mapping changed
    (ALB, [M1, M2], [M3], True),                 # removed, and the remaining mapping changed
    (NLB, [M1], [M1, M2], False), (NLB, [M1, M2], [M1], True), (NLB, [M1, M2], [M1, M3], True),
    (GWLB, [M1, M2], [M1, M3], False),
    (ALB, [M1], [M1], False),
])
def test_lb_subnet_mappings(inputs, old, new, expected):
    assert pf.forces_replacement(LB, "subnetMappings", old=old, new=new, inputs=inputs) is expected
    assert pf.forces_replacement(LB, "subnetMappings[0].subnetId", old=old, new=new, inputs=inputs) is expected


def test_lb_subnet_mappings_type_unknown_takes_the_stricter_rule():
    assert pf.forces_replacement(LB, "subnetMappings", old=[M1, M2], new=[M1]) is True
    assert pf.forces_replacement(LB, "subnetMappings", old=[M1], new=[M1, M2]) is False


def test_ssm_tier_replaces_only_advanced_to_standard():
    assert pf.forces_replacement(SSM, "tier", old="Advanced", new="Standard") is True
    assert pf.forces_replacement(SSM, "tier", old="Standard", new="Advanced") is False
    assert pf.forces_replacement(SSM, "tier", old="Advanced", new="Intelligent-Tiering") is False
    assert pf.forces_replacement(SSM, "tier") is True  # values unknown: it may


@pytest.mark.parametrize("token", [INGRESS, EGRESS])
def test_sg_rule_source_kind(token):
    cidr = {"cidrIpv4": "10.0.0.0/16", "ipProtocol": "tcp", "fromPort": 80, "toPort": 80}
    ref = {"referencedSecurityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 80, "toPort": 80}
    # same kind, new value: ModifySecurityGroupRules in place
    assert pf.forces_replacement(token, "cidrIpv4", old="10.0.0.0/16", new="10.1.0.0/16") is False
    assert pf.forces_replacement(token, "cidrIpv4", old="10.0.0.0/16", new="10.1.0.0/16",
                                 old_state=cidr, inputs={**cidr, "cidrIpv4": "10.1.0.0/16"}) is False
    # CIDR -> security-group source: replaced (both changed paths say so)
    assert pf.forces_replacement(token, "cidrIpv4", old="10.0.0.0/16", new=None, old_state=cidr, inputs=ref) is True
    assert pf.forces_replacement(token, "referencedSecurityGroupId", old=None, new="sg-1") is True
    assert pf.forces_replacement(token, "referencedSecurityGroupId", old="sg-1", new="sg-2") is False
    assert pf.forces_replacement(token, "prefixListId") is True  # unknown: may replace


def test_vpc_tenancy_and_instance_template_version():
    vpc = "aws:ec2/vpc:Vpc"
    assert pf.forces_replacement(vpc, "instanceTenancy", old="dedicated", new="default") is False
    assert pf.forces_replacement(vpc, "instanceTenancy", old="default", new="dedicated") is True
    inst = "aws:ec2/instance:Instance"
    assert pf.forces_replacement(inst, "launchTemplate.version", old="1", new="1") is False
    assert pf.forces_replacement(inst, "launchTemplate.version", old="1", new="2") is True


# ------------------------------------------------------------------ pulumi-aws resource info


def test_resource_info():
    assert pf.resource_delete_before_replace("aws:iam/rolePolicyAttachment:RolePolicyAttachment") is True
    assert pf.resource_delete_before_replace(TG) is False and pf.resource_delete_before_replace(LB) is False
    assert pf.auto_name_property(TG) == "name" and pf.auto_name_max_length(TG) == 32
    assert pf.auto_name_max_length("aws:alb/targetGroup:TargetGroup") == 255  # aliases.go sets 32 on aws:lb only
    assert pf.auto_name_property(SSM) == "name" and pf.auto_name_property(LB) == "name"
    assert pf.auto_name_property("aws:s3/bucket:Bucket") == "bucket"
    assert pf.auto_name_property("aws:lambda/permission:Permission") == "statementId"
    assert pf.auto_name_property("aws:lb/listener:Listener") is None
    assert pf.auto_name_property("aws:cloudwatch/dashboard:Dashboard") is None  # dashboardName, not auto-named
    assert pf.unique_name_fields(TG) == ()
    assert pf.framework(INGRESS) == pf.framework(EGRESS) == "pf"
    assert pf.framework(TG) == "sdkv2" and pf.framework("aws:alb/targetGroup:TargetGroup") == "sdkv2"


def test_schema_defaults():
    tg = pf.schema_defaults(TG)
    assert (tg["healthCheck.port"], tg["healthCheck.protocol"], tg["healthCheck.interval"]) == ("traffic-port", "HTTP", 30)
    assert (tg["healthCheck.healthyThreshold"], tg["healthCheck.unhealthyThreshold"], tg["deregistrationDelay"]) == (3, 3, 300)
    assert tg["stickiness.enabled"] is True and tg["targetType"] == "instance"
    assert pf.schema_defaults(LB)["loadBalancerType"] == "application"
    assert pf.schema_defaults(SG)["description"] == "Managed by Pulumi"
    assert pf.schema_defaults("aws:ec2/vpnGateway:VpnGateway") == {}
    for token in pf.facts()["types"]:  # a default is for an input the file classifies
        for path in pf.schema_defaults(token):
            assert pf.forces_replacement(token, path) is not None, (token, path)


# ------------------------------------------------------------------ provenance and completeness


def test_file_records_provider_and_provenance():
    facts = pf.facts()
    assert facts["provider"]["pulumi-aws"] == "7.51.1"
    assert "terraform-provider-aws v6" in facts["provider"]["bridges"]
    assert facts["provider"]["howDetermined"]
    for token, entry in facts["types"].items():
        src = entry["source"]
        assert src["repository"].endswith("/terraform-provider-aws"), token
        assert src["file"].startswith("internal/service/") and src["file"].endswith(".go"), token
        assert src.get("commit") or src.get("ref"), token
        assert entry["terraform"].startswith("aws_"), token
        assert not set(entry["replace"]) & set(entry["update"]), token
        assert not set(entry["replaceWhen"]) & (set(entry["replace"]) | set(entry["update"])), token
        for path, cond in entry["replaceWhen"].items():
            assert cond["predicate"] in pf.PREDICATES, (token, path)
            assert cond["source"]["file"] and cond["source"]["function"] and cond["why"], (token, path)
        assert entry["framework"] in ("sdkv2", "pf"), token
        assert "deleteBeforeReplace" in entry["pulumi"] and entry["pulumi"]["source"]["repository"] == "pulumi/pulumi-aws"
    used = {c["predicate"] for e in facts["types"].values() for c in e["replaceWhen"].values()}
    assert used == set(pf.PREDICATES)


def test_provenance_per_entry():
    nlb = pf.provenance(LB, "subnets")
    assert "customizeDiffLoadBalancerNLB" in nlb["function"] and nlb["predicate"] == "nlb_subnets_not_only_added"
    assert "ModifyPlan" in pf.provenance(INGRESS, "cidrIpv4")["function"]
    assert "CreateFunction" in pf.provenance("aws:lambda/function:Function", "tenancyConfig")["evidence"]
    assert pf.provenance(TG, "port") == pf.source(TG)


def _sdk_inputs(token: str) -> list[str]:
    """The top-level input names of ``token`` in the installed pulumi-aws SDK (version-exact)."""
    module, _ = token.split(":")[1].split("/")
    args = getattr(importlib.import_module(f"pulumi_aws.{'lambda_' if module == 'lambda' else module}"),
                   token.split(":")[2] + "Args")
    return [re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), p)
            for p in inspect.signature(args.__init__).parameters if not p.startswith("_") and p != "self"]


@pytest.mark.parametrize("token", sorted(pf.facts()["types"]))
def test_every_sdk_input_is_classified(token):
    missing = [p for p in _sdk_inputs(token) if pf.forces_replacement(token, p) is None]
    assert not missing, f"{token}: inputs of pulumi-aws 7.51.1 not in replacements.json: {missing}"


def _token_of(module: str, cls: str) -> str:
    text = Path(importlib.import_module(f"pulumi_aws.{module}").__file__).parent.joinpath(
        re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower() + ".py").read_text()
    return re.search(r'type_token\("(aws:[^"]+)"\)', text).group(1)


def test_every_type_the_program_creates_is_classified():
    """Every ``aws.<module>.<Type>(`` in the components, the June 1 replay, the program and the
    policy tests names a type the file classifies."""
    files = [*ROOT.glob("components/*.py"), *ROOT.glob("examples/june-1-replay/*.py"), ROOT / "__main__.py",
             *ROOT.glob("tests/policies/**/*.py")]
    used = {m.groups() for f in files for m in re.finditer(r"\baws\.([a-z0-9_]+)\.([A-Z][A-Za-z0-9]+)\(", f.read_text())}
    assert len(used) > 30
    missing = sorted(t for t in (_token_of(mod, cls) for mod, cls in used) if pf.type_facts(t) is None)
    assert not missing, missing
