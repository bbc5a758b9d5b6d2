"""Load-balancer and network controls from AWS Foundational Security Best Practices."""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import LB, LISTENER, num, plain, schema

RECOMMENDED_TLS = ["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                   "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
                   "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
                   "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", "ELBSecurityPolicy-FS-1-2-Res-2020-10",
                   "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-TLS-1-2-2017-01"]


def _is_alb(props: dict) -> bool:
    return (props.get("loadBalancerType") or "application") == "application"


def _lb_policy(name: str, control: str, description: str, check):
    """A policy over load balancers: ``check(props) -> problem or None``."""
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in LB:
            props = plain(args.props)
            if _is_alb(props):
                problem = check(props)
                if problem:
                    report(f"load balancer {args.name}: {problem} (AWS FSBP {control}).")
    return ResourceValidationPolicy(name=name, description=f"{description} (AWS FSBP {control})",
                                    enforcement_level=EnforcementLevel.ADVISORY, validate=validate)


alb_drop_invalid_headers = _lb_policy(
    "alb-drop-invalid-headers", "ELB.4", "Application Load Balancers drop invalid HTTP headers",
    lambda p: None if p.get("dropInvalidHeaderFields") is True else
    "invalid HTTP headers are passed to targets; set dropInvalidHeaderFields: true")
alb_deletion_protection = _lb_policy(
    "alb-deletion-protection", "ELB.6", "Load balancers have deletion protection enabled",
    lambda p: None if p.get("enableDeletionProtection") is True else
    "deletion protection is off; set enableDeletionProtection: true")
alb_desync_mitigation = _lb_policy(
    "alb-desync-mitigation", "ELB.12", "Application Load Balancers use defensive or strictest desync mitigation",
    lambda p: None if (p.get("desyncMitigationMode") or "defensive") in ("defensive", "strictest") else
    f"desync mitigation mode is {p.get('desyncMitigationMode')!r}; use 'defensive' or 'strictest'")
alb_multi_az = _lb_policy(
    "alb-multi-az", "ELB.13", "Load balancers span at least two Availability Zones",
    lambda p: None if len(p.get("subnets") or p.get("subnetMappings") or []) >= 2 else
    "it spans fewer than two subnets/AZs; give it a subnet in each of at least two AZs")


def _https_redirect(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LISTENER:
        return
    props = plain(args.props)
    if (props.get("protocol") or "").upper() != "HTTP":
        return
    actions = sorted(props.get("defaultActions") or [], key=lambda a: num(a.get("order"), 0))
    first = actions[0] if actions else {}
    redirect = first.get("redirect") or {}
    if first.get("type") != "redirect" or (redirect.get("protocol") or "").upper() != "HTTPS":
        report(f"listener {args.name} serves plain HTTP; make its default action a redirect to HTTPS (AWS FSBP ELB.1).")


alb_https_redirect = ResourceValidationPolicy(
    name="alb-https-redirect", description="HTTP listeners redirect every request to HTTPS (AWS FSBP ELB.1)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_https_redirect)


def _tls_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LISTENER:
        return
    props = plain(args.props)
    if (props.get("protocol") or "").upper() not in ("HTTPS", "TLS"):
        return
    allowed = args.get_config().get("allowedPolicies") or RECOMMENDED_TLS
    if props.get("sslPolicy") not in allowed:
        report(f"listener {args.name} uses TLS policy {props.get('sslPolicy')!r}; use a recommended TLS 1.2+/1.3 "
               f"policy such as ELBSecurityPolicy-TLS13-1-2-2021-06 (AWS FSBP ELB.17).")


alb_tls_policy = ResourceValidationPolicy(
    name="alb-tls-policy", description="HTTPS listeners use a recommended TLS security policy (AWS FSBP ELB.17)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_tls_policy,
    config_schema=schema(allowedPolicies={"type": "array", "items": {"type": "string"}, "default": RECOMMENDED_TLS}))


def _world_open(rule: dict) -> bool:
    return rule.get("cidrIpv4") == "0.0.0.0/0" or rule.get("cidrIpv6") == "::/0" or \
        "0.0.0.0/0" in (rule.get("cidrBlocks") or []) or "::/0" in (rule.get("ipv6CidrBlocks") or [])


def _ports(rule: dict) -> tuple[int, int]:
    proto = str(rule.get("ipProtocol") or rule.get("protocol") or "")
    if proto in ("-1", "all"):
        return 0, 65535
    return int(num(rule.get("fromPort"), 0)), int(num(rule.get("toPort"), 65535))


def _ingress_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = set(args.get_config().get("allowedPorts") or [80, 443])
    props = plain(args.props)
    if args.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        rules = [props]
    elif args.resource_type in ("aws:ec2/securityGroup:SecurityGroup",):
        rules = props.get("ingress") or []
    elif args.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule" and props.get("type") == "ingress":
        rules = [props]
    else:
        return
    for rule in rules:
        if not _world_open(rule):
            continue
        lo, hi = _ports(rule)
        if lo != hi or lo not in allowed:
            report(f"{args.name} opens port(s) {lo}-{hi} to the whole internet; only {sorted(allowed)} may be open "
                   f"to 0.0.0.0/0 or ::/0 (AWS FSBP EC2.18). Restrict the source.")


alb_ingress_restricted = ResourceValidationPolicy(
    name="alb-ingress-restricted",
    description="Only the listener ports are open to the internet (AWS FSBP EC2.18)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_ingress_restricted,
    config_schema=schema(allowedPorts={"type": "array", "items": {"type": "integer"}, "default": [80, 443]}))


def _imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"):
        return
    tokens = (plain(args.props).get("metadataOptions") or {}).get("httpTokens")
    if tokens != "required":
        report(f"{args.name} allows IMDSv1 (httpTokens {tokens!r}); set metadataOptions.httpTokens: required "
               f"(AWS FSBP EC2.170 for launch templates, EC2.8 for instances).")


launch_template_imdsv2 = ResourceValidationPolicy(
    name="launch-template-imdsv2",
    description="Launch templates and instances require IMDSv2 (AWS FSBP EC2.170 / EC2.8)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_imdsv2)


def _instance_ingress(args: StackValidationArgs, report: ReportViolation) -> None:
    props = {r.urn: plain(r.props) for r in args.resources}
    alb_sgs = {sg for r in args.resources if r.resource_type in LB for sg in props[r.urn].get("securityGroups") or []}
    instance_sgs = set()
    for r in args.resources:
        if r.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
            instance_sgs.update(props[r.urn].get("vpcSecurityGroupIds") or [])
        elif r.resource_type == "aws:ec2/instance:Instance":
            instance_sgs.update(props[r.urn].get("vpcSecurityGroupIds") or [])
    for r in args.resources:
        p = props[r.urn]
        if r.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and \
                p.get("securityGroupId") in instance_sgs:
            if p.get("referencedSecurityGroupId") not in alb_sgs:
                source = p.get("cidrIpv4") or p.get("cidrIpv6") or p.get("referencedSecurityGroupId") or "?"
                report(f"{r.name} lets {source} reach instances directly; instances behind the load balancer accept "
                       f"traffic only from the load balancer's security group.", r.urn)
        elif r.resource_type == "aws:ec2/securityGroup:SecurityGroup" and p.get("id") in instance_sgs:
            for rule in p.get("ingress") or []:
                if not set(rule.get("securityGroups") or []) <= alb_sgs or rule.get("cidrBlocks") or rule.get("ipv6CidrBlocks"):
                    report(f"{r.name} has an inline ingress rule from outside the load balancer's security group; "
                           f"admit only the load balancer's group.", r.urn)


instance_ingress_from_alb_only = StackValidationPolicy(
    name="instance-ingress-from-alb-only",
    description="Instances behind the load balancer accept traffic only from its security group (complements AWS FSBP EC2.18)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_instance_ingress)
