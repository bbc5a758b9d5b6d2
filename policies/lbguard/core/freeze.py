"""The deploy freeze: after a rollback, do not deploy the routing that was rolled back from.

A rollback records (SSM ``/<project>/<stack>/routing/freeze``, see ``lbguard.live.state``)
what it rolled back from, when and by whom: the fingerprint of the live routing it
replaced and of the deployed snapshot (``routing/current``), when that differs from
what it restored (the next ``pulumi up`` from the same commit would re-apply it).
Everything here is pure: ``lbguard freeze --stack S --json FILE`` exports the record
from SSM and offline checks (``lbguard preflight --freeze FILE``, ``lbguard preview``)
call ``freeze_refusal(record, head_rollback_output)``.

A fingerprint covers routing only, in a form the same on AWS and in the emulator:
listeners by port and protocol, default actions, rules by priority with conditions and
actions, target groups by name (``<stack>-<pool>-<hash>``, identical for the same
program) instead of ARNs (which differ between a deploy and an offline run).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from lbguard.core import shapes
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import tg_name

FREEZE_VERSION = 1


def _by_name(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (tg_name(v) if k == "TargetGroupArn" and isinstance(v, str) else _by_name(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_by_name(v) for v in value]
    return value


def routing(doc: Mapping[str, Any]) -> list:
    """The routing of a snapshot-shaped document, independent of ARNs."""
    out = []
    for lst in sorted(doc["listeners"], key=lambda l: (int(l["port"]), l["protocol"])):
        rules = sorted(((int(r["priority"]), shapes.canonical_conditions(r["conditions"]),
                         shapes.canonical_actions(r["actions"])) for r in lst.get("rules", [])), key=lambda r: r[0])
        out.append([int(lst["port"]), lst["protocol"], shapes.canonical_actions(lst["defaultActions"]),
                    [list(r) for r in rules]])
    return _by_name(out)


def fingerprint(doc: Mapping[str, Any]) -> str:
    text = json.dumps(routing(doc), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def freeze_record(*, project: str, stack: str, rolled_back_from: list[tuple[str, Mapping[str, Any]]],
                  restored: Mapping[str, Any], by: str, at: str, journal: str | None, summary: str) -> dict:
    """``rolled_back_from``: (what, snapshot-shaped routing) pairs, e.g. the live routing
    before the rollback and the deployed snapshot."""
    seen, froms = set(), []
    restored_fp = fingerprint(restored)
    for what, doc in rolled_back_from:
        fp = fingerprint(doc)
        if fp not in seen and fp != restored_fp:
            seen.add(fp)
            froms.append({"what": what, "fingerprint": fp})
    return {"freezeVersion": FREEZE_VERSION, "project": project, "stack": stack, "at": at, "by": by,
            "journal": journal, "summary": summary, "restored": restored_fp, "rolledBackFrom": froms}


def freeze_refusal(record: Mapping[str, Any] | None, head_rollback: Mapping[str, Any] | None) -> str | None:
    """Why the head program must not be deployed (its ``rollback`` output equals routing
    a rollback replaced), or None. A head whose routing differs is allowed."""
    if not record or head_rollback is None:
        return None
    fp = fingerprint(head_rollback)
    for entry in record.get("rolledBackFrom", []):
        if entry.get("fingerprint") == fp:
            return (f"deploy freeze on {record.get('project')}/{record.get('stack')}: this head's routing equals the "
                    f"{entry.get('what')} that a rollback replaced at {record.get('at')} by {record.get('by')} "
                    f"({record.get('summary')}); fix the routing in the program, or run "
                    f"`lbguard unfreeze --stack {record.get('stack')}` once the rollback is understood")
    return None


def export_document(project: str, stack: str, record: Mapping[str, Any] | None) -> dict:
    """What ``lbguard freeze --json FILE`` writes and ``preflight --freeze FILE`` reads."""
    return {"freezeExport": FREEZE_VERSION, "project": project, "stack": stack, "frozen": record is not None,
            "record": dict(record) if record else None}


def load_export(path: str | Path, *, project: str, stack: str) -> dict | None:
    """The freeze record in an export file (None: not frozen); one-line errors."""
    where = f"--freeze {path}"
    try:
        doc = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as err:
        raise LbguardError(f"{where}: cannot read: {err.strerror}") from None
    except (UnicodeDecodeError, ValueError):
        raise LbguardError(f"{where}: not a JSON file written by `lbguard freeze --stack {stack} --json FILE`") from None
    if not isinstance(doc, dict) or doc.get("freezeExport") != FREEZE_VERSION or not isinstance(doc.get("frozen"), bool):
        raise LbguardError(f"{where}: not a freeze export (write it with `lbguard freeze --stack {stack} --json FILE`)")
    if (doc.get("project"), doc.get("stack")) != (project, stack):
        raise LbguardError(f"{where}: is for {doc.get('project')}/{doc.get('stack')}, not {project}/{stack}")
    record = doc.get("record")
    if doc["frozen"] and not (isinstance(record, dict) and isinstance(record.get("rolledBackFrom"), list)):
        raise LbguardError(f"{where}: record: must hold rolledBackFrom (a list); re-export it")
    return record if doc["frozen"] else None
