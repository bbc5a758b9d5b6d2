"""An engine-faithful offline preview of base -> head: plan each resource as the Pulumi engine
and pulumi-terraform-bridge decide (lbguard.core.plan), apply the plan against the emulator
in the engine's order, and report every call AWS refuses, every order of two independent
steps that fails, and every window in which live traffic has no healthy target.

The plan's rules live in lbguard.core.plan (each cites its source); this module applies them:

* The base program runs first into a fresh in-process emulator (the "live" stack, its state:
  checked inputs with ``__defaults``, outputs, options). The head program then runs against
  it with :class:`PlanningEmulator`, which, per registration, finds the old resource (URN,
  aliases, inherited child aliases), runs the bridge's Check and Diff, the engine's step
  decision, and makes the provider's calls (lbguard.offline.emulator.services).
* create-before-delete: the replacement is created at registration, the old one deleted in
  the last phase (step_generator.go: "the delete step is generated later on, after all
  creates/updates finish"); delete-before-replace: the dependents the engine replaces with it
  (``calculateDependentReplacements``) are deleted in reverse dependency order, then the old
  resource, then the new one is created; the dependents are re-created when they register.
* A refused step (protect) stops the deployment at once, as ``pulumi up`` bails.
* Deletes run last in the engine's antichains (``ScheduleDeletes``); a resource
  ``deletedWith`` another one being deleted makes no call (step.go ``isDeletedWith``); a
  delete that finds the resource already gone (deleted with its load balancer) is done, as
  the provider's Delete functions treat NotFound (terraform-provider-aws, e.g.
  internal/service/elbv2/listener.go ``resourceListenerDelete``).
* Steps the engine may run in either order (no dependency between them, ``pulumi up``
  runs up to ``defaultParallel`` = 4 x GOMAXPROCS steps at once, pkg/cmd/pulumi/operations/up.go)
  and that contend for one AWS key (a listener priority, a fixed name): the order that fails
  is applied (lbguard.core.plan.order).
* The traffic during the apply is walked step by step (lbguard.core.plan.transition).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pulumi
from botocore.exceptions import ClientError

from lbguard.core import names
from lbguard.core.model import LbguardError, ProgramRun, RecordedResource, is_secret
from lbguard.core.plan import bridge, engine, order, paths, transition
from lbguard.core.plan.paths import Change, changed_paths, top_level  # noqa: F401 - the one differ, re-exported
from lbguard.offline.emulator.core import (HANDLERS, PUT_STYLE, READ_PREFIXES, UPDATERS, AwsEmulator, Prior,
                                           _floats_to_ints, canonical_type)

OPS = ("same", "create", "update", "replace", "delete")
FAILED = "lbguard-failed:"  # marks ids/outputs of a resource whose create failed
ACCEPTS_DOWNTIME = "lbguard:accepts-downtime"  # a load balancer tag: its replacement's downtime is accepted
PREVIEW_VERSION = 2  # 2: steps carry `changes` (old -> new), the document `windows` and `races`
# The provider's Delete treats a resource already gone as deleted (e.g. terraform-provider-aws
# internal/service/elbv2/listener.go resourceListenerDelete: ListenerNotFoundException -> done).
NOT_FOUND = ("NotFound", "NoSuch", "DoesNotExist", "ResourceNotFound")


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
    changes: list[Change] = field(default_factory=list)
    dbr_source: str = ""  # why delete-before-replace: provider | name | program | dependent
    old_urn: str | None = None  # the old URN when continued through an alias
    index: int = 0  # registration order (the engine's dependency order)

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "label": names.label(self.type, self.name),
                "op": self.op, "diffs": self.diffs,
                "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in self.changes],
                "replaceReasons": self.replace_reasons, "deleteBeforeReplace": self.delete_before_replace,
                "deleteBeforeReplaceSource": self.dbr_source, "oldUrn": self.old_urn,
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


# ------------------------------------------------------------------ values as the engine holds them


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


def wire(value: Any) -> Any:
    """Inputs as the engine compares them: plain JSON, integral floats as ints, assets by
    content, absent and null the same; secrets stay wrapped (compared by value, never shown)."""
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return _digest(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if is_secret(value):
            return paths.secret(wire(value.get("value")))
        return {k: wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    return value


def normalise(value: Any) -> Any:
    """:func:`wire` with secrets unwrapped (what a provider call receives)."""
    return paths.unwrap(wire(value))


def state_inputs(rec: RecordedResource) -> dict:
    """A resource's inputs as the state of a deploy by today's bridge holds them: checked
    (schema defaults, auto-name, the ``__defaults`` list). A run of the program records what
    the program sent; the auto-name the emulator gave it is in its outputs."""
    inputs = wire(rec.inputs)
    if bridge.DEFAULTS in inputs or not rec.custom or rec.type.startswith("pulumi:"):
        return inputs
    checked = bridge.check(rec.type, inputs)
    for k, v in list(checked.items()):
        if v == bridge.AUTO:
            checked[k] = (rec.outputs or {}).get(k)
    return checked


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
    "ResourceInUse": ("still used by a listener or rule when it is deleted (delete-before-replace deletes it before "
                      "its replacement exists): let the replacement take a new name and set delete_before_replace="
                      "False, so the routing moves to the new one before the old is deleted; or move the routing "
                      "first, in its own deploy"),
    "DependencyViolation": "still in use (instances, load balancers or rules reference it) when it is deleted: "
                           "keep it stable or replace it in two deploys",
    "OperationNotPermitted": "deletion protection is on: turn it off in one deploy, then make the replacing change",
    "InvalidParameterValueException": "AWS refuses the value at apply time: see the message",
    "ValidationError": "AWS refuses the value at apply time: see the message",
    "Protected": ("the resource is protected in the state and in the program: remove protect=True in one deploy "
                  "(the engine allows unprotecting and replacing in the same deploy), or keep the replacing "
                  "change out"),
    "Race": ("two steps with no dependency between them hand one key over; the engine runs them in parallel: make "
             "the step that takes the key depend on the one that frees it (depends_on), or deploy in two steps"),
}


def _protect_fix(rec: RecordedResource) -> str:
    if canonical_type(rec.type) == "aws:lb/loadBalancer:LoadBalancer":
        return ("the load balancer's replacement cannot avoid downtime (its target groups serve one load balancer "
                "at a time), so the program protects it: to accept the downtime shown as windows, set "
                "`web-tier:loadBalancer.acceptReplacementDowntime: true` for the deploy that replaces it (it is "
                "deleted first with its listeners); or keep the replacing change out")
    return FIXES["Protected"]


def _fix(code: str) -> str:
    if code in FIXES:
        return FIXES[code]
    if code.endswith("AlreadyExists") or code.startswith("Duplicate"):
        return FIXES["AlreadyExists"]
    return ""


# ------------------------------------------------------------------ the planning mocks


class PlanningEmulator(AwsEmulator):
    """Mocks that, for each registration, plan the step against the prior state (the engine's
    and the bridge's rules, lbguard.core.plan) and make the provider's calls for it."""

    def __init__(self, region: str, prior: Iterable[RecordedResource], *, defer: Mapping[str, str] | None = None):
        super().__init__(region=region)
        self.prior_list = [r for r in prior if r.type != engine.ROOT_STACK]
        self.prior: dict[str, RecordedResource] = {r.urn: r for r in self.prior_list}
        self.prior_order = [r.urn for r in self.prior_list]
        self.steps: dict[str, Step] = {}
        self.failures: list[Failure] = []
        self.pending_deletes: list[RecordedResource] = []  # replaced create-before-delete
        self.seen: set[str] = set()  # prior URNs that head continues (directly or by alias)
        self.resolved: dict[str, str] = {}  # new URN -> old URN matched through an alias
        self.claimed: dict[str, str] = {}
        self.replacing: set[str] = set()  # new URNs being replaced (sg.replaces)
        self.condemned: dict[str, str] = {}  # old URN deleted by a delete-before-replace chain -> why
        self.deleted: set[str] = set()  # old URNs already deleted
        self.halted = ""  # the engine bailed: nothing more is done
        self.events: list[transition.Event] = []  # applied steps, in order, for the transition walk
        self.claims: list[order.Claim] = []  # keys freed and taken at registration time, in order
        self.head: dict[str, RecordedResource] = {}
        self.defer = dict(defer or {})  # URN -> URN it must run after (the failing order of a race)
        self._deferred: dict[str, list[Callable[[], None]]] = {}
        self._mine = threading.local()

    # -------------------------------------------------------------- helpers

    def _fail(self, step: Step, call: str, err: BaseException) -> None:
        step.status = "failed"
        if isinstance(err, ClientError):
            code = err.response.get("Error", {}).get("Code", "ClientError")
            message = err.response.get("Error", {}).get("Message", str(err))
            call = err.operation_name or call
        else:
            code, message = type(err).__name__, str(err)
        fix = self._priority_fix(step) if code == "PriorityInUse" else _fix(code)
        self.failures.append(Failure(step.urn, call, code, " ".join(message.split())[:400], fix))

    def _count(self, model=None, **kw: Any) -> None:
        super()._count(model=model, **kw)
        mine = getattr(self._mine, "calls", None)
        if model is not None and mine is not None:
            mine.append(model.name)

    def _run(self, step: Step, call: str, fn: Callable[[], Any]) -> Any:
        """``fn`` on this thread, its AWS write calls kept on ``step`` (registrations run on
        several threads: the global call log interleaves)."""
        outer = getattr(self._mine, "calls", None)
        self._mine.calls = []
        try:
            return fn()
        except (ClientError, NotImplementedError, ValueError, KeyError) as err:
            self._fail(step, call, err)
            return None
        finally:
            step.calls += [op for op in self._mine.calls if not op.startswith(READ_PREFIXES)]
            self._mine.calls = outer

    @staticmethod
    def _depends_on_failed(inputs: Any) -> bool:
        return FAILED in json.dumps(inputs, default=str)

    def _placeholder(self, step: Step, inputs: dict) -> tuple[str, dict]:
        marker = f"{FAILED}{step.urn}"
        # Dependents read these outputs (ids, ARNs, suffixes, names): give them the marker so
        # the program goes on and their own steps are reported as skipped.
        keys = ("id", "arn", "arnSuffix", "name", "dnsName", "zoneId", "invokeArn", "qualifiedArn")
        return marker, {**inputs, **{k: marker for k in keys}, "name": inputs.get("name") or marker}

    def _priority_fix(self, step: Step) -> str:
        """Which rule holds the priority and a free one (read from what AWS holds now)."""
        rec = self.head.get(step.urn)
        if rec is None or rec.inputs.get("priority") is None:
            return FIXES["PriorityInUse"]
        want, listener = int(rec.inputs["priority"]), rec.inputs.get("listenerArn")
        try:
            held = self.client("elbv2").describe_rules(ListenerArn=listener)["Rules"]
        except ClientError:
            return FIXES["PriorityInUse"]
        taken = {int(r["Priority"]) for r in held if r["Priority"] != "default"}
        taken |= {int(r.inputs["priority"]) for r in self.head.values()
                  if r.inputs.get("listenerArn") == listener and r.inputs.get("priority") is not None}
        holder = next((r["RuleArn"] for r in held if r["Priority"] == str(want)), None)
        owner = next((p.name for p in [*self.prior_list, *self.head.values()]
                      if holder and (p.id == holder or (p.outputs or {}).get("arn") == holder)), None)
        free = next(n for n in range(want + 1, 50001) if n not in taken)
        who = f"rule `{owner}`" if owner else "another rule"
        return (f"priority {want} is held by {who} until that rule moves or is deleted (the provider sets one rule's "
                f"priority at a time, deletes run last); deploy in two steps: first move {who} to a free "
                f"priority such as {free}, then make this change; or give this rule a free priority ({free})")

    def _record(self, kind: str, step: Step, rec: RecordedResource | None, after: Mapping | None,
                before: RecordedResource | None) -> None:
        if step.status != "ok":
            return
        self.events.append(transition.Event(
            kind, step.urn if kind != "delete" else (before.urn if before else step.urn), step.type, step.name,
            dict(after) if after is not None else None, dict(before.outputs or before.inputs) if before else None,
            frozenset(order.ancestors([*self.head.values()]).get(step.urn, ())) if rec is not None else frozenset()))

    def _claim(self, urn: str, type_token: str, op: str, old: Mapping | None, new: Mapping | None) -> None:
        self.claims += order.claims(urn, type_token, op, old, new)

    # -------------------------------------------------------------- Mocks API

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        rec: RecordedResource | None = getattr(self.registering, "rec", None)
        if rec is not None:
            self.head[rec.urn] = rec
        if rec is None or (not args.custom and not args.typ.startswith("pulumi:providers:")):
            if rec is not None:
                self._component_step(rec)
            return super().new_resource(args)
        if args.typ.startswith("pulumi:providers:") or args.resource_id:
            return super().new_resource(args)
        try:
            return self._register(rec, args)
        finally:
            for run in self._deferred.pop(rec.urn, []):
                run()

    def _component_step(self, rec: RecordedResource) -> None:
        if rec.type == engine.ROOT_STACK:
            return
        old, _ = engine.find_old(rec, self.prior, self.resolved, self.claimed)
        if old is not None:
            self.seen.add(old.urn)
        self.steps[rec.urn] = Step(rec.urn, rec.type, rec.name, "same" if old else "create", custom=False,
                                   old_urn=old.urn if old is not None and old.urn != rec.urn else None,
                                   index=len(self.steps))

    def _register(self, rec: RecordedResource, args) -> tuple[str, dict]:
        inputs = _floats_to_ints(dict(args.inputs))
        old, clash = engine.find_old(rec, self.prior, self.resolved, self.claimed)
        step = Step(rec.urn, rec.type, rec.name, "create", custom=True, index=len(self.steps),
                    old_urn=old.urn if old is not None and old.urn != rec.urn else None)
        self.steps[rec.urn] = step
        if clash:
            step.status = "failed"
            self.failures.append(Failure(rec.urn, "Register", "DuplicateAlias", clash,
                                         "give each resource its own alias"))
            self.halted = self.halted or clash
        if old is not None:
            self.seen.add(old.urn)
        known = canonical_type(args.typ) in HANDLERS
        if self.halted:  # the engine bailed: this registration gets no step
            step.status, step.op = "skipped", "same" if old is not None else "create"
            return (old.id, dict(old.outputs)) if old is not None else self._placeholder(step, inputs)
        if old is not None and old.urn in self.condemned:  # deleted by a delete-before-replace chain
            step.op, step.delete_before_replace, step.dbr_source = "replace", True, "dependent"
            step.replace_reasons = [f"replaced with {self.condemned[old.urn]}"]
            self.replacing.add(rec.urn)
            return self._create(args, step, rec, inputs, known)
        if old is None:
            return self._create(args, step, rec, inputs, known)
        olds = wire(old.inputs)
        checked = bridge.check(rec.type, wire(args.inputs), olds, legacy=bridge.DEFAULTS not in olds)
        diff = bridge.diff(rec.type, olds, wire(old.outputs or {}), checked, rec.ignore_changes) \
            if rec.custom else None
        decision = engine.decide(rec, old, diff, replacing=self.replacing, aliased=self.resolved)
        step.op = decision.op
        if diff is not None:
            step.changes = diff.changes
            step.diffs = [c.path for c in diff.changes]
        step.replace_reasons = decision.reasons
        step.delete_before_replace, step.dbr_source = decision.delete_before_replace, decision.dbr_source
        if decision.refused:
            step.status = "failed"
            self.failures.append(Failure(rec.urn, "Replace", "Protected", decision.refused, _protect_fix(rec)))
            self.halted = decision.refused
            return old.id, dict(old.outputs)
        if step.op == "same":
            return old.id, dict(old.outputs)
        if not known:
            self.not_emulated.add((args.typ, args.name))
            return old.id, {**old.outputs, **inputs}
        if self._depends_on_failed(inputs):
            step.status = "skipped"
            return self._placeholder(step, inputs)
        if step.op == "update":
            sent, _ = paths.apply_ignore_changes(paths.unwrap(olds), inputs, rec.ignore_changes)
            sent.pop(bridge.DEFAULTS, None)
            return self._update(args, step, rec, old, sent)
        self.replacing.add(rec.urn)
        return self._replace(args, step, rec, old, inputs, known)

    def _create(self, args, step: Step, rec: RecordedResource, inputs: dict, known: bool) -> tuple[str, dict]:
        if not known:
            self.not_emulated.add((args.typ, args.name))
            return f"{args.name}-echo", inputs
        if self._depends_on_failed(inputs):
            step.status = "skipped"
            return self._placeholder(step, inputs)
        result = self._run(step, "Create", lambda: self._association_limit(rec, inputs) or self.create(args, inputs))
        if result is None:
            return self._placeholder(step, inputs)
        self._claim(rec.urn, rec.type, "create", None, result[1])
        self._record("create", step, rec, result[1], None)
        return result

    def _association_limit(self, rec: RecordedResource, inputs: dict) -> None:
        """An ALB target group serves one load balancer: a listener or rule on another load
        balancer forwarding to it is refused (ELBv2 API reference, CreateListener/CreateRule
        errors: TargetGroupAssociationLimit; "a target group can be registered with one load
        balancer" in the ALB guide). moto does not check it."""
        if canonical_type(rec.type) not in ("aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule"):
            return None
        elbv2 = self.client("elbv2")
        lb = inputs.get("loadBalancerArn")
        if lb is None and inputs.get("listenerArn"):
            lb = elbv2.describe_listeners(ListenerArns=[inputs["listenerArn"]])["Listeners"][0]["LoadBalancerArn"]
        arns = transition._forwarded({"actions": inputs.get("actions") or inputs.get("defaultActions") or []})
        alive = {b["LoadBalancerArn"] for b in elbv2.describe_load_balancers()["LoadBalancers"]} if arns else set()
        for tg in (elbv2.describe_target_groups(TargetGroupArns=sorted(arns))["TargetGroups"] if arns else []):
            others = [a for a in tg.get("LoadBalancerArns") or [] if a != lb and a in alive]
            if others:
                raise ClientError({"Error": {"Code": "TargetGroupAssociationLimit", "Message": (
                    f"The following target groups cannot be associated with more than one load balancer: "
                    f"{tg['TargetGroupArn']}")}}, "CreateRule" if inputs.get("listenerArn") else "CreateListener")
        return None

    def _update(self, args, step: Step, rec: RecordedResource, old: RecordedResource, inputs: dict) -> tuple[str, dict]:
        typ = canonical_type(args.typ)
        predicted = {**old.outputs, **inputs}
        if typ not in UPDATERS and typ not in PUT_STYLE:
            self._fail(step, "Update", NotImplementedError(f"the emulator cannot update {args.typ} in place yet"))
            return old.id, predicted
        prior = Prior(old.type, old.name, old.id or "", normalise(state_inputs(old)), dict(old.outputs))

        def apply() -> dict:
            outputs = self._run(step, "Update", lambda: self.update(args, inputs, prior, top_level(step.diffs)))
            if outputs is not None:
                self._claim(rec.urn, rec.type, "update", old.outputs, outputs)
                self._record("update", step, rec, outputs, old)
            return outputs if outputs is not None else predicted

        after = self.defer.get(rec.urn)
        if after and after not in self.steps:  # the failing order of a race: this step waits
            self._deferred.setdefault(after, []).append(apply)
            return old.id, predicted
        return old.id, apply()

    def _replace(self, args, step: Step, rec: RecordedResource, old: RecordedResource, inputs: dict,
                 known: bool) -> tuple[str, dict]:
        if step.delete_before_replace:
            if not self._delete_chain(rec, old, step):
                return old.id, dict(old.outputs)
            return self._create(args, step, rec, inputs, known)
        result = self._create(args, step, rec, inputs, known)
        if step.status == "ok":
            self.pending_deletes.append(old)
        return result

    # -------------------------------------------------------------- deletes

    def _delete_chain(self, rec: RecordedResource, old: RecordedResource, step: Step) -> bool:
        """Delete-before-replace: the dependents the engine replaces with it, last first, then
        the resource itself. False when the engine bails (a protected dependent)."""
        chain = engine.dependent_replacements(old, self.prior_list, self.seen - {old.urn}, engine.forces_on_unknown)
        chain += [r for r in engine.cascade_replacements(old.urn, self.prior_list) if r not in chain]
        for dep in reversed(chain):
            if dep.urn in self.deleted:
                continue
            if dep.protect:
                msg = (f"unable to replace resource {dep.urn} as part of replacing {old.urn} as it is currently "
                       "marked for protection")
                self.failures.append(Failure(dep.urn, "Replace", "Protected", msg, FIXES["Protected"]))
                step.status, self.halted = "failed", msg
                return False
            dstep = Step(dep.urn, dep.type, dep.name, "delete", custom=dep.custom, index=len(self.steps),
                         replace_reasons=[f"replaced with {rec.name}"])
            self.steps[f"delete:{dep.urn}"] = dstep
            self.condemned[dep.urn] = rec.name
            self._delete_now(dep, dstep, deleting={d.urn for d in chain} | {old.urn})
        self._claim(rec.urn, rec.type, "delete", old.outputs, None)
        self._delete_now(old, step, deleting={old.urn})
        return step.status == "ok"

    def _delete_now(self, old: RecordedResource, step: Step, *, deleting: set[str], replacing: bool = True) -> None:
        if old.protect and not replacing:
            self.failures.append(Failure(old.urn, "Delete", "Protected",
                                         f"{old.name} cannot be deleted because it is protected", FIXES["Protected"]))
            step.status = "failed"
            return
        self.deleted.add(old.urn)
        if old.retain_on_delete or not old.custom or engine.deleted_with_skip(old, deleting):
            self._record("delete", step, None, None, old)
            return
        if canonical_type(old.type) not in HANDLERS:
            return
        prior = Prior(old.type, old.name, old.id or "", normalise(state_inputs(old)), dict(old.outputs))

        def delete() -> None:
            try:
                self.delete(prior)
            except ClientError as err:
                if not any(k in err.response.get("Error", {}).get("Code", "") for k in NOT_FOUND):
                    raise
        self._run(step, "Delete", delete)
        self._record("delete", step, None, None, old)

    def finish(self) -> None:
        """The deployment's last phase: replaced and removed resources, in the engine's antichains."""
        for runs in self._deferred.values():
            for run in runs:
                run()
        self._deferred.clear()
        if self.halted:
            return
        gone = [r for r in self.prior_list if r.urn not in self.seen and r.urn not in self.deleted]
        replaced = [r for r in self.pending_deletes if r.urn not in self.deleted]
        condemned = gone + replaced
        deleting = {r.urn for r in condemned}
        for chain in engine.schedule_deletes(condemned, self.prior_list):
            for old in chain:
                step = self.steps.get(next((u for u, s in self.steps.items() if s.old_urn == old.urn or u == old.urn),
                                           "")) if old in replaced else None
                if step is None:
                    step = Step(old.urn, old.type, old.name, "delete", custom=old.custom, index=len(self.steps))
                    self.steps[f"delete:{old.urn}"] = step
                self._delete_now(old, step, deleting=deleting, replacing=old in replaced)


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
    windows: list[transition.Window] = field(default_factory=list)
    races: list[str] = field(default_factory=list)
    events: list[transition.Event] = field(default_factory=list)  # the applied steps the windows were walked from

    def summary(self) -> dict[str, int]:
        counted = [s for s in self.steps if s.custom]
        return {op: sum(s.op == op for s in counted) for op in OPS}

    def blocking_windows(self) -> list[transition.Window]:
        return [w for w in self.windows if not w.accepted]

    def to_json(self) -> dict[str, Any]:
        return {"version": PREVIEW_VERSION, "stack": self.stack, "base": self.base,
                "steps": [s.to_json() for s in self.steps],
                "failures": [f.to_json() for f in self.failures],
                "windows": [w.to_json() for w in self.windows], "races": self.races,
                "violations": [v.to_json() for v in self.violations],
                "summary": self.summary(), "writes": self.writes}


def ordered_steps(steps: Iterable[Step], head: Iterable[RecordedResource] = (),
                  prior: Iterable[RecordedResource] = ()) -> list[Step]:
    """Steps in a stable order: the registrations in dependency order, ties by URN
    (lbguard.core.plan.order.stable_order); then the deletes, dependents first, ties by URN."""
    steps = list(steps)
    deps = {r.urn: engine.dependencies_of(r) for r in head}
    rank = {u: n for n, u in enumerate(order.stable_order(deps))}
    old_deps = {r.urn: engine.dependencies_of(r) for r in prior}
    old_rank = {u: n for n, u in enumerate(reversed(order.stable_order(old_deps)))}
    live = [s for s in steps if s.op != "delete"]
    gone = [s for s in steps if s.op == "delete"]
    return (sorted(live, key=lambda s: (rank.get(s.urn, len(rank)), s.urn))
            + sorted(gone, key=lambda s: (old_rank.get(s.urn, len(old_rank)), s.urn)))


def _apply(prior: list[RecordedResource], head_dir: Path, stack: str, region: str,
           defer: Mapping[str, str] | None = None) -> tuple[ProgramRun, PlanningEmulator]:
    from lbguard.offline.emulator.runner import run_program

    planner = PlanningEmulator(region, prior, defer=defer)
    head = run_program(head_dir, stack, mocks=planner)
    planner.finish()
    return head, planner


def _reset_emulated_aws() -> bool:
    """Empty the in-process moto (every backend), to apply another order from the base; False
    when the AWS side is a moto server (AWS_ENDPOINT_URL) that cannot be reset here."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return False
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
    return True


def plan_and_apply(prior: list[RecordedResource], head_dir: Path, stack: str, region: str | None = None,
                   rebuild: Callable[[], list[RecordedResource]] | None = None) -> tuple[ProgramRun, PlanningEmulator, list[str]]:
    """Run head against ``prior`` (what AWS holds now): plan, make the calls, delete last. When
    two independent steps hand one key over and the apply's order succeeded, the base is
    rebuilt (``rebuild``) and the other order applied: its result stands (lbguard.core.plan.order)."""
    from lbguard.offline.emulator.runner import load_stack_config

    if region is None:
        _, config = load_stack_config(head_dir, stack)
        region = config.get("aws:region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    head, planner = _apply(prior, head_dir, stack, region)
    failed = {f.urn for f in planner.failures}
    found = [r for r in order.races(planner.claims, order.ancestors(head.resources))
             if r.take.urn not in failed and r.free.urn not in failed]
    names = {r.urn: r.name for r in head.resources}
    described = [r.describe(names) for r in found]
    deferrable = {r.free.urn: r.take.urn for r in found if planner.steps.get(r.free.urn)
                  and planner.steps[r.free.urn].op == "update"}
    if deferrable and rebuild is not None and _reset_emulated_aws():
        prior = rebuild()
        head, planner = _apply(prior, head_dir, stack, region, defer=deferrable)
        for r in found:
            for f in planner.failures:
                if f.urn == r.take.urn and not f.fix.startswith("fails if"):
                    f.fix = f"{r.describe(names)} (no dependency between them: the engine runs them in parallel): " \
                            f"make `{names.get(r.take.urn)}` depend on `{names.get(r.free.urn)}` (depends_on), or " \
                            "deploy in two steps"
    return head, planner, described


def _windows(planner: PlanningEmulator, base: list[RecordedResource], head: ProgramRun) -> list[transition.Window]:
    labels = {}
    for r in [*base, *head.resources]:
        arn = (r.outputs or {}).get("arn")
        if arn and r.type in ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"):
            labels[arn] = ((r.outputs or {}).get("name") or r.name)
    start = [(r.urn, r.type, r.name, r.outputs or {}) for r in base if r.custom]
    from lbguard.core.topology import PROFILE_OUTPUT

    found = transition.walk(start, planner.events, tg_labels=labels, profile=(head.outputs or {}).get(PROFILE_OUTPUT))
    # The program accepted the downtime of replacing a load balancer it tagged so (components/load_balancer.py).
    accepting = {r.name for r in head.resources if r.type in ("aws:lb/loadBalancer:LoadBalancer",
                 "aws:alb/loadBalancer:LoadBalancer") and ((r.inputs or {}).get("tags") or {}).get(ACCEPTS_DOWNTIME)}
    replaced = {s.name for s in planner.steps.values() if s.op == "replace"}
    if accepting & replaced:
        for w in found:
            w.accepted = w.cause.endswith("the listener is deleted before its replacement exists") or w.accepted
    return found


def run_preview(base_dir: Path | None, head_dir: Path, stack: str, *, base_label: str = "base",
                between: Callable[[ProgramRun], None] | None = None,
                base_state: list[RecordedResource] | None = None) -> PreviewResult:
    """Base into a fresh emulator, then head planned and applied against it.

    The caller provides the AWS side (``emulated_aws()``, in-process moto). ``between``
    runs after the base is live (tests use it to change AWS behind Pulumi's back, as
    autoscaling or a hand edit would). ``base_dir`` None: a new stack (every step a create).
    """
    from lbguard.offline.emulator.runner import run_program

    def build_base() -> ProgramRun:
        if base_state is not None:
            region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            run = ProgramRun("", stack, replay_state(base_state, region), {})
        else:
            run = run_program(base_dir, stack) if base_dir is not None else ProgramRun("", stack, [], {})
        if between is not None:
            between(run)
        if base_state is None:  # a deploy by today's bridge: the state holds the checked inputs
            for r in run.resources:
                r.inputs = state_inputs(r)
        return run

    base_run = build_base()
    holder = {"run": base_run}

    def rebuild() -> list[RecordedResource]:
        holder["run"] = build_base()
        return holder["run"].resources

    head, planner, races = plan_and_apply(base_run.resources, head_dir, stack, rebuild=rebuild)
    base_run = holder["run"]
    result = PreviewResult(stack=stack, base=base_label,
                           steps=ordered_steps(planner.steps.values(), head.resources, base_run.resources),
                           failures=planner.failures, head=head, base_run=base_run, writes=len(planner.writes()),
                           windows=_windows(planner, base_run.resources, head), races=races, events=planner.events)
    return result


# ------------------------------------------------------------------ state between runs


STATE_VERSION = 2  # 2: inputs are the checked inputs (with ``__defaults``), options three-state


def state_document(run: ProgramRun) -> dict[str, Any]:
    """What a deployment leaves behind (like Pulumi's checkpoint): every resource AWS now
    holds with its checked inputs, outputs and options. Resources whose create failed are
    left out, so the next apply creates them."""
    resources = []
    for r in run.resources:
        if r.type == engine.ROOT_STACK or (r.id or "").startswith(FAILED):
            continue
        resources.append({"urn": r.urn, "type": r.type, "name": r.name, "custom": r.custom, "parent": r.parent,
                          "id": r.id, "inputs": normalise(state_inputs(r)), "outputs": normalise(r.outputs),
                          "protect": r.protect, "deleteBeforeReplace": r.delete_before_replace,
                          "retainOnDelete": r.retain_on_delete, "dependencies": r.dependencies,
                          "propertyDependencies": r.property_dependencies, "provider": r.provider,
                          "deletedWith": r.deleted_with, "replaceWith": r.replace_with})
    return {"version": STATE_VERSION, "project": run.project, "stack": run.stack, "resources": resources}


def records_from_state(doc: Any, where: str) -> list[RecordedResource]:
    """A state document (version 1 or 2). Version 1 held the program's inputs: they are checked
    again on read (lbguard wrote them, from a bridge with the ``__defaults`` list); in version 2
    a resource whose inputs have no ``__defaults`` predates that list (the name rule is off)."""
    if not isinstance(doc, dict) or doc.get("version") not in (1, STATE_VERSION) \
            or not isinstance(doc.get("resources"), list):
        raise LbguardError(f"{where}: not an lbguard state (version {STATE_VERSION} with resources)")
    out = []
    for n, r in enumerate(doc["resources"]):
        try:
            dbr = r.get("deleteBeforeReplace")
            rec = RecordedResource(
                urn=r["urn"], type=r["type"], name=r["name"], custom=bool(r["custom"]), parent=r.get("parent"),
                id=r.get("id"), inputs=dict(r.get("inputs") or {}), outputs=dict(r.get("outputs") or {}),
                protect=bool(r.get("protect")),
                delete_before_replace=(bool(dbr) or None) if doc["version"] == 1 else dbr,
                retain_on_delete=bool(r.get("retainOnDelete")), dependencies=list(r.get("dependencies") or []),
                property_dependencies=dict(r.get("propertyDependencies") or {}), provider=r.get("provider"),
                deleted_with=r.get("deletedWith"), replace_with=list(r.get("replaceWith") or []))
        except (KeyError, TypeError, AttributeError) as err:
            raise LbguardError(f"{where}: resources[{n}] is malformed ({err})") from None
        if doc["version"] == 1:
            rec.inputs = state_inputs(rec)
        out.append(rec)
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
            sent = {k: v for k, v in paths.unwrap(inputs).items() if k != bridge.DEFAULTS}
            args = SimpleNamespace(typ=r.type, name=r.name, inputs=sent, custom=True, resource_id="", provider="")
            rid, outputs = em.create(args, sent)
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
    if not isinstance(doc.get("windows", []), list):
        raise LbguardError(f"{where}: windows must be a list")
    return doc


def worst_window(doc: Mapping[str, Any]) -> dict | None:
    """The blocking window with the most traffic-seconds, or None."""
    windows = [w for w in doc.get("windows") or [] if not w.get("accepted")]
    return max(windows, key=lambda w: (w.get("share", 0) * w.get("seconds", 0), w.get("share", 0)), default=None)


SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": ""}


def plan_markdown(doc: Mapping[str, Any], limit: int = 40) -> list[str]:
    """The plan above the traffic impact: counts, failing steps first, replacements called out."""
    s = doc["summary"]
    counts = ", ".join(f"{SYMBOL[op]} {s.get(op, 0)} to {op}" for op in ("create", "update", "replace", "delete"))
    out = [f"### Plan: base `{doc.get('base', '?')}` -> head, as `pulumi up` would apply it", "",
           f"**{counts}, {s.get('same', 0)} unchanged**", ""]
    names = {st["urn"]: st["name"] for st in doc["steps"]}
    worst = worst_window(doc)
    if worst is not None:
        target = f" to `{worst['target']}`" if worst.get("target") else ""
        out += ["> [!CAUTION]", f"> Traffic during the apply: `{worst['listener']}` {worst['share']:.0%}{target} for "
                f"~{worst['seconds']:g} s with no healthy target or no listener ({worst['cause']}). "
                f"**How to avoid it:** {worst['fix']}", ""]
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
