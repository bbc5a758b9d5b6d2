"""capacity-covers-share: each pool's share of peak traffic fits its capacity."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from lb_safety.common import (LB, PROFILE_SCHEMA, cannot_evaluate, capacity_unknown, known, num, pct, scenario_label, schema,
                              share_unknown, stack_resources, stack_topology, tags_of, unresolved_reasons, valid_forwards)
from lbguard.core import topology, traffic

SCENARIOS = ("all-healthy", "instance-lost", "az-lost")


def _peaks(resources: list[topology.Res]) -> tuple[dict[str, float], float | None]:
    """Peak requests/s per load balancer (by ARN and URN) from the lbguard:peak-rps tag, and
    the one to use when a listener's load balancer cannot be told (a single tagged LB)."""
    by_ref: dict[str, float] = {}
    for r in resources:
        if r.type in LB:
            peak = num(tags_of(r.props).get(topology.TAG_PEAK))
            if peak is not None:
                by_ref[r.urn] = peak
                if known(r.props.get("arn")):
                    by_ref[r.props["arn"]] = peak
    values = set(by_ref.values())
    return by_ref, (values.pop() if len(values) == 1 else None)


# Defaults, one home each: the config schema states them (the engine applies schema defaults
# before Configure) and _capacity falls back to the same values.
HEADROOM = 0.2  # share of a pool's capacity kept free at peak with every instance healthy
DEGRADED_MAX = 1.0  # utilisation allowed with one instance or one AZ lost


def _capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = args.get_config()
    headroom = num(cfg.get("headroom"), HEADROOM)
    degraded_max = num(cfg.get("degradedMaxUtilisation"), DEGRADED_MAX)
    resources = stack_resources(args)
    by_urn = {r.urn: r for r in resources}
    topo = stack_topology(args, resources, default_rps_per_instance=num(cfg.get("defaultRpsPerInstance")))
    peaks, only_peak = _peaks(resources)
    pools = topo.pools()
    notes = unresolved_reasons(topo)

    def peak_of(fwd: topology.Forward) -> float | None:
        listener = topo.listeners[fwd.listener_urn]
        refs = [listener.load_balancer] + list(by_urn[listener.urn].property_dependencies.get("loadBalancerArn", []))
        peak = next((peaks[ref] for ref in refs if isinstance(ref, str) and ref in peaks), None)
        if peak is None:
            peak = only_peak
        if peak is None:
            peak = num(cfg.get("peakRequestsPerSecond"))
        if peak is None and topo.profile is not None:
            peak = topo.profile.peak_requests_per_second
        return peak

    def over_capacity(route: traffic.Route, peak: float) -> str | None:
        worst = None  # (how far over its limit, scenario, pool, load, limit)
        for result in traffic.simulate(route, pools, peak, include=SCENARIOS):
            limit = 1.0 - headroom if result.scenario == "all-healthy" else degraded_max
            for pool, load in result.loads.items():
                if load.share > 0 and load.utilisation is not None and load.utilisation > limit + 1e-9:
                    over = load.utilisation / limit
                    if worst is None or over > worst[0]:
                        worst = (over, result.scenario, pool, load, limit)
        if worst is None:
            return None
        _, scenario, pool, load, limit = worst
        cap = "no healthy instance left" if not load.capacity_rps else f"capacity {load.capacity_rps:g} req/s"
        return (f"in scenario '{scenario_label(topo, scenario)}' target group {topo.label(pool)} takes "
                f"{pct(load.share)} of {peak:g} req/s = {load.rps:g} req/s on {load.healthy} healthy instance(s), "
                f"{cap}: utilisation {pct(load.utilisation)} > {pct(limit)}. Raise its Auto Scaling minimum, spread it "
                f"over more AZs, or lower its weight.")

    by_listener: dict[str, list[tuple[topology.Forward, float]]] = {}
    partial: set[str] = set()  # listeners with a forward not evaluated or already reported
    for fwd in valid_forwards(topo):
        why = share_unknown(fwd)
        if why:
            notes.append(why)
            partial.add(fwd.listener_urn)
            continue
        peak = peak_of(fwd)
        if peak is None:
            partial.add(fwd.listener_urn)
            notes.append(f"{fwd.id}: no peak requests/s known (tag the load balancer 'lbguard:peak-rps' or set "
                         f"peakRequestsPerSecond in the pack config)")
            continue
        unknown = capacity_unknown(topo, fwd)
        unknown += [f"{fwd.id}: requests/s per instance unknown for target group {topo.label(k)} (tag its Auto "
                    f"Scaling group 'lbguard:rps-per-instance' or set defaultRpsPerInstance in the pack config)"
                    for k, w in fwd.weights.items()
                    if w > 0 and topo.target_groups[k].capacity_sources and pools[k].rps_per_instance is None]
        if unknown:
            notes += unknown
            partial.add(fwd.listener_urn)
            continue
        finding = over_capacity(fwd.route(), peak)
        if finding:
            report(f"{fwd.id}: {finding}", fwd.resource_urn)
            partial.add(fwd.listener_urn)
            continue
        by_listener.setdefault(fwd.listener_urn, []).append((fwd, peak))
    # Forwards that send to the same pools add up: each within capacity, together over it.
    for urn, group in by_listener.items():
        if urn in partial or len(group) < 2 or len({p for _, p in group}) != 1:
            continue
        name = topo.listeners[urn].name
        finding = over_capacity(traffic.combine(f"{name}/all", [f.route() for f, _ in group]), group[0][1])
        if finding:
            report(f"listener {name}: its forwards ({', '.join(f.id for f, _ in group)}) together: {finding}", urn)
    cannot_evaluate(notes)


capacity_covers_share = StackValidationPolicy(
    name="capacity-covers-share",
    description="Each pool's share of peak requests/s fits its capacity with headroom, also with one instance or one "
                "AZ lost.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_capacity,
    config_schema=schema(
        headroom={"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": HEADROOM,
                  "description": "spare fraction of capacity required at peak with every instance healthy"},
        degradedMaxUtilisation={"type": "number", "exclusiveMinimum": 0, "maximum": 2, "default": DEGRADED_MAX,
                                "description": "largest utilisation allowed with one instance or one AZ lost"},
        peakRequestsPerSecond={"type": "number", "exclusiveMinimum": 0,
                               "description": "peak requests/s of a load balancer without an lbguard:peak-rps tag"},
        defaultRpsPerInstance={"type": "number", "exclusiveMinimum": 0,
                               "description": "requests/s one instance serves when its Auto Scaling group has no "
                                              "lbguard:rps-per-instance tag"},
        trafficProfile=PROFILE_SCHEMA,
    ),
)
