"""Auto Scaling groups behind the load balancer (AWS FSBP AutoScaling.1 and .2, and the grace
period): which groups each policy looks at, what it counts, and what it says, including what it
could not evaluate while it still reports the groups it could."""

from __future__ import annotations

import pytest

from tests.policies.fixtures import UNKNOWN, add_resource, by_name, mutate, setter, web_tier

BASE = web_tier()
TG = BASE.outputs["targetGroupArns"]


def said(pack, run, policy):
    return [(v.enforcement_level, v.name, v.message) for v in pack.evaluate(run, {}) if v.policy == policy]


def cannot(policy: str, reasons: str) -> str:
    return (f"can't run policy '{policy}' from policy pack 'lb-safety@v0.0.1' during preview: could not be "
            f"evaluated: {reasons}")


def ec2_message(name: str, through: str, kind: str = "EC2") -> str:
    return (f"Auto Scaling group {name} serves a load balancer (through {through}) but uses {kind} health checks, "
            f"which leave instances that fail the load balancer's checks in service; set healthCheckType: ELB with a "
            f"healthCheckGracePeriod (AWS FSBP AutoScaling.1).")


# ------------------------------------------------------------------ asg-elb-health-check


def test_an_omitted_health_check_type_is_ec2(pack):
    """pulumi_aws (and the Auto Scaling API) default healthCheckType to EC2."""
    run = mutate(BASE, "web-pool-blue-asg", lambda p: p.pop("healthCheckType"))
    assert said(pack, run, "asg-elb-health-check") == [
        ("advisory", "web-pool-blue-asg", ec2_message("web-pool-blue-asg", "targetGroupArns"))]


def test_every_wiring_is_named(pack):
    run = mutate(BASE, "web-pool-green-asg", setter(["healthCheckType"], "EC2"))
    run = add_resource(run, "aws:autoscaling/attachment:Attachment", "web-green-attach",
                       {"autoscalingGroupName": "web-green", "lbTargetGroupArn": TG["green"]}, {"id": "web-green-attach"},
                       deps={"autoscalingGroupName": ["web-pool-green-asg"], "lbTargetGroupArn": ["web-pool-green-tg"]})
    assert said(pack, run, "asg-elb-health-check") == [
        ("advisory", "web-pool-green-asg",
         ec2_message("web-pool-green-asg", "targetGroupArns, Attachment web-green-attach"))]


def test_a_group_serving_no_load_balancer_is_skipped_and_the_next_one_checked(pack):
    run = mutate(BASE, "web-pool-blue-asg", lambda p: (p.pop("targetGroupArns"), p.update(healthCheckType="EC2")))
    run = mutate(run, "web-pool-green-asg", setter(["healthCheckType"], "EC2"))
    assert [n for _, n, _ in said(pack, run, "asg-elb-health-check")] == ["web-pool-green-asg"]


def test_an_unknown_health_check_type_is_said_and_the_other_groups_still_checked(pack):
    run = mutate(BASE, "web-pool-blue-asg", setter(["healthCheckType"], UNKNOWN))
    run = mutate(run, "web-pool-green-asg", setter(["healthCheckType"], "EC2"))
    assert said(pack, run, "asg-elb-health-check") == [
        ("advisory", "web-pool-green-asg", ec2_message("web-pool-green-asg", "targetGroupArns")),
        ("advisory", "web-tier-prod", cannot("asg-elb-health-check", "web-pool-blue-asg: healthCheckType unknown"))]


def test_an_attachment_to_a_group_that_cannot_be_told_is_said(pack):
    run = add_resource(BASE, "aws:autoscaling/attachment:Attachment", "web-extra-attach",
                       {"autoscalingGroupName": UNKNOWN, "lbTargetGroupArn": TG["blue"]}, {"id": "web-extra-attach"})
    assert said(pack, run, "asg-elb-health-check") == [
        ("advisory", "web-tier-prod", cannot("asg-elb-health-check", "web-extra-attach: autoscalingGroupName names a "
                                                                     "group that cannot be resolved"))]


# ------------------------------------------------------------------ asg-health-check-grace

GRACE = ("Auto Scaling group web-pool-green-asg uses ELB health checks with a grace period of 0 s: every new instance "
         "fails its load balancer checks while it boots and is replaced, so a scale-out or a replacement never "
         "completes; set healthCheckGracePeriod to the instance's start-up time (e.g. 120).")


@pytest.mark.parametrize("props, expected", [
    ({"healthCheckGracePeriod": 0}, [("mandatory", "web-pool-green-asg", GRACE)]),
    ({"healthCheckGracePeriod": "0"}, [("mandatory", "web-pool-green-asg", GRACE)]),
    ({"healthCheckGracePeriod": 1}, []),
    ({"healthCheckGracePeriod": None}, []),  # omitted: pulumi_aws's default is 300 s
    ({"healthCheckGracePeriod": 0, "healthCheckType": "EC2"}, []),  # no load-balancer checks to fail
], ids=["zero", "zero-string", "one-second", "omitted", "ec2-checks"])
def test_grace_period(pack, props, expected):
    run = mutate(BASE, "web-pool-green-asg", lambda p: p.update(props))
    if props.get("healthCheckGracePeriod", 0) is None:
        run = mutate(run, "web-pool-green-asg", lambda p: p.pop("healthCheckGracePeriod"))
    assert said(pack, run, "asg-health-check-grace") == expected


# ------------------------------------------------------------------ asg-multi-az


def multi_az_message(name: str, count: int, zones: str) -> str:
    return (f"Auto Scaling group {name} covers {count} Availability Zone(s) ({zones}); list subnets in at least two "
            f"AZs in vpcZoneIdentifiers (AWS FSBP AutoScaling.2: AZs are counted, not subnets).")


def zones(subnets, azs=None):
    def fn(p):
        p["vpcZoneIdentifiers"] = list(subnets)
        if azs is not None:
            p["availabilityZones"] = list(azs)
    return fn


A, B = "subnet-0aaaaaaaa", "subnet-0bbbbbbbb"


@pytest.mark.parametrize("subnets, azs, expected", [
    ([A, B], None, None),
    ([A, A], None, (1, "us-east-1a")),
    ([A], ["us-east-1b"], None),  # listed AZs count with the subnets' AZs
    ([], ["us-east-1a", "us-east-1b"], None),
    ([], ["us-east-1a"], (1, "us-east-1a")),
    ([], [UNKNOWN, "us-east-1b"], (1, "us-east-1b")),  # an unknown AZ is not counted
    ([], None, (0, "none")),
], ids=["two-subnets-two-azs", "two-subnets-one-az", "subnet-and-listed-az", "listed-azs", "one-listed-az",
        "unknown-listed-az", "nothing"])
def test_zones_are_counted_from_subnets_and_listed_zones(pack, subnets, azs, expected):
    run = mutate(BASE, "web-pool-green-asg", zones(subnets, azs))
    want = [] if expected is None else [("advisory", "web-pool-green-asg", multi_az_message("web-pool-green-asg", *expected))]
    assert said(pack, run, "asg-multi-az") == want


def test_subnets_outside_the_stack_are_said_and_the_other_groups_still_checked(pack):
    run = mutate(BASE, "web-pool-blue-asg", zones(["subnet-0outside"]))
    by_name(run, "web-pool-blue-asg").property_dependencies["vpcZoneIdentifiers"] = []
    run = mutate(run, "web-pool-green-asg", zones([A]))
    assert said(pack, run, "asg-multi-az") == [
        ("advisory", "web-pool-green-asg", multi_az_message("web-pool-green-asg", 1, "us-east-1a")),
        ("advisory", "web-tier-prod", cannot("asg-multi-az", "web-pool-blue-asg: 1 of its subnets are outside this "
                                                             "stack or unknown, so their AZs cannot be counted"))]


def test_unknown_subnet_ids_are_resolved_through_dependencies(pack):
    """In a preview of new subnets the ids are unknown; the group's propertyDependencies still name
    the subnets, and their AZs count."""
    run = mutate(BASE, "web-pool-green-asg", zones([UNKNOWN, UNKNOWN]))
    assert said(pack, run, "asg-multi-az") == []
    by_name(run, "web-pool-green-asg").property_dependencies["vpcZoneIdentifiers"] = [by_name(run, "web-subnet-a").urn]
    assert said(pack, run, "asg-multi-az") == [
        ("advisory", "web-tier-prod", cannot("asg-multi-az", "web-pool-green-asg: 1 of its subnets are outside this "
                                                             "stack or unknown, so their AZs cannot be counted"))]
