"""The routing snapshot: everything needed to restore a load balancer's routing.

It is the stack output ``rollback`` and the known-good record in SSM. Every action
and condition is stored in ELBv2 API shape, so restoring needs boto3 alone:
``modify_listener(ListenerArn=l["arn"], DefaultActions=l["defaultActions"])`` and
``modify_rule(RuleArn=r["arn"], Conditions=r["conditions"], Actions=r["actions"])``
plus ``set_rule_priorities``.

Schema version 1::

    {"schemaVersion": 1, "project": str, "stack": str,
     "loadBalancer": {"arn": str, "name": str},
     "targetGroups": {pool_key: {"arn": str, "name": str}},
     "listeners": [{"key": str, "arn": str, "port": int, "protocol": str,
                    "defaultActions": [Action], "rules": [
                        {"key": str, "arn": str, "priority": int,
                         "conditions": [Condition], "actions": [Action]}]}]}
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from lbguard import shapes
from lbguard.model import LbguardError

SCHEMA_VERSION = 1


def camelize(value: Any) -> Any:
    """snake_case dict keys (pulumi Python inputs) -> camelCase (engine/provider shape)."""
    if isinstance(value, Mapping):
        return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): camelize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [camelize(v) for v in value]
    return value


def build_snapshot(*, project: str, stack: str, load_balancer: Mapping[str, str],
                   target_groups: Mapping[str, Mapping[str, str]], listeners: list[Mapping[str, Any]]) -> dict:
    """Listeners come in pulumi-aws shape (camelCase) with resolved ARNs."""
    out_listeners = []
    for lst in listeners:
        out_listeners.append({
            "key": lst["key"],
            "arn": lst["arn"],
            "port": int(lst["port"]),
            "protocol": lst["protocol"],
            "defaultActions": [shapes.action_to_api(a) for a in lst["defaultActions"]],
            "rules": [
                {
                    "key": r["key"],
                    "arn": r["arn"],
                    "priority": int(r["priority"]),
                    "conditions": [shapes.condition_to_api(c) for c in r["conditions"]],
                    "actions": [shapes.action_to_api(a) for a in r["actions"]],
                }
                for r in lst.get("rules", [])
            ],
        })
    return {
        "schemaVersion": SCHEMA_VERSION,
        "project": project,
        "stack": stack,
        "loadBalancer": dict(load_balancer),
        "targetGroups": {k: dict(v) for k, v in target_groups.items()},
        "listeners": out_listeners,
    }


def validate_snapshot(doc: Any, source: str = "snapshot") -> dict:
    """Check the structure; raise LbguardError naming the first problem."""

    def need(cond: bool, where: str, what: str) -> None:
        if not cond:
            raise LbguardError(f"{source}: {where}: {what}")

    need(isinstance(doc, dict), "(top)", "must be a JSON object")
    need(doc.get("schemaVersion") == SCHEMA_VERSION, "schemaVersion",
         f"must be {SCHEMA_VERSION}, got {doc.get('schemaVersion')!r}")
    need(isinstance(doc.get("loadBalancer"), dict) and "arn" in doc["loadBalancer"], "loadBalancer", "needs an arn")
    need(isinstance(doc.get("listeners"), list) and doc["listeners"], "listeners", "must be a non-empty list")
    for i, lst in enumerate(doc["listeners"]):
        need(isinstance(lst, dict) and isinstance(lst.get("arn"), str), f"listeners[{i}]", "needs an arn")
        need(isinstance(lst.get("defaultActions"), list) and lst["defaultActions"],
             f"listeners[{i}].defaultActions", "must be a non-empty list")
        prios = set()
        for j, rule in enumerate(lst.get("rules", [])):
            where = f"listeners[{i}].rules[{j}]"
            need(isinstance(rule.get("arn"), str), where, "needs an arn")
            prio = rule.get("priority")
            # The engine's wire format turns integers into floats (10 -> 10.0): accept integral numbers.
            need(isinstance(prio, (int, float)) and not isinstance(prio, bool) and float(prio).is_integer()
                 and 1 <= prio <= 50000, f"{where}.priority", f"must be an integer 1..50000, got {prio!r}")
            need(rule["priority"] not in prios, f"{where}.priority", f"duplicate priority {rule['priority']}")
            prios.add(rule["priority"])
            need(isinstance(rule.get("actions"), list) and rule["actions"], f"{where}.actions", "must be a non-empty list")
            need(isinstance(rule.get("conditions"), list) and rule["conditions"], f"{where}.conditions",
                 "must be a non-empty list")
    return doc


def forwarded_target_groups(doc: Mapping[str, Any]) -> set[str]:
    """Every target-group ARN a snapshot forwards to with a positive weight."""
    arns: set[str] = set()
    for lst in doc["listeners"]:
        actions = list(lst["defaultActions"])
        for rule in lst.get("rules", []):
            actions.extend(rule["actions"])
        for a in actions:
            weights = shapes.forward_weights(a) or {}
            arns.update(arn for arn, w in weights.items() if w > 0)
    return arns
