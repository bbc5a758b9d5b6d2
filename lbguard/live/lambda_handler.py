"""The auto-rollback Lambda: an alarm fired, restore the known-good routing.

Subscribed to the stack's alarm topic. Acts only on ALARM notifications of the
configured alarms, at most once per cool-down (the last run's time lives in an SSM
parameter), takes the same lock as ``lbguard rollback``, writes the same journal and
deploy freeze, and logs every run as one JSON line. It validates its event and returns
a structured result for every input: it never raises (a raising function would be
retried by SNS and log a traceback instead of a reason).

Environment: ``LBGUARD_PROJECT``, ``LBGUARD_STACK``, ``LBGUARD_LOAD_BALANCER_ARN`` (the
load balancer it may touch; a snapshot naming another is refused),
``LBGUARD_COOLDOWN_SECONDS``, ``LBGUARD_TRIGGER_ALARMS`` (comma-separated),
``LBGUARD_LOCK_WAIT_SECONDS``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from lbguard.live import operation, reader, state
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import arn_region_account


def alarms_in(event: Any) -> tuple[list[dict], list[str]]:
    """The CloudWatch alarm notifications an SNS event carries, and what was malformed."""
    if not isinstance(event, dict):
        return [], [f"event must be an object with Records, got {type(event).__name__}"]
    records = event.get("Records")
    if not isinstance(records, list):
        return [], [f"event.Records must be a list, got {type(records).__name__}"]
    out, problems = [], []
    for i, record in enumerate(records):
        sns = record.get("Sns") if isinstance(record, dict) else None
        message = sns.get("Message") if isinstance(sns, dict) else None
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except ValueError:
                problems.append(f"Records[{i}].Sns.Message is not JSON")
                continue
        if not isinstance(message, dict):
            problems.append(f"Records[{i}].Sns.Message must be an alarm object, got {type(message).__name__}")
            continue
        if isinstance(message.get("AlarmName"), str) and isinstance(message.get("NewStateValue"), str):
            out.append(message)
        else:
            problems.append(f"Records[{i}].Sns.Message lacks AlarmName/NewStateValue")
    return out, problems


def handler(event, context=None, *, ssm=None, elbv2=None, now=None) -> dict:
    try:
        return _log(_handle(event, ssm=ssm, elbv2=elbv2, now=now))
    except Exception as err:  # noqa: BLE001 - the contract is a structured result for every input
        return _log({"action": "error", "reason": f"{type(err).__name__}: {err}"})


def _handle(event, *, ssm, elbv2, now) -> dict:
    project, stack = os.environ.get("LBGUARD_PROJECT"), os.environ.get("LBGUARD_STACK")
    lb_arn = os.environ.get("LBGUARD_LOAD_BALANCER_ARN", "")
    region, account = arn_region_account(lb_arn)
    if not (project and stack and region and account):
        return {"action": "refused", "reason": "LBGUARD_PROJECT, LBGUARD_STACK and LBGUARD_LOAD_BALANCER_ARN (an ELB "
                                               "load balancer ARN) must be set"}
    try:
        cooldown = float(os.environ.get("LBGUARD_COOLDOWN_SECONDS", "900"))
        wait = float(os.environ.get("LBGUARD_LOCK_WAIT_SECONDS", "20"))
    except ValueError:
        return {"action": "refused", "reason": "LBGUARD_COOLDOWN_SECONDS / LBGUARD_LOCK_WAIT_SECONDS must be numbers"}
    triggers = {a for a in os.environ.get("LBGUARD_TRIGGER_ALARMS", "").split(",") if a}
    alarms, problems = alarms_in(event)
    fired = [a["AlarmName"] for a in alarms
             if a["NewStateValue"] == "ALARM" and (not triggers or a["AlarmName"] in triggers)]
    if not fired:
        return {"action": "none", "reason": "no trigger alarm in ALARM state", "eventProblems": problems}
    import boto3

    ssm = ssm or boto3.client("ssm", config=reader.RETRY_CONFIG)
    elbv2 = elbv2 or reader.client()
    now = time.time() if now is None else now
    last_param = state.ssm_name(project, stack, "last-auto-rollback")
    try:
        last = float(ssm.get_parameter(Name=last_param)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        last = 0.0
    except ValueError:
        last = 0.0  # a corrupted marker must not block the fix forever
    if now - last < cooldown:
        return {"action": "none", "reason": f"cool-down: last automatic rollback {now - last:.0f}s ago", "alarms": fired}
    target = operation.Target(project, stack, region, account, lb_arn)
    try:
        snapshot = _parameter(ssm, state.ssm_name(project, stack, "known-good"))
        if snapshot is None:
            return {"action": "none", "alarms": fired,
                    "reason": f"no known-good snapshot in SSM {state.ssm_name(project, stack, 'known-good')}: record "
                              f"one with `lbguard promote --stack {stack}`; until then restore by hand with "
                              f"`lbguard rollback --stack {stack} --to current` or `--snapshot FILE`"}
        deployed = _deployed(ssm, project, stack)
        run = operation.run_rollback(elbv2, ssm, snapshot, target, source="known-good snapshot", deployed=deployed,
                                     wait=wait)
    except LbguardError as err:
        return {"action": "refused", "reason": str(err), "alarms": fired}
    if not run.result.writes:  # nothing written at all: no lock, journal, freeze or cool-down mark
        reason = ("live routing already equals known-good" if run.result.verified else
                  "nothing can be applied (every step is blocked: see notApplied)")
        return {"action": "none", "reason": reason, "alarms": fired, **run.to_json()}
    ssm.put_parameter(Name=last_param, Value=str(now), Type="String", Overwrite=True)
    return {"action": "rollback", "alarms": fired, **run.to_json()}


def _parameter(ssm, name: str) -> Any:
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return state.decode_snapshot(value, f"SSM parameter {name}")


def _deployed(ssm, project: str, stack: str) -> dict | None:
    """The deploy's snapshot, for the freeze; a bad one only means the freeze names less."""
    try:
        doc = _parameter(ssm, state.ssm_name(project, stack, "current"))
    except LbguardError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("listeners"), list) else None


def _log(record: dict) -> dict:
    try:
        print(json.dumps({"lbguard": "auto-rollback", **record}, default=str))
    except (TypeError, ValueError):
        print(json.dumps({"lbguard": "auto-rollback", "action": record.get("action"), "unprintable": True}))
    return record
