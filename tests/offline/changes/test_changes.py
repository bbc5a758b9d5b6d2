"""Issue 9, fixes 2-10: what AWS (moto) holds after the edited stack's run, what the engine
is told (ignore_changes, depends_on), and the replacement facts applied to every resource."""

from __future__ import annotations

from typing import Any

import pytest

from lbguard.core import provider_facts as pf
from lbguard.live.state import SNAPSHOT_TIER, encode_snapshot

# Four whole-stack runs: a group of its own (pyproject markers; .ci/run runs it).
pytestmark = pytest.mark.stackruns

# ------------------------------------------------------------------ helpers


def _rules(ec2, group_id: str, egress: bool) -> set[tuple[int, int, str]]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {(r["FromPort"], r["ToPort"], r.get("ReferencedGroupInfo", {}).get("GroupId") or r.get("CidrIpv4", ""))
            for r in rules["SecurityGroupRules"] if r["IsEgress"] is egress}


def _paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict) and value:
        return {p for k, v in value.items() for p in _paths(v, f"{prefix}.{k}" if prefix else k)}
    if isinstance(value, list) and value:
        return {p for v in value for p in _paths(v, prefix)}
    return {prefix}


# ------------------------------------------------------------------ 1: every property classified


def test_every_property_the_components_set_is_classified(shipped_runs, edited):
    missing = []
    runs = {**shipped_runs, "edited dev": edited.run}
    for stack, run in runs.items():
        for rec in run.resources:
            if not rec.custom or rec.type.startswith("pulumi:"):
                continue
            if pf.type_facts(rec.type) is None:
                missing.append(f"{stack}: {rec.type} (whole type, {rec.name})")
                continue
            for path in sorted(p for k, v in rec.inputs.items() if not k.startswith("__") for p in _paths(v, k)):
                if pf.forces_replacement(rec.type, path) is None:
                    missing.append(f"{stack}: {rec.type} {path}")
    assert not missing, "not in lbguard/core/provider_facts/replacements.json:\n" + "\n".join(sorted(set(missing)))


# ------------------------------------------------------------------ 2: desired capacity


def test_asg_desired_capacity_is_initial_only(edited):
    asg = edited.one("web-pool-blue-asg")
    assert edited.ignore_changes[asg.urn] == ["desiredCapacity"]
    held = edited.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[asg.inputs["name"]])["AutoScalingGroups"][0]
    assert (held["MinSize"], held["DesiredCapacity"], held["MaxSize"]) == (3, 3, 6)  # the initial size is applied


# ------------------------------------------------------------------ 3: health-check port


def test_health_check_port_admitted_and_nothing_else(edited):
    ec2 = edited.client("ec2")
    alb_sg = edited.one("web-lb-sg").id
    blue_sg, green_sg = edited.one("web-pool-blue-instance-sg").id, edited.one("web-pool-green-instance-sg").id
    assert {(f, t) for f, t, src in _rules(ec2, blue_sg, egress=False) if src == alb_sg} == {(8080, 8080), (8081, 8081)}
    assert {(f, t) for f, t, src in _rules(ec2, green_sg, egress=False)} == {(80, 80)}  # traffic-port: one rule
    to_pools = {(f, src) for f, t, src in _rules(ec2, alb_sg, egress=True)}
    assert to_pools == {(8080, blue_sg), (8081, blue_sg), (80, green_sg), (80, edited.one("web-pool-spare-instance-sg").id)}
    tg = edited.client("elbv2").describe_target_groups(
        TargetGroupArns=[edited.run.outputs["targetGroupArns"]["blue"]])["TargetGroups"][0]
    assert (tg["Port"], tg["HealthCheckPort"]) == (8080, "8081")


# ------------------------------------------------------------------ 4: internal load balancer


def test_internal_load_balancer_fresh_name_private_subnets(edited):
    elbv2, ec2 = edited.client("elbv2"), edited.client("ec2")
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[edited.run.outputs["loadBalancerArn"]])["LoadBalancers"][0]
    assert lb["Scheme"] == "internal"
    assert lb["LoadBalancerName"] != "web-tier-dev" and lb["LoadBalancerName"].startswith("web-tier-dev-")
    assert len(lb["LoadBalancerName"]) <= 32
    private = {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]
               if any(t["Key"] == "Name" and "-private-" in t["Value"] for t in s.get("Tags", []))}
    assert {az["SubnetId"] for az in lb["AvailabilityZones"]} == private


def test_internet_facing_load_balancer_keeps_its_name(shipped_runs):
    lb = next(r for r in shipped_runs["dev"].resources if r.name == "web-lb-alb")
    assert lb.inputs["name"] == "web-tier-dev"  # deployed stacks are not renamed (= replaced) on upgrade


# ------------------------------------------------------------------ 5: the class


def _ref_map(run) -> list[tuple[str, str]]:
    """Generated ids/ARNs/auto-names of a run -> "<urn#key>": two runs in fresh moto differ in
    those only. A value the resource was given as an input (a fixed name) stays itself."""
    refs = {}
    for rec in run.resources:
        given = {v for v in rec.inputs.values() if isinstance(v, str)}
        for key in ("id", "arn", "arnSuffix", "name", "bucket"):
            value = rec.outputs.get(key) if rec.outputs else None
            if isinstance(value, str) and len(value) >= 8 and value not in given:
                refs.setdefault(value, f"<{rec.urn}#{key}>")
    return sorted(refs.items(), key=lambda kv: -len(kv[0]))


def _normalize(value: Any, refs: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _normalize(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v, refs) for v in value]
    if isinstance(value, str):
        for raw, ref in refs:
            if raw in value:
                value = value.replace(raw, ref)
    return value


def _at(value: Any, path: str) -> Any:
    head, _, rest = path.partition(".")
    if isinstance(value, list):
        return [_at(v, path) for v in value]
    if not isinstance(value, dict):
        return None
    return _at(value.get(head), rest) if rest else value.get(head)


def test_no_user_edit_replaces_a_fixed_name_or_in_use_resource(shipped_runs, edited):
    """For every resource in both dev and the edited dev: each replacement-forcing property
    whose value the edits changed sits on a resource that tolerates replacement (auto-named,
    or its fixed name changes with it, or delete-before-replace) and is not in use by
    something the engine does not move (security groups, subnets)."""
    base, head = shipped_runs["dev"], edited.run
    base_refs, head_refs = _ref_map(base), _ref_map(head)
    head_by_urn = {r.urn: r for r in head.resources}
    problems = []
    for old in base.resources:
        new = head_by_urn.get(old.urn)
        if not old.custom or new is None or pf.type_facts(old.type) is None:
            continue
        before, after = _normalize(old.inputs, base_refs), _normalize(new.inputs, head_refs)
        name_prop = pf.physical_name_property(old.type)
        for path in pf.replacement_properties(old.type):
            was, now = _at(before, path), _at(after, path)
            if was == now or not pf.forces_replacement(old.type, path, old=was, new=now, inputs=after):
                continue
            renamed = name_prop is not None and name_prop in after and _at(before, name_prop) != _at(after, name_prop)
            auto_named = name_prop is None or name_prop not in after
            hazard = pf.in_use_hazard(old.type)
            if hazard or not (renamed or auto_named or new.delete_before_replace):
                problems.append(f"{old.urn}: {path} {was!r} -> {now!r} replaces it "
                                f"({hazard or f'fixed {name_prop} {_at(after, name_prop)!r} unchanged'})")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ 6: snapshot parameter tier


def test_snapshot_parameter_tier_never_changes(edited):
    small = {"schemaVersion": 1, "listeners": []}
    large = {"schemaVersion": 1, "listeners": [{"arn": f"arn:{i:05d}" + "x" * 200, "rules": [str(i)] * 20}
                                               for i in range(60)]}
    assert encode_snapshot(small)[1] == encode_snapshot(large)[1] == SNAPSHOT_TIER == "Intelligent-Tiering"
    param = edited.one("web-known-good-current")
    assert param.inputs["tier"] == SNAPSHOT_TIER
    meta = edited.client("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [param.inputs["name"]]}])["Parameters"][0]
    assert meta["Tier"] == SNAPSHOT_TIER
    # The provider suppresses the tier diff for Intelligent-Tiering; whatever AWS reports, no replacement.
    for held in ("Standard", "Advanced"):
        assert pf.forces_replacement("aws:ssm/parameter:Parameter", "tier", old=held, new=SNAPSHOT_TIER) is False


# ------------------------------------------------------------------ 7: reserved concurrency


def test_rollback_function_reserves_no_concurrency_by_default(edited):
    fn = edited.one("web-known-good-function")
    assert "reservedConcurrentExecutions" not in fn.inputs
    held = edited.client("lambda").get_function_concurrency(FunctionName=fn.inputs["name"])
    assert "ReservedConcurrentExecutions" not in held


# ------------------------------------------------------------------ 8: root device


def test_root_volume_is_the_amis_root_device_encrypted_only_one(edited):
    ec2 = edited.client("ec2")
    for pool, device in (("blue", "/dev/sda1"), ("spare", "/dev/sda1")):  # blue: from getAmi; spare: the setting
        lt = edited.one(f"web-pool-{pool}-lt")
        data = ec2.describe_launch_template_versions(LaunchTemplateId=lt.id)["LaunchTemplateVersions"][-1]
        mappings = data["LaunchTemplateData"]["BlockDeviceMappings"]
        assert [m["DeviceName"] for m in mappings] == [device], pool
        assert mappings[0]["Ebs"]["Encrypted"] is True


# ------------------------------------------------------------------ 9: request scaling after routing


def test_request_scaling_waits_for_routing_and_needs_a_forward(edited):
    policy = edited.one("web-pool-blue-requests-per-target")
    forwarders = {edited.one("web-routing-https").urn, edited.one("web-routing-rule-api").urn}
    assert forwarders <= set(policy.dependencies)
    assert not [r for r in edited.run.resources if r.name == "web-pool-spare-requests-per-target"]
    names = edited.run.outputs["autoScalingGroupNames"]
    held = edited.client("autoscaling").describe_policies(AutoScalingGroupName=names["spare"])["ScalingPolicies"]
    assert [p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
            for p in held] == ["ASGAverageCPUUtilization"]
    blue = edited.client("autoscaling").describe_policies(AutoScalingGroupName=names["blue"])["ScalingPolicies"]
    label = next(p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["ResourceLabel"] for p in blue
                 if p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
                 == "ALBRequestCountPerTarget")
    assert label.startswith("app/") and "/targetgroup/" in label


@pytest.mark.parametrize("name", ["web-pool-blue-requests-per-target", "web-pool-blue-cpu"])
def test_scaling_policies_keep_their_urns(shipped_runs, edited, name):
    base = {r.urn for r in shipped_runs["dev"].resources if r.name == name}
    assert len(base) == 1 and base == {edited.one(name).urn}
