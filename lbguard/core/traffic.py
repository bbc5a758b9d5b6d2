"""The traffic-share model: who receives what fraction of requests.

This is the one place that turns routing (weights) and capacity (healthy instances,
requests/s each instance can serve) into shares and loads. Components, the policy
pack, preflight, diff, diagnose, alarms and rollback all call it; nothing else
computes a share.

How ALB distributes traffic, as modelled here:

* A forward action splits requests between its target groups in proportion to their
  weights: ``share = w / sum(w)``. Weights are integers 0..999, at most 5 groups.
* Inside a target group requests are spread evenly over its healthy targets
  (round robin; least-outstanding-requests only evens out load further).
* If every target of a target group is unhealthy the ALB *fails open*: it keeps
  sending that group its weighted share, to unhealthy targets, and those requests
  fail. There is no failover to the other groups of the forward.
* What fraction of a listener's requests a rule receives (its *reach*) is computed by
  :func:`listener_reach`, never assumed. With a traffic profile (``lbguard.core.profile``:
  weighted request classes), each class is sent through ALB's evaluation
  (:mod:`lbguard.core.matching`: priority order, first match wins, else the default action)
  and a rule's share is the weight of the classes it wins. Without one, only
  deterministic facts are used: a rule that an earlier rule (or several together)
  always pre-empts receives nothing; a catch-all rule, and the default action, receive
  everything that reaches them (at most all of the listener, as on June 1, when a
  ``/*`` rule took everything); a declared ``expectedShare`` is taken as given; any
  other (narrow) rule's share is *unknown* and is evaluated at its upper bound, which
  callers report as advisory, never as a mandatory finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from lbguard.core import matching

MAX_WEIGHT = 999
MAX_TARGET_GROUPS_PER_FORWARD = 5


class WeightError(ValueError):
    """Weights that ALB would refuse (or that send nothing anywhere)."""


def validate_weights(weights: Mapping[str, float]) -> None:
    if not weights:
        raise WeightError("a forward needs at least one target group")
    if len(weights) > MAX_TARGET_GROUPS_PER_FORWARD:
        raise WeightError(
            f"a forward may name at most {MAX_TARGET_GROUPS_PER_FORWARD} target groups, got {len(weights)}"
        )
    for key, w in weights.items():
        if w != int(w) or not 0 <= w <= MAX_WEIGHT:
            raise WeightError(f"weight of {key} must be an integer 0..{MAX_WEIGHT}, got {w}")
    if sum(weights.values()) <= 0:
        raise WeightError("weights sum to 0: the forward sends traffic nowhere")


def shares(weights: Mapping[str, float]) -> dict[str, float]:
    """Fraction of a forward's requests that each target group receives."""
    validate_weights(weights)
    total = float(sum(weights.values()))
    return {key: w / total for key, w in weights.items()}


def weight_spread(weights: Mapping[str, float]) -> float:
    """Largest difference between two target groups' shares (0 = perfectly even)."""
    s = shares(weights)
    return max(s.values()) - min(s.values())


@dataclass(frozen=True)
class Pool:
    """Capacity behind one target group."""

    instances: int  # healthy instances when all is well (ASG minimum or registered targets)
    rps_per_instance: float | None = None  # requests/s one instance serves; None = unknown
    azs: int = 1  # availability zones the instances are spread over (evenly)

    def lost_in_one_az(self) -> int:
        """Instances lost when the AZ holding most of this pool goes away."""
        if self.instances <= 0:
            return 0
        return math.ceil(self.instances / max(1, min(self.azs, self.instances)))


@dataclass(frozen=True)
class Route:
    """One forward: a listener's default action or a rule's action."""

    id: str
    weights: Mapping[str, float]  # target-group key -> weight
    traffic_fraction: float = 1.0  # of the listener's requests; 1.0 = worst case
    # Set by ``combine``: each pool's share of the listener directly (weights then only name
    # the pools); None: ``shares(weights) * traffic_fraction``.
    listener_shares: Mapping[str, float] | None = None

    def pool_shares(self) -> dict[str, float]:
        """Each pool's share of the listener's requests through this route."""
        if self.listener_shares is not None:
            return dict(self.listener_shares)
        return {k: s * self.traffic_fraction for k, s in shares(self.weights).items()}


def combine(route_id: str, routes: Iterable[Route]) -> Route:
    """Several forwards of one listener as one route: each pool's listener share summed over
    them. Two rules that each send 40% to the same pool load it with 80%, which no single
    forward shows (capacity and funnel checks evaluate this too)."""
    total: dict[str, float] = {}
    for r in routes:
        for k, share in r.pool_shares().items():
            total[k] = total.get(k, 0.0) + share
    return Route(route_id, {k: 1 for k in total}, sum(total.values()), listener_shares=total)


@dataclass(frozen=True)
class PoolLoad:
    pool: str
    share: float  # of the listener's requests sent to this pool by the route
    healthy: int
    per_instance_share: float  # of the listener's requests, per healthy instance (inf if none)
    rps: float | None  # requests/s at peak
    capacity_rps: float | None
    utilisation: float | None  # rps / capacity (inf if no capacity left)
    failing: bool  # fail-open: share goes to unhealthy targets and fails


@dataclass(frozen=True)
class Scenario:
    name: str
    healthy: Mapping[str, int]  # pool -> healthy instances in this scenario
    description: str = ""


@dataclass
class RouteResult:
    route: str
    scenario: str
    loads: dict[str, PoolLoad] = field(default_factory=dict)

    @property
    def failed_fraction(self) -> float:
        return sum(l.share for l in self.loads.values() if l.failing)

    @property
    def max_instance_share(self) -> float:
        vals = [l.per_instance_share for l in self.loads.values() if l.share > 0 and not l.failing]
        return max(vals, default=0.0)

    @property
    def worst_utilisation(self) -> float | None:
        vals = [l.utilisation for l in self.loads.values() if l.share > 0 and l.utilisation is not None]
        return max(vals, default=None)

    @property
    def serving_utilisation(self) -> float | None:
        """Worst utilisation of the pools that still serve: a failed-open pool's requests fail
        (``failed_fraction``) rather than load anyone."""
        vals = [l.utilisation for l in self.loads.values()
                if l.share > 0 and not l.failing and l.utilisation is not None]
        return max(vals, default=None)


def evaluate(route: Route, pools: Mapping[str, Pool], healthy: Mapping[str, int] | None = None,
             peak_rps: float | None = None, scenario: str = "all-healthy") -> RouteResult:
    """Load on each pool of ``route`` with ``healthy`` instances per pool."""
    result = RouteResult(route=route.id, scenario=scenario)
    for key, listener_share in route.pool_shares().items():
        pool = pools.get(key, Pool(instances=0))
        n = pool.instances if healthy is None else healthy.get(key, pool.instances)
        per_instance = listener_share / n if n > 0 else (math.inf if listener_share > 0 else 0.0)
        rps = None if peak_rps is None else listener_share * peak_rps
        cap = None if pool.rps_per_instance is None else n * pool.rps_per_instance
        if rps is None or cap is None:
            util = None
        elif cap > 0:
            util = rps / cap
        else:
            util = math.inf if rps > 0 else 0.0
        result.loads[key] = PoolLoad(
            pool=key, share=listener_share, healthy=n, per_instance_share=per_instance,
            rps=rps, capacity_rps=cap, utilisation=util, failing=(n == 0 and listener_share > 0),
        )
    return result


def scenarios(pools: Mapping[str, Pool], names: Iterable[str] | None = None,
              include: Iterable[str] = ("all-healthy", "instance-lost", "az-lost", "pool-down")) -> list[Scenario]:
    """The failure scenarios a change must survive, over the pools in ``names``."""
    keys = sorted(names if names is not None else pools)
    base = {k: pools[k].instances if k in pools else 0 for k in keys}
    want = set(include)
    out: list[Scenario] = []
    if "all-healthy" in want:
        out.append(Scenario("all-healthy", dict(base), "every instance healthy"))
    if "instance-lost" in want:
        for k in keys:
            if base[k] > 0:
                out.append(Scenario(f"instance-lost:{k}", {**base, k: base[k] - 1}, f"one instance of {k} lost"))
    if "az-lost" in want:
        # Pools are spread evenly, so losing any one AZ costs each pool its per-AZ count.
        lost = {k: (pools[k].lost_in_one_az() if k in pools else 0) for k in keys}
        if keys:
            out.append(Scenario("az-lost", {k: base[k] - lost[k] for k in keys}, "one availability zone lost"))
    if "pool-down" in want:  # a single-pool route too: every request fails
        for k in keys:
            out.append(Scenario(f"pool-down:{k}", {**base, k: 0}, f"every target of {k} unhealthy (ALB fails open)"))
    return out


def simulate(route: Route, pools: Mapping[str, Pool], peak_rps: float | None = None,
             include: Iterable[str] = ("all-healthy", "instance-lost", "az-lost", "pool-down")) -> list[RouteResult]:
    """``evaluate`` under every scenario for the pools the route forwards to."""
    return [
        evaluate(route, pools, sc.healthy, peak_rps, sc.name)
        for sc in scenarios(pools, route.weights.keys(), include)
    ]


def worst(results: Iterable[RouteResult], key: str = "max_instance_share") -> RouteResult | None:
    """The result with the largest value of ``key`` (a RouteResult property)."""
    best: RouteResult | None = None
    best_v = -math.inf
    for r in results:
        v = getattr(r, key)
        if v is not None and v > best_v:
            best, best_v = r, v
    return best


@dataclass(frozen=True)
class Headroom:
    """The worst a route gets under one kind of scenario (all-healthy, instance-lost, ...)."""

    kind: str
    scenario: str  # the scenario of that kind with the worst serving utilisation (or the first)
    utilisation: float | None  # worst serving utilisation at peak; None = capacity unknown
    failed_fraction: float  # largest share of requests failing (fail-open) in this kind
    max_instance_share: float  # largest per-instance share of a serving pool in this kind
    failing_scenario: str | None = None  # the scenario failing the most requests, if any fail

    @property
    def cases(self) -> list[str]:
        """The concrete scenarios worth a row: the highest utilisation, then the most failing."""
        return list(dict.fromkeys([self.scenario] + ([self.failing_scenario] if self.failing_scenario else [])))

    @property
    def headroom(self) -> float | None:
        """Capacity left at peak (negative = over capacity)."""
        return None if self.utilisation is None else 1.0 - self.utilisation


def headroom_by_scenario(results: Iterable[RouteResult]) -> dict[str, Headroom]:
    """``simulate`` results folded per scenario kind (the part of the name before ':')."""
    grouped: dict[str, list[RouteResult]] = {}
    for r in results:
        grouped.setdefault(r.scenario.split(":", 1)[0], []).append(r)
    out: dict[str, Headroom] = {}
    for kind, rs in grouped.items():
        known = [r for r in rs if r.serving_utilisation is not None]
        worst_r = max(known, key=lambda r: r.serving_utilisation) if known else rs[0]
        failing = max(rs, key=lambda r: r.failed_fraction)
        out[kind] = Headroom(kind=kind, scenario=worst_r.scenario, utilisation=worst_r.serving_utilisation,
                             failed_fraction=failing.failed_fraction,
                             max_instance_share=max(r.max_instance_share for r in rs),
                             failing_scenario=failing.scenario if failing.failed_fraction > 0 else None)
    return out


def skew_bounds(weights: Mapping[str, float], max_deviation: float) -> dict[str, tuple[float, float]]:
    """Observed-share band per target group that is *not* skewed.

    ``max_deviation`` is absolute (0.15 = 15 percentage points). The share-skew alarms
    use these bounds, so alarms and policies agree on what "intended" means.
    """
    return {
        key: (max(0.0, s - max_deviation), min(1.0, s + max_deviation))
        for key, s in shares(weights).items()
    }


def blind_funnels(weights: Mapping[str, float], max_deviation: float) -> list[str]:
    """Target groups that could take *all* of a forward's requests while every group's
    observed share stays inside its :func:`skew_bounds` band: funnels onto these are
    invisible to a share-skew alarm (e.g. weights 90/10 with 0.15: all onto the 90).
    """
    bounds = skew_bounds(weights, max_deviation)
    return [key for key in bounds
            if all(lo <= (1.0 if other == key else 0.0) <= hi for other, (lo, hi) in bounds.items())]


# ------------------------------------------------------------------ reach: a rule's share of its listener

DEFAULT = "default"  # the key of a listener's default action in :func:`listener_reach`

#: How a reach was obtained. ``unknown`` is the only one that is not a fact or a measurement.
REACH_SOURCES = ("profile", "declared", "catch-all", "default", "shadowed", "unknown")


@dataclass(frozen=True)
class Reach:
    """The fraction of a listener's requests one rule (or the default action) receives."""

    share: float  # the share to evaluate capacity at (upper bound when ``source`` is unknown)
    source: str  # one of REACH_SOURCES
    shadowed_by: tuple[str, ...] = ()  # the earlier rule(s) that pre-empt every request it matches
    classes: tuple[str, ...] = ()  # profile classes it wins (source "profile")

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    @property
    def dead(self) -> bool:
        """No request can reach it (pre-empted), or the profile sends it none."""
        return self.share <= 0.0


def _shadowing(ordered: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Rule id -> ids of the earlier rule(s) that together match everything it matches."""
    out: dict[str, tuple[str, ...]] = {}
    for low, by in matching.shadowed_rules(ordered):
        group = by if isinstance(by, (list, tuple)) else [by]
        out[str(low["id"])] = tuple(str(r["id"]) for r in group)
    return out


def listener_reach(rules: Sequence[Mapping[str, Any]],
                   classes: Sequence[tuple[matching.Request, float]] | None = None,
                   declared: Mapping[str, float] | None = None,
                   class_names: Sequence[str] | None = None,
                   hosts: Sequence[str] | None = None) -> dict[str, Reach]:
    """Reach of every rule of one listener and of its default action (key :data:`DEFAULT`).

    ``rules``: ``{"id", "priority", "conditions"}`` (API-shaped conditions), every rule of
    the listener whatever its action (a redirect or fixed-response rule captures requests
    too). ``classes``: the profile's request classes reaching this listener with their
    normalised shares (``Profile.for_port``), or None. ``declared``: rule id ->
    ``expectedShare`` from the settings (used only without a profile). ``hosts``: every name the
    listener's certificates serve, when known: a host rule covering all of them is a catch-all
    (:func:`lbguard.core.matching.is_catch_all`).
    """
    ordered = sorted(rules, key=lambda r: int(r["priority"]))
    shadow = _shadowing(ordered)
    catch_all: str | None = None  # first live catch-all rule: everything after it is dead
    for r in ordered:
        if str(r["id"]) not in shadow and matching.is_catch_all(r["conditions"], hosts):
            catch_all = str(r["id"])
            break
    out: dict[str, Reach] = {}
    if classes is not None:
        won: dict[str, list[tuple[str, float]]] = {}
        names = list(class_names) if class_names is not None else [f"class-{i}" for i in range(len(classes))]
        for name, (req, weight) in zip(names, classes):
            hit = matching.first_match(ordered, req)
            won.setdefault(str(hit["id"]) if hit is not None else DEFAULT, []).append((name, weight))
        for r in ordered:
            rid = str(r["id"])
            got = won.get(rid, [])
            by = shadow.get(rid, ())
            out[rid] = Reach(sum(w for _, w in got), "shadowed" if by else "profile", by, tuple(n for n, _ in got))
        got = won.get(DEFAULT, [])
        out[DEFAULT] = Reach(sum(w for _, w in got), "profile", (catch_all,) if catch_all and not got else (),
                             tuple(n for n, _ in got))
        return out
    declared = declared or {}
    taken = 0.0  # the listener's requests known to be taken by earlier rules (declared shares)
    passed_catch_all = False
    for r in ordered:
        rid = str(r["id"])
        if passed_catch_all:
            out[rid] = Reach(0.0, "shadowed", (catch_all,))
            continue
        if rid in shadow:
            out[rid] = Reach(0.0, "shadowed", shadow[rid])
            continue
        rest = max(0.0, 1.0 - taken)
        if rid == catch_all:
            out[rid] = Reach(rest, "catch-all")
            passed_catch_all = True
        elif declared.get(rid) is not None:
            share = min(rest, float(declared[rid]))
            out[rid] = Reach(share, "declared")
            taken += share
        else:
            out[rid] = Reach(rest, "unknown")
    if passed_catch_all:
        out[DEFAULT] = Reach(0.0, "shadowed", (catch_all,))
    else:
        out[DEFAULT] = Reach(max(0.0, 1.0 - taken), "default")
    return out
