"""capacity-covers-share: each pool's share of peak traffic fits its capacity."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from lb_safety.common import num, pct, scenario_label, schema, stack_topology, valid_forwards
from lbguard import traffic


def _capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = args.get_config()
    headroom = num(cfg.get("headroom"), 0.2)
    degraded_max = num(cfg.get("degradedMaxUtilisation"), 1.0)
    topo = stack_topology(args, peak_rps=num(cfg.get("peakRequestsPerSecond")),
                          default_rps_per_instance=num(cfg.get("defaultRpsPerInstance")))
    pools = topo.pools()
    for fwd in valid_forwards(topo):
        if topo.peak_rps is None:
            report(f"{fwd.id}: capacity could not be evaluated: no peak requests/s known. Tag the load balancer "
                   f"'lbguard:peak-rps' or set peakRequestsPerSecond in the pack config.", fwd.resource_urn)
            continue
        unknown = [topo.label(k) for k, w in fwd.weights.items()
                   if w > 0 and topo.target_groups[k].rps_per_instance is None]
        if unknown:
            report(f"{fwd.id}: capacity could not be evaluated: requests/s per instance unknown for "
                   f"{', '.join(unknown)}. Tag the Auto Scaling group 'lbguard:rps-per-instance' or set "
                   f"defaultRpsPerInstance in the pack config.", fwd.resource_urn)
            continue
        for result in traffic.simulate(fwd.route(), pools, topo.peak_rps,
                                       include=("all-healthy", "instance-lost", "az-lost")):
            limit = 1.0 - headroom if result.scenario == "all-healthy" else degraded_max
            for pool, load in result.loads.items():
                if load.share <= 0 or load.utilisation is None or load.utilisation <= limit + 1e-9:
                    continue
                cap = "no capacity left" if not load.capacity_rps else f"capacity {load.capacity_rps:g} req/s"
                report(f"{fwd.id}: in scenario '{scenario_label(topo, result.scenario)}' target group {topo.label(pool)} takes "
                       f"{pct(load.share)} of {topo.peak_rps:g} req/s = {load.rps:g} req/s on {load.healthy} "
                       f"instance(s), {cap}: utilisation {pct(load.utilisation)} > {pct(limit)}. Raise its minimum "
                       f"size, spread it over more AZs, or lower its weight.", fwd.resource_urn)
                break


capacity_covers_share = StackValidationPolicy(
    name="capacity-covers-share",
    description="Each pool's share of peak requests/s fits its capacity with headroom, also with one instance or one AZ lost.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_capacity,
    config_schema=schema(
        headroom={"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.2,
                  "description": "spare fraction of capacity required at peak with every instance healthy"},
        degradedMaxUtilisation={"type": "number", "exclusiveMinimum": 0, "maximum": 2, "default": 1.0,
                                "description": "largest utilisation allowed with one instance or one AZ lost"},
        peakRequestsPerSecond={"type": "number", "exclusiveMinimum": 0,
                               "description": "peak requests/s when the load balancer has no lbguard:peak-rps tag"},
        defaultRpsPerInstance={"type": "number", "exclusiveMinimum": 0,
                               "description": "requests/s per instance when an ASG has no lbguard:rps-per-instance tag"},
    ),
)
