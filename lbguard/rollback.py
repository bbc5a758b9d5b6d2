"""Roll a load balancer's routing back to a snapshot: plan, apply, verify.

Pulumi has no rollback, so a fast one calls the ELBv2 API directly: the minimal set of
``DeleteRule`` (rules the snapshot does not know), ``ModifyListener`` (default actions),
``SetRulePriorities`` and ``ModifyRule`` calls that turn the live routing into the
snapshot's, then reads everything back. Pulumi state is reconciled afterwards
(``pulumi refresh``, or revert the commit that broke it).

The planning is pure (:func:`plan_rollback`, :func:`stale_reasons`); boto3 sits at the
edges (:func:`read_live`, :func:`read_target_health`, :func:`apply_plan`,
:func:`verify`). Throttling and transient errors are retried by botocore's own retry
modes (:func:`client_config`). This module imports nothing beyond boto3/botocore and
``lbguard.shapes`` / ``lbguard.snapshot``, so the auto-rollback Lambda ships it as is.

Safety properties:

* every call sets an absolute state, so re-running after any failure converges, and a
  second run against rolled-back routing plans zero calls;
* a listener's default actions are only ever *replaced* (ModifyListener with the
  snapshot's non-empty list), never removed: no listener is left without one;
* the snapshot is checked against AWS first: its listeners and rules exist, every
  target group it names exists and each one it forwards to has a healthy target;
  otherwise nothing is written;
* a failure part-way stops at once and reports which calls were and were not applied.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lbguard import shapes
from lbguard.snapshot import forwarded_target_groups, validate_snapshot
from lbguard.model import LbguardError

WRITE_OPS = ("DeleteRule", "ModifyListener", "SetRulePriorities", "ModifyRule")
MAX_PRIORITY = 50000
SSM_STANDARD_MAX = 4096
SSM_ADVANCED_MAX = 8192
_GZ_PREFIX = "gz:"


class StaleSnapshot(LbguardError):
    """The snapshot names routing AWS no longer holds; nothing was written."""


class RollbackFailed(LbguardError):
    """A call failed part-way; ``result`` says what was and was not applied."""

    def __init__(self, message: str, result: "ApplyResult"):
        super().__init__(message)
        self.result = result


# ---------------------------------------------------------------- clients and parameters


def client_config(retry_mode: str = "standard", max_attempts: int = 10) -> Config:
    """botocore retries throttling (and 5xx, connection errors) with backoff: no hand-written loop."""
    if retry_mode not in ("standard", "adaptive", "legacy"):
        raise LbguardError(f"retry mode must be standard, adaptive or legacy, got {retry_mode!r}")
    if not 1 <= max_attempts <= 50:
        raise LbguardError(f"max attempts must be 1..50, got {max_attempts}")
    return Config(retries={"mode": retry_mode, "max_attempts": max_attempts}, connect_timeout=5, read_timeout=20)


def parameter_names(project: str, stack: str) -> dict[str, str]:
    """SSM parameters of a stack: the deployed snapshot, the promoted one, the auto-rollback state."""
    base = f"/{project}/{stack}/routing"
    return {"current": f"{base}/current", "known-good": f"{base}/known-good", "auto-rollback": f"{base}/auto-rollback"}


def encode_snapshot(snapshot: Mapping[str, Any]) -> str:
    """A snapshot as an SSM parameter value: compact JSON, gzip+base64 when that is too big.

    Standard parameters hold 4 KB, Advanced 8 KB; a listener with dozens of rules needs
    the compression (ARNs repeat).
    """
    text = json.dumps(snapshot, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) <= SSM_STANDARD_MAX:
        return text
    packed = _GZ_PREFIX + base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    if len(packed) > SSM_ADVANCED_MAX:
        raise LbguardError(f"routing snapshot is {len(packed)} bytes even compressed, over the {SSM_ADVANCED_MAX}-byte "
                           f"SSM Advanced parameter limit: split the routing over more listeners")
    return packed if len(packed) < len(text) else text


def parameter_tier(value: str) -> str:
    return "Standard" if len(value.encode()) <= SSM_STANDARD_MAX else "Advanced"


def decode_snapshot(value: str, source: str) -> dict:
    try:
        if value.startswith(_GZ_PREFIX):
            value = gzip.decompress(base64.b64decode(value[len(_GZ_PREFIX):])).decode()
        doc = json.loads(value)
    except (ValueError, OSError) as err:
        raise LbguardError(f"{source}: not a routing snapshot ({type(err).__name__}: {err})") from None
    return validate_snapshot(doc, source)


def get_snapshot(ssm, name: str, version: int | None = None) -> tuple[dict, int]:
    """The snapshot held in parameter ``name`` (a given version, else the latest)."""
    ref = f"{name}:{version}" if version else name
    try:
        p = ssm.get_parameter(Name=ref)["Parameter"]
    except ClientError as err:
        code = err.response["Error"]["Code"]
        if code in ("ParameterNotFound", "ParameterVersionNotFound"):
            raise LbguardError(f"SSM parameter {ref} not found") from None
        raise LbguardError(f"SSM parameter {ref}: {code}: {err.response['Error'].get('Message', '')}") from None
    return decode_snapshot(p["Value"], f"SSM parameter {ref}"), int(p["Version"])


# ---------------------------------------------------------------- reading live routing


def _error_code(err: Exception) -> str:
    return err.response["Error"]["Code"] if isinstance(err, ClientError) else type(err).__name__


def read_rules(elbv2, listener_arn: str) -> list[dict]:
    """The listener's non-default rules in snapshot shape, by ascending priority."""
    rules = []
    for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn):
        for r in page["Rules"]:
            if r.get("IsDefault") or r["Priority"] == "default":
                continue
            rules.append({"arn": r["RuleArn"], "priority": int(r["Priority"]), "conditions": r["Conditions"],
                          "actions": r["Actions"]})
    return sorted(rules, key=lambda r: r["priority"])


def read_live(elbv2, snapshot: Mapping[str, Any]) -> dict:
    """Live routing of the snapshot's listeners, in snapshot shape.

    ``{"listeners": [{"arn", "port", "protocol", "defaultActions", "rules"} | {"arn", "missing": True}]}``
    """
    out = []
    for lst in snapshot["listeners"]:
        try:
            held = elbv2.describe_listeners(ListenerArns=[lst["arn"]])["Listeners"][0]
        except ClientError as err:
            if _error_code(err) == "ListenerNotFound":
                out.append({"arn": lst["arn"], "missing": True})
                continue
            raise
        out.append({"arn": held["ListenerArn"], "port": held.get("Port"), "protocol": held.get("Protocol"),
                    "defaultActions": held.get("DefaultActions") or [], "rules": read_rules(elbv2, lst["arn"])})
    return {"listeners": out}


def read_target_health(elbv2, arns: Iterable[str]) -> dict[str, int | None]:
    """Target-group ARN -> number of healthy targets; None when the group no longer exists."""
    out: dict[str, int | None] = {}
    for arn in sorted(set(arns)):
        try:
            desc = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        except ClientError as err:
            if _error_code(err) == "TargetGroupNotFound":
                out[arn] = None
                continue
            raise
        out[arn] = sum(1 for d in desc if d.get("TargetHealth", {}).get("State") == "healthy")
    return out


def snapshot_from_live(elbv2, load_balancer_arn: str, *, project: str = "", stack: str = "",
                       names: Mapping[str, str] | None = None) -> dict:
    """A snapshot of what a load balancer holds now (for drills, benchmarks and ``--save``)."""
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[load_balancer_arn])["LoadBalancers"][0]
    listeners = []
    tgs: dict[str, dict] = {}
    for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=load_balancer_arn):
        for held in page["Listeners"]:
            rules = read_rules(elbv2, held["ListenerArn"])
            listeners.append({"key": (names or {}).get(held["ListenerArn"], str(held.get("Port"))),
                              "arn": held["ListenerArn"], "port": held.get("Port"), "protocol": held.get("Protocol"),
                              "defaultActions": held["DefaultActions"],
                              "rules": [{"key": (names or {}).get(r["arn"], f"priority-{r['priority']}"), **r}
                                        for r in rules]})
            for a in held["DefaultActions"] + [a for r in rules for a in r["actions"]]:
                for arn in shapes.forward_weights(a) or {}:
                    tgs[arn] = {"arn": arn, "name": arn.split(":targetgroup/", 1)[-1].split("/")[0]}
    return {"schemaVersion": 1, "project": project, "stack": stack,
            "loadBalancer": {"arn": lb["LoadBalancerArn"], "name": lb["LoadBalancerName"]},
            "targetGroups": {v["name"]: v for v in tgs.values()}, "listeners": sorted(listeners, key=lambda l: l["port"])}


# ---------------------------------------------------------------- the pure part


@dataclass
class Call:
    """One write call of a rollback plan."""

    op: str  # one of WRITE_OPS
    params: dict
    listener_arn: str
    summary: str  # what it changes, for people
    rule_arns: list[str] = field(default_factory=list)
    key: str = ""  # listener or rule key from the snapshot ("" for rules the snapshot lacks)

    def to_json(self) -> dict:
        return {"call": self.op, "listenerArn": self.listener_arn,
                "ruleArn": self.rule_arns[0] if len(self.rule_arns) == 1 else None,
                "ruleArns": list(self.rule_arns), "key": self.key, "summary": self.summary, "params": self.params}


def _tg_label(arn: str, names: Mapping[str, str]) -> str:
    return names.get(arn) or arn.split(":targetgroup/", 1)[-1].split("/")[0]


def describe_actions(actions: list[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> str:
    """Actions in a few words: ``forward blue=50 green=50``, ``redirect HTTPS:443``, ``fixed-response 503``."""
    names = names or {}
    parts = []
    for a in shapes.canonical_actions(list(actions)):
        if a["Type"] == "forward":
            fc = a["ForwardConfig"]
            text = "forward " + " ".join(f"{_tg_label(t['TargetGroupArn'], names)}={t['Weight']}" for t in fc["TargetGroups"])
            if fc["TargetGroupStickinessConfig"]["Enabled"]:
                text += f" sticky {fc['TargetGroupStickinessConfig'].get('DurationSeconds', 0)}s"
        elif a["Type"] == "redirect":
            r = a["RedirectConfig"]
            text = f"redirect {r['Protocol']}:{r['Port']} {r['StatusCode']}"
        elif a["Type"] == "fixed-response":
            text = f"fixed-response {a['FixedResponseConfig'].get('StatusCode')}"
        else:
            text = a["Type"]
        parts.append(text)
    return "; ".join(parts) or "(none)"


def describe_conditions(conditions: list[Mapping[str, Any]]) -> str:
    parts = []
    for c in shapes.canonical_conditions(list(conditions)):
        cfg = next(v for k, v in c.items() if k != "Field")
        if c["Field"] == "http-header":
            parts.append(f"header {cfg['HttpHeaderName']}={','.join(cfg['Values'])}")
        elif c["Field"] == "query-string":
            parts.append("query " + ",".join(f"{q.get('Key') or '*'}={q['Value']}" for q in cfg["Values"]))
        else:
            parts.append(f"{c['Field']} {','.join(cfg['Values'])}")
    return " & ".join(parts) or "(none)"


def same_actions(a: list, b: list) -> bool:
    return shapes.canonical_actions(list(a)) == shapes.canonical_actions(list(b))


def same_conditions(a: list, b: list) -> bool:
    return shapes.canonical_conditions(list(a)) == shapes.canonical_conditions(list(b))


def tg_names(snapshot: Mapping[str, Any]) -> dict[str, str]:
    return {v["arn"]: k for k, v in (snapshot.get("targetGroups") or {}).items()}


def referenced_target_groups(snapshot: Mapping[str, Any]) -> set[str]:
    """Every target group the snapshot names (its map, and any forward, whatever the weight)."""
    arns = {v["arn"] for v in (snapshot.get("targetGroups") or {}).values()}
    for lst in snapshot["listeners"]:
        for a in list(lst["defaultActions"]) + [a for r in lst.get("rules", []) for a in r["actions"]]:
            arns.update(shapes.forward_weights(a) or {})
    return arns


def stale_reasons(snapshot: Mapping[str, Any], live: Mapping[str, Any], health: Mapping[str, int | None]) -> list[str]:
    """Why the snapshot cannot be applied to what AWS holds now ([] = it can)."""
    reasons = []
    names = tg_names(snapshot)
    live_by_arn = {l["arn"]: l for l in live["listeners"]}
    for lst in snapshot["listeners"]:
        held = live_by_arn.get(lst["arn"])
        if held is None or held.get("missing"):
            reasons.append(f"listener {lst.get('key', '')} ({lst['arn']}) no longer exists")
            continue
        held_rules = {r["arn"] for r in held["rules"]}
        for rule in lst.get("rules", []):
            if rule["arn"] not in held_rules:
                reasons.append(f"rule {rule.get('key', '')} ({rule['arn']}) no longer exists on listener "
                               f"{lst.get('key', '')}; re-create it with `pulumi up`")
    forwarded = forwarded_target_groups(snapshot)
    for arn in sorted(referenced_target_groups(snapshot)):
        n = health.get(arn)
        if n is None:
            reasons.append(f"target group {_tg_label(arn, names)} ({arn}) no longer exists")
        elif arn in forwarded and n == 0:
            reasons.append(f"target group {_tg_label(arn, names)} has no healthy target, and the snapshot forwards to it")
    return reasons


def _priority_calls(listener_arn: str, key: str, moves: dict[str, int], held: Mapping[str, int],
                    labels: Mapping[str, str]) -> list[Call]:
    """SetRulePriorities for ``moves`` (rule ARN -> wanted priority) given ``held`` (ARN -> priority now).

    One batch when no wanted priority is held by another rule. Otherwise (a swap) the
    rules that block are first moved to free priorities in one batch, then everything
    goes to its place in a second: a batch never asks for a priority in use, which ALB
    (and moto) refuse with PriorityInUse.
    """
    if not moves:
        return []
    occupied = {p: arn for arn, p in held.items()}
    blockers = sorted({occupied[p] for arn, p in moves.items() if p in occupied and occupied[p] != arn},
                      key=lambda a: moves.get(a, held[a]))
    calls = []
    if blockers:
        used = set(held.values()) | set(moves.values())
        temp: dict[str, int] = {}
        for arn in blockers:
            want = moves[arn]  # a blocker not in ``moves`` would stay put: the snapshot never asks for that
            p = next(q for q in sorted(range(1, MAX_PRIORITY + 1), key=lambda q: (abs(q - want), q)) if q not in used)
            temp[arn] = p
            used.add(p)
        calls.append(Call("SetRulePriorities",
                          {"RulePriorities": [{"RuleArn": a, "Priority": p} for a, p in temp.items()]},
                          listener_arn, "make room: " + ", ".join(f"{labels[a]} {held[a]} -> {p}" for a, p in temp.items()),
                          list(temp), key))
    ordered = sorted(moves.items(), key=lambda kv: kv[1])
    calls.append(Call("SetRulePriorities", {"RulePriorities": [{"RuleArn": a, "Priority": p} for a, p in ordered]},
                      listener_arn, "priorities: " + ", ".join(f"{labels[a]} {held[a]} -> {p}" for a, p in ordered),
                      [a for a, _ in ordered], key))
    return calls


def plan_rollback(snapshot: Mapping[str, Any], live: Mapping[str, Any]) -> list[Call]:
    """The minimal write calls that make ``live`` equal to ``snapshot`` ([] when it already is).

    Order: delete rules the snapshot lacks (they are the change being undone, and they
    may hold priorities the snapshot needs), restore default actions, priorities, then
    rule conditions and actions. The caller checks :func:`stale_reasons` first.
    """
    names = tg_names(snapshot)
    live_by_arn = {l["arn"]: l for l in live["listeners"]}
    deletes: list[Call] = []
    defaults: list[Call] = []
    priorities: list[Call] = []
    modifies: list[Call] = []
    for lst in snapshot["listeners"]:
        held = live_by_arn[lst["arn"]]
        key = lst.get("key", "")
        wanted_rules = {r["arn"]: r for r in lst.get("rules", [])}
        held_rules = {r["arn"]: r for r in held["rules"]}
        labels = {arn: f"rule {r.get('key') or arn.rsplit('/', 1)[-1]}" for arn, r in {**held_rules, **wanted_rules}.items()}
        for arn, r in held_rules.items():
            if arn not in wanted_rules:
                deletes.append(Call("DeleteRule", {"RuleArn": arn}, lst["arn"],
                                    f"delete rule at priority {r['priority']} not in the snapshot "
                                    f"({describe_conditions(r['conditions'])} -> {describe_actions(r['actions'], names)})",
                                    [arn], ""))
        if not same_actions(held["defaultActions"], lst["defaultActions"]):
            defaults.append(Call("ModifyListener", {"ListenerArn": lst["arn"], "DefaultActions": list(lst["defaultActions"])},
                                 lst["arn"], f"listener {key} default: {describe_actions(held['defaultActions'], names)} -> "
                                             f"{describe_actions(lst['defaultActions'], names)}", [], key))
        kept = {arn: int(r["priority"]) for arn, r in held_rules.items() if arn in wanted_rules}
        moves = {arn: int(r["priority"]) for arn, r in wanted_rules.items() if kept[arn] != int(r["priority"])}
        priorities += _priority_calls(lst["arn"], key, moves, kept, labels)
        for arn, want in wanted_rules.items():
            have = held_rules[arn]
            changes = []
            if not same_conditions(have["conditions"], want["conditions"]):
                changes.append(f"conditions {describe_conditions(have['conditions'])} -> {describe_conditions(want['conditions'])}")
            if not same_actions(have["actions"], want["actions"]):
                changes.append(f"actions {describe_actions(have['actions'], names)} -> {describe_actions(want['actions'], names)}")
            if changes:
                modifies.append(Call("ModifyRule", {"RuleArn": arn, "Conditions": list(want["conditions"]),
                                                    "Actions": list(want["actions"])},
                                     lst["arn"], f"{labels[arn]}: " + "; ".join(changes), [arn], want.get("key", "")))
    return deletes + defaults + priorities + modifies


# ---------------------------------------------------------------- applying


@dataclass
class ApplyResult:
    applied: list[Call] = field(default_factory=list)
    failed: Call | None = None
    error: str | None = None
    not_applied: list[Call] = field(default_factory=list)
    attempts: int = 0  # HTTP attempts including botocore's retries

    @property
    def write_calls(self) -> int:
        return len(self.applied) + (1 if self.failed else 0)

    def to_json(self) -> dict:
        return {"applied": [c.to_json() for c in self.applied],
                "failed": self.failed.to_json() if self.failed else None, "error": self.error,
                "notApplied": [c.to_json() for c in self.not_applied], "attempts": self.attempts}


_OP_METHOD = {"DeleteRule": "delete_rule", "ModifyListener": "modify_listener",
              "SetRulePriorities": "set_rule_priorities", "ModifyRule": "modify_rule"}


def apply_plan(elbv2, plan: list[Call]) -> ApplyResult:
    """Make the calls in order; stop at the first that fails (after botocore's retries).

    Never raises for an AWS error: the result says what was applied, which call failed
    and why, and what was not attempted. Each call sets an absolute state, so planning
    again from what AWS then holds and re-applying converges.
    """
    result = ApplyResult()
    for i, call in enumerate(plan):
        try:
            resp = getattr(elbv2, _OP_METHOD[call.op])(**call.params)
            result.attempts += 1 + int(resp.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            result.applied.append(call)
        except (ClientError, BotoCoreError) as err:
            if isinstance(err, ClientError):
                result.attempts += 1 + int(err.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
                msg = err.response["Error"].get("Message") or ""
                result.error = f"{_error_code(err)}: {msg}".rstrip(": ")
            else:
                result.attempts += 1
                result.error = f"{type(err).__name__}: {err}"
            result.failed = call
            result.not_applied = plan[i + 1:]
            break
    return result


def failure_message(result: ApplyResult) -> str:
    done = ", ".join(f"{c.op} {c.key or c.rule_arns[:1] or c.listener_arn}" for c in result.applied) or "none"
    todo = ", ".join(f"{c.op} {c.key or c.rule_arns[:1] or c.listener_arn}" for c in result.not_applied) or "none"
    f = result.failed
    return (f"rollback stopped: {f.op} ({f.summary}) failed with {result.error}; applied {len(result.applied)} "
            f"[{done}]; not applied {1 + len(result.not_applied)} [the failed call, {todo}]; every listener kept a "
            f"default action; run rollback again to converge")


# ---------------------------------------------------------------- the whole operation


@dataclass
class RollbackReport:
    plan: list[Call]
    result: ApplyResult | None
    verified: bool
    remaining: list[Call]  # what still differs after applying (empty when verified)
    dry_run: bool = False

    @property
    def write_calls(self) -> int:
        return self.result.write_calls if self.result else 0

    def to_json(self) -> dict:
        applied = {id(c) for c in (self.result.applied if self.result else [])}
        changes = [dict(c.to_json(), applied=id(c) in applied) for c in self.plan]
        doc = {"writeCalls": self.write_calls, "changes": changes, "verified": self.verified}
        if self.dry_run:
            doc["dryRun"] = True
        if self.remaining:
            doc["remaining"] = [c.to_json() for c in self.remaining]
        if self.result and self.result.failed:
            doc["error"] = self.result.error
            doc["notApplied"] = [c.to_json() for c in [self.result.failed] + self.result.not_applied]
        return doc


def check(elbv2, snapshot: Mapping[str, Any]) -> tuple[dict, list[Call]]:
    """Live routing and the plan; raises StaleSnapshot (nothing written) when it cannot apply."""
    live = read_live(elbv2, snapshot)
    health = read_target_health(elbv2, referenced_target_groups(snapshot))
    reasons = stale_reasons(snapshot, live, health)
    if reasons:
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        raise StaleSnapshot(f"snapshot refused, nothing written: {reasons[0]}{more}")
    return live, plan_rollback(snapshot, live)


def verify(elbv2, snapshot: Mapping[str, Any], attempts: int = 3, delay: float = 1.0) -> list[Call]:
    """Read back; what still differs from the snapshot ([] = verified).

    ELBv2 reads can briefly lag a write, so a difference is read again a few times
    before it counts (this is not a retry of a failed call: those are botocore's).
    """
    remaining: list[Call] = []
    for i in range(max(1, attempts)):
        live = read_live(elbv2, snapshot)
        if any(l.get("missing") for l in live["listeners"]):
            raise StaleSnapshot("a listener of the snapshot disappeared during the rollback")
        remaining = plan_rollback(snapshot, live)
        if not remaining:
            return []
        if i + 1 < attempts:
            time.sleep(delay)
    return remaining


def rollback(elbv2, snapshot: Mapping[str, Any], *, dry_run: bool = False, verify_attempts: int = 3) -> RollbackReport:
    """Check, plan, apply, verify. Raises StaleSnapshot before any write, RollbackFailed after a partial one."""
    validate_snapshot(snapshot)
    _, plan = check(elbv2, snapshot)
    if dry_run:
        return RollbackReport(plan=plan, result=None, verified=not plan, remaining=plan, dry_run=True)
    if not plan:
        return RollbackReport(plan=[], result=ApplyResult(), verified=True, remaining=[])
    result = apply_plan(elbv2, plan)
    report = RollbackReport(plan=plan, result=result, verified=False, remaining=[])
    if result.failed:
        raise RollbackFailed(failure_message(result), result) from None
    report.remaining = verify(elbv2, snapshot, attempts=verify_attempts)
    report.verified = not report.remaining
    return report
