"""target-group-health-check: every target group checks its targets properly."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from lb_safety.common import TARGET_GROUP, num, plain, schema


def health_check_problems(hc: dict | None, protocol: str | None, max_interval: float) -> list[str]:
    if not hc or hc.get("enabled") is False:
        return ["health checks are disabled; enable them so failed instances stop receiving traffic"]
    problems = []
    hc_protocol = (hc.get("protocol") or protocol or "HTTP").upper()
    if hc_protocol in ("HTTP", "HTTPS"):
        if not hc.get("path"):
            problems.append("an HTTP(S) health check needs a path (e.g. /health)")
        if not hc.get("matcher"):
            problems.append("an HTTP(S) health check needs a matcher (e.g. 200)")
    interval, timeout = num(hc.get("interval"), 30), num(hc.get("timeout"), 5)
    if timeout >= interval:
        problems.append(f"timeout ({timeout:g}s) must be less than interval ({interval:g}s)")
    if interval > max_interval:
        problems.append(f"interval {interval:g}s is above {max_interval:g}s: a dead instance keeps traffic too long")
    for key in ("healthyThreshold", "unhealthyThreshold"):
        v = num(hc.get(key), 3)
        if not 2 <= v <= 10:
            problems.append(f"{key} {v:g} is outside 2..10")
    return problems


def _health(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TARGET_GROUP:
        return
    props = plain(args.props)
    if props.get("targetType") == "lambda":
        return
    for problem in health_check_problems(props.get("healthCheck"), props.get("protocol"),
                                         num(args.get_config().get("maxIntervalSeconds"), 30)):
        report(f"target group {args.name}: {problem}.")


target_group_health_check = ResourceValidationPolicy(
    name="target-group-health-check",
    description="Target groups health-check their targets: enabled, path and matcher for HTTP(S), timeout < interval, sane thresholds.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_health,
    config_schema=schema(maxIntervalSeconds={"type": "number", "minimum": 5, "maximum": 300, "default": 30}),
)
