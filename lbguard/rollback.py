"""Roll a load balancer's routing back to a snapshot, with boto3 alone.

Plan, apply, verify:

1. ``read_live`` reads every listener and rule the snapshot names, plus the rules now
   on those listeners that it does not name.
2. ``check_snapshot`` refuses a stale snapshot: a listener, rule or target group it
   names is gone, or a target group it forwards to has no healthy target.
3. ``plan`` computes the minimal calls: DeleteRule for rules added since the snapshot
   (they hold priorities and, on June 1, the traffic), SetRulePriorities for moved
   rules (two batches when rules swap: ALB refuses a batch that asks for a priority
   another rule holds), ModifyRule for changed conditions/actions, ModifyListener for
   changed default actions. Every call sets state absolutely, so a re-run after a
   partial failure converges, and a listener always keeps a complete default action
   (ModifyListener replaces it in one call).
4. ``apply`` runs the calls in order and stops at the first failure, reporting what was
   and was not applied. Throttling and transient errors are retried by botocore's
   ``standard`` retry mode (``RETRY_CONFIG``), not by a loop here.
5. ``verify`` reads back and compares.

This module imports only boto3/botocore and lbguard's shapes/snapshot/model, so the
auto-rollback Lambda ships it as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from lbguard import shapes
from lbguard.model import LbguardError
from lbguard.snapshot import forwarded_target_groups, validate_snapshot

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=20)
MAX_PRIORITY = 50000


def client(session=None, region: str | None = None, endpoint_url: str | None = None):
    import boto3

    return (session or boto3).client("elbv2", region_name=region, endpoint_url=endpoint_url, config=RETRY_CONFIG)


@dataclass
class Call:
    op: str  # "DeleteRule" | "SetRulePriorities" | "ModifyRule" | "ModifyListener"
    params: dict
    description: str

    def to_json(self) -> dict:
        return {"call": self.op, "params": self.params, "change": self.description}


@dataclass
class Live:
    listeners: dict[str, dict] = field(default_factory=dict)  # arn -> DescribeListeners entry
    rules: dict[str, dict] = field(default_factory=dict)  # arn -> DescribeRules entry (non-default)
    rules_by_listener: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Result:
    calls: list[Call]
    applied: list[Call]
    failed: Call | None = None
    error: str | None = None
    verified: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def not_applied(self) -> list[Call]:
        return self.calls[len(self.applied):]

    def to_json(self) -> dict:
        return {"writeCalls": len(self.applied) + (1 if self.failed else 0),
                "changes": [c.to_json() for c in self.applied],
                "notApplied": [c.to_json() for c in self.not_applied],
                "error": self.error, "verified": self.verified, "differences": self.differences}


def describe_rules(elbv2, listener_arn: str) -> list[dict]:
    rules, marker = [], None
    while True:
        page = elbv2.describe_rules(ListenerArn=listener_arn, **({"Marker": marker} if marker else {}))
        rules += page["Rules"]
        marker = page.get("NextMarker")
        if not marker:
            return rules


def read_live(elbv2, snapshot: dict) -> Live:
    live = Live()
    for lst in snapshot["listeners"]:
        try:
            held = elbv2.describe_listeners(ListenerArns=[lst["arn"]])["Listeners"][0]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ListenerNotFound":
                continue
            raise
        live.listeners[lst["arn"]] = held
        arns = []
        for rule in describe_rules(elbv2, lst["arn"]):
            if not rule.get("IsDefault"):
                live.rules[rule["RuleArn"]] = rule
                arns.append(rule["RuleArn"])
        live.rules_by_listener[lst["arn"]] = arns
    return live


def check_snapshot(elbv2, snapshot: dict, live: Live) -> None:
    """Raise LbguardError (one line) if the snapshot cannot be applied as it stands."""
    for lst in snapshot["listeners"]:
        if lst["arn"] not in live.listeners:
            raise LbguardError(f"stale snapshot: listener {lst.get('key', lst['arn'])} ({lst['arn']}) no longer exists")
        for rule in lst.get("rules", []):
            if rule["arn"] not in live.rules:
                raise LbguardError(f"stale snapshot: rule {rule.get('key', rule['arn'])} ({rule['arn']}) no longer exists")
    wanted = set(forwarded_target_groups(snapshot))
    every = set()
    for lst in snapshot["listeners"]:
        for a in lst["defaultActions"] + [a for r in lst.get("rules", []) for a in r["actions"]]:
            every.update((shapes.forward_weights(a) or {}).keys())
    for arn in sorted(every):
        try:
            elbv2.describe_target_groups(TargetGroupArns=[arn])
        except ClientError as err:
            if err.response["Error"]["Code"] in ("TargetGroupNotFound", "ValidationError"):
                raise LbguardError(f"stale snapshot: target group {_tg(arn)} no longer exists; nothing was changed") \
                    from None
            raise
        if arn in wanted:
            health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            if not any(h["TargetHealth"]["State"] == "healthy" for h in health):
                raise LbguardError(f"stale snapshot: target group {_tg(arn)} has no healthy target; restoring would "
                                   f"send traffic to it; nothing was changed")


def _tg(arn: str) -> str:
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def _label(snapshot_rule: dict | None, arn: str) -> str:
    return f"rule {snapshot_rule['key']}" if snapshot_rule and snapshot_rule.get("key") else f"rule {arn.rsplit('/', 1)[-1]}"


def _weights_text(actions: list[dict]) -> str:
    parts = []
    for a in shapes.canonical_actions(actions):
        w = shapes.forward_weights(a)
        parts.append(", ".join(f"{_tg(arn)}={v}" for arn, v in w.items()) if w else a["Type"])
    return "; ".join(parts)


def _priority_calls(moves: dict[str, int], held: dict[str, int], labels: dict[str, str]) -> list[Call]:
    """SetRulePriorities for ``moves`` (rule ARN -> wanted) given ``held`` (ARN -> now).

    A batch must not ask for a priority another rule holds (PriorityInUse), so rules
    that block a move (a swap) first go to free priorities, then all go to their place.
    """
    if not moves:
        return []
    occupied = {p: arn for arn, p in held.items()}
    blockers = sorted({occupied[p] for arn, p in moves.items() if p in occupied and occupied[p] != arn})
    calls = []
    if blockers:
        used = set(held.values()) | set(moves.values())
        temp = {}
        for arn in blockers:
            p = next(q for q in range(MAX_PRIORITY, 0, -1) if q not in used)
            temp[arn] = p
            used.add(p)
        calls.append(Call("SetRulePriorities", {"RulePriorities": [{"RuleArn": a, "Priority": p} for a, p in temp.items()]},
                          "make room: " + ", ".join(f"{labels[a]} {held[a]} -> {p}" for a, p in temp.items())))
    ordered = sorted(moves.items(), key=lambda kv: kv[1])
    calls.append(Call("SetRulePriorities", {"RulePriorities": [{"RuleArn": a, "Priority": p} for a, p in ordered]},
                      "priorities: " + ", ".join(f"{labels[a]} {held[a]} -> {p}" for a, p in ordered)))
    return calls


def plan(snapshot: dict, live: Live) -> list[Call]:
    calls: list[Call] = []
    wanted_rules = {r["arn"]: (lst["arn"], r) for lst in snapshot["listeners"] for r in lst.get("rules", [])}
    # 1. Rules added since the snapshot: they take priorities and traffic.
    deleted = set()
    for lst in snapshot["listeners"]:
        for arn in live.rules_by_listener.get(lst["arn"], []):
            if arn not in wanted_rules:
                held = live.rules[arn]
                deleted.add(arn)
                calls.append(Call("DeleteRule", {"RuleArn": arn},
                                  f"delete rule {arn.rsplit('/', 1)[-1]} (priority {held['Priority']}, not in the "
                                  f"snapshot; forwarded {_weights_text(held['Actions'])})"))
    # 2. Priorities, per listener.
    for lst in snapshot["listeners"]:
        held = {arn: int(live.rules[arn]["Priority"]) for arn in live.rules_by_listener.get(lst["arn"], [])
                if arn not in deleted}
        moves = {r["arn"]: int(r["priority"]) for r in lst.get("rules", []) if held.get(r["arn"]) != int(r["priority"])}
        labels = {arn: _label(wanted_rules.get(arn, (None, None))[1], arn) for arn in held}
        calls += _priority_calls(moves, held, labels)
    # 3. Rule conditions and actions.
    for arn, (_, r) in wanted_rules.items():
        held = live.rules[arn]
        same_actions = shapes.canonical_actions(held["Actions"]) == shapes.canonical_actions(r["actions"])
        same_conditions = shapes.canonical_conditions(held["Conditions"]) == shapes.canonical_conditions(r["conditions"])
        if not (same_actions and same_conditions):
            what = []
            if not same_actions:
                what.append(f"actions {_weights_text(held['Actions'])} -> {_weights_text(r['actions'])}")
            if not same_conditions:
                what.append("conditions")
            calls.append(Call("ModifyRule", {"RuleArn": arn, "Conditions": r["conditions"], "Actions": r["actions"]},
                              f"{_label(r, arn)}: {'; '.join(what)}"))
    # 4. Listener default actions.
    for lst in snapshot["listeners"]:
        held = live.listeners[lst["arn"]]
        if shapes.canonical_actions(held["DefaultActions"]) != shapes.canonical_actions(lst["defaultActions"]):
            calls.append(Call("ModifyListener", {"ListenerArn": lst["arn"], "DefaultActions": lst["defaultActions"]},
                              f"listener {lst.get('key', lst['arn'])} default: {_weights_text(held['DefaultActions'])}"
                              f" -> {_weights_text(lst['defaultActions'])}"))
    return calls


def differences(snapshot: dict, live: Live) -> list[str]:
    """What differs between the snapshot and live routing (empty when they match)."""
    return [c.description for c in plan(snapshot, live)]


def apply(elbv2, calls: list[Call]) -> Result:
    result = Result(calls=calls, applied=[])
    for call in calls:
        method = {"DeleteRule": elbv2.delete_rule, "SetRulePriorities": elbv2.set_rule_priorities,
                  "ModifyRule": elbv2.modify_rule, "ModifyListener": elbv2.modify_listener}[call.op]
        try:
            method(**call.params)
        except ClientError as err:
            result.failed = call
            result.error = f"{call.op} failed: {err.response['Error'].get('Code')}: {err.response['Error'].get('Message')}"
            return result
        result.applied.append(call)
    return result


def rollback(elbv2, snapshot: Any, *, dry_run: bool = False, source: str = "snapshot") -> Result:
    """Validate, plan, apply and verify; the whole of a rollback."""
    snapshot = validate_snapshot(snapshot, source)
    live = read_live(elbv2, snapshot)
    check_snapshot(elbv2, snapshot, live)
    calls = plan(snapshot, live)
    if dry_run:
        return Result(calls=calls, applied=[], verified=not calls, differences=[c.description for c in calls])
    result = apply(elbv2, calls)
    after = read_live(elbv2, snapshot)
    result.differences = differences(snapshot, after)
    result.verified = result.failed is None and not result.differences
    return result
