"""Roll a load balancer's routing back to a snapshot, with boto3 alone, never making it worse.

Read, plan, apply, re-read, until the load balancer's whole routing equals the snapshot:

1. ``lbguard.live.reader.read`` reads *every* listener and rule of the load balancer (not
   only the snapshot's) and the health of every target group either side forwards to.
2. ``plan`` compares the whole of it with the snapshot and returns ``Step``s, each with
   a stable ``key`` and the calls that reach its goal: delete rules and listeners the
   snapshot does not hold (``keep_extra`` leaves them and reports them), restore
   default actions and rules, move priorities (two calls when rules swap: ALB refuses
   a batch asking for a priority another rule holds), re-create rules (and plain HTTP
   listeners, or ones whose certificates the snapshot holds, with their rules) that are
   gone, from the snapshot's full definition. A step that would forward to a target group that is
   gone or has no healthy target is *blocked* with that reason; the rest still run
   (partial recovery). Outage-class fixes (``lbguard.live.findings.outage_routes``: a
   funnel or a forward to nothing healthy) go first. The plan is complete: a dry run's
   plan is the list of steps a real run applies when nothing else writes meanwhile.
3. ``converge`` executes the steps, then re-reads and re-plans: what AWS reports is
   the only judge of what is done. An error on a write (a lost response retried into
   ``RuleNotFound`` or ``PriorityInUse``, a concurrent writer, a stale read) is settled
   by the next read: a step whose goal holds is done, whoever did it. A step that fails
   twice is given up with its error; a connection that stays down ends the run with a
   report of exactly the writes AWS acknowledged and those it did not.
4. ``Result.verified`` is true only when a final read shows the whole routing equal
   to the snapshot.

Throttling and transient errors inside one call are retried by botocore's ``standard``
retry mode (``reader.RETRY_CONFIG``), not by a loop here. This module imports only
boto3/botocore and lbguard's core and live modules, so the auto-rollback Lambda ships it as is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from lbguard.core import shapes
from lbguard.core.snapshot import tg_name
from lbguard.live import findings, reader
from lbguard.live.reader import TRANSPORT_ERRORS, Live, error_text, forwarded

MAX_PRIORITY = 50000
MAX_ROUNDS = 5
GIVE_UP_AFTER = 2  # failures of one step before it is reported as not applied
# Codes that mean "the thing this delete removes is already gone": success.
GONE = {"DeleteRule": "RuleNotFound", "DeleteListener": "ListenerNotFound"}
WRITE_METHODS = {"DeleteRule": "delete_rule", "DeleteListener": "delete_listener", "ModifyRule": "modify_rule",
                 "ModifyListener": "modify_listener", "SetRulePriorities": "set_rule_priorities",
                 "CreateRule": "create_rule", "CreateListener": "create_listener"}


@dataclass
class Step:
    key: tuple
    calls: list[tuple[str, dict]]
    description: str
    urgent: bool = False  # fixes an outage-class forward: runs first
    blocked: str | None = None  # why it must not run (stale target group, kept extra, ...)
    after: tuple | None = None  # the key of a step that must land first (a re-created listener's rules)

    @property
    def op(self) -> str:
        return self.calls[0][0] if self.calls else "none"

    @property
    def params(self) -> dict:
        return self.calls[0][1] if self.calls else {}

    def to_json(self) -> dict:
        doc = {"call": self.op, "params": self.params, "change": self.description}
        if len(self.calls) > 1:
            doc["calls"] = [{"call": op, "params": p} for op, p in self.calls]
        return doc


    def planned(self) -> dict:
        """The step as a plan lists it: its JSON, and why it will not run when blocked."""
        return {**self.to_json(), **({"blocked": self.blocked} if self.blocked else {})}


def runnable(steps: list[Step]) -> list[Step]:
    return [s for s in steps if not s.blocked]


@dataclass
class Result:
    steps: list[Step] = field(default_factory=list)  # the first plan (what a dry run reports)
    applied: list[dict] = field(default_factory=list)  # step json + "result"
    not_applied: list[dict] = field(default_factory=list)  # step json + "reason"
    writes: list[dict] = field(default_factory=list)  # every write call made: call, params, outcome
    error: str | None = None
    verified: bool = False
    differences: list[str] = field(default_factory=list)
    before: Live | None = None
    after: Live | None = None

    @property
    def write_calls(self) -> int:
        return len(self.writes)

    def to_json(self) -> dict:
        return {"plan": [s.planned() for s in self.steps], "writeCalls": self.write_calls, "applied": self.applied,
                "notApplied": self.not_applied,
                "writes": self.writes, "error": self.error, "verified": self.verified,
                "differences": self.differences}


def _weights_text(actions: list[dict], live: Live) -> str:
    """``blue=50, green=50`` (pools by the stack's keys where known), or the action's type."""
    parts = []
    for a in shapes.canonical_actions(actions):
        w = shapes.forward_weights(a)
        parts.append(", ".join(f"{live.pool_name(arn)}={v}" for arn, v in w.items()) if w else a["Type"])
    return "; ".join(parts)


def _same_rule(live_rule: dict, rule: dict) -> bool:
    return (shapes.canonical_actions(live_rule["Actions"]) == shapes.canonical_actions(rule["actions"])
            and shapes.canonical_conditions(live_rule["Conditions"]) == shapes.canonical_conditions(rule["conditions"]))


def unsafe_forward(actions: list[dict], live: Live) -> str | None:
    """Why forwarding as ``actions`` would make things worse, or None."""
    for arn, weight in forwarded(actions).items():
        tg = live.target_groups.get(arn, {"exists": False, "healthy": 0})
        if not tg["exists"]:
            return f"target group {tg_name(arn)} no longer exists"
        if weight > 0 and tg["healthy"] == 0:
            return f"target group {tg_name(arn)} has no healthy target (restoring would send traffic to it)"
    return None


# ------------------------------------------------------------------ planning


def _priority_calls(moves: dict[str, int], held: dict[str, int], reserved: set[int]) -> list[tuple[str, dict]]:
    """SetRulePriorities for ``moves`` (rule ARN -> wanted) given ``held`` (ARN -> now).

    A batch must not ask for a priority another rule holds (PriorityInUse), so rules
    that block a move (a swap) first go to free priorities, then all go to their place.
    """
    occupied = {p: arn for arn, p in held.items()}
    blockers = sorted({occupied[p] for arn, p in moves.items() if p in occupied and occupied[p] != arn})
    calls = []
    if blockers:
        used = set(held.values()) | set(moves.values()) | reserved
        temp = {}
        for arn in blockers:
            temp[arn] = next(q for q in range(MAX_PRIORITY, 0, -1) if q not in used)
            used.add(temp[arn])
        calls.append(("SetRulePriorities", {"RulePriorities": [{"RuleArn": a, "Priority": p} for a, p in temp.items()]}))
    ordered = sorted(moves.items(), key=lambda kv: kv[1])
    calls.append(("SetRulePriorities", {"RulePriorities": [{"RuleArn": a, "Priority": p} for a, p in ordered]}))
    return calls


def match_listeners(snapshot: dict, live: Live) -> dict[str, str | None]:
    """Snapshot listener ARN -> the live listener that plays its part: the same ARN, else
    the listener now on its port (a replaced listener), else None (gone)."""
    out: dict[str, str | None] = {}
    taken = {lst["arn"] for lst in snapshot["listeners"] if lst["arn"] in live.listeners}
    for lst in snapshot["listeners"]:
        if lst["arn"] in live.listeners:
            out[lst["arn"]] = lst["arn"]
            continue
        port = [a for a, held in live.listeners.items() if int(held["Port"]) == int(lst["port"]) and a not in taken]
        out[lst["arn"]] = port[0] if port else None
        taken.update(port[:1])
    return out


def _assign_rules(wanted: list[dict], held: list[dict]) -> tuple[dict[str, str], list[dict]]:
    """Snapshot rule ARN -> live rule ARN (same ARN, else a live rule with the same
    conditions and actions: one this rollback re-created earlier); and the live rules left."""
    by_arn = {r["RuleArn"]: r for r in held}
    assign = {r["arn"]: r["arn"] for r in wanted if r["arn"] in by_arn}
    free = [r for r in held if r["RuleArn"] not in assign.values()]
    for r in wanted:
        if r["arn"] in assign:
            continue
        same = sorted((h for h in free if _same_rule(h, r)), key=lambda h: abs(int(h["Priority"]) - int(r["priority"])))
        if same:
            assign[r["arn"]] = same[0]["RuleArn"]
            free.remove(same[0])
    return assign, free


def _rule_label(rule: dict) -> str:
    return f"rule {rule['key']}" if rule.get("key") else f"rule {rule['arn'].rsplit('/', 1)[-1]}"


def _listener_steps(lst: dict, live_arn: str, live: Live, keep_extra: bool) -> list[Step]:
    name = lst.get("key") or f"{lst['protocol']}:{lst['port']}"
    held = [live.rules[a] for a in live.rules_by_listener.get(live_arn, [])]
    assign, extras = _assign_rules(lst.get("rules", []), held)
    steps = [Step(("delete-rule", r["RuleArn"]), [("DeleteRule", {"RuleArn": r["RuleArn"]})],
                  f"listener {name}: delete rule {r['RuleArn'].rsplit('/', 1)[-1]} (priority {r['Priority']}, not in the "
                  f"snapshot; forwarded {_weights_text(r['Actions'], live)})",
                  blocked="kept (--keep-extra)" if keep_extra else None)
             for r in extras]
    default = live.listeners[live_arn]["DefaultActions"]
    if shapes.canonical_actions(default) != shapes.canonical_actions(lst["defaultActions"]):
        steps.append(Step(("listener-default", lst["arn"]),
                          [("ModifyListener", {"ListenerArn": live_arn, "DefaultActions": lst["defaultActions"]})],
                          f"listener {name} default: {_weights_text(default, live)} -> "
                          f"{_weights_text(lst['defaultActions'], live)}",
                          blocked=unsafe_forward(lst["defaultActions"], live)))
    rules = {r["arn"]: r for r in lst.get("rules", [])}
    for arn, live_rule in assign.items():
        now, r = live.rules[live_rule], rules[arn]
        if not _same_rule(now, r):
            what = "actions" if shapes.canonical_conditions(now["Conditions"]) == shapes.canonical_conditions(
                r["conditions"]) else "conditions/actions"
            steps.append(Step(("rule", arn), [("ModifyRule", {"RuleArn": live_rule, "Conditions": r["conditions"],
                                                              "Actions": r["actions"]})],
                              f"listener {name} {_rule_label(r)}: {what} {_weights_text(now['Actions'], live)} -> "
                              f"{_weights_text(r['actions'], live)}", blocked=unsafe_forward(r["actions"], live)))
    kept = {int(r["Priority"]): r["RuleArn"] for r in extras} if keep_extra else {}
    positions = {live_rule: int(live.rules[live_rule]["Priority"]) for live_rule in assign.values()}
    moves = {live_rule: int(rules[arn]["priority"]) for arn, live_rule in assign.items()
             if positions[live_rule] != int(rules[arn]["priority"])}
    creates = [r for arn, r in rules.items() if arn not in assign]
    if moves:
        blocked = next((f"priority {p} is held by a kept rule" for p in moves.values() if p in kept), None)
        steps.append(Step(("priorities", lst["arn"]),
                          _priority_calls(moves, {**positions, **{a: p for p, a in kept.items()}},
                                          {int(r["priority"]) for r in creates}),
                          f"listener {name} priorities: " + ", ".join(
                              f"{positions[a]} -> {p}" for a, p in sorted(moves.items(), key=lambda kv: kv[1])),
                          blocked=blocked))
    for r in creates:
        blocked = unsafe_forward(r["actions"], live) or (
            f"priority {r['priority']} is held by a kept rule" if int(r["priority"]) in kept else None)
        steps.append(Step(("create-rule", r["arn"]), [("CreateRule", {
            "ListenerArn": live_arn, "Priority": int(r["priority"]), "Conditions": r["conditions"], "Actions": r["actions"]})],
            f"listener {name}: re-create {_rule_label(r)} at priority {r['priority']} (gone; forwards "
            f"{_weights_text(r['actions'], live)})", blocked=blocked))
    return steps


def _create_listener_steps(lst: dict, snapshot: dict, live: Live) -> list[Step]:
    """Re-create a listener that is gone, then its rules: each rule's CreateRule names the
    snapshot's (gone) listener ARN and runs after the listener's step, on the ARN it returned."""
    name = lst.get("key") or f"{lst['protocol']}:{lst['port']}"
    params: dict[str, Any] = {"LoadBalancerArn": snapshot["loadBalancer"]["arn"], "Protocol": lst["protocol"],
                              "Port": int(lst["port"]), "DefaultActions": lst["defaultActions"]}
    if lst.get("sslPolicy"):
        params["SslPolicy"] = lst["sslPolicy"]
    if lst.get("certificates"):
        params["Certificates"] = [{"CertificateArn": c} for c in lst["certificates"]]
    blocked = unsafe_forward(lst["defaultActions"], live)
    if lst["protocol"] in ("HTTPS", "TLS") and not lst.get("certificates"):
        blocked = f"the snapshot does not hold listener {name}'s certificate: re-deploy the stack to re-create it"
    rules = lst.get("rules", [])
    head = Step(("create-listener", lst["arn"]), [("CreateListener", params)],
                f"re-create listener {name} (port {lst['port']}, gone" + (f"; then its {len(rules)} rule(s))" if rules else ")"),
                blocked=blocked)
    steps = [head]
    for r in rules:
        steps.append(Step(("create-rule", r["arn"]), [("CreateRule", {
            "ListenerArn": lst["arn"], "Priority": int(r["priority"]), "Conditions": r["conditions"],
            "Actions": r["actions"]})],
            f"listener {name}: re-create {_rule_label(r)} at priority {r['priority']} on the re-created listener "
            f"(forwards {_weights_text(r['actions'], live)})",
            blocked=(f"listener {name} is not re-created: {blocked}" if blocked else unsafe_forward(r["actions"], live)),
            after=head.key))
    return steps


_ORDER = {"DeleteRule": (0, 0), "ModifyListener": (0, 1), "ModifyRule": (0, 2), "DeleteListener": (0, 3),
          "SetRulePriorities": (1, 0), "CreateRule": (2, 0), "CreateListener": (3, 0)}


def plan(snapshot: dict, live: Live, *, keep_extra: bool = False) -> list[Step]:
    """Every step from ``live`` (the whole load balancer) to ``snapshot``; empty when equal."""
    matched = match_listeners(snapshot, live)
    steps: list[Step] = []
    for lst in snapshot["listeners"]:
        live_arn = matched[lst["arn"]]
        steps += _listener_steps(lst, live_arn, live, keep_extra) if live_arn else _create_listener_steps(lst, snapshot, live)
    for arn, held in live.listeners.items():
        if arn not in matched.values():
            steps.append(Step(("delete-listener", arn), [("DeleteListener", {"ListenerArn": arn})],
                              f"delete listener {held['Protocol']}:{held['Port']} (not in the snapshot; default "
                              f"{_weights_text(held['DefaultActions'], live)})",
                              blocked="kept (--keep-extra)" if keep_extra else None))
    outage = findings.outage_routes(live) if steps else set()
    for s in steps:
        p = s.params
        if s.op in ("DeleteRule", "ModifyRule"):
            s.urgent = (live.listener_of(p["RuleArn"]), p["RuleArn"]) in outage
        elif s.op == "ModifyListener":
            s.urgent = (p["ListenerArn"], None) in outage
        elif s.op == "DeleteListener":
            s.urgent = any(l == p["ListenerArn"] for l, _ in outage)
    # Stable: within a phase, outage-class fixes first; priorities after deletes free them; creates
    # last, a re-created listener's rules after it.
    return sorted(steps, key=lambda s: (4, False, 0) if s.after else (_ORDER[s.op][0], not s.urgent, _ORDER[s.op][1]))


def differences(snapshot: dict, live: Live) -> list[str]:
    """What differs between the snapshot and the load balancer's whole routing (empty when equal)."""
    return [s.description for s in plan(snapshot, live)]


# ------------------------------------------------------------------ applying


class _Down(Exception):
    """The endpoint stayed unreachable through botocore's retries: stop writing."""


def _run_step(elbv2, step: Step, result: Result, created: dict[str, str]) -> str | None:
    """Make the step's calls; None when AWS accepted them (or said the deleted thing is gone),
    else the error. Raises _Down when the connection stays down. ``created``: snapshot
    listener ARN -> the listener re-created for it in this run."""
    for op, params in step.calls:
        if step.after:
            if params["ListenerArn"] not in created:
                return f"{op} not made: the listener it belongs to was not re-created"
            params = {**params, "ListenerArn": created[params["ListenerArn"]]}
        record = {"call": op, "params": params, "change": step.description}
        result.writes.append(record)
        try:
            answer = getattr(elbv2, WRITE_METHODS[op])(**params)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            if GONE.get(op) == code:
                record["outcome"] = f"already done ({code})"
                continue
            record["outcome"] = error_text(err)
            return f"{op} failed: {record['outcome']}"
        except TRANSPORT_ERRORS as err:
            record["outcome"] = error_text(err)
            raise _Down(f"{op} failed: {record['outcome']}") from None
        record["outcome"] = "ok"
        if op == "CreateListener":
            created[step.key[1]] = answer["Listeners"][0]["ListenerArn"]
    return None


def _read(elbv2, snapshot: dict, settle: Callable[[float], None], suspect: set[tuple] = frozenset(),
          keep_extra: bool = False) -> tuple[Live, list[Step]]:
    """Read and plan; when the only differences are steps AWS already acknowledged, the read
    may be stale (eventual consistency): read again a few times before believing it."""
    for delay in (0.1, 0.3, 0.9, None):
        live = reader.read(elbv2, snapshot["loadBalancer"]["arn"], snapshot)
        steps = plan(snapshot, live, keep_extra=keep_extra)
        keys = [s.key for s in runnable(steps)]
        if delay is None or not keys or not set(keys) <= suspect:
            return live, steps
        settle(delay)
    raise AssertionError("unreachable")


def unapplied(live: Live, steps: list[Step], *, dry_run: bool) -> Result:
    """The report of a run that writes nothing: a dry run, or a plan with no runnable step
    (nothing to do, or every step blocked)."""
    result = Result(steps=steps, before=live, after=live, verified=not steps,
                    differences=[s.description for s in steps])
    result.not_applied = [{**s.to_json(), "reason": s.blocked or "dry run"} for s in steps if s.blocked or dry_run]
    return result


def converge(elbv2, snapshot: dict, *, keep_extra: bool = False, dry_run: bool = False,
             settle: Callable[[float], None] = time.sleep, live: Live | None = None,
             steps: list[Step] | None = None) -> Result:
    """Plan, apply and re-read until the whole routing equals ``snapshot`` or nothing more
    can be done; the report says exactly which steps and writes landed and which did not.
    ``live`` and ``steps``: a read and its plan made just before (else read and planned here)."""
    live = live or reader.read(elbv2, snapshot["loadBalancer"]["arn"], snapshot)  # nothing written yet: errors propagate
    steps = plan(snapshot, live, keep_extra=keep_extra) if steps is None else steps
    if dry_run or not runnable(steps):
        return unapplied(live, steps, dry_run=dry_run)
    result = Result(steps=steps, before=live)
    created: dict[str, str] = {}
    attempted: dict[tuple, Step] = {}
    errors: dict[tuple, str] = {}
    failures: dict[tuple, int] = {}
    acked: set[tuple] = set()
    final: list[Step] | None = steps
    for _ in range(MAX_ROUNDS):
        todo = [s for s in runnable(final) if failures.get(s.key, 0) < GIVE_UP_AFTER]
        if not todo:
            break
        down = None
        for s in todo:
            attempted[s.key] = s
            try:
                err = _run_step(elbv2, s, result, created)
            except _Down as exc:
                errors[s.key], down = str(exc), str(exc)
                failures[s.key] = failures.get(s.key, 0) + 1
                break
            if err:
                errors[s.key] = err
                failures[s.key] = failures.get(s.key, 0) + 1
            else:
                acked.add(s.key)
        try:
            live, final = _read(elbv2, snapshot, settle, acked, keep_extra)
        except (ClientError, *TRANSPORT_ERRORS) as exc:
            result.error = f"reading back failed: {error_text(exc)}" + (f" (after: {down})" if down else "")
            live, final = None, None
            break
    result.after = live
    if final and not result.error:
        result.error = next((errors[s.key] for s in final if s.key in errors), None)
    _report(result, attempted, final, errors, acked)
    return result


def _report(result: Result, attempted: dict[tuple, Step], final: list[Step] | None, errors: dict[tuple, str],
            acked: set[tuple]) -> None:
    first = {s.key: s for s in result.steps}
    if final is None:  # the last read failed: AWS's acknowledgements are all we know
        for key, s in attempted.items():
            if key in acked:
                result.applied.append({**s.to_json(), "result": "acknowledged by AWS, not read back"})
            else:
                result.not_applied.append({**s.to_json(), "reason": errors.get(key, "not confirmed")})
        for key, s in first.items():
            if key not in attempted:
                result.not_applied.append({**s.to_json(), "reason": s.blocked or "not attempted: the run stopped"})
        result.differences = ["could not read the load balancer back: routing unknown"]
        return
    left = {s.key: s for s in final}
    for key, s in {**first, **attempted}.items():
        if key not in left:
            how = "applied" if key in attempted else "already done (by another writer)"
            result.applied.append({**s.to_json(), "result": how})
    for key, s in left.items():
        reason = s.blocked or errors.get(key) or ("not attempted: the run stopped" if key not in attempted
                                                   else "still differs after the run")
        result.not_applied.append({**s.to_json(), "reason": reason})
    result.differences = [s.description for s in final]
    result.verified = not final
