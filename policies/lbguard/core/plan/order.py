"""Steps the engine may run in either order, contending for one AWS key.

``pulumi up`` runs every step whose dependencies are done, up to ``--parallel`` at once
(pkg/cmd/pulumi/operations/up.go ``defaultParallel``: 4 x GOMAXPROCS, 8 on a two-core
runner; pulumi/pulumi at 1b5949891b3c). Two steps are ordered only when one resource depends
on the other (its dependencies, property dependencies or a custom parent). When one step frees
a key AWS holds unique (a listener priority: ``PriorityInUse``, a physical name:
``Duplicate...``) and another takes it, and neither depends on the other, some order fails.
The last phase (deletes) always runs after every create and update, so a key freed only by
a delete is taken too early in every order: that failure is not a race, the apply finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from lbguard.core.model import RecordedResource
from lbguard.core import provider_facts as facts

RULE_TYPES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")


@dataclass(frozen=True)
class Claim:
    key: tuple  # ("priority", listener ARN, n) or ("name", canonical type, name)
    urn: str  # the step's resource (new URN)
    take: bool  # True: the step takes the key; False: it frees it
    label: str  # what the key is, for people


def _name_key(type_token: str, props: Mapping) -> tuple | None:
    prop = facts.auto_name_property(type_token)
    value = props.get(prop) if prop else None
    if isinstance(value, str) and value:
        return ("name", facts.canonical_type(type_token), value)
    return None


def claims(urn: str, type_token: str, op: str, old: Mapping | None, new: Mapping | None) -> list[Claim]:
    """What one registration-time step (``create``, ``update``, or the delete half of a
    delete-before-replace, op ``delete``) frees and takes. ``old``/``new``: the resource's
    properties before and after (outputs, with ARNs)."""
    out: list[Claim] = []
    if type_token in RULE_TYPES:
        def key(p):
            return ("priority", p.get("listenerArn"), int(p["priority"])) if p and p.get("priority") is not None else None
        before, after = key(old), key(new)
        if before != after:
            if before and op in ("update", "delete"):
                out.append(Claim(before, urn, False, f"priority {before[2]}"))
            if after and op in ("update", "create"):
                out.append(Claim(after, urn, True, f"priority {after[2]}"))
    else:
        before, after = _name_key(type_token, old or {}), _name_key(type_token, new or {})
        if before != after or op in ("create", "delete"):
            if before and op == "delete":
                out.append(Claim(before, urn, False, f"name {before[2]}"))
            if after and op == "create":
                out.append(Claim(after, urn, True, f"name {after[2]}"))
    return out


def ancestors(resources: Iterable[RecordedResource]) -> dict[str, set[str]]:
    """URN -> every resource it transitively waits for in this deployment (dependencies,
    property dependencies, a custom parent)."""
    recs = {r.urn: r for r in resources}
    direct = {}
    for r in recs.values():
        deps = set(r.dependencies) | {u for us in r.property_dependencies.values() for u in us}
        if r.parent and r.parent in recs and recs[r.parent].custom:
            deps.add(r.parent)
        direct[r.urn] = deps
    memo: dict[str, set[str]] = {}

    def walk(u: str, seen: frozenset = frozenset()) -> set[str]:
        if u in memo:
            return memo[u]
        out: set[str] = set()
        for d in direct.get(u, ()):
            if d not in seen:
                out.add(d)
                out |= walk(d, seen | {u})
        memo[u] = out
        return out

    return {u: walk(u) for u in recs}


@dataclass(frozen=True)
class Race:
    free: Claim
    take: Claim

    def describe(self, names: Mapping[str, str]) -> str:
        return (f"fails if `{names.get(self.take.urn, self.take.urn)}` takes {self.take.label} before "
                f"`{names.get(self.free.urn, self.free.urn)}` frees it")


def races(applied: Sequence[Claim], deps: Mapping[str, set[str]]) -> list[Race]:
    """Pairs (a step freeing a key, a later step taking it) with no dependency between them,
    in the order the apply made them: reversed, the take runs while the key is still held."""
    out = []
    for n, free in enumerate(applied):
        if free.take:
            continue
        for take in applied[n + 1:]:
            if take.take and take.key == free.key and take.urn != free.urn \
                    and free.urn not in deps.get(take.urn, set()) and take.urn not in deps.get(free.urn, set()):
                out.append(Race(free, take))
    return out


def stable_order(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """The keys of ``deps`` in dependency order (a resource after everything it waits for),
    ties broken by URN: the same order on every run, whatever order the program's
    registrations arrived in."""
    import heapq

    nodes = set(deps)
    waiting = {u: {d for d in deps[u] if d in nodes and d != u} for u in nodes}
    users: dict[str, list[str]] = {}
    for u, ds in waiting.items():
        for d in ds:
            users.setdefault(d, []).append(u)
    ready = [u for u, ds in waiting.items() if not ds]
    heapq.heapify(ready)
    out = []
    while ready:
        u = heapq.heappop(ready)
        out.append(u)
        for v in users.get(u, ()):
            waiting[v].discard(u)
            if not waiting[v]:
                heapq.heappush(ready, v)
    return out + sorted(nodes - set(out))  # a cycle cannot occur in a valid program
