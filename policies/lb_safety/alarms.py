"""alarm-coverage: every target group that receives traffic is watched."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from lb_safety.common import plain, stack_topology, valid_forwards

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _metrics(alarm: dict) -> list[tuple[str, dict]]:
    """(metric name, dimensions) an alarm reads, directly or through metric math."""
    out = []
    if alarm.get("metricName"):
        out.append((alarm["metricName"], alarm.get("dimensions") or {}))
    for q in alarm.get("metricQueries") or []:
        m = q.get("metric")
        if m:
            out.append((m.get("metricName"), m.get("dimensions") or {}))
    return out


def _coverage(args: StackValidationArgs, report: ReportViolation) -> None:
    topo = stack_topology(args)
    alarms = [plain(r.props) for r in args.resources if r.resource_type == ALARM]
    alarms = [a for a in alarms if a.get("alarmActions") and a.get("actionsEnabled", True) is not False]

    def watched(suffix: str, metric: str, math: bool) -> bool:
        return any(name == metric and dims.get("TargetGroup") == suffix and (not math or len(a.get("metricQueries") or []) > 1)
                   for a in alarms for name, dims in _metrics(a))

    needs_skew: set[str] = set()
    receives: set[str] = set()
    forwards = valid_forwards(topo)
    for fwd in forwards:
        live = [k for k, w in fwd.weights.items() if w > 0]
        receives.update(live)
        if len(live) >= 2:
            needs_skew.update(live)
    for tg_id in sorted(receives):
        node = topo.target_groups[tg_id]
        suffix = tg_id.split(":", 5)[5] if tg_id.startswith("arn:") else None
        if suffix is None:
            continue
        missing = []
        if not watched(suffix, "UnHealthyHostCount", math=False):
            missing.append("an UnHealthyHostCount alarm")
        if tg_id in needs_skew and not watched(suffix, "RequestCount", math=True):
            missing.append("a share-skew alarm (metric math over RequestCount)")
        if missing:
            report(f"target group {node.label} receives traffic but has no {' and no '.join(missing)} with alarm "
                   f"actions. Add them (components/alarms.py builds both) so a funnel is seen in minutes.", node.urn)


alarm_coverage = StackValidationPolicy(
    name="alarm-coverage",
    description="Every target group that receives traffic has unhealthy-host and share-skew alarms with actions.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_coverage,
)
