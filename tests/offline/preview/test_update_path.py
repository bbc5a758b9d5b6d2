"""Issue 9, items 2-10 as up -> edit -> up: the dev stack applied, the stack file edited, the
edit planned and applied as the engine would (lbguard.offline.preview), then AWS (moto) read back.
Each change either applies cleanly (failures == [], read-backs hold the head's values and
nothing the engine must not touch moved) or is refused before any write."""

from __future__ import annotations

import boto3
import pytest

from lbguard.core.model import LbguardError
from tests.offline.preview.conftest import elbv2, step

P = "web-tier:"
pytestmark = pytest.mark.stackruns  # two whole program runs per test


def client(service: str):
    return boto3.client(service, region_name="us-east-1")


def rec(run, name: str):
    found = [r for r in run.resources if r.name == name]
    assert len(found) == 1, name
    return found[0]


def clean(result) -> None:
    assert result.failures == [], [(f.urn, f.call, f.error) for f in result.failures]


# ------------------------------------------------------------------ 2: desired capacity


def test_2_up_keeps_the_desired_capacity_autoscaling_set(change):
    def scale_out(base_run):  # autoscaling scales blue out at peak, behind Pulumi's back
        name = base_run.outputs["autoScalingGroupNames"]["blue"]
        client("autoscaling").set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=5)

    def edit(c):
        c[P + "pools"]["blue"]["maxSize"] = 7
    held = {}

    def after(result):
        name = result.head.outputs["autoScalingGroupNames"]["blue"]
        g = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        held.update(desired=g["DesiredCapacity"], max=g["MaxSize"], min=g["MinSize"])
    result = change.edit(edit).preview(between=scale_out, after=after)
    clean(result)
    s = step(result, "web-pool-blue-asg")
    assert s.op == "update" and "desiredCapacity" not in s.diffs and "maxSize" in s.diffs
    assert held == {"desired": 5, "max": 7, "min": 3}  # the deploy did not scale prod back down


# ------------------------------------------------------------------ 3: health-check port


def test_3_health_check_on_another_port_is_admitted_by_both_groups(change):
    def edit(c):
        c[P + "pools"]["blue"]["healthCheck"]["port"] = "8081"
    held = {}

    def after(result):
        ec2 = client("ec2")
        lb_sg, blue_sg = rec(result.head, "web-lb-sg").id, rec(result.head, "web-pool-blue-instance-sg").id
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [lb_sg, blue_sg]}])
        rules = rules["SecurityGroupRules"]
        held["ingress"] = {(r["FromPort"], r["ReferencedGroupInfo"]["GroupId"]) for r in rules
                           if not r["IsEgress"] and r["GroupId"] == blue_sg and r.get("ReferencedGroupInfo")}
        held["egress"] = {(r["FromPort"], r["ReferencedGroupInfo"]["GroupId"]) for r in rules
                          if r["IsEgress"] and r["GroupId"] == lb_sg and r.get("ReferencedGroupInfo")}
        tg = elbv2().describe_target_groups(TargetGroupArns=[result.head.outputs["targetGroupArns"]["blue"]])
        held["tg"] = (tg["TargetGroups"][0]["Port"], tg["TargetGroups"][0]["HealthCheckPort"])
        held["lb_sg"], held["blue_sg"] = lb_sg, blue_sg
    result = change.edit(edit).preview(after=after)
    clean(result)
    assert held["tg"] == (80, "8081")
    assert (8081, held["lb_sg"]) in held["ingress"] and (80, held["lb_sg"]) in held["ingress"]
    assert (8081, held["blue_sg"]) in held["egress"]
    assert step(result, "web-pool-blue-tg").op == "update"  # not a replacement: the port is in place


# ------------------------------------------------------------------ 4: internal flip


def test_4_internal_flip_replaces_under_a_fresh_name_into_private_subnets(change):
    def edit(c):  # a replacement of the load balancer needs the explicit acceptance (issue 25)
        c[P + "loadBalancer"].update(internal=True, acceptReplacementDowntime=True)
    held = {}

    def after(result):
        lbs = elbv2().describe_load_balancers()["LoadBalancers"]
        held["lbs"] = [(lb["LoadBalancerName"], lb["Scheme"]) for lb in lbs]
        new = next(lb for lb in lbs if lb["LoadBalancerArn"] == result.head.outputs["loadBalancerArn"])
        private = {s["SubnetId"] for s in client("ec2").describe_subnets()["Subnets"]
                   if any(t["Key"] == "Name" and "-private-" in t["Value"] for t in s.get("Tags", []))}
        held["private"] = {az["SubnetId"] for az in new["AvailabilityZones"]} == private
    result = change.edit(edit).preview(after=after)
    clean(result)
    s = step(result, "web-lb-alb")
    assert s.op == "replace" and "internal" in s.replace_reasons
    assert len(held["lbs"]) == 1 and held["lbs"][0][1] == "internal"  # the old one was deleted after
    assert held["lbs"][0][0].startswith("web-tier-dev-") and held["private"]


def test_4_internal_flip_with_deletion_protection_is_refused_with_the_safe_way(change):
    change.base.write("dev", {**change.base.config("dev"),
                              P + "loadBalancer": {**change.base.config("dev")[P + "loadBalancer"],
                                                   "deletionProtection": True}})
    change.config[P + "loadBalancer"]["deletionProtection"] = True

    def edit(c):
        c[P + "loadBalancer"].update(internal=True, acceptReplacementDowntime=True)
    result = change.edit(edit).preview()
    assert result.failures, "deleting a protected load balancer must be reported"
    f = result.failures[0]
    assert f.error == "OperationNotPermitted" and "deletion" in (f.message + f.fix).lower()


# ------------------------------------------------------------------ 6: snapshot parameter tier


def test_6_growing_snapshot_updates_the_parameter_in_place(change):
    def edit(c):
        rules = c[P + "routing"]["rules"]
        for i in range(40):
            rules[f"r{i:02d}"] = {"priority": 100 + i, "conditions": {"path": [f"/section-{i:02d}/" + "x" * 60 + "/*"]},
                                  "forward": {"weights": {"blue": 50, "green": 50}}}
    held = {}

    def after(result):
        param = rec(result.head, "web-known-good-current")
        meta = client("ssm").describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": [param.inputs["name"]]}])["Parameters"][0]
        held.update(tier=meta["Tier"], version=meta["Version"])
    result = change.edit(edit).preview(after=after)
    clean(result)
    s = step(result, "web-known-good-current")
    assert s.op == "update" and s.replace_reasons == []
    assert held["version"] >= 2 and held["tier"] in {"Standard", "Advanced", "Intelligent-Tiering"}


# ------------------------------------------------------------------ 7: reserved concurrency


@pytest.mark.parametrize("reserved", [None, 1])
def test_7_automatic_rollback_function_reserves_only_what_is_asked(change, reserved):
    def edit(c):
        c[P + "rollback"] = {"automatic": True, **({"reservedConcurrency": reserved} if reserved else {})}
    held = {}

    def after(result):
        fn = rec(result.head, "web-known-good-function")
        held.update(client("lambda").get_function_concurrency(FunctionName=fn.inputs["name"]))
    result = change.edit(edit).preview(after=after)
    clean(result)
    assert step(result, "web-known-good-function").op == "create"
    assert held.get("ReservedConcurrentExecutions") == reserved


# ------------------------------------------------------------------ 8: root device


def test_8_root_volume_edit_keeps_one_encrypted_root_on_the_amis_device(change):
    def edit(c):
        c[P + "pools"]["green"]["rootVolumeGib"] = 40
    held = {}

    def after(result):
        lt = rec(result.head, "web-pool-green-lt")
        versions = client("ec2").describe_launch_template_versions(LaunchTemplateId=lt.id)["LaunchTemplateVersions"]
        latest = max(versions, key=lambda v: v["VersionNumber"])
        held["maps"] = [(m["DeviceName"], m["Ebs"]["VolumeSize"], m["Ebs"]["Encrypted"])
                        for m in latest["LaunchTemplateData"]["BlockDeviceMappings"]]
        held["versions"] = len(versions)
    result = change.edit(edit).preview(after=after)
    clean(result)
    assert step(result, "web-pool-green-lt").op == "update"
    assert held["maps"] == [("/dev/sda1", 40, True)] and held["versions"] == 2


# ------------------------------------------------------------------ 9: request scaling after routing


def test_9_a_pool_put_behind_a_rule_gets_its_request_scaling_after_the_routing(change):
    def edit(c):
        c[P + "pools"]["spare"] = {"ami": "ami-0c7217cdde317cfec", "capacityRps": 100, "minSize": 2,
                                   "desiredCapacity": 2, "maxSize": 4}
        c[P + "routing"]["rules"]["api"]["forward"]["weights"] = {"blue": 50, "spare": 50}
    held = {}

    def after(result):
        name = result.head.outputs["autoScalingGroupNames"]["spare"]
        pols = client("autoscaling").describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
        held["labels"] = [p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"].get("ResourceLabel")
                          for p in pols if p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
                          ["PredefinedMetricType"] == "ALBRequestCountPerTarget"]
    result = change.edit(edit).preview(after=after)
    clean(result)
    order = [s.name for s in result.steps]
    assert order.index("web-routing-rule-api") < order.index("web-pool-spare-requests-per-target")
    assert len(held["labels"]) == 1 and "/targetgroup/" in held["labels"][0]


# ------------------------------------------------------------------ 10: refused before any write


@pytest.mark.parametrize("edit, says", [
    (lambda c: c[P + "pools"]["green"].update({"algorithm": "weighted_random", "slowStartSeconds": 30}),
     "weighted_random"),
    (lambda c: c[P + "routing"]["rules"]["api"]["conditions"].update({"sourceIps": ["203.0.113.7"]}), "CIDR"),
])
def test_10_values_aws_refuses_are_refused_before_any_write(change, edit, says):
    change.edit(edit)
    with pytest.raises(LbguardError) as err:
        change.preview()
    assert says in str(err.value) and "\n" not in str(err.value)


def test_10_fractional_peak_is_accepted_and_applied(change):
    result = change.edit(lambda c: c.update({P + "peakRequestsPerSecond": 250.5})).preview()
    clean(result)
