"""What a live load balancer's routing does with its traffic, and what is wrong with it.

Pure functions over :class:`lbguard.live.reader.Live`. Every share is a share of the
*listener's* requests: what reaches a rule (its reach, ``lbguard.core.traffic.listener_reach``:
ALB evaluation order through ``lbguard.core.matching``, from the stack's traffic profile when
there is one, else from facts: a catch-all takes everything after it, a shadowed rule gets
nothing, a declared ``expectedShare`` is taken as given), times the forward's weight share.
A rule whose reach is unknown (a narrow rule, no profile) is evaluated at its upper bound and
its findings say so (``possible-...``, warning): they are not outage-class.

Rollback (its outage-class fixes first) and diagnose both call :func:`routing_findings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from lbguard.core import matching, shapes, traffic
from lbguard.live.reader import Live, forwarded

OUTAGE_KINDS = {"funnel", "no-healthy-targets"}
SEVERITIES = ("critical", "high", "warning", "info")
TERMINAL = ("forward", "redirect", "fixed-response")


@dataclass(frozen=True)
class Route:
    """What one rule (or a listener's default action) does with the requests that reach it."""

    listener_arn: str
    rule_arn: str | None  # None: the default action
    priority: int | None
    action: str  # forward / redirect / fixed-response
    weights: dict[str, int]  # target-group ARN -> weight (forwards)
    reach: traffic.Reach

    @property
    def key(self) -> tuple[str, str | None]:
        return self.listener_arn, self.rule_arn


def reaches(live: Live, profile: Any = None, declared: Mapping[str, float] | None = None
            ) -> dict[tuple[str, str | None], traffic.Reach]:
    """(listener ARN, rule ARN or None for the default action) -> the share of the listener's
    requests it receives. ``profile``: an ``lbguard.core.profile.Profile`` or None;
    ``declared``: rule ARN -> expectedShare (used without a profile)."""
    out: dict[tuple[str, str | None], traffic.Reach] = {}
    for arn, lst in live.listeners.items():
        rules = [{"id": r["RuleArn"], "priority": int(r["Priority"]), "conditions": r["Conditions"]}
                 for r in live.listener_rules(arn)]
        classes = names = None
        if profile is not None:
            chosen = profile.for_port(int(lst["Port"]))
            classes, names = [(c.request, w) for c, w in chosen], [c.name for c, _ in chosen]
        found = traffic.listener_reach(rules, classes, declared, class_names=names)
        out.update({(arn, None if rid == traffic.DEFAULT else rid): r for rid, r in found.items()})
    return out


def _terminal(actions: list[dict]) -> str:
    return next((a["Type"] for a in reversed(shapes.canonical_actions(actions)) if a["Type"] in TERMINAL),
                actions[-1]["Type"] if actions else "none")


def routes(live: Live, reach: Mapping[tuple[str, str | None], traffic.Reach]) -> list[Route]:
    """Every rule and default action, listeners by port, each in ALB evaluation order
    (ascending priority, the default action last)."""
    out = []
    for arn, lst in live.listeners.items():
        for rule in live.listener_rules(arn):
            out.append(Route(arn, rule["RuleArn"], int(rule["Priority"]), _terminal(rule["Actions"]),
                             forwarded(rule["Actions"]), reach[(arn, rule["RuleArn"])]))
        out.append(Route(arn, None, None, _terminal(lst["DefaultActions"]), forwarded(lst["DefaultActions"]),
                         reach[(arn, None)]))
    return out


# ------------------------------------------------------------------ names


def where(live: Live, listener_arn: str | None, rule_arn: str | None = None) -> str:
    """``listener https rule api`` / ``listener https default action``, by the stack's keys."""
    if listener_arn is None:
        return ""
    head = f"listener {live.listener_name(listener_arn)}"
    return f"{head} rule {live.rule_name(rule_arn)}" if rule_arn else f"{head} default action"


def label(live: Live, route: Route) -> str:
    return where(live, route.listener_arn, route.rule_arn) + (f" (priority {route.priority})" if route.rule_arn else "")


def names(live: Live, listener_arn: str | None, rule_arn: str | None = None, pool_arn: str | None = None) -> dict:
    """The stack's keys for a finding or row, with AWS's names and ARNs beside them."""
    doc: dict[str, Any] = {}
    if listener_arn:
        doc.update(listener=live.listener_name(listener_arn), listenerName=live.aws_name(listener_arn),
                   listenerArn=listener_arn)
    if rule_arn or listener_arn:
        doc.update(rule=live.rule_name(rule_arn) if rule_arn else None,
                   ruleName=rule_arn.rsplit("/", 1)[-1] if rule_arn else None, ruleArn=rule_arn)
    if pool_arn:
        doc.update(pool=live.pool_name(pool_arn), poolName=live.aws_name(pool_arn), targetGroupArn=pool_arn)
    return doc


def finding(kind: str, severity: str, message: str, where_: str, **extra: Any) -> dict:
    return {"kind": kind, "severity": severity, "where": where_, "message": message, **extra}


def by_severity(findings: list[dict]) -> list[dict]:
    """Most severe first; within a severity, the order they were found in (ALB order)."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f["severity"]) if f["severity"] in SEVERITIES else 9)


# ------------------------------------------------------------------ shares


def _pct(x: float) -> str:
    return f"{x:.0%}"


def share_rows(live: Live, reach: Mapping[tuple[str, str | None], traffic.Reach]) -> list[dict]:
    """One row per (rule or default action, pool) in ALB order, and one per rule or default
    action that does not forward: what share of the listener's requests goes where."""
    rows = []
    pools = live.pools()
    for route in routes(live, reach):
        base = {**names(live, route.listener_arn, route.rule_arn), "priority": route.priority, "action": route.action,
                "reach": route.reach.share, "reachSource": route.reach.source, "shareKnown": route.reach.known,
                "shadowedBy": [live.rule_name(a) for a in route.reach.shadowed_by if a]}
        if not route.weights:
            rows.append({**base, "pool": None, "weight": None, "share": route.reach.share, "healthy": None,
                         "perInstance": None})
            continue
        try:
            loads = traffic.evaluate(traffic.Route(label(live, route), route.weights, route.reach.share), pools).loads
        except traffic.WeightError:
            loads = {}
        for arn, weight in route.weights.items():
            load = loads.get(arn)
            rows.append({**base, **names(live, None, None, arn), "weight": weight,
                         "share": load.share if load else None, "healthy": live.target_groups.get(arn, {}).get("healthy"),
                         "perInstance": load.per_instance_share if load and load.healthy else None})
    return rows


# ------------------------------------------------------------------ findings


def _load_findings(live: Live, route: Route, loads: dict[str, traffic.PoolLoad], limit: float) -> list[dict]:
    out = []
    known = route.reach.known
    at = label(live, route)
    up_to = "" if known else " up to"
    unknown = "" if known else " (its share of the listener is unknown: no traffic profile; evaluated at its upper bound)"
    for arn, load in loads.items():
        pool = live.pool_name(arn)
        extra = {**names(live, route.listener_arn, route.rule_arn, arn), "share": load.share, "shareKnown": known}
        if load.failing:
            out.append(finding("no-healthy-targets" if known else "possible-no-healthy-targets",
                               "critical" if known else "warning",
                               f"{at} sends{up_to} {_pct(load.share)} of the listener's requests to pool {pool}, which has "
                               f"no healthy target (ALB fails open: those requests fail){unknown}",
                               where(live, route.listener_arn, route.rule_arn), **extra))
        elif load.share > 0 and load.per_instance_share > limit:
            out.append(finding("funnel" if known else "possible-funnel", "critical" if known else "warning",
                               f"{at} funnels{up_to} {_pct(load.share)} of the listener's requests onto pool {pool}: each "
                               f"of its {load.healthy} healthy instance(s) receives {_pct(load.per_instance_share)} "
                               f"(limit {_pct(limit)}){unknown}",
                               where(live, route.listener_arn, route.rule_arn), perInstance=load.per_instance_share,
                               **extra))
    return out


def _combined_funnels(live: Live, listener_arn: str, evaluated: list[tuple[Route, dict]], limit: float,
                      flagged: set[str]) -> list[dict]:
    """Pools that several forwards of one listener load past the limit together, though none
    does alone (the policy pack's ``no-traffic-funnel`` adds them up the same way)."""
    mine = [(r, loads) for r, loads in evaluated if r.listener_arn == listener_arn and loads]
    if len(mine) < 2:
        return []
    total = traffic.combine(listener_arn, [traffic.Route(label(live, r), r.weights, r.reach.share) for r, _ in mine])
    out = []
    for arn, load in traffic.evaluate(total, live.pools()).loads.items():
        if arn in flagged or load.failing or load.share <= 0 or load.per_instance_share <= limit:
            continue
        by = [r for r, loads in mine if arn in loads and loads[arn].share > 0]
        known = all(r.reach.known for r in by)
        out.append(finding("funnel" if known else "possible-funnel", "critical" if known else "warning",
                           f"{', '.join(label(live, r) for r in by)} together send {_pct(load.share)} of listener "
                           f"{live.listener_name(listener_arn)}'s requests to pool {live.pool_name(arn)}: each of its "
                           f"{load.healthy} healthy instance(s) receives {_pct(load.per_instance_share)} (limit "
                           f"{_pct(limit)})" + ("" if known else "; some shares are upper bounds (no traffic profile)"),
                           f"listener {live.listener_name(listener_arn)}", **names(live, listener_arn, None, arn),
                           share=load.share,
                           shareKnown=known, perInstance=load.per_instance_share))
    return out


def _shadowed(live: Live, listener_arn: str) -> list[dict]:
    rules = [{"priority": int(r["Priority"]), "conditions": r["Conditions"], "arn": r["RuleArn"]}
             for r in live.listener_rules(listener_arn)]
    out = []
    for low, by in matching.shadowed_rules(rules):
        earlier = " and ".join(f"rule {live.rule_name(h['arn'])} (priority {h['priority']})" for h in by)
        out.append(finding("shadowed-rule", "warning",
                           f"rule {live.rule_name(low['arn'])} (priority {low['priority']}) can never match: {earlier} "
                           f"match every request it would", where(live, listener_arn, low["arn"]),
                           **names(live, listener_arn, low["arn"]), shadowedBy=[live.rule_name(h["arn"]) for h in by]))
    return out


def routing_findings(live: Live, reach: Mapping[tuple[str, str | None], traffic.Reach], *,
                     max_instance_share: float = 0.5) -> list[dict]:
    """Funnels, forwards to nothing healthy, invalid and uneven weights, shadowed rules: in
    ALB order (sort with :func:`by_severity` to show them)."""
    out: list[dict] = []
    pools = live.pools()
    evaluated: list[tuple[Route, dict]] = []
    for route in routes(live, reach):
        if not route.weights:
            continue
        try:
            loads = traffic.evaluate(traffic.Route(label(live, route), route.weights, route.reach.share), pools).loads
        except traffic.WeightError as err:
            out.append(finding("invalid-weights", "critical", f"{label(live, route)}: {err}",
                               where(live, route.listener_arn, route.rule_arn), **names(live, *route.key)))
            continue
        evaluated.append((route, loads))
        out += _load_findings(live, route, loads, max_instance_share)
        if len(route.weights) > 1 and traffic.weight_spread(route.weights) > 0:
            text = ", ".join(f"{live.pool_name(a)}={w}" for a, w in route.weights.items())
            out.append(finding("uneven-weights", "warning", f"{label(live, route)} splits unevenly: {text}",
                               where(live, route.listener_arn, route.rule_arn), **names(live, *route.key)))
    for arn in live.listeners:
        flagged = {f["targetGroupArn"] for f in out if f.get("listenerArn") == arn and f.get("targetGroupArn")
                   and f["kind"].endswith("funnel")}
        out += _combined_funnels(live, arn, evaluated, max_instance_share, flagged)
        out += _shadowed(live, arn)
    return out


def below_minimum(live: Live, minimums: Mapping[str, dict]) -> list[dict]:
    """Pools whose healthy registered targets are fewer than their minimum
    (target-group ARN -> {"minimum": n, "source": why})."""
    out = []
    for arn, tg in sorted(live.target_groups.items(), key=lambda p: live.pool_name(p[0])):
        need = minimums.get(arn)
        if need is None or not tg["exists"] or tg["healthy"] >= need["minimum"]:
            continue
        pool = live.pool_name(arn)
        out.append(finding("below-minimum", "high",
                           f"pool {pool} has {tg['healthy']} healthy registered target(s) ({tg['registered']} "
                           f"registered), below its minimum of {need['minimum']} ({need['source']})",
                           f"pool {pool}", **names(live, None, None, arn), healthy=tg["healthy"],
                           minimum=need["minimum"]))
    return out


def outage_routes(live: Live) -> set[tuple[str, str | None]]:
    """(listener, rule or None) of every forward that is, or may be, outage-class judged on
    facts alone (what the auto-rollback Lambda knows): a rollback fixes these first."""
    found = routing_findings(live, reaches(live))
    return {(f["listenerArn"], f.get("ruleArn")) for f in found
            if f["kind"] in OUTAGE_KINDS or f["kind"].removeprefix("possible-") in OUTAGE_KINDS}


def is_outage(findings: list[dict]) -> bool:
    return any(f["kind"] in OUTAGE_KINDS for f in findings)
