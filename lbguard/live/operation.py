"""A live rollback as an operation that never makes things worse.

Around ``lbguard.live.rollback.converge`` (plan, apply, verify over the whole load balancer):

- plan first: a run whose plan has no step to run writes nothing at all (no lock, journal
  or freeze: an alarm that keeps firing after the fix costs reads only); otherwise the
  lock is taken and the routing read and planned again under it (another run may have
  fixed it meanwhile: then nothing more is written);
- ownership: the snapshot must name the target's project, stack, region, account and
  load balancer (``lbguard.core.snapshot.check_owner``), else nothing is written;
- a lock (``lbguard.live.state.Lock``): one rollback per load balancer at a time;
- a journal: the whole routing before and after (full definitions), every step and
  write with its outcome, written to SSM (``routing/journal/<id>``, ``.../latest``) and
  to a file before the first write and again at the end, so ``lbguard rollback --undo``
  can restore exactly what was live before;
- a deploy freeze (``lbguard.core.freeze``): what was rolled back from, when and by whom.

The CLI and the auto-rollback Lambda both call ``run_rollback``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError

from lbguard.core import freeze, shapes

from lbguard.live import reader, rollback, state
from lbguard.live.reader import TRANSPORT_ERRORS, error_text
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import SCHEMA_VERSION, check_owner, validate_snapshot

JOURNAL_VERSION = 1


@dataclass
class Target:
    project: str
    stack: str
    region: str
    account: str
    load_balancer_arn: str

    def to_json(self) -> dict:
        return {"project": self.project, "stack": self.stack, "region": self.region, "account": self.account,
                "loadBalancerArn": self.load_balancer_arn}


def snapshot_from_live(live: reader.Live, target: Target) -> dict:
    """The whole live routing as a snapshot (full definitions): a journal's before/after."""
    listeners = []
    for arn, lst in live.listeners.items():
        certs = [c["CertificateArn"] for c in lst.get("Certificates") or [] if c.get("CertificateArn")]
        listeners.append({
            "key": f"{lst['Protocol']}:{lst['Port']}", "arn": arn, "port": int(lst["Port"]), "protocol": lst["Protocol"],
            **({"sslPolicy": lst["SslPolicy"]} if lst.get("SslPolicy") else {}),
            **({"certificates": certs} if certs else {}),
            "defaultActions": shapes.canonical_actions(lst["DefaultActions"]),
            "rules": [{"key": r.rsplit("/", 1)[-1], "arn": r, "priority": int(live.rules[r]["Priority"]),
                       "conditions": shapes.canonical_conditions(live.rules[r]["Conditions"]),
                       "actions": shapes.canonical_actions(live.rules[r]["Actions"])}
                      for r in sorted(live.rules_by_listener.get(arn, []), key=lambda r: int(live.rules[r]["Priority"]))]})
    return {"schemaVersion": SCHEMA_VERSION, "project": target.project, "stack": target.stack, "region": target.region,
            "account": target.account, "loadBalancer": {"arn": target.load_balancer_arn,
                                                         "name": target.load_balancer_arn.split("/")[-2]},
            "targetGroups": {tg["name"]: {"arn": arn, "name": tg["name"]} for arn, tg in live.target_groups.items()
                             if tg.get("exists")},
            "listeners": sorted(listeners, key=lambda l: l["port"])}


def touched(before: dict, after: dict | None) -> list[dict]:
    """Every listener (default action) and rule whose definition differs, before and after."""
    if after is None:
        return []
    out = []
    b = {l["arn"]: l for l in before["listeners"]}
    a = {l["arn"]: l for l in after["listeners"]}
    for arn in sorted(set(b) | set(a)):
        lb, la = b.get(arn), a.get(arn)
        if (lb or {}).get("defaultActions") != (la or {}).get("defaultActions"):
            out.append({"listener": arn, "before": lb and {k: v for k, v in lb.items() if k != "rules"},
                        "after": la and {k: v for k, v in la.items() if k != "rules"}})
        rb_ = {r["arn"]: r for r in (lb or {}).get("rules", [])}
        ra = {r["arn"]: r for r in (la or {}).get("rules", [])}
        for rule in sorted(set(rb_) | set(ra)):
            if rb_.get(rule) != ra.get(rule):
                out.append({"listener": arn, "rule": rule, "before": rb_.get(rule), "after": ra.get(rule)})
    return out


class Journal:
    """Where a run's journal goes: SSM (best effort, never blocks the fix) and a file."""

    def __init__(self, ssm, target: Target, *, by: str, source: str, path: str | Path | None, clock=time.time):
        self.ssm, self.target, self.path, self.clock = ssm, target, path, clock
        self.id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock())) + "-" + uuid.uuid4().hex[:6]
        self.param = state.ssm_name(target.project, target.stack, f"journal/{self.id}")
        self.warnings: list[str] = []
        self.doc: dict[str, Any] = {"journalVersion": JOURNAL_VERSION, "id": self.id, "target": target.to_json(),
                                    "by": by, "source": source, "startedAt": _iso(clock()), "finishedAt": None,
                                    "ssmParameter": self.param}

    def write(self) -> None:
        if self.path:
            try:
                Path(self.path).write_text(json.dumps(self.doc, indent=2, default=str) + "\n")
            except OSError as err:
                self.warnings.append(f"--journal {self.path}: cannot write: {err.strerror}")
        try:
            state.put_document(self.ssm, self.param, self.doc, f"lbguard rollback journal {self.id}")
            self.ssm.put_parameter(Name=state.ssm_name(self.target.project, self.target.stack, "journal/latest"),
                                   Value=self.id, Type="String", Overwrite=True)
        except (ClientError, *TRANSPORT_ERRORS) as err:
            self.warnings.append(f"journal not written to SSM {self.param}: {error_text(err)}")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass
class Run:
    result: rollback.Result
    target: Target
    journal: Journal | None = None  # None: nothing was written (dry run, empty plan)
    freeze: dict | None = None
    lock: state.Lock | None = None

    def to_json(self) -> dict:
        doc = {"target": self.target.to_json(), **self.result.to_json()}
        if self.journal:
            doc["journal"] = {"id": self.journal.id, "ssmParameter": self.journal.param,
                              "file": str(self.journal.path) if self.journal.path else None,
                              "warnings": self.journal.warnings}
        doc["freeze"] = self.freeze
        return doc


def run_rollback(elbv2, ssm, snapshot: Any, target: Target, *, source: str, by: str | None = None,
                 keep_extra: bool = False, dry_run: bool = False, wait: float = 0.0, journal_path: str | None = None,
                 deployed: dict | None = None, record_freeze: bool = True, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> Run:
    """Validate and check ownership (nothing written on refusal), plan; when there is a step
    to run: lock, read and plan again, journal, converge, journal again, freeze. ``deployed``
    is the stack's ``routing/current`` snapshot: when it differs from what is restored, the
    freeze names it too (the next deploy would re-apply it)."""
    snapshot = validate_snapshot(snapshot, source)
    check_owner(snapshot, **_owner(target), source=source)
    live = reader.read(elbv2, target.load_balancer_arn, snapshot)
    steps = rollback.plan(snapshot, live, keep_extra=keep_extra)
    if dry_run or not rollback.runnable(steps):
        return Run(rollback.unapplied(live, steps, dry_run=dry_run), target)
    by = by or state.who()
    lock = state.Lock(ssm, state.ssm_name(target.project, target.stack, "lock"), owner=by)
    lock.acquire(wait, sleep=sleep, clock=clock)
    run = Run(rollback.Result(), target, lock=lock)
    try:
        live = reader.read(elbv2, target.load_balancer_arn, snapshot)
        steps = rollback.plan(snapshot, live, keep_extra=keep_extra)
        if not rollback.runnable(steps):  # another run fixed it while this one waited for the lock
            run.result = rollback.unapplied(live, steps, dry_run=False)
            return run
        run.journal = journal = Journal(ssm, target, by=by, source=source, path=journal_path, clock=clock)
        before = snapshot_from_live(live, target)
        journal.doc.update(restoring=freeze.fingerprint(snapshot), before=before, after=None,
                           plan=[s.planned() for s in steps])
        journal.write()  # before the first write: what is about to change, in full
        run.result = result = rollback.converge(elbv2, snapshot, keep_extra=keep_extra, live=live, steps=steps,
                                                settle=sleep)
        after = snapshot_from_live(result.after, target) if result.after else None
        journal.doc.update(finishedAt=_iso(clock()), after=after, touched=touched(before, after), **result.to_json())
        journal.write()
        landed = any(w.get("outcome") == "ok" or str(w.get("outcome", "")).startswith("already done")
                     for w in result.writes)
        if record_freeze and landed:
            run.freeze = _freeze(ssm, target, journal, before, deployed, snapshot, result, clock)
        return run
    finally:
        try:
            lock.release()
        except (ClientError, *TRANSPORT_ERRORS) as err:
            if run.journal is not None:  # said in the report; the lock expires on its own (state.Lock.ttl)
                run.journal.warnings.append(f"lock {lock.name} not released ({error_text(err)}); it expires "
                                            f"in {lock.ttl:.0f}s")


def _owner(target: Target) -> dict:
    return {"project": target.project, "stack": target.stack, "region": target.region, "account": target.account,
            "load_balancer_arn": target.load_balancer_arn}


def _freeze(ssm, target: Target, journal: Journal, before: dict, deployed: dict | None, snapshot: dict,
            result: rollback.Result, clock) -> dict:
    froms = [("live routing before the rollback", before)]
    if deployed:
        try:
            froms.append(("deployed routing (routing/current)", validate_snapshot(deployed, "routing/current")))
        except LbguardError as err:
            journal.warnings.append(f"the freeze names only the live routing: {err}")
    first = result.applied[0]["change"] if result.applied else "nothing applied"
    record = freeze.freeze_record(
        project=target.project, stack=target.stack, rolled_back_from=froms, restored=snapshot,
        by=journal.doc["by"], at=_iso(clock()), journal=journal.id,
        summary=f"journal {journal.id}: {len(result.applied)} step(s) applied, {len(result.not_applied)} not; "
                f"first: {first}")
    try:
        ssm.put_parameter(Name=state.ssm_name(target.project, target.stack, "freeze"), Value=json.dumps(record),
                          Type="String", Overwrite=True, Tier="Advanced" if len(json.dumps(record)) > 4096 else "Standard")
    except (ClientError, *TRANSPORT_ERRORS) as err:
        journal.warnings.append(f"deploy freeze not recorded: {error_text(err)}")
        return {**record, "recorded": False}
    return {**record, "recorded": True}


def read_freeze(ssm, project: str, stack: str) -> dict | None:
    try:
        value = ssm.get_parameter(Name=state.ssm_name(project, stack, "freeze"))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    try:
        record = json.loads(value)
    except ValueError:
        raise LbguardError(f"SSM parameter {state.ssm_name(project, stack, 'freeze')}: not a freeze record; "
                           f"`lbguard unfreeze --stack {stack}` removes it") from None
    if not isinstance(record, dict):
        raise LbguardError(f"SSM parameter {state.ssm_name(project, stack, 'freeze')}: not a freeze record")
    return record


def load_journal(ssm, target: Target, ref: str) -> dict:
    """A journal from a file, or from SSM by id (``latest`` for the last one)."""
    path = Path(ref)
    if path.is_file():
        try:
            doc = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise LbguardError(f"--undo {ref}: not a JSON journal file") from None
        where = f"--undo {ref}"
    else:
        if ref == "latest":
            try:
                ref = ssm.get_parameter(Name=state.ssm_name(target.project, target.stack, "journal/latest"))["Parameter"]["Value"]
            except ssm.exceptions.ParameterNotFound:
                raise LbguardError(f"--undo latest: no journal recorded for {target.project}/{target.stack}") from None
        if "/" in ref or not ref.strip():
            raise LbguardError(f"--undo {ref}: no such file, and not a journal id")
        doc = state.get_document(ssm, state.ssm_name(target.project, target.stack, f"journal/{ref}"))
        if doc is None:
            raise LbguardError(f"--undo {ref}: no such file, and no journal {ref} in SSM for {target.project}/{target.stack}")
        where = f"journal {ref}"
    if not isinstance(doc, dict) or doc.get("journalVersion") != JOURNAL_VERSION or not isinstance(doc.get("before"), dict):
        raise LbguardError(f"{where}: not an lbguard rollback journal (journalVersion {JOURNAL_VERSION} with 'before')")
    if doc.get("target") != target.to_json():
        raise LbguardError(f"{where}: is for {(doc.get('target') or {}).get('project')}/"
                           f"{(doc.get('target') or {}).get('stack')} ({(doc.get('target') or {}).get('loadBalancerArn')}), "
                           f"not {target.project}/{target.stack}; nothing was changed")
    return doc


def undo(elbv2, ssm, journal: dict, target: Target, **kwargs) -> Run:
    """Restore what was live before the journal's rollback (rules it deleted are re-created
    from their full definitions); lifts the freeze that rollback recorded."""
    run = run_rollback(elbv2, ssm, journal["before"], target, source=f"journal {journal['id']} (before)",
                       record_freeze=False, **kwargs)
    if kwargs.get("dry_run"):
        return run
    held = read_freeze(ssm, target.project, target.stack)
    if held and held.get("journal") == journal["id"]:
        ssm.delete_parameter(Name=state.ssm_name(target.project, target.stack, "freeze"))
        run.freeze = {"lifted": held}
    return run
