"""alarm-coverage: every target group that receives traffic is watched, and someone is told.

June 1 took 2 minutes to detect and an hour to explain: a per-pool unhealthy-host alarm
and a per-forward share-skew alarm, both with actions, make a sick pool or a funnel a
page within minutes that names where it happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from lb_safety.common import (cannot_evaluate, known, schema, stack_resources, stack_topology, unresolved_reasons,
                              valid_forwards)
from lbguard.core import topology

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alarm_metrics(alarm: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """(metric name, dimensions) an alarm reads, directly or through metric math."""
    out = []
    if alarm.get("metricName"):
        out.append((alarm["metricName"], alarm.get("dimensions") or {}))
    for q in alarm.get("metricQueries") or []:
        m = q.get("metric") if isinstance(q, Mapping) else None
        if isinstance(m, Mapping):
            out.append((m.get("metricName"), m.get("dimensions") or {}))
    return out


def _queries_known(alarm: Mapping[str, Any]) -> bool:
    """The alarm's metric-math queries, if any, are a known list of known entries."""
    queries = alarm.get("metricQueries")
    return queries is None or topology.known_list(queries)


def notifies(alarm: Mapping[str, Any], require_ok_actions: bool = False) -> bool:
    """Actions enabled and someone to tell (and, if required, told again on recovery)."""
    if alarm.get("actionsEnabled") is False or not alarm.get("alarmActions"):
        return False
    return bool(alarm.get("okActions")) or not require_ok_actions


def target_group_suffix(arn: Any) -> str | None:
    """CloudWatch's TargetGroup dimension for a target-group ARN: 'targetgroup/<name>/<id>'."""
    parts = arn.split(":", 5) if isinstance(arn, str) and arn.startswith("arn:") else []
    return parts[5] if len(parts) == 6 and parts[5].startswith("targetgroup/") else None


def check_alarm_coverage(topo: topology.Topology, alarms: Iterable[Mapping[str, Any]], *,
                         require_share_skew: bool = True,
                         require_ok_actions: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
    """(violations as (message, target-group urn), reasons something could not be evaluated).

    Unhealthy hosts: an alarm reading the target group's ``UnHealthyHostCount``. Share
    skew (a target group in a forward with two or more positive weights): a metric-math
    alarm reading the ``RequestCount`` of *every* target group that forward sends traffic
    to, since a share exists only relative to the others. Only alarms with actions count.
    """
    alarms = list(alarms)
    watching = [a for a in alarms if notifies(a, require_ok_actions)]
    notes: list[str] = []
    if any(not known(dims) for a in alarms for _, dims in alarm_metrics(a)):
        notes.append("some alarms' dimensions are unknown")
    if any(not _queries_known(a) for a in alarms):
        notes.append("some alarms' metric queries are unknown")
    # A metric that an alarm reads through unknowns (a preview) may be any target group's:
    # whether a target group has that alarm cannot be told, so it is said, never reported.
    undecided = {name for a in watching for name, dims in alarm_metrics(a) if not known(dims)}
    if any(not _queries_known(a) for a in watching):
        undecided |= {"UnHealthyHostCount", "RequestCount"}

    # Index the alarms once (a scan per target group would be quadratic in large stacks):
    # which target groups have an unhealthy-host alarm, and, per target group, the sets of
    # target groups whose RequestCount each metric-math alarm reads.
    unhealthy: set[str] = set()
    skew_sets: dict[str, list[frozenset[str]]] = {}
    for a in watching:
        reads_requests = set()
        for name, dims in alarm_metrics(a):
            tg = dims.get("TargetGroup") if isinstance(dims, Mapping) else None
            if name == "UnHealthyHostCount" and tg:
                unhealthy.add(tg)
            elif name == "RequestCount" and tg and a.get("metricQueries"):
                reads_requests.add(tg)
        group = frozenset(reads_requests)
        for tg in group:
            skew_sets.setdefault(tg, []).append(group)

    receives: dict[str, list[topology.Forward]] = {}
    for fwd in valid_forwards(topo):
        live = [tg for tg, w in fwd.weights.items() if w > 0]
        for tg in live:
            receives.setdefault(tg, [])
            if len(live) >= 2:
                receives[tg].append(fwd)

    found: list[tuple[str, str]] = []
    for tg_id in sorted(receives, key=topo.label):
        node = topo.target_groups[tg_id]
        suffix = target_group_suffix(tg_id)
        if suffix is None:
            notes.append(f"{node.name}: its ARN is unknown, so its alarms cannot be matched")
            continue
        missing = []
        if suffix not in unhealthy and "UnHealthyHostCount" not in undecided:
            missing.append("UnHealthyHostCount alarm")
        if require_share_skew and "RequestCount" not in undecided:
            for fwd in receives[tg_id]:
                live = [t for t, w in fwd.weights.items() if w > 0]
                peers = [target_group_suffix(t) for t in live]
                if None in peers:
                    notes.append(f"{fwd.id}: a target group's ARN is unknown, so its share-skew alarm cannot be matched")
                    continue
                if not any(set(peers) <= group for group in skew_sets.get(peers[0], [])):
                    missing.append(f"share-skew alarm for {fwd.id} (metric math over the RequestCount of "
                                   f"{', '.join(sorted(topo.label(t) for t in live))})")
        if missing:
            actions = "alarm and OK actions" if require_ok_actions else "alarm actions"
            found.append((f"target group {node.label} receives traffic but has no {' and no '.join(missing)} with "
                          f"{actions}. Add them with actions to the stack's alarm topic (components/alarms.py builds "
                          f"both for every pool and every forward of two or more pools), so a sick pool or a funnel "
                          f"pages someone within minutes.", node.urn))
    return found, notes


def _coverage(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = args.get_config()
    resources = stack_resources(args)
    topo = stack_topology(args, resources)
    found, notes = check_alarm_coverage(topo, [r.props for r in resources if r.type == ALARM],
                                        require_share_skew=cfg.get("requireShareSkew", True) is not False,
                                        require_ok_actions=cfg.get("requireOkActions", False) is True)
    for message, urn in found:
        report(message, urn)
    cannot_evaluate(unresolved_reasons(topo) + notes)


alarm_coverage = StackValidationPolicy(
    name="alarm-coverage",
    description="Every target group that receives traffic has an unhealthy-host alarm and, in a forward of two or "
                "more target groups, a share-skew alarm, each with alarm actions.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_coverage,
    config_schema=schema(
        requireShareSkew={"type": "boolean", "default": True,
                          "description": "require a share-skew alarm for each forward with two or more target groups"},
        requireOkActions={"type": "boolean", "default": False,
                          "description": "count only alarms that also notify on recovery (OK actions)"},
    ),
)
