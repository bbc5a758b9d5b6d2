"""What the model predicts for a rehearsal, and which instances a scenario stops.

``predicted_shares`` is the one place the rehearsal asks the traffic model for a share:
request class -> ``lbguard.core.matching.first_match`` -> the forward's
``lbguard.core.traffic.shares(weights)`` -> divided over the pool's healthy instances in a
``lbguard.core.traffic.scenarios`` scenario. When the request-level share model in
``lbguard.core.traffic`` lands, this function is the one to point at it.
"""

from __future__ import annotations

from lbguard.core import matching, traffic
from lbguard.core.model import LbguardError
from lbguard.offline.rehearse.plan import Plan
from lbguard.offline.rehearse.wrk import LoadClass

SCENARIOS = ("all-healthy", "instance-lost", "az-lost")


def _forward_weights(plan: Plan, listener, rule_view) -> dict[str, float] | None:
    urn = rule_view["urn"] if rule_view is not None else None
    for f in plan.topology.forwards:
        if f.listener_urn == listener.urn and f.rule_urn == urn:
            return dict(f.weights)
    return None


def predicted_shares(plan: Plan, classes: list[LoadClass], scenario: traffic.Scenario) -> dict[str, float]:
    """Instance name -> predicted fraction of the listener's requests it serves in ``scenario``.

    Instances a scenario removes are the last ones of their pool (see ``stopped_instances``);
    a pool left with none fails open and its share fails rather than being served.
    """
    listener = plan.primary()
    out = {i.name: 0.0 for i in plan.instances()}
    for c in classes:
        hit = matching.first_match(listener.rule_views, c.request)
        weights = _forward_weights(plan, listener, hit)
        if weights is None:
            continue  # redirect or fixed response: answered by the load balancer itself
        for tg_id, share in traffic.shares(weights).items():
            alive = serving(plan, scenario)[tg_id]
            for inst in alive:
                out[inst] += c.share * share / len(alive)
    return out


def serving(plan: Plan, scenario: traffic.Scenario) -> dict[str, list[str]]:
    """Target group id -> the instances still serving in ``scenario``."""
    out = {}
    for tg_id, tg in plan.target_groups.items():
        n = scenario.healthy.get(tg_id, len(tg.instances))
        out[tg_id] = [i.name for i in _keep_order(plan, tg)][:n]
    return out


def _keep_order(plan: Plan, tg):
    """Instances in the order a scenario keeps them: an AZ loss takes the first AZ, so those go last."""
    first_az = min((i.az for i in plan.instances()), default=None)
    return sorted(tg.instances, key=lambda i: (i.az == first_az, i.name)) if plan.scenario_kind == "az-lost" \
        else tg.instances


def scenario_for(plan: Plan, name: str, classes: list[LoadClass]) -> traffic.Scenario:
    """The model's scenario ``name`` (``instance-lost`` alone: the busiest pool loses one)."""
    kind, _, pool = name.partition(":")
    if kind not in SCENARIOS:
        raise LbguardError(f"--scenario {name}: must be one of {', '.join(SCENARIOS)} (instance-lost:POOL too)")
    plan.scenario_kind = kind
    pools = plan.topology.pools()
    used = [k for k, tg in plan.target_groups.items() if tg.instances]
    if kind == "instance-lost":
        if pool:
            ids = [k for k in used if plan.target_groups[k].pool == pool]
            if not ids:
                raise LbguardError(f"--scenario {name}: no pool {pool!r} with instances in stack {plan.stack}")
        else:
            healthy = traffic.scenarios(pools, used, include=("all-healthy",))[0]
            load = predicted_shares(plan, classes, healthy)
            ids = sorted(used, key=lambda k: (-max((load[i.name] for i in plan.target_groups[k].instances), default=0),
                                              plan.target_groups[k].pool))[:1]
        name = f"instance-lost:{ids[0]}"
    for sc in traffic.scenarios(pools, used, include=(kind,)):
        if sc.name == name or kind != "instance-lost":
            return sc
    raise LbguardError(f"--scenario {name}: the model has no such scenario for stack {plan.stack}")


def stopped_instances(plan: Plan, scenario: traffic.Scenario) -> list[str]:
    alive = {i for names in serving(plan, scenario).values() for i in names}
    return [i.name for i in plan.instances() if i.name not in alive]
