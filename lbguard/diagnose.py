"""Diagnose live routing: who gets what share, funnels, uneven weights, drift.

Reads listeners, rules, target groups and target health through the ELBv2 API and
computes every share with :mod:`lbguard.traffic`. Outage-class findings (a funnel onto
too few instances, a forward to a target group with no healthy target) make
``lbguard diagnose`` exit 1; each names the listener or rule responsible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbguard import matching, rollback, shapes, traffic

OUTAGE_KINDS = {"funnel", "no-healthy-targets"}


@dataclass
class Forward:
    listener_arn: str
    rule_arn: str | None
    label: str
    priority: str | None
    weights: dict[str, int]


@dataclass
class LiveRouting:
    load_balancer_arn: str
    listeners: list[dict] = field(default_factory=list)
    rules: dict[str, list[dict]] = field(default_factory=dict)  # listener arn -> non-default rules
    target_groups: dict[str, dict] = field(default_factory=dict)  # arn -> {name, healthy, registered}

    def forwards(self) -> list[Forward]:
        out = []
        for lst in self.listeners:
            name = f"{lst['Protocol']}:{lst['Port']}"
            for a in shapes.canonical_actions(lst["DefaultActions"])[:1]:
                w = shapes.forward_weights(a)
                if w:
                    out.append(Forward(lst["ListenerArn"], None, f"listener {name} default", None, w))
            for rule in self.rules.get(lst["ListenerArn"], []):
                for a in shapes.canonical_actions(rule["Actions"])[:1]:
                    w = shapes.forward_weights(a)
                    if w:
                        out.append(Forward(lst["ListenerArn"], rule["RuleArn"],
                                           f"listener {name} rule {rule['Priority']} ({rule['RuleArn'].rsplit('/', 1)[-1]})",
                                           rule["Priority"], w))
        return out

    def pools(self) -> dict[str, traffic.Pool]:
        return {arn: traffic.Pool(instances=tg["healthy"]) for arn, tg in self.target_groups.items()}

    def name(self, arn: str) -> str:
        return self.target_groups.get(arn, {}).get("name") or arn.split("/")[-2]


def read(elbv2, load_balancer_arn: str) -> LiveRouting:
    live = LiveRouting(load_balancer_arn)
    live.listeners = elbv2.describe_listeners(LoadBalancerArn=load_balancer_arn)["Listeners"]
    arns: set[str] = set()
    for lst in live.listeners:
        rules = [r for r in rollback.describe_rules(elbv2, lst["ListenerArn"]) if not r.get("IsDefault")]
        live.rules[lst["ListenerArn"]] = sorted(rules, key=lambda r: int(r["Priority"]))
        for a in lst["DefaultActions"] + [a for r in rules for a in r["Actions"]]:
            arns.update((shapes.forward_weights(a) or {}).keys())
    for tg in elbv2.describe_target_groups(LoadBalancerArn=load_balancer_arn)["TargetGroups"]:
        arns.add(tg["TargetGroupArn"])
    for arn in sorted(arns):
        try:
            tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        except Exception:  # noqa: BLE001 - a forward to a deleted target group is itself a finding
            live.target_groups[arn] = {"name": arn.split("/")[-2], "healthy": 0, "registered": 0, "missing": True}
            continue
        live.target_groups[arn] = {"name": tg["TargetGroupName"], "registered": len(health),
                                   "healthy": sum(h["TargetHealth"]["State"] == "healthy" for h in health)}
    return live


def finding(kind: str, severity: str, listener_arn: str | None, rule_arn: str | None, message: str) -> dict:
    return {"kind": kind, "severity": severity, "listenerArn": listener_arn, "ruleArn": rule_arn, "message": message}


def shares_table(live: LiveRouting) -> list[dict]:
    """Per forward and pool: share of the listener's traffic and per healthy instance."""
    rows = []
    pools = live.pools()
    for fwd in live.forwards():
        try:
            result = traffic.evaluate(traffic.Route(fwd.label, fwd.weights), pools)
        except traffic.WeightError:
            continue
        for arn, load in result.loads.items():
            rows.append({"forward": fwd.label, "pool": live.name(arn), "share": load.share, "healthy": load.healthy,
                         "perInstance": load.per_instance_share, "listenerArn": fwd.listener_arn,
                         "ruleArn": fwd.rule_arn})
    return rows


def diagnose(live: LiveRouting, *, max_instance_share: float = 0.5, current: dict | None = None,
             known_good: dict | None = None) -> list[dict]:
    out: list[dict] = []
    pools = live.pools()
    for fwd in live.forwards():
        try:
            result = traffic.evaluate(traffic.Route(fwd.label, fwd.weights), pools)
        except traffic.WeightError as err:
            out.append(finding("invalid-weights", "critical", fwd.listener_arn, fwd.rule_arn, f"{fwd.label}: {err}"))
            continue
        for arn, load in result.loads.items():
            if load.failing:
                out.append(finding("no-healthy-targets", "critical", fwd.listener_arn, fwd.rule_arn,
                                   f"{fwd.label} sends {load.share:.0%} of its traffic to {live.name(arn)}, which has "
                                   f"no healthy target (ALB fails open: those requests fail)"))
            elif load.share > 0 and load.per_instance_share > max_instance_share:
                out.append(finding("funnel", "critical", fwd.listener_arn, fwd.rule_arn,
                                   f"{fwd.label} funnels {load.share:.0%} of the listener's traffic onto "
                                   f"{live.name(arn)}: each of its {load.healthy} healthy instance(s) receives "
                                   f"{load.per_instance_share:.0%} (limit {max_instance_share:.0%})"))
        if len(fwd.weights) > 1 and traffic.weight_spread(fwd.weights) > 0:
            text = ", ".join(f"{live.name(a)}={w}" for a, w in fwd.weights.items())
            out.append(finding("uneven-weights", "warning", fwd.listener_arn, fwd.rule_arn,
                               f"{fwd.label} splits unevenly: {text}"))
    for lst in live.listeners:
        rules = [{"priority": int(r["Priority"]), "conditions": r["Conditions"], "arn": r["RuleArn"]}
                 for r in live.rules.get(lst["ListenerArn"], [])]
        for low, by in matching.shadowed_rules(rules):
            out.append(finding("shadowed-rule", "warning", lst["ListenerArn"], low["arn"],
                               f"rule {low['priority']} can never match: rule(s) "
                               f"{' and '.join(str(h['priority']) for h in by)} match every request it would"))
    for kind, snap in (("drift-from-current", current), ("drift-from-known-good", known_good)):
        if not snap:
            continue
        state = _as_rollback_live(live)
        try:
            calls = rollback.plan(snap, state)
        except KeyError as err:
            out.append(finding(kind, "warning", None, None, f"snapshot names {err} which is gone"))
            continue
        for call in calls:
            rule_arn = call.params.get("RuleArn")
            listener_arn = call.params.get("ListenerArn") or next(
                (l for l, arns in state.rules_by_listener.items() if rule_arn in arns), None)
            out.append(finding(kind, "warning", listener_arn, rule_arn,
                               f"live differs from the {kind.split('-from-')[1]} snapshot; to restore: {call.description}"))
    return out


def _as_rollback_live(live: LiveRouting) -> rollback.Live:
    state = rollback.Live()
    for lst in live.listeners:
        state.listeners[lst["ListenerArn"]] = lst
        rules = live.rules.get(lst["ListenerArn"], [])
        state.rules_by_listener[lst["ListenerArn"]] = [r["RuleArn"] for r in rules]
        state.rules.update({r["RuleArn"]: r for r in rules})
    return state


def is_outage(findings: list[dict[str, Any]]) -> bool:
    return any(f["kind"] in OUTAGE_KINDS for f in findings)
