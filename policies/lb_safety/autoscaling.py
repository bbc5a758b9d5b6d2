"""Auto Scaling controls from AWS Foundational Security Best Practices."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from lb_safety.common import ASG


def _elb_health(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ASG:
        return
    props = args.props
    if (props.get("targetGroupArns") or props.get("loadBalancers")) and props.get("healthCheckType") != "ELB":
        report(f"Auto Scaling group {args.name} serves a load balancer but uses "
               f"{props.get('healthCheckType') or 'EC2'} health checks, which leave instances that fail the load "
               f"balancer's checks in service; set healthCheckType: ELB with a healthCheckGracePeriod "
               f"(AWS FSBP AutoScaling.1).")


asg_elb_health_check = ResourceValidationPolicy(
    name="asg-elb-health-check",
    description="Auto Scaling groups behind a load balancer use ELB health checks (AWS FSBP AutoScaling.1).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_elb_health)


def _multi_az(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ASG:
        return
    props = args.props
    spread = max(len(props.get("vpcZoneIdentifiers") or []), len(props.get("availabilityZones") or []))
    if spread < 2:
        report(f"Auto Scaling group {args.name} covers fewer than two subnets/AZs; list a subnet in each of at least "
               f"two AZs in vpcZoneIdentifiers (AWS FSBP AutoScaling.2).")


asg_multi_az = ResourceValidationPolicy(
    name="asg-multi-az",
    description="Auto Scaling groups cover multiple Availability Zones (AWS FSBP AutoScaling.2).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_multi_az)
