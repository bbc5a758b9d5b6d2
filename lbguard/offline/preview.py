"""An engine-faithful offline preview of base -> head: plan each resource, then apply the
plan against the emulator as a real ``pulumi up`` would, and report every call AWS refuses.

How the Pulumi engine moves a live stack (Pulumi docs, "How Pulumi works": resource
operations; the provider decides update vs replace):

* A resource in head whose URN (or an alias) is in the prior state is diffed against
  the prior inputs, after ``ignoreChanges`` paths take the prior value. No difference:
  ``same``, no call. A difference in a property the provider marks ForceNew (or named in
  ``replaceOnChanges``): ``replace``; otherwise ``update``.
* ``replace`` is create-before-delete unless the resource says ``deleteBeforeReplace``:
  the new resource is created, dependents are updated to it, and the old one is deleted
  at the end of the deployment.
* A resource only in the prior state is deleted, last, in reverse dependency order.
* Steps run as the program registers resources, so creates and updates happen in
  dependency order.

The base program runs first into a fresh in-process emulator (the "live" stack); then
the head program runs against it with :class:`PlanningEmulator`, which makes each
resource's provider calls (``lbguard.offline.emulator.services``: one ``SetRulePriorities`` per
rule, ``ModifyTargetGroup``, ``UpdateAutoScalingGroup``...). A call AWS (moto) refuses
is a finding naming the resource, the call, the error and the way to make the change
deployable.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pulumi
from botocore.exceptions import ClientError

from lbguard.offline.emulator.core import (HANDLERS, PUT_STYLE, UPDATERS, AwsEmulator, Prior, _floats_to_ints,
                                   canonical_type)
from lbguard.core.model import LbguardError, ProgramRun, RecordedResource

OPS = ("same", "create", "update", "replace", "delete")
FAILED = "lbguard-failed:"  # marks ids/outputs of a resource whose create failed


@dataclass
class Step:
    urn: str
    type: str
    name: str
    op: str
    diffs: list[str] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # AWS operations made for this step
    delete_before_replace: bool = False
    status: str = "ok"  # ok | failed | skipped
    custom: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "op": self.op, "diffs": self.diffs,
                "replaceReasons": self.replace_reasons, "deleteBeforeReplace": self.delete_before_replace,
                "calls": self.calls, "status": self.status}


@dataclass
class Failure:
    urn: str
    call: str
    error: str
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "call": self.call, "error": self.error, "message": self.message, "fix": self.fix}


# ------------------------------------------------------------------ diffing


def _digest(asset: Any) -> str:
    """Content hash of a Pulumi asset or archive (the engine compares contents, not paths)."""
    h = hashlib.sha256()
    if isinstance(asset, pulumi.StringAsset):
        h.update(asset.text.encode())
    elif isinstance(asset, pulumi.FileAsset):
        h.update(Path(asset.path).read_bytes())
    elif isinstance(asset, pulumi.FileArchive):
        base = Path(asset.path)
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for f in files:
            h.update(str(f.relative_to(base) if f != base else f.name).encode())
            h.update(f.read_bytes())
    elif isinstance(asset, pulumi.AssetArchive):
        for name in sorted(asset.assets):
            h.update(name.encode())
            h.update(_digest(asset.assets[name]).encode())
    else:
        h.update(repr(asset).encode())
    return f"asset:{h.hexdigest()}"


def normalise(value: Any) -> Any:
    """Inputs as the engine compares them: plain JSON, secrets unwrapped, assets by content,
    absent and null the same."""
    value = _floats_to_ints(value)
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return _digest(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return value


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Property paths (``a.b[0].c``) whose values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += changed_paths(old.get(k), new.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for n, (a, b) in enumerate(zip(old, new)):
            out += changed_paths(a, b, f"{path}[{n}]")
        return out
    return [] if old == new else [path]


def _apply_ignore_changes(old: Mapping[str, Any], new: dict, paths: Iterable[str]) -> dict:
    """The engine keeps the prior value of every ``ignoreChanges`` path (top-level and dotted)."""
    new = json.loads(json.dumps(new, default=str)) if paths else new
    for path in paths:
        keys = path.replace("[", ".").replace("]", "").replace('"', "").split(".")
        src, dst = old, new
        for k in keys[:-1]:
            src = src.get(k) if isinstance(src, dict) else None
            if not isinstance(dst, dict) or not isinstance(dst.get(k), dict):
                break
            dst = dst[k]
        else:
            last = keys[-1]
            if isinstance(src, dict) and last in src:
                dst[last] = src[last]
            elif isinstance(dst, dict):
                dst.pop(last, None)
    return new


def top_level(paths: Iterable[str]) -> set[str]:
    return {p.split(".")[0].split("[")[0] for p in paths}


# ------------------------------------------------------------------ replacement facts


def forces_replacement(type_token: str, path: str) -> bool | None:
    """Whether changing ``path`` of ``type_token`` makes the provider replace the resource."""
    from lbguard.core import provider_facts

    return provider_facts.forces_replacement(type_token, path)


# ------------------------------------------------------------------ fixes


FIXES = {
    "PriorityInUse": ("another rule holds that priority until it is itself updated or deleted (the provider sets "
                      "one rule's priority at a time and deletes last): deploy in two steps, first move the rule "
                      "that holds it to a free priority (or delete it), then make this change"),
    "DuplicateTargetGroupName": "the replacement reuses the fixed name of the group it replaces (create-before-delete): "
                                "put the replacement-forcing properties into the name or set deleteBeforeReplace",
    "DuplicateLoadBalancerName": "the replacement reuses the fixed name of the load balancer it replaces "
                                 "(create-before-delete): put the replacement-forcing properties into the name",
    "InvalidGroup.Duplicate": "the replacement security group reuses the old group's name and description "
                              "(create-before-delete): use a name prefix, or keep replacement-forcing fields stable",
    "ParameterAlreadyExists": "the replacement parameter reuses the fixed name (create-before-delete): keep the "
                              "parameter's replacement-forcing fields (tier, type) stable",
    "AlreadyExists": "a replacement under a fixed name collides with the resource it replaces: use auto-naming or "
                     "deleteBeforeReplace",
    "EntityAlreadyExists": "a replacement under a fixed name collides with the resource it replaces: use a name "
                           "prefix or deleteBeforeReplace",
    "ResourceConflictException": "a replacement under a fixed name collides with the function it replaces",
    "ResourceInUse": "still used by a listener or rule when it is deleted: move the routing first, in its own deploy",
    "DependencyViolation": "still in use (instances, load balancers or rules reference it) when it is deleted: "
                           "keep it stable or replace it in two deploys",
    "OperationNotPermitted": "deletion protection is on: turn it off in one deploy, then make the replacing change",
    "InvalidParameterValueException": "AWS refuses the value at apply time: see the message",
    "ValidationError": "AWS refuses the value at apply time: see the message",
    "Protected": "the resource is protected (protect=True): unprotect it in one deploy first",
}


def _fix(code: str) -> str:
    if code in FIXES:
        return FIXES[code]
    if code.endswith("AlreadyExists") or code.startswith("Duplicate"):
        return FIXES["AlreadyExists"]
    return ""


# ------------------------------------------------------------------ the planning mocks


class PlanningEmulator(AwsEmulator):
    """Mocks that, for each registration, plan the step against the prior state and make
    the provider's calls for it."""

    def __init__(self, region: str, prior: Iterable[RecordedResource]):
        super().__init__(region=region)
        self.prior: dict[str, RecordedResource] = {r.urn: r for r in prior}
        self.prior_order = [r.urn for r in prior]
        self.steps: dict[str, Step] = {}
        self.failures: list[Failure] = []
        self.pending_deletes: list[RecordedResource] = []  # replaced (create-before-delete)
        self.seen: set[str] = set()  # prior URNs that head still has (directly or by alias)

    # -------------------------------------------------------------- helpers

    def _old(self, rec: RecordedResource) -> RecordedResource | None:
        for urn in [rec.urn, *rec.aliases]:
            if urn in self.prior:
                return self.prior[urn]
        return None

    def _fail(self, step: Step, call: str, err: BaseException) -> None:
        step.status = "failed"
        if isinstance(err, ClientError):
            code = err.response.get("Error", {}).get("Code", "ClientError")
            message = err.response.get("Error", {}).get("Message", str(err))
            call = err.operation_name or call
        else:
            code, message = type(err).__name__, str(err)
        self.failures.append(Failure(step.urn, call, code, " ".join(message.split())[:400], _fix(code)))

    def _run(self, step: Step, call: str, fn: Callable[[], Any]) -> Any:
        before = len(self.calls)
        try:
            return fn()
        except (ClientError, NotImplementedError, ValueError, KeyError) as err:
            self._fail(step, call, err)
            return None
        finally:
            step.calls += [op for _, op in self.writes(before)]

    @staticmethod
    def _depends_on_failed(inputs: Any) -> bool:
        return FAILED in json.dumps(inputs, default=str)

    def _placeholder(self, step: Step, inputs: dict) -> tuple[str, dict]:
        marker = f"{FAILED}{step.urn}"
        # Dependents read these outputs (ids, ARNs, suffixes, names): give them the marker so
        # the program goes on and their own steps are reported as skipped.
        keys = ("id", "arn", "arnSuffix", "name", "dnsName", "zoneId", "invokeArn", "qualifiedArn")
        return marker, {**inputs, **{k: marker for k in keys}, "name": inputs.get("name") or marker}

    # -------------------------------------------------------------- planning

    def plan(self, rec: RecordedResource, new_inputs: dict) -> tuple[Step, RecordedResource | None, dict]:
        old = self._old(rec)
        step = Step(rec.urn, rec.type, rec.name, "create", custom=rec.custom,
                    delete_before_replace=rec.delete_before_replace)
        if old is None:
            return step, None, new_inputs
        self.seen.add(old.urn)
        old_inputs = normalise(old.inputs)
        inputs = _apply_ignore_changes(old_inputs, normalise(new_inputs), rec.ignore_changes)
        paths = changed_paths(old_inputs, inputs)
        step.diffs = paths
        if not paths and old.type == rec.type:
            step.op = "same"
            return step, old, inputs
        reasons = [p for p in paths if forces_replacement(rec.type, p)
                   or any(p == r or p.startswith(f"{r}.") or p.startswith(f"{r}[") or r == "*"
                          for r in rec.replace_on_changes)]
        step.replace_reasons = reasons
        step.op = "replace" if reasons or old.type != rec.type else "update"
        return step, old, inputs

    # -------------------------------------------------------------- Mocks API

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        rec: RecordedResource | None = getattr(self.registering, "rec", None)
        if rec is None or (not args.custom and not args.typ.startswith("pulumi:providers:")):
            if rec is not None:
                self._component_step(rec)
            return super().new_resource(args)
        if args.typ.startswith("pulumi:providers:") or args.resource_id:
            return super().new_resource(args)
        inputs = _floats_to_ints(dict(args.inputs))
        step, old, planned = self.plan(rec, inputs)
        self.steps[rec.urn] = step
        known = canonical_type(args.typ) in HANDLERS
        if step.op == "same":
            return old.id, dict(old.outputs)
        if not known:
            self.not_emulated.add((args.typ, args.name))
            return (old.id if old else f"{args.name}-echo"), {**(old.outputs if old else {}), **inputs}
        if self._depends_on_failed(inputs):
            step.status = "skipped"
            return self._placeholder(step, inputs)
        if step.op == "update":
            return self._update(args, step, old, inputs)
        if step.op == "replace":
            return self._replace(args, step, old, inputs)
        return self._create(args, step, inputs)

    def _component_step(self, rec: RecordedResource) -> None:
        if rec.type == "pulumi:pulumi:Stack":
            return
        old = self._old(rec)
        if old is not None:
            self.seen.add(old.urn)
        self.steps[rec.urn] = Step(rec.urn, rec.type, rec.name, "same" if old else "create", custom=False)

    def _create(self, args, step: Step, inputs: dict) -> tuple[str, dict]:
        result = self._run(step, "Create", lambda: self.create(args, inputs))
        return result if result is not None else self._placeholder(step, inputs)

    def _update(self, args, step: Step, old: RecordedResource, inputs: dict) -> tuple[str, dict]:
        typ = canonical_type(args.typ)
        if typ not in UPDATERS and typ not in PUT_STYLE:
            self._fail(step, "Update", NotImplementedError(f"the emulator cannot update {args.typ} in place yet"))
            return old.id, {**old.outputs, **inputs}
        prior = Prior(old.type, old.name, old.id or "", normalise(old.inputs), dict(old.outputs))
        outputs = self._run(step, "Update", lambda: self.update(args, inputs, prior, top_level(step.diffs)))
        return old.id, outputs if outputs is not None else {**old.outputs, **inputs}

    def _replace(self, args, step: Step, old: RecordedResource, inputs: dict) -> tuple[str, dict]:
        if step.delete_before_replace:
            self._delete_now(old, step)
            return self._create(args, step, inputs)
        result = self._run(step, "Create", lambda: self.create(args, inputs))
        if result is None:
            return self._placeholder(step, inputs)
        self.pending_deletes.append(old)
        return result

    # -------------------------------------------------------------- deletes

    def _delete_now(self, old: RecordedResource, step: Step) -> None:
        if old.protect:
            self.failures.append(Failure(old.urn, "Delete", "Protected", f"{old.name} is protected",
                                         FIXES["Protected"]))
            step.status = "failed"
            return
        if old.retain_on_delete or not old.custom or canonical_type(old.type) not in HANDLERS:
            return
        prior = Prior(old.type, old.name, old.id or "", normalise(old.inputs), dict(old.outputs))
        self._run(step, "Delete", lambda: self.delete(prior))

    def finish(self) -> None:
        """The deployment's last phase: replaced and removed resources, in reverse dependency order."""
        order = {urn: n for n, urn in enumerate(self.prior_order)}
        gone = [self.prior[u] for u in self.prior_order if u not in self.seen
                and self.prior[u].type != "pulumi:pulumi:Stack"]
        for old in sorted([*gone, *self.pending_deletes], key=lambda r: -order[r.urn]):
            step = self.steps.get(old.urn) if old in self.pending_deletes else None
            if step is None:
                step = Step(old.urn, old.type, old.name, "delete", custom=old.custom)
                self.steps[f"delete:{old.urn}"] = step
            self._delete_now(old, step)


# ------------------------------------------------------------------ the whole preview


@dataclass
class PreviewResult:
    stack: str
    base: str
    steps: list[Step]
    failures: list[Failure]
    head: ProgramRun
    base_run: ProgramRun
    writes: int
    violations: list = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counted = [s for s in self.steps if s.custom]
        return {op: sum(s.op == op for s in counted) for op in OPS}

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "base": self.base, "steps": [s.to_json() for s in self.steps],
                "failures": [f.to_json() for f in self.failures],
                "violations": [v.to_json() for v in self.violations],
                "summary": self.summary(), "writes": self.writes}


def plan_and_apply(prior: list[RecordedResource], head_dir: Path, stack: str,
                   region: str | None = None) -> tuple[ProgramRun, PlanningEmulator]:
    """Run head against ``prior`` (what AWS holds now): plan, make the calls, delete last."""
    from lbguard.offline.emulator.runner import load_stack_config, run_program

    if region is None:
        _, config = load_stack_config(head_dir, stack)
        region = config.get("aws:region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    planner = PlanningEmulator(region, prior)
    head = run_program(head_dir, stack, mocks=planner)
    planner.finish()
    return head, planner


def run_preview(base_dir: Path | None, head_dir: Path, stack: str, *, base_label: str = "base",
                between: Callable[[ProgramRun], None] | None = None,
                base_state: list[RecordedResource] | None = None) -> PreviewResult:
    """Base into a fresh emulator, then head planned and applied against it.

    The caller provides the AWS side (``emulated_aws()``, in-process moto). ``between``
    runs after the base is live (tests use it to change AWS behind Pulumi's back, as
    autoscaling or a hand edit would). ``base_dir`` None: a new stack (every step a create).
    """
    from lbguard.offline.emulator.runner import run_program

    if base_state is not None:
        region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        base_run = ProgramRun("", stack, replay_state(base_state, region), {})
    else:
        base_run = run_program(base_dir, stack) if base_dir is not None else ProgramRun("", stack, [], {})
    if between is not None:
        between(base_run)
    head, planner = plan_and_apply(base_run.resources, head_dir, stack)
    return PreviewResult(stack=stack, base=base_label, steps=list(planner.steps.values()), failures=planner.failures,
                         head=head, base_run=base_run, writes=len(planner.writes()))


# ------------------------------------------------------------------ state between runs


STATE_VERSION = 1


def state_document(run: ProgramRun) -> dict[str, Any]:
    """What a deployment leaves behind (like Pulumi's checkpoint): every resource AWS now
    holds with its inputs, outputs and options. Resources whose create failed are left out,
    so the next apply creates them."""
    resources = []
    for r in run.resources:
        if r.type == "pulumi:pulumi:Stack" or (r.id or "").startswith(FAILED):
            continue
        resources.append({"urn": r.urn, "type": r.type, "name": r.name, "custom": r.custom, "parent": r.parent,
                          "id": r.id, "inputs": normalise(r.inputs), "outputs": normalise(r.outputs),
                          "protect": r.protect, "deleteBeforeReplace": r.delete_before_replace,
                          "retainOnDelete": r.retain_on_delete, "dependencies": r.dependencies})
    return {"version": STATE_VERSION, "project": run.project, "stack": run.stack, "resources": resources}


def records_from_state(doc: Any, where: str) -> list[RecordedResource]:
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION or not isinstance(doc.get("resources"), list):
        raise LbguardError(f"{where}: not an lbguard state (version {STATE_VERSION} with resources)")
    out = []
    for n, r in enumerate(doc["resources"]):
        try:
            out.append(RecordedResource(urn=r["urn"], type=r["type"], name=r["name"], custom=bool(r["custom"]),
                                        parent=r.get("parent"), id=r.get("id"), inputs=dict(r.get("inputs") or {}),
                                        outputs=dict(r.get("outputs") or {}), protect=bool(r.get("protect")),
                                        delete_before_replace=bool(r.get("deleteBeforeReplace")),
                                        retain_on_delete=bool(r.get("retainOnDelete")),
                                        dependencies=list(r.get("dependencies") or [])))
        except (KeyError, TypeError, AttributeError) as err:
            raise LbguardError(f"{where}: resources[{n}] is malformed ({err})") from None
    return out


def _remap(value: Any, ids: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in ids:
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _remap(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, ids) for v in value]
    return value


def replay_state(records: list[RecordedResource], region: str) -> list[RecordedResource]:
    """Make the emulator hold a saved state (``--base-state``): each resource created again, in
    state order (dependencies first), with references to earlier resources' ids and ARNs
    rewritten to the ones the emulator gave them."""
    from types import SimpleNamespace

    em = AwsEmulator(region=region)
    ids: list[tuple[str, str]] = []
    out = []
    for r in records:
        r = RecordedResource(**{**r.__dict__})
        if r.custom and canonical_type(r.type) in HANDLERS:
            inputs = _remap(r.inputs, ids)
            args = SimpleNamespace(typ=r.type, name=r.name, inputs=inputs, custom=True, resource_id="", provider="")
            rid, outputs = em.create(args, inputs)
            pairs = [(r.id, rid)] + [(r.outputs.get(k), outputs.get(k)) for k in r.outputs
                                     if k.lower().endswith(("id", "arn", "suffix", "name"))]
            for old_v, new_v in pairs:
                if isinstance(old_v, str) and isinstance(new_v, str) and len(old_v) >= 6 and old_v != new_v:
                    ids.append((old_v, new_v))
            ids.sort(key=lambda pair: -len(pair[0]))  # longest first: an ARN before the id inside it
            r.id, r.inputs, r.outputs = rid, inputs, normalise(outputs)
        out.append(r)
    return out


# ------------------------------------------------------------------ for the PR comment


def check_preview_document(doc: Any, where: str) -> dict:
    """A ``lbguard preview --json`` document, or one line saying what is wrong with it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list) or not isinstance(doc.get("summary"), dict):
        raise LbguardError(f"{where}: not an `lbguard preview --json` document (needs steps and summary)")
    for n, s in enumerate(doc["steps"]):
        if not isinstance(s, dict) or s.get("op") not in OPS or not isinstance(s.get("name"), str):
            raise LbguardError(f"{where}: steps[{n}] needs a name and an op in {', '.join(OPS)}")
    if not isinstance(doc.get("failures", []), list):
        raise LbguardError(f"{where}: failures must be a list")
    return doc


SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": ""}


def plan_markdown(doc: Mapping[str, Any], limit: int = 40) -> list[str]:
    """The plan above the traffic impact: counts, failing steps first, replacements called out."""
    s = doc["summary"]
    counts = ", ".join(f"{SYMBOL[op]} {s.get(op, 0)} to {op}" for op in ("create", "update", "replace", "delete"))
    out = [f"### Plan: base `{doc.get('base', '?')}` -> head, as `pulumi up` would apply it", "",
           f"**{counts}, {s.get('same', 0)} unchanged**", ""]
    names = {st["urn"]: st["name"] for st in doc["steps"]}
    if doc.get("failures"):
        out += ["> [!CAUTION]", f"> {len(doc['failures'])} step(s) would fail at apply time:"]
        for f in doc["failures"]:
            out.append(f"> - `{names.get(f['urn'], f['urn'].rsplit('::', 1)[-1])}`: `{f['call']}` -> "
                       f"`{f['error']}` {f['message']}" + (f" **How to deploy it:** {f['fix']}" if f.get("fix") else ""))
        out.append("")
    changed = [st for st in doc["steps"] if st["op"] != "same"]
    changed.sort(key=lambda st: (st.get("status") != "failed", st["op"] != "replace", st["op"], st["name"]))
    if changed:
        out += ["| | type | name | changed | forces replacement |", "|---|---|---|---|---|"]
        for st in changed[:limit]:
            flag = " **fails**" if st.get("status") == "failed" else ""
            diffs = ", ".join(f"`{p}`" for p in st.get("diffs", [])[:4])
            reasons = ", ".join(f"`{p}`" for p in st.get("replaceReasons", [])[:3])
            out.append(f"| `{SYMBOL[st['op']]}` | `{st['type']}` | `{st['name']}`{flag} | {diffs} | {reasons} |")
        if len(changed) > limit:
            out.append(f"| | | ... {len(changed) - limit} more | | |")
        out.append("")
    return out
