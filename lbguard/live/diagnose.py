"""Diagnose live routing: who gets what share, funnels, uneven weights, drift.

Reads listeners, rules, target groups and target health through the ELBv2 API and
computes every share with :mod:`lbguard.core.traffic`. Outage-class findings (a funnel onto
too few instances, a forward to a target group with no healthy target) make
``lbguard diagnose`` exit 1; each names the listener or rule responsible, by the stack's
own keys (the snapshot's listener, rule and pool keys, as route and diff show them) and
by the ARN's id only when no key is known. A pool with fewer healthy registered targets
than its minimum (its Auto Scaling groups' MinSize, else the stack's ``minSize``) is a
``below-minimum`` finding. :func:`next_step` says which command to run next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbguard.core import matching, shapes, traffic

from lbguard.live import rollback

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
    keys: dict[str, str] = field(default_factory=dict)  # listener / rule / target-group arn -> the stack's key
    minimums: dict[str, dict] = field(default_factory=dict)  # target-group arn -> {"minimum": n, "source": str}

    def forwards(self) -> list[Forward]:
        out = []
        for lst in self.listeners:
            name = self.listener_name(lst)
            for a in shapes.canonical_actions(lst["DefaultActions"])[:1]:
                w = shapes.forward_weights(a)
                if w:
                    out.append(Forward(lst["ListenerArn"], None, f"listener {name} default", None, w))
            for rule in self.rules.get(lst["ListenerArn"], []):
                for a in shapes.canonical_actions(rule["Actions"])[:1]:
                    w = shapes.forward_weights(a)
                    if w:
                        out.append(Forward(lst["ListenerArn"], rule["RuleArn"],
                                           f"listener {name} rule {self.rule_name(rule['RuleArn'])} "
                                           f"(priority {rule['Priority']})", rule["Priority"], w))
        return out

    def pools(self) -> dict[str, traffic.Pool]:
        return {arn: traffic.Pool(instances=tg["healthy"]) for arn, tg in self.target_groups.items()}

    def name(self, arn: str) -> str:
        """A pool: its key, else the target group's name."""
        return self.keys.get(arn) or self.target_groups.get(arn, {}).get("name") or arn.split("/")[-2]

    def listener_name(self, lst: dict) -> str:
        return self.keys.get(lst["ListenerArn"]) or f"{lst['Protocol']}:{lst['Port']}"

    def rule_name(self, arn: str) -> str:
        return self.keys.get(arn) or arn.rsplit("/", 1)[-1]

    def where(self, listener_arn: str | None, rule_arn: str | None) -> str:
        """``<listener>/<rule>`` or ``<listener>/default``, by key."""
        lst = next((l for l in self.listeners if l["ListenerArn"] == listener_arn), None)
        head = self.listener_name(lst) if lst else (listener_arn or "").rsplit("/", 1)[-1]
        return f"{head}/{self.rule_name(rule_arn)}" if rule_arn else (f"{head}/default" if head else "")


def keys_from_snapshots(*snapshots: dict | None) -> dict[str, str]:
    """ARN -> the stack's key for every listener, rule and pool the snapshots name (the
    first snapshot that names an ARN wins: pass the deployed one first)."""
    keys: dict[str, str] = {}
    for snap in snapshots:
        if not snap:
            continue
        for key, tg in (snap.get("targetGroups") or {}).items():
            keys.setdefault(tg["arn"], key)
        for lst in snap.get("listeners") or []:
            if lst.get("key"):
                keys.setdefault(lst["arn"], lst["key"])
            for rule in lst.get("rules") or []:
                if rule.get("key"):
                    keys.setdefault(rule["arn"], rule["key"])
    return keys


def read_minimums(autoscaling, target_group_arns: set[str]) -> dict[str, dict]:
    """Target-group ARN -> the MinSize of the Auto Scaling groups that register into it."""
    out: dict[str, dict] = {}
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            for arn in set(group.get("TargetGroupARNs") or []) & target_group_arns:
                held = out.setdefault(arn, {"minimum": 0, "groups": []})
                held["minimum"] += int(group["MinSize"])
                held["groups"].append(group["AutoScalingGroupName"])
    return {arn: {"minimum": m["minimum"], "source": f"MinSize of Auto Scaling group {', '.join(sorted(m['groups']))}"}
            for arn, m in out.items()}


def settings_minimums(pools: dict, keys: dict[str, str]) -> dict[str, dict]:
    """Target-group ARN -> the stack's ``pools.<key>.minSize``, for pools whose key is known."""
    out = {}
    for arn, key in keys.items():
        pool = pools.get(key) if isinstance(pools, dict) else None
        if isinstance(pool, dict) and isinstance(pool.get("minSize"), int):
            out[arn] = {"minimum": pool["minSize"], "source": f"stack setting pools.{key}.minSize"}
    return out


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


def finding(kind: str, severity: str, listener_arn: str | None, rule_arn: str | None, message: str,
            where: str = "", **extra: Any) -> dict:
    return {"kind": kind, "severity": severity, "where": where, "listenerArn": listener_arn, "ruleArn": rule_arn,
            "message": message, **extra}


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
            out.append(finding("invalid-weights", "critical", fwd.listener_arn, fwd.rule_arn, f"{fwd.label}: {err}",
                               live.where(fwd.listener_arn, fwd.rule_arn)))
            continue
        for arn, load in result.loads.items():
            if load.failing:
                out.append(finding("no-healthy-targets", "critical", fwd.listener_arn, fwd.rule_arn,
                                   f"{fwd.label} sends {load.share:.0%} of its traffic to {live.name(arn)}, which has "
                                   f"no healthy target (ALB fails open: those requests fail)",
                                   live.where(fwd.listener_arn, fwd.rule_arn), pool=live.name(arn)))
            elif load.share > 0 and load.per_instance_share > max_instance_share:
                out.append(finding("funnel", "critical", fwd.listener_arn, fwd.rule_arn,
                                   f"{fwd.label} funnels {load.share:.0%} of the listener's traffic onto "
                                   f"{live.name(arn)}: each of its {load.healthy} healthy instance(s) receives "
                                   f"{load.per_instance_share:.0%} (limit {max_instance_share:.0%})",
                                   live.where(fwd.listener_arn, fwd.rule_arn), pool=live.name(arn)))
        if len(fwd.weights) > 1 and traffic.weight_spread(fwd.weights) > 0:
            text = ", ".join(f"{live.name(a)}={w}" for a, w in fwd.weights.items())
            out.append(finding("uneven-weights", "warning", fwd.listener_arn, fwd.rule_arn,
                               f"{fwd.label} splits unevenly: {text}", live.where(fwd.listener_arn, fwd.rule_arn)))
    for lst in live.listeners:
        rules = [{"priority": int(r["Priority"]), "conditions": r["Conditions"], "arn": r["RuleArn"]}
                 for r in live.rules.get(lst["ListenerArn"], [])]
        for low, by in matching.shadowed_rules(rules):
            earlier = " and ".join(f"{live.rule_name(h['arn'])} ({h['priority']})" for h in by)
            out.append(finding("shadowed-rule", "warning", lst["ListenerArn"], low["arn"],
                               f"rule {live.rule_name(low['arn'])} (priority {low['priority']}) can never match: "
                               f"rule(s) {earlier} match every request it would",
                               live.where(lst["ListenerArn"], low["arn"])))
    out.extend(below_minimum(live))
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
                               f"live differs from the {kind.split('-from-')[1]} snapshot; to restore: {call.description}",
                               live.where(listener_arn, rule_arn) if listener_arn else ""))
    return out


def below_minimum(live: LiveRouting) -> list[dict]:
    """Pools whose healthy registered targets are fewer than their minimum."""
    out = []
    for arn, tg in sorted(live.target_groups.items(), key=lambda p: live.name(p[0])):
        need = live.minimums.get(arn)
        if need is None or tg.get("missing") or tg["healthy"] >= need["minimum"]:
            continue
        out.append(finding("below-minimum", "high", None, None,
                           f"pool {live.name(arn)} has {tg['healthy']} healthy registered target(s) ({tg['registered']} "
                           f"registered), below its minimum of {need['minimum']} ({need['source']})",
                           f"pool {live.name(arn)}", pool=live.name(arn), targetGroupArn=arn, healthy=tg["healthy"],
                           minimum=need["minimum"]))
    return out


def next_step(findings: list[dict], stack: str, *, drill_record: str | None = None) -> dict:
    """The one command to run next, and why: undo a recorded drill first, then roll back an
    outage or drift from known-good; capacity and warnings have no lbguard command."""
    if drill_record:
        return {"command": f"lbguard drill --undo --stack {stack}",
                "reason": f"a drill is recorded in {drill_record}: undo it"}
    if is_outage(findings):
        return {"command": f"lbguard rollback --stack {stack}", "reason": "an outage-class finding: restore known-good"}
    if any(f["kind"] == "drift-from-known-good" for f in findings):
        return {"command": f"lbguard rollback --stack {stack}", "reason": "live routing differs from known-good"}
    low = [f["pool"] for f in findings if f["kind"] == "below-minimum"]
    if low:
        return {"command": None, "reason": f"pool(s) {', '.join(low)} below their minimum: bring the instances back "
                                           f"(Auto Scaling group, target registration); nothing to roll back"}
    if findings:
        return {"command": None, "reason": "warnings only: fix them in the stack settings and deploy; nothing to roll back"}
    return {"command": None, "reason": "nothing to do"}


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
