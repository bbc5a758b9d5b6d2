"""Load-balancer, instance and network controls from AWS Foundational Security Best
Practices (FSBP). Advisory by default; config/prod.json makes them mandatory.

Resource policies read only the properties they check, straight from the engine's
props: if one of those is unknown during a preview, pulumi_policy reports an advisory
"can't run" for that resource instead of guessing.
"""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import (DEFAULT_SG, INSTANCE, LAUNCH_CONFIGURATION, LAUNCH_TEMPLATE, LB, LISTENER, SECURITY_GROUP,
                              SG_INGRESS_RULE, SG_RULE, cannot_evaluate, known, num, schema, single_az, stack_resources,
                              stack_topology, strict)
from lbguard.core import topology

# AWS's recommended ELB TLS policies (TLS 1.2+ with forward secrecy; the TLS13 family first).
RECOMMENDED_TLS = ["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                   "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
                   "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
                   "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", "ELBSecurityPolicy-FS-1-2-Res-2020-10",
                   "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-TLS-1-2-2017-01"]
# FSBP EC2.19's high-risk ports: never open to the internet, whatever allowedPorts says.
HIGH_RISK_PORTS = [20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500,
                   5601, 8080, 8088, 8888, 9200, 9300]

# ------------------------------------------------------------------ load balancer attributes


def _lb_policy(name: str, control: str, description: str, check, types=("application",)):
    """A policy over load balancers of ``types``: ``check(props) -> problem or None``."""
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in LB and (args.props.get("loadBalancerType") or "application") in types:
            problem = check(args.props)
            if problem:
                report(f"load balancer {args.name}: {problem} (AWS FSBP {control}).")
    return ResourceValidationPolicy(name=name, description=f"{description} (AWS FSBP {control}).",
                                    enforcement_level=EnforcementLevel.ADVISORY, validate=validate)


alb_drop_invalid_headers = _lb_policy(
    "alb-drop-invalid-headers", "ELB.4", "Application Load Balancers drop invalid HTTP headers",
    lambda p: None if p.get("dropInvalidHeaderFields") is True else
    "invalid HTTP header fields are passed to targets; set dropInvalidHeaderFields: true")
alb_deletion_protection = _lb_policy(
    "alb-deletion-protection", "ELB.6", "Application, Network and Gateway Load Balancers have deletion protection",
    lambda p: None if p.get("enableDeletionProtection") is True else
    "deletion protection is off; set enableDeletionProtection: true",
    types=("application", "network", "gateway"))
alb_desync_mitigation = _lb_policy(
    "alb-desync-mitigation", "ELB.12", "Application Load Balancers use defensive or strictest desync mitigation",
    lambda p: None if (p.get("desyncMitigationMode") or "defensive") in ("defensive", "strictest") else
    f"desync mitigation mode is {p.get('desyncMitigationMode')!r}; set desyncMitigationMode: defensive (or strictest)")
def _alb_multi_az(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_resources(args)
    subnet_az = topology.subnet_zones(resources)
    notes = []
    for r in resources:
        if r.type not in LB or (r.props.get("loadBalancerType") or "application") not in ("application", "network",
                                                                                          "gateway"):
            continue
        ids = list(r.props.get("subnets") or [])
        prop = "subnets"
        if not ids and r.props.get("subnetMappings"):
            ids, prop = [m.get("subnetId") for m in r.props["subnetMappings"] if isinstance(m, dict)], "subnetMappings"
        azs, note = single_az(r, prop, ids, subnet_az)
        if note:
            notes.append(note)
        if azs is None or note:
            continue
        where = f"one AZ ({', '.join(sorted(azs))})" if azs else "no subnet"
        report(f"load balancer {r.name}: its {len(ids)} subnet(s) are in {where}; give it subnets in at least two "
               f"AZs (AWS FSBP ELB.13: AZs are counted, not subnets).", r.urn)
    cannot_evaluate(notes)


alb_multi_az = StackValidationPolicy(
    name="alb-multi-az",
    description="Application, Network and Gateway Load Balancers span at least two Availability Zones, counted from "
                "their subnets' AZs (AWS FSBP ELB.13).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_alb_multi_az)

# ------------------------------------------------------------------ listeners


def _https_redirect(args: StackValidationArgs, report: ReportViolation) -> None:
    topo = stack_topology(args)
    notes = []
    for listener in topo.listeners.values():
        if not known(listener.protocol):
            notes.append(f"{listener.name}: protocol unknown")
            continue
        if str(listener.protocol).upper() != "HTTP":
            continue
        actions = sorted(listener.default_actions, key=lambda a: a.get("Order") or 0)
        first = actions[0] if actions else {}
        redirect = first.get("RedirectConfig") or {}
        if first.get("Type") != "redirect" or str(redirect.get("Protocol", "")).upper() != "HTTPS":
            report(f"listener {listener.name} serves plain HTTP; make its default action a redirect to HTTPS "
                   f"(type: redirect, redirect.protocol: HTTPS, statusCode: HTTP_301) (AWS FSBP ELB.1).", listener.urn)
        for rule in listener.rules:
            kinds = {a.get("type") for a in rule.props.get("actions") or [] if isinstance(a, dict)}
            if kinds & {"forward", "authenticate-oidc", "authenticate-cognito"}:
                report(f"listener rule {rule.name} forwards plain-HTTP requests on listener {listener.name}, "
                       f"bypassing the HTTPS redirect; move the rule to the HTTPS listener (AWS FSBP ELB.1).", rule.urn)
    cannot_evaluate(notes)


alb_https_redirect = StackValidationPolicy(
    name="alb-https-redirect",
    description="HTTP listeners redirect every request to HTTPS and carry no forwarding rules (AWS FSBP ELB.1).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_https_redirect)


def _tls_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LISTENER:
        return
    if str(args.props.get("protocol") or "").upper() not in ("HTTPS", "TLS"):
        return
    allowed = args.get_config().get("allowedPolicies") or RECOMMENDED_TLS
    policy = args.props.get("sslPolicy")
    if policy not in allowed:
        shown = repr(policy) if policy else "none (the API default, ELBSecurityPolicy-2016-08, allows TLS 1.0)"
        report(f"listener {args.name} uses TLS policy {shown}; set sslPolicy to a recommended policy such as "
               f"ELBSecurityPolicy-TLS13-1-2-2021-06 (AWS FSBP ELB.17).")


alb_tls_policy = ResourceValidationPolicy(
    name="alb-tls-policy",
    description="HTTPS/TLS listeners use a recommended TLS security policy (AWS FSBP ELB.17).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_tls_policy,
    config_schema=schema(allowedPolicies={"type": "array", "items": {"type": "string"}, "minItems": 1,
                                          "default": RECOMMENDED_TLS,
                                          "description": "TLS policies a listener may use"}))

# ------------------------------------------------------------------ security groups


def _world_open(rule: dict) -> bool:
    return rule.get("cidrIpv4") == "0.0.0.0/0" or rule.get("cidrIpv6") == "::/0" or \
        "0.0.0.0/0" in (rule.get("cidrBlocks") or []) or "::/0" in (rule.get("ipv6CidrBlocks") or [])


def _ports(rule: dict) -> tuple[int, int]:
    proto = str(rule.get("ipProtocol") or rule.get("protocol") or "")
    if proto in ("-1", "all"):
        return 0, 65535
    return int(num(rule.get("fromPort"), 0)), int(num(rule.get("toPort"), 65535))


def _ingress_rules(args) -> list[dict]:
    t = args.resource_type
    if t == SG_INGRESS_RULE:
        return [strict(args.props)]
    if t == SECURITY_GROUP:
        return strict(args.props.get("ingress") or [])
    if t == SG_RULE and args.props.get("type") == "ingress":
        return [strict(args.props)]
    return []


LISTENER_PORTS = (80, 443)  # what may be open to the internet unless the pack config says otherwise


def _ingress_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = {int(p) for p in args.get_config().get("allowedPorts") or LISTENER_PORTS}  # Struct numbers are doubles
    for rule in _ingress_rules(args):
        if not _world_open(rule):
            continue
        lo, hi = _ports(rule)
        risky = [p for p in HIGH_RISK_PORTS if lo <= p <= hi]
        if risky:
            report(f"{args.name} opens high-risk port(s) {', '.join(map(str, risky))} to the whole internet "
                   f"(AWS FSBP EC2.19); restrict the source to known networks or a security group.")
        elif lo != hi or lo not in allowed:
            report(f"{args.name} opens port(s) {lo}-{hi} to the whole internet; only {sorted(allowed)} may be open "
                   f"to 0.0.0.0/0 or ::/0 (AWS FSBP EC2.18). Restrict the source or the ports.")


alb_ingress_restricted = ResourceValidationPolicy(
    name="alb-ingress-restricted",
    description="Only the listener ports are open to the internet, and never a high-risk port (AWS FSBP EC2.18, "
                "EC2.19).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_ingress_restricted,
    config_schema=schema(allowedPorts={"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                                       "default": list(LISTENER_PORTS),
                                       "description": "ports that may be open to 0.0.0.0/0 and ::/0"}))


def _default_sg_closed(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DEFAULT_SG:
        return
    if args.props.get("ingress") or args.props.get("egress"):
        report(f"{args.name} manages the VPC's default security group with rules; remove every ingress and egress "
               f"rule so nothing that falls back to it is reachable (AWS FSBP EC2.2).")


default_security_group_closed = ResourceValidationPolicy(
    name="default-security-group-closed",
    description="The VPC default security group allows no inbound or outbound traffic (AWS FSBP EC2.2).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_default_sg_closed)


def _refs(res, prop: str) -> set[str]:
    """What ``prop`` points at: its known values plus the URNs it depends on."""
    value = res.props.get(prop)
    values = value if isinstance(value, list) else [value]
    return {v for v in values if isinstance(v, str) and known(v)} | set(res.property_dependencies.get(prop, []))


def _instance_ingress(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_resources(args)
    sg_ids = {r.urn: {r.urn} | ({r.props["id"]} if known(r.props.get("id")) else set())
              for r in resources if r.type == SECURITY_GROUP}

    def expand(refs: set[str]) -> set[str]:
        return refs.union(*(sg_ids.get(ref, set()) for ref in refs))

    alb_sgs: set[str] = set()
    instance_sgs: set[str] = set()
    for r in resources:
        if r.type in LB:
            alb_sgs |= expand(_refs(r, "securityGroups"))
        elif r.type in (LAUNCH_TEMPLATE, INSTANCE, LAUNCH_CONFIGURATION):
            instance_sgs |= expand(_refs(r, "vpcSecurityGroupIds") | _refs(r, "securityGroups"))
    notes = []
    for r in resources:
        p = r.props
        if r.type == SG_INGRESS_RULE or (r.type == SG_RULE and p.get("type") == "ingress"):
            target = expand(_refs(r, "securityGroupId"))
            if not target & instance_sgs:
                continue
            source_prop = "referencedSecurityGroupId" if r.type == SG_INGRESS_RULE else "sourceSecurityGroupId"
            source = expand(_refs(r, source_prop))
            cidr = p.get("cidrIpv4") or p.get("cidrIpv6") or p.get("cidrBlocks") or p.get("ipv6CidrBlocks")
            if cidr or p.get("prefixListId") or (source and not source & alb_sgs):
                report(f"{r.name} lets {cidr or p.get('prefixListId') or 'another security group'} reach the "
                       f"instances behind the load balancer directly; admit only the load balancer's security group "
                       f"(referencedSecurityGroupId) so every request goes through the ALB's routing and logs.", r.urn)
            elif not source:
                notes.append(f"{r.name}: its source security group is unknown")
        elif r.type == SECURITY_GROUP and sg_ids[r.urn] & instance_sgs:
            for rule in p.get("ingress") or []:
                if not isinstance(rule, dict):
                    continue
                sources = {s for s in rule.get("securityGroups") or [] if known(s)}
                if rule.get("cidrBlocks") or rule.get("ipv6CidrBlocks") or rule.get("prefixListIds") or \
                        (sources and not sources <= alb_sgs) or rule.get("self"):
                    report(f"{r.name} has an inline ingress rule from outside the load balancer's security group; "
                           f"admit only the load balancer's group.", r.urn)
                    break
    cannot_evaluate(notes)


instance_ingress_from_alb_only = StackValidationPolicy(
    name="instance-ingress-from-alb-only",
    description="Instances behind the load balancer accept traffic only from its security group (complements AWS "
                "FSBP EC2.18).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_instance_ingress)

# ------------------------------------------------------------------ instance metadata


def _imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    controls = {LAUNCH_TEMPLATE: "EC2.170", LAUNCH_CONFIGURATION: "AutoScaling.3", INSTANCE: "EC2.8"}
    control = controls.get(args.resource_type)
    if control is None:
        return
    options = strict(args.props.get("metadataOptions") or {})
    if options.get("httpEndpoint") == "disabled":
        return  # no metadata service at all
    tokens = options.get("httpTokens")
    if tokens != "required":
        report(f"{args.name} allows IMDSv1 (metadataOptions.httpTokens is {tokens or 'not set'}); set "
               f"metadataOptions.httpTokens: required (AWS FSBP {control}).")


launch_template_imdsv2 = ResourceValidationPolicy(
    name="launch-template-imdsv2",
    description="Launch templates, launch configurations and instances require IMDSv2 (AWS FSBP EC2.170, "
                "AutoScaling.3, EC2.8).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_imdsv2)
