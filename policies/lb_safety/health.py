"""Health checks: every target group checks its targets properly (target-group-health-check), and
the load balancer can reach the port it checks (health-check-port-reachable)."""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import (TARGET_GROUP, cannot_evaluate, num, schema, stack_resources, stack_topology, strict,
                              unresolved_reasons)
from lbguard.core import reachability

# AWS defaults when a field is omitted (ELBv2 CreateTargetGroup).
DEFAULT_INTERVAL, DEFAULT_TIMEOUT, DEFAULT_THRESHOLD = 30, 5, 3


def matcher_codes(matcher: str) -> list[tuple[int, int]] | None:
    """ "200", "200-299", "200,302" -> [(200, 200), (200, 299), ...]; None if not understood."""
    out = []
    for part in str(matcher).split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            out.append((int(lo), int(hi or lo)))
        except ValueError:
            return None
    return out


def health_check_problems(hc: dict | None, protocol: str | None, max_interval: float,
                          max_detection: float = 60, protocol_version: str | None = None) -> list[str]:
    if not hc:
        return ["no healthCheck block; set one explicitly (enabled, path, matcher, interval, timeout, thresholds) "
                "so failed instances stop receiving traffic"]
    if hc.get("enabled") is False:
        return ["health checks are disabled; set healthCheck.enabled: true so failed instances stop receiving traffic"]
    problems = []
    hc_protocol = str(hc.get("protocol") or protocol or "HTTP").upper()
    if hc_protocol in ("HTTP", "HTTPS"):
        if not hc.get("path"):
            problems.append("an HTTP(S) health check needs healthCheck.path (e.g. /health)")
        if not hc.get("matcher"):
            problems.append("an HTTP(S) health check needs healthCheck.matcher (e.g. 200)")
        elif str(protocol_version or "").upper() != "GRPC":  # gRPC matchers are gRPC codes (0-99)
            ranges = matcher_codes(hc["matcher"])
            if ranges is None:
                problems.append(f"healthCheck.matcher {hc['matcher']!r} is not an HTTP code, range or list")
            elif any(hi >= 400 for _, hi in ranges):
                problems.append(f"healthCheck.matcher {hc['matcher']!r} counts 4xx/5xx answers as healthy, so a "
                                f"target that fails every request stays in service; match 200-399 at most "
                                f"(e.g. 200)")
    interval = num(hc.get("interval"), DEFAULT_INTERVAL)
    timeout = num(hc.get("timeout"), DEFAULT_TIMEOUT)
    if timeout >= interval:
        problems.append(f"healthCheck.timeout ({timeout:g}s) must be less than healthCheck.interval ({interval:g}s)")
    if interval > max_interval:
        problems.append(f"healthCheck.interval {interval:g}s is above {max_interval:g}s: a dead instance keeps "
                        f"receiving traffic too long; lower it")
    for key in ("healthyThreshold", "unhealthyThreshold"):
        v = num(hc.get(key), DEFAULT_THRESHOLD)
        if not 2 <= v <= 10:
            problems.append(f"healthCheck.{key} {v:g} is outside 2..10")
    # Detection time: a dead target keeps receiving its share for interval x unhealthyThreshold.
    detection = interval * num(hc.get("unhealthyThreshold"), DEFAULT_THRESHOLD)
    if detection > max_detection:
        problems.append(f"a failed target is detected only after interval x unhealthyThreshold = {detection:g}s, "
                        f"above {max_detection:g}s, and keeps receiving traffic until then; lower the interval or "
                        f"the unhealthy threshold")
    return problems


def _health(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TARGET_GROUP:
        return
    if args.props.get("targetType") == "lambda":
        return  # Lambda targets are health-checked only on request; nothing to enforce here.
    cfg = args.get_config()
    problems = health_check_problems(strict(args.props.get("healthCheck")), args.props.get("protocol"),
                                     num(cfg.get("maxIntervalSeconds"), 30), num(cfg.get("maxDetectionSeconds"), 60),
                                     args.props.get("protocolVersion"))
    if problems:
        report(f"target group {args.name}: {'; '.join(problems)}.")


target_group_health_check = ResourceValidationPolicy(
    name="target-group-health-check",
    description="Target groups health-check their targets: enabled, path and a 2xx/3xx matcher for HTTP(S), timeout < "
                "interval, thresholds 2..10, interval at most 30 s, a failed target detected within 60 s.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_health,
    config_schema=schema(maxIntervalSeconds={"type": "number", "minimum": 5, "maximum": 300, "default": 30,
                                             "description": "longest allowed health-check interval in seconds"},
                         maxDetectionSeconds={"type": "number", "minimum": 10, "maximum": 3000, "default": 60,
                                              "description": "longest allowed interval x unhealthyThreshold: how long "
                                                             "a failed target keeps receiving traffic"}),
)


def _port_reachable(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_resources(args)
    topo = stack_topology(args, resources)
    gaps, notes = reachability.health_check_gaps(resources, topo)
    for gap in gaps:
        lb_groups, targets = ", ".join(gap.load_balancer_groups), ", ".join(gap.target_groups_sg)
        if gap.direction == "ingress":
            missing = (f"no ingress rule of the instances' security group(s) ({targets}) admits TCP {gap.port} from "
                       f"the load balancer's ({lb_groups})")
            fix = (f"add an ingress rule on {targets} for port {gap.port} from the load balancer's group "
                   f"(aws.vpc.SecurityGroupIngressRule referencedSecurityGroupId, or an inline ingress rule)")
        else:
            missing = (f"no egress rule of the load balancer's security group(s) ({lb_groups}) lets TCP {gap.port} "
                       f"out to the instances' ({targets})")
            fix = (f"add an egress rule on {lb_groups} for port {gap.port} to the instances' group "
                   f"(aws.vpc.SecurityGroupEgressRule referencedSecurityGroupId, or an inline egress rule)")
        report(f"target group {gap.target_group} health-checks port {gap.port}, but {missing}: every target will "
               f"fail its checks and the load balancer will fail open onto targets it believes dead; {fix}.",
               gap.target_group_urn)
    cannot_evaluate(notes + unresolved_reasons(topo))


health_check_port_reachable = StackValidationPolicy(
    name="health-check-port-reachable",
    description="The load balancer's security groups can reach each target group's health-check port on its "
                "instances (egress from the load balancer's group, ingress into the instances'), through "
                "SecurityGroupRule, the vpc ingress/egress rule resources or inline rules.",
    enforcement_level=EnforcementLevel.MANDATORY, validate=_port_reachable)
