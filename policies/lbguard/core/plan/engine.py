"""The engine side of a plan, as the Pulumi engine decides it: which old resource a
registration continues (URN, aliases, inherited child aliases), same / update / replace, the
order of a replacement (create-before-delete or delete-before-replace, the program's
three-state option), protect, ``replaceWith``/``deletedWith``, provider changes, the
dependents a delete-before-replace takes with it, and the schedule of deletes.

Sources, read at pulumi/pulumi commit 1b5949891b3c (2026-08-21, v3.259.0+14):
``pkg/resource/deploy/step_generator.go`` (functions named in each docstring),
``pkg/resource/deploy/step.go`` ``DeleteStep.Apply``, and the lifecycle tests
``pkg/engine/lifecycletest/delete_before_replace_test.go`` and ``alias_test.go`` (ported in
tests/core/plan/). Pure: plain data in (lbguard.core.model.RecordedResource), decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from lbguard.core.model import RecordedResource
from lbguard.core import provider_facts as facts
from lbguard.core.plan import paths
from lbguard.core.plan.bridge import Diff

ROOT_STACK = "pulumi:pulumi:Stack"


# ------------------------------------------------------------------ URNs


def qualified_type(urn: str) -> str:
    return urn.split("::")[2]


def urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def urn_type(urn: str) -> str:
    return qualified_type(urn).split("$")[-1]


def child_type(parent: str | None, type_token: str) -> str:
    """The qualified type of a child of ``parent``, as the recording monitor makes URNs (the
    Python SDK's ``MockMonitor.make_urn``: the parent's own type, then ``$type``; the engine's
    ``resource.CreateURN`` chains every ancestor's type instead). The rules below are the
    engine's; they only need to build URNs the way the state it compares against was built."""
    if not parent or urn_type(parent) == ROOT_STACK:
        return type_token
    return f"{urn_type(parent)}${type_token}"


def make_urn(stack: str, project: str, parent: str | None, type_token: str, name: str) -> str:
    """``resource.CreateURN`` (see :func:`child_type`); the root stack adds nothing."""
    return f"urn:pulumi:{stack}::{project}::{child_type(parent, type_token)}::{name}"


def stack_project(urn: str) -> tuple[str, str]:
    head = urn.split("::")
    return head[0].rsplit(":", 1)[-1], head[1]


# ------------------------------------------------------------------ aliases


def _collapse(rec: RecordedResource, spec: Mapping, resolved: Mapping[str, str]) -> str:
    """``collapseAliasToUrn``: unset fields of an alias spec are the resource's own; the parent
    is the resource's parent unless given, and a parent that itself matched an alias stands
    for its old URN; ``noParent`` or a root-stack parent means none."""
    if spec.get("urn"):
        return spec["urn"]
    stack, project = stack_project(rec.urn)
    parent = spec.get("parent") or rec.parent or ""
    if spec.get("parent"):
        parent = resolved.get(parent, parent)
    if spec.get("noParent") or (parent and urn_type(parent) == ROOT_STACK):
        parent = ""
    return make_urn(spec.get("stack") or stack, spec.get("project") or project, parent or None,
                    spec.get("type") or rec.type, spec.get("name") or rec.name)


def _inherited(type_token: str, child_name: str, parent_name: str, parent_alias: str, stack: str,
               project: str) -> str:
    """``inheritedChildAlias``: a child named ``<parent name>-x`` follows its parent's old name,
    under the parent's old URN."""
    name = child_name
    if child_name.startswith(parent_name):
        name = urn_name(parent_alias) + child_name[len(parent_name):]
    return make_urn(stack, project, parent_alias, type_token, name)


def generate_aliases(rec: RecordedResource, resolved: Mapping[str, str]) -> list[str]:
    """``generateAliases``: the resource's own aliases, then, when its parent matched an old
    URN through an alias (``resolved``: new URN -> old URN), the inherited alias of the
    resource and of each of its own aliases."""
    out: list[str] = []

    def add(urn: str) -> None:
        if urn not in out:
            out.append(urn)

    specs = list(rec.alias_specs) or [{"urn": u} for u in rec.aliases]
    own = [_collapse(rec, s, resolved) for s in specs]
    for urn in own:
        add(urn)
    if rec.parent and rec.parent in resolved:
        stack, project = stack_project(rec.urn)
        parent_alias, parent_name = resolved[rec.parent], urn_name(rec.parent)
        add(_inherited(rec.type, rec.name, parent_name, parent_alias, stack, project))
        for urn in own:
            add(_inherited(urn_type(urn), urn_name(urn), parent_name, parent_alias, stack, project))
    return out


def find_old(rec: RecordedResource, olds: Mapping[str, RecordedResource], resolved: dict[str, str],
             claimed: dict[str, str]) -> tuple[RecordedResource | None, str | None]:
    """``getOldResource``: the URN first, then each alias; an alias match is recorded in
    ``resolved`` (children inherit it). Returns the old resource and an error when two
    registrations claim one old resource (``GetDuplicateResourceAliasError``)."""
    for urn in [rec.urn, *generate_aliases(rec, resolved)]:
        if urn in olds:
            if urn != rec.urn:
                if urn in claimed and claimed[urn] != rec.urn:
                    return None, f"{rec.urn} and {claimed[urn]} both alias {urn}"
                claimed[urn] = rec.urn
                resolved[rec.urn] = urn
            return olds[urn], None
    return None, None


# ------------------------------------------------------------------ one resource


@dataclass
class Decision:
    """What the engine does with one registration that has an old resource."""

    op: str  # same | update | replace
    diff: Diff | None
    replace_keys: list[str] = field(default_factory=list)  # incl. the engine's own: provider, replaceWith...
    reasons: list[str] = field(default_factory=list)  # property paths (or engine keys) that force it
    delete_before_replace: bool = False
    dbr_source: str = ""  # provider | name | program | "" (create-before-delete)
    refused: str = ""  # the engine's error: the step is not taken and the deployment stops


def replace_on_changes(diff: Diff, patterns: Sequence[str]) -> list[str]:
    """``applyReplaceOnChanges``: changed paths covered by a ``replaceOnChanges`` pattern
    (``*`` covers everything)."""
    hits = []
    for c in diff.changes:
        for pat in patterns:
            if pat == "*" or c.path == pat or c.path.startswith(f"{pat}.") or c.path.startswith(f"{pat}["):
                hits.append(c.path)
                break
            if "*" in pat:
                try:
                    want, have = paths.parse(pat), paths.parse(c.path)
                except ValueError:
                    continue
                if len(have) >= len(want) and all(w == "*" or w == h for w, h in zip(want, have)):
                    hits.append(c.path)
                    break
    return hits


def provider_changed(old: RecordedResource, new: RecordedResource, aliased: Mapping[str, str]) -> bool:
    """``providerChanged``: the provider reference moved. A default provider whose version or
    config is unchanged is the same reference; a provider that matched the old one through an
    alias is the same provider; otherwise (we cannot run the new provider's DiffConfig)
    a moved reference counts as a replacement, as the engine decides when DiffConfig
    reports one."""
    a, b = old.provider or "", new.provider or ""
    if a == b:
        return False
    if not a or not b:
        return True
    a_urn, b_urn = a.rsplit("::", 1)[0], b.rsplit("::", 1)[0]
    if aliased.get(b_urn) == a_urn:
        return False
    return a_urn != b_urn or a.rsplit("::", 1)[-1] != b.rsplit("::", 1)[-1]


def decide(new: RecordedResource, old: RecordedResource, diff: Diff | None, *, replacing: set[str],
           aliased: Mapping[str, str] | None = None) -> Decision:
    """``diff`` and ``continueStepsFromDiff`` for one resource with an old state.

    In order: ``replaceWith`` naming a resource being replaced, ``deletedWith`` naming one,
    a provider change (each a replacement blamed on that key), then the provider's diff with
    ``replaceOnChanges`` applied. A replacement of a resource protected in both the old and
    the new registration is refused before anything is created ("we do allow unprotecting
    and replacing to happen in a single update cycle"). ``deleteBeforeReplace`` is the
    provider's answer unless the program set the option, true or false
    (``goal.DeleteBeforeReplace != nil``).
    """
    engine_key = ""
    if any(u in replacing for u in new.replace_with):
        engine_key = "replaceWith"
    elif new.deleted_with and new.deleted_with in replacing:
        engine_key = "deletedWith"
    elif new.custom and provider_changed(old, new, aliased or {}):
        engine_key = "provider"
    if engine_key:
        d = Decision("replace", diff, [engine_key], [engine_key])
    elif diff is None or not diff.changed:
        return Decision("same", diff)
    else:
        reasons = list(dict.fromkeys(diff.replace_paths + replace_on_changes(diff, new.replace_on_changes)))
        if not reasons:
            return Decision("update", diff)
        d = Decision("replace", diff, sorted(paths.top_level(reasons)), reasons)
    if new.protect and old.protect:
        d.refused = (f"unable to replace resource {new.urn} as it is currently marked for protection "
                     "(protect=True in the program and in the state)")
    provider_dbr = bool(diff and diff.replace_paths and diff.delete_before_replace) if engine_key == "" else False
    if new.delete_before_replace is not None:
        d.delete_before_replace, d.dbr_source = new.delete_before_replace, "program" if new.delete_before_replace else ""
    elif provider_dbr:
        d.delete_before_replace = True
        d.dbr_source = "name" if diff.name_rule else "provider"
    return d


# ------------------------------------------------------------------ the dependency graph


def dependencies_of(r: RecordedResource) -> set[str]:
    """``DependencyGraph.DependenciesOf``: parent, dependencies, property dependencies,
    deletedWith and the provider."""
    deps = set(r.dependencies)
    for urns in r.property_dependencies.values():
        deps.update(urns)
    if r.parent:
        deps.add(r.parent)
    if r.deleted_with:
        deps.add(r.deleted_with)
    if r.provider:
        deps.add(r.provider.rsplit("::", 1)[0])
    return deps


def depending_on(root: str, resources: Sequence[RecordedResource], exclude: set[str]) -> list[RecordedResource]:
    """``DependencyGraph.DependingOn``: every resource that transitively depends on ``root``,
    in state order, skipping those already registered in this deployment."""
    hit = {root}
    out = []
    for r in resources:
        if r.urn == root or r.urn in exclude:
            continue
        if dependencies_of(r) & hit:
            hit.add(r.urn)
            out.append(r)
    return out


def dependent_replacements(root: RecordedResource, olds: Sequence[RecordedResource], registered: set[str],
                           forces: Callable[[str, str], bool | None]) -> list[RecordedResource]:
    """``calculateDependentReplacements``: the dependents of a delete-before-replace resource
    that must be replaced with it. A dependent is replaced when its provider is, when it is
    ``deletedWith`` a replaced resource, or when an input that depends on a replaced resource
    becomes unknown and the provider's Diff replaces on it (``forces(type, key)``; an
    unknown new value of a ForceNew property is a replacement) or ``replaceOnChanges``
    names it. Components and dependents already registered are never replaced."""
    replace_set = {root.urn}
    out = []
    for d in depending_on(root.urn, olds, registered):
        if not d.custom:
            continue
        if d.provider and d.provider.rsplit("::", 1)[0] in replace_set:
            hit = True
        elif d.deleted_with and d.deleted_with in replace_set:
            hit = True
        else:
            keys = [k for k, urns in d.property_dependencies.items() if set(urns) & replace_set]
            hit = any(forces(d.type, k) for k in keys) or any(
                p == "*" or paths.top_level([p]) & set(keys) for p in d.replace_on_changes)
        if hit:
            replace_set.add(d.urn)
            out.append(d)
    return out


def cascade_replacements(urn: str, resources: Iterable[RecordedResource]) -> list[RecordedResource]:
    """``findDependentCascadeReplacements``: resources whose ``replaceWith`` names ``urn`` or
    that are ``deletedWith`` it."""
    seen, out = set(), []
    for r in resources:
        if r.urn not in seen and (urn in r.replace_with or r.deleted_with == urn):
            seen.add(r.urn)
            out.append(r)
    return out


def schedule_deletes(condemned: Sequence[RecordedResource], graph: Sequence[RecordedResource]) -> list[list[RecordedResource]]:
    """``ScheduleDeletes``: antichains of deletes; each runs in parallel after the previous.
    A resource is deleted only after everything condemned that depends on it."""
    by_urn = {r.urn: r for r in graph}
    for r in condemned:
        by_urn.setdefault(r.urn, r)
    left = {r.urn: r for r in condemned}
    order = {r.urn: n for n, r in enumerate(condemned)}
    chains: list[list[RecordedResource]] = []
    while left:
        # maximal elements: nothing condemned still depends on them... computed as the engine
        # does, backwards: resources with no condemned dependency go first, then reversed.
        layer = [r for u, r in left.items() if not (dependencies_of(r) & set(left) - {u})]
        if not layer:  # a cycle cannot occur in a valid state; take the rest in order
            layer = list(left.values())
        for r in layer:
            left.pop(r.urn)
        chains.append(sorted(layer, key=lambda r: order[r.urn]))
    chains.reverse()
    return chains


def deleted_with_skip(r: RecordedResource, deleting: set[str]) -> bool:
    """step.go ``isDeletedWith``: a resource deleted with another resource that is itself
    being deleted makes no provider Delete call."""
    return bool(r.deleted_with) and r.deleted_with in deleting


def forces_on_unknown(type_token: str, key: str) -> bool:
    """Whether an unknown new value of top-level input ``key`` makes the provider replace: a
    ForceNew property does (Terraform plans a computed ForceNew attribute as RequiresNew); a
    CustomizeDiff condition cannot be evaluated on an unknown value and does not."""
    return facts.unconditional(type_token, key)
