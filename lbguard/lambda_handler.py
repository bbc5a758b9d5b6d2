"""The auto-rollback Lambda: an alarm fired, restore the known-good routing.

Subscribed to the stack's alarm topic. Acts only on ALARM notifications of the
configured alarms, at most once per cool-down (the last run's time lives in an SSM
parameter), and logs every change it makes as one JSON line.
"""

from __future__ import annotations

import json
import os
import time

import boto3

from lbguard import rollback, state
from lbguard.model import LbguardError


def _alarms(event: dict) -> list[dict]:
    out = []
    for record in event.get("Records", []):
        message = record.get("Sns", {}).get("Message", "{}")
        try:
            out.append(json.loads(message))
        except json.JSONDecodeError:
            continue
    return out


def handler(event, context=None, *, ssm=None, elbv2=None, now=None) -> dict:
    project, stack = os.environ["LBGUARD_PROJECT"], os.environ["LBGUARD_STACK"]
    cooldown = int(os.environ.get("LBGUARD_COOLDOWN_SECONDS", "900"))
    triggers = {a for a in os.environ.get("LBGUARD_TRIGGER_ALARMS", "").split(",") if a}
    ssm = ssm or boto3.client("ssm")
    elbv2 = elbv2 or rollback.client()
    now = time.time() if now is None else now

    fired = [a["AlarmName"] for a in _alarms(event)
             if a.get("NewStateValue") == "ALARM" and (not triggers or a.get("AlarmName") in triggers)]
    if not fired:
        return _log({"action": "none", "reason": "no trigger alarm in ALARM state"})
    last_param = state.last_auto_rollback_param(project, stack)
    try:
        last = float(ssm.get_parameter(Name=last_param)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        last = 0.0
    if now - last < cooldown:
        return _log({"action": "none", "reason": f"cool-down: last automatic rollback {now - last:.0f}s ago",
                     "alarms": fired})
    try:
        name = state.known_good_param(project, stack)
        snapshot = state.decode_snapshot(ssm.get_parameter(Name=name)["Parameter"]["Value"], name)
    except ssm.exceptions.ParameterNotFound:
        return _log({"action": "none", "reason": "no known-good snapshot (run lbguard promote)", "alarms": fired})
    try:
        result = rollback.rollback(elbv2, snapshot, source="known-good snapshot")
    except LbguardError as err:
        return _log({"action": "refused", "reason": str(err), "alarms": fired})
    if result.applied:
        ssm.put_parameter(Name=last_param, Value=str(now), Type="String", Overwrite=True)
    return _log({"action": "rollback", "alarms": fired, **result.to_json()})


def _log(record: dict) -> dict:
    print(json.dumps({"lbguard": "auto-rollback", **record}, default=str))
    return record
