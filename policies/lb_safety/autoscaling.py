"""Auto Scaling controls from AWS Foundational Security Best Practices."""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import ASG, cannot_evaluate, known, single_az, stack_resources
from lbguard.core import topology


def _elb_health(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_resources(args)
    wiring, unresolved = topology.asg_load_balancer_wiring(resources)
    notes = [f"{urn.rsplit('::', 1)[-1]}: {why}" for urn, why in unresolved]
    for r in resources:
        if r.type != ASG or not wiring.get(r.urn):
            continue
        kind = r.props.get("healthCheckType")
        if not known(kind) and kind is not None:
            notes.append(f"{r.name}: healthCheckType unknown")
            continue
        if kind != "ELB":
            report(f"Auto Scaling group {r.name} serves a load balancer (through {', '.join(wiring[r.urn])}) but "
                   f"uses {kind or 'EC2'} health checks, which leave instances that fail the load balancer's "
                   f"checks in service; set healthCheckType: ELB with a healthCheckGracePeriod "
                   f"(AWS FSBP AutoScaling.1).", r.urn)
    cannot_evaluate(notes)


asg_elb_health_check = StackValidationPolicy(
    name="asg-elb-health-check",
    description="Auto Scaling groups behind a load balancer (targetGroupArns, loadBalancers, trafficSources, or an "
                "aws.autoscaling Attachment or TrafficSourceAttachment) use ELB health checks (AWS FSBP "
                "AutoScaling.1).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_elb_health)


def _grace(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ASG:
        return
    props = args.props
    if props.get("healthCheckType") != "ELB":
        return
    grace = props.get("healthCheckGracePeriod")
    # pulumi_aws defaults healthCheckGracePeriod to 300 when omitted; 0 is only ever explicit.
    if grace is not None and float(grace) <= 0:
        report(f"Auto Scaling group {args.name} uses ELB health checks with a grace period of 0 s: every new instance "
               f"fails its load balancer checks while it boots and is replaced, so a scale-out or a replacement "
               f"never completes; set healthCheckGracePeriod to the instance's start-up time (e.g. 120).")


asg_health_check_grace = ResourceValidationPolicy(
    name="asg-health-check-grace",
    description="Auto Scaling groups with ELB health checks give new instances a grace period (> 0 s) to boot.",
    enforcement_level=EnforcementLevel.MANDATORY, validate=_grace)


def _multi_az(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_resources(args)
    subnet_az = topology.subnet_zones(resources)
    notes = []
    for r in resources:
        if r.type != ASG:
            continue
        listed = [a for a in (r.props.get("availabilityZones") or []) if known(a)]
        azs, note = single_az(r, "vpcZoneIdentifiers", list(r.props.get("vpcZoneIdentifiers") or []), subnet_az, listed)
        if note:
            notes.append(note)
        if azs is None or note:
            continue
        report(f"Auto Scaling group {r.name} covers {len(azs)} Availability Zone(s) "
               f"({', '.join(sorted(azs)) or 'none'}); list subnets in at least two AZs in vpcZoneIdentifiers "
               f"(AWS FSBP AutoScaling.2: AZs are counted, not subnets).", r.urn)
    cannot_evaluate(notes)


asg_multi_az = StackValidationPolicy(
    name="asg-multi-az",
    description="Auto Scaling groups cover multiple Availability Zones, counted from their subnets' AZs (AWS FSBP "
                "AutoScaling.2).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_multi_az)
