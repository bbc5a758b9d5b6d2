"""Diagnose live routing: who gets what share of each listener, what is wrong, what to run next.

Reads the load balancer through :mod:`lbguard.live.reader` (the one live model) and judges
it with :mod:`lbguard.live.findings`: every share is a share of the listener's requests
(``lbguard.core.traffic.listener_reach`` over ALB evaluation order, from the stack's traffic
profile when the project has one, else from facts), so a rule shadowed by a June 1 catch-all
reads 0%, not the 50% of its own weights. Rows come in ALB evaluation order, findings by
severity. Things are named by the stack's keys with their kind (``listener https``, ``rule
api``, ``pool api``), AWS's names and ARNs beside them in the JSON. Outage-class findings (a
funnel onto too few instances, a forward to a pool with no healthy target, on a share that is
known) make ``lbguard diagnose`` exit 1; a pool with fewer healthy registered targets than
its minimum (its Auto Scaling groups' MinSize, else the stack's ``minSize``) is
``below-minimum``; drift from the deployed or known-good snapshot is listed with the step
that would restore it. :func:`next_step` says which command to run next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from botocore.exceptions import ClientError

from lbguard.core.model import LbguardError
from lbguard.live import findings as fd
from lbguard.live import reader, rollback
from lbguard.live.findings import OUTAGE_KINDS, is_outage  # noqa: F401 - the diagnosis' own vocabulary
from lbguard.live.reader import TRANSPORT_ERRORS


@dataclass
class StackFacts:
    """What the project says about the stack that the load balancer does not: each pool's
    ``minSize``, each rule's declared ``expectedShare``, and the traffic profile."""

    pools: dict = field(default_factory=dict)  # pool key -> settings
    expected_shares: dict[str, float] = field(default_factory=dict)  # rule key -> expectedShare
    profile: Any = None  # lbguard.core.profile.Profile
    profile_path: str | None = None


def stack_facts(project_dir: Path, stack: str) -> StackFacts:
    """The stack's settings and traffic profile from the project (``{}``/None where absent)."""
    from lbguard.core.profile import load_profile, profile_path
    from lbguard.core.stackconfig import load_project, load_stack_config

    facts = StackFacts()
    try:
        project, config, _ = load_stack_config(project_dir, stack)
        pools = json.loads(config.get(f"{project}:pools") or "{}")
        routing = json.loads(config.get(f"{project}:routing") or "{}")
    except (LbguardError, ValueError):
        return facts
    facts.pools = pools if isinstance(pools, dict) else {}
    rules = routing.get("rules") if isinstance(routing, dict) else None
    for key, rule in (rules or {}).items() if isinstance(rules, dict) else ():
        if isinstance(rule, dict) and isinstance(rule.get("expectedShare"), (int, float)):
            facts.expected_shares[key] = float(rule["expectedShare"])
    path = profile_path(project_dir, stack, load_project(project_dir).get("stackConfigDir", "stacks"))
    if path.is_file():
        facts.profile, facts.profile_path = load_profile(path), str(path)
    return facts


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


def settings_minimums(pools: Mapping, keys: Mapping[str, str]) -> dict[str, dict]:
    """Target-group ARN -> the stack's ``pools.<key>.minSize``, for pools whose key is known."""
    out = {}
    for arn, key in keys.items():
        pool = pools.get(key) if isinstance(pools, Mapping) else None
        if isinstance(pool, dict) and isinstance(pool.get("minSize"), int):
            out[arn] = {"minimum": pool["minSize"], "source": f"stack setting pools.{key}.minSize"}
    return out


def minimums(live: reader.Live, autoscaling, pools: Mapping) -> tuple[dict[str, dict], list[str]]:
    """Each pool's minimum: its Auto Scaling groups' MinSize, else the stack's minSize; and a
    note when the Auto Scaling read failed (permissions, an endpoint without it, throttled
    past the retries): then the settings are all that is known, and the output says so."""
    found = settings_minimums(pools, live.keys)
    if autoscaling is None:
        return found, []
    try:
        found.update(read_minimums(autoscaling, set(live.target_groups)))
    except (ClientError, *TRANSPORT_ERRORS) as err:
        return found, [f"Auto Scaling groups not read ({reader.error_text(err)}): pool minimums are the stack's "
                       f"minSize settings only"]
    return found, []


def drift(live: reader.Live, current: dict | None, known_good: dict | None) -> list[dict]:
    """Each step a rollback to the deployed / known-good snapshot would take, as a finding."""
    out = []
    for kind, snap in (("drift-from-current", current), ("drift-from-known-good", known_good)):
        for step in rollback.plan(snap, live) if snap else []:
            p = step.params
            rule_arn = p.get("RuleArn")
            listener_arn = p.get("ListenerArn") if p.get("ListenerArn") in live.listeners else live.listener_of(rule_arn or "")
            out.append(fd.finding(kind, "warning", f"live differs from the {kind.split('-from-')[1]} snapshot; to "
                                                   f"restore: {step.description}" + (f" [blocked: {step.blocked}]"
                                                                                     if step.blocked else ""),
                                  fd.where(live, listener_arn, rule_arn), **fd.names(live, listener_arn, rule_arn),
                                  step=step.planned()))
    return out


def diagnose(live: reader.Live, *, max_instance_share: float = 0.5, current: dict | None = None,
             known_good: dict | None = None, profile: Any = None, expected_shares: Mapping[str, float] | None = None,
             minimums_: Mapping[str, dict] | None = None) -> tuple[list[dict], list[dict]]:
    """(share rows in ALB order, findings by severity)."""
    declared = {arn: expected_shares[key] for arn, key in live.keys.items() if key in (expected_shares or {})}
    reach = fd.reaches(live, profile, declared if profile is None else None)
    found = fd.routing_findings(live, reach, max_instance_share=max_instance_share)
    found += fd.below_minimum(live, minimums_ or {})
    found += drift(live, current, known_good)
    return fd.share_rows(live, reach), fd.by_severity(found)


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


@dataclass
class Diagnosis:
    load_balancer_arn: str
    shares: list[dict]
    findings: list[dict]
    next: dict
    basis: str  # where the rules' shares of their listener come from
    drill_record: str | None = None
    notes: list[str] = field(default_factory=list)  # what could not be read, and what that leaves out

    def to_json(self) -> dict:
        return {"loadBalancerArn": self.load_balancer_arn, "sharesFrom": self.basis, "shares": self.shares,
                "findings": self.findings, "notes": self.notes, "drillRecord": self.drill_record, "next": self.next}


def run(elbv2, autoscaling, load_balancer_arn: str, *, stack: str, facts: StackFacts | None = None,
        current: dict | None = None, known_good: dict | None = None, max_instance_share: float = 0.5,
        drill_record: str | None = None) -> Diagnosis:
    """Read the load balancer (every target group it holds too) and diagnose it."""
    facts = facts or StackFacts()
    live = reader.read(elbv2, load_balancer_arn, current, known_good, attached=True)
    mins, notes = minimums(live, autoscaling, facts.pools)
    rows, found = diagnose(live, max_instance_share=max_instance_share, current=current, known_good=known_good,
                           profile=facts.profile, expected_shares=facts.expected_shares, minimums_=mins)
    basis = (f"traffic profile {facts.profile_path}" if facts.profile is not None else
             "facts only (no traffic profile): a catch-all takes everything after it, a shadowed rule nothing, "
             "a rule's expectedShare as declared; other rules' shares are unknown (upper bounds)")
    return Diagnosis(load_balancer_arn, rows, found, next_step(found, stack, drill_record=drill_record), basis,
                     drill_record, notes)
