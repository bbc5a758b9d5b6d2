"""Routing policies: the rules that would have stopped June 1."""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import (LISTENER, LISTENER_RULE, forward_actions, forward_weights, num, pct, plain,
                              scenario_label, schema, stack_outputs, stack_topology, valid_forwards)
from lbguard import matching, shapes, traffic

# ------------------------------------------------------------------ even-target-weights


def check_even_weights(weights: list[tuple[str, float | None]], tolerance: float,
                       canary_max_share: float | None) -> str | None:
    """Why a forward's weights are not acceptable, or None."""
    named = {f"{arn}#{i}": w for i, (arn, w) in enumerate(weights)}
    try:
        shares = traffic.shares(named)
    except traffic.WeightError as err:
        return f"{err}. Use integer weights 0..999 with a positive sum."
    if len(shares) < 2:
        return None
    values = sorted(shares.values())
    if canary_max_share is not None and values[0] <= canary_max_share:
        values = values[1:]  # the exempted canary
        if len(values) < 2:
            return None
        rest = sum(values)
        values = [v / rest for v in values]
    spread = values[-1] - values[0]
    if spread > tolerance + 1e-9:
        listing = ", ".join(f"{arn.split('#')[0].split('/')[-2] if '/' in arn else arn.split('#')[0]}={w:g}"
                            for arn, w in named.items())
        return (f"weights are uneven ({listing}; shares differ by {pct(spread)}, tolerance {pct(tolerance)}). "
                f"Give every target group the same weight, or add a named canary exemption in the pack config.")
    return None


def _even_weights(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LISTENER + LISTENER_RULE:
        return
    cfg = args.get_config()
    exemption = next((e for e in cfg.get("canaryExemptions", []) if e.get("name") == args.name), None)
    canary = num(exemption.get("maxShare")) if exemption else None
    key = "defaultActions" if args.resource_type in LISTENER else "actions"
    for action in forward_actions(args.props, key):
        why = check_even_weights(forward_weights(action), num(cfg.get("tolerance"), 0.0), canary)
        if why:
            report(f"{args.name}: {why}")


even_target_weights = ResourceValidationPolicy(
    name="even-target-weights",
    description="A forward to two or more target groups splits traffic evenly (weights 0..999, positive sum).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_even_weights,
    config_schema=schema(
        tolerance={"type": "number", "minimum": 0, "maximum": 1, "default": 0,
                   "description": "largest allowed difference between two target groups' shares"},
        canaryExemptions={"type": "array", "default": [], "description": "named listeners/rules allowed one canary",
                          "items": {"type": "object", "required": ["name", "maxShare"], "additionalProperties": False,
                                    "properties": {"name": {"type": "string"},
                                                   "maxShare": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}}}},
    ),
)

# ------------------------------------------------------------------ no-traffic-funnel


def _funnel(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = args.get_config()
    limit = num(cfg.get("maxInstanceShare"), 0.5)
    topo = stack_topology(args)
    pools = topo.pools()
    for fwd in valid_forwards(topo):
        results = traffic.simulate(fwd.route(), pools, include=("all-healthy", "instance-lost"))
        for tg_id, share in traffic.shares(fwd.weights).items():
            if share > 0 and topo.target_groups[tg_id].instances == 0:
                report(f"{fwd.id} sends {pct(share * fwd.traffic_fraction)} of the listener's traffic to target group "
                       f"{topo.label(tg_id)}, which has no instances behind it (no Auto Scaling group or registered "
                       f"target). Register capacity before routing to it, or set its weight to 0.", fwd.resource_urn)
        worst = traffic.worst(results)
        if worst is None or worst.max_instance_share <= limit:
            continue
        pool, load = max(((k, l) for k, l in worst.loads.items() if l.share > 0 and not l.failing),
                         key=lambda kv: kv[1].per_instance_share)
        report(f"{fwd.id} funnels traffic: in scenario '{scenario_label(topo, worst.scenario)}' each of the {load.healthy} healthy "
               f"instance(s) of {topo.label(pool)} receives {pct(load.per_instance_share)} of the listener's traffic "
               f"(limit {pct(limit)}). Spread the forward over more target groups or instances so that no single "
               f"instance carries more than {pct(limit)}, also with one instance lost.", fwd.resource_urn)


no_traffic_funnel = StackValidationPolicy(
    name="no-traffic-funnel",
    description="No single healthy instance receives more than a set share of a listener's traffic, also with one instance lost.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_funnel,
    config_schema=schema(
        maxInstanceShare={"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5,
                          "description": "largest share of a listener's requests one instance may receive"},
    ),
)

# ------------------------------------------------------------------ listener-rule-shadowing


def _shadowing(args: StackValidationArgs, report: ReportViolation) -> None:
    topo = stack_topology(args)
    for listener in topo.listeners.values():
        rules = []
        for r in listener.rules:
            try:
                conditions = [shapes.condition_to_api(c) for c in r.props.get("conditions") or []]
            except (ValueError, KeyError):
                continue
            rules.append({"urn": r.urn, "name": r.name, "priority": int(num(r.props.get("priority"), 0)),
                          "conditions": conditions})
        for prio, dupes in matching.duplicate_priorities(rules).items():
            names = ", ".join(d["name"] for d in dupes)
            for d in dupes:
                report(f"rules {names} on listener {listener.name} share priority {prio}; ALB refuses this "
                       f"(PriorityInUse). Give each rule a unique priority.", d["urn"])
        unique = [r for r in rules if r["priority"] not in matching.duplicate_priorities(rules)]
        for low, high in matching.shadowed_rules(unique):
            report(f"rule {low['name']} (priority {low['priority']}) can never match: rule {high['name']} "
                   f"(priority {high['priority']}) on the same listener matches every request it would. Give it a "
                   f"lower priority number than {high['name']}, or narrow {high['name']}'s conditions.", low["urn"])


listener_rule_shadowing = StackValidationPolicy(
    name="listener-rule-shadowing",
    description="Every listener rule can match some request (no higher-priority rule covers it) and priorities are unique.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_shadowing,
)

# ------------------------------------------------------------------ rollback-output-required


def _rollback_output(args: StackValidationArgs, report: ReportViolation) -> None:
    from lbguard.model import LbguardError
    from lbguard.snapshot import validate_snapshot

    found = stack_outputs(args)
    stack_urn, outputs = found if found else ("", {})
    snap = outputs.get("rollback")
    if snap is None:
        report("the stack exports no 'rollback' output. Export the routing snapshot (see lbguard.snapshot) so "
               "routing can be restored with boto3 alone.", stack_urn)
        return
    try:
        validate_snapshot(snap, "rollback output")
    except LbguardError as err:
        report(f"{err}. Export a schemaVersion 1 snapshot built by lbguard.snapshot.build_snapshot.", stack_urn)
        return
    listeners = {l["arn"]: l for l in snap["listeners"]}
    rules = {r["arn"]: r for l in snap["listeners"] for r in l.get("rules", [])}
    for r in args.resources:
        props = plain(r.props)
        if r.resource_type in LISTENER:
            held = listeners.get(props.get("arn"))
            if held is None:
                report(f"listener {r.name} is missing from the rollback output; add it to the snapshot.", r.urn)
            elif shapes.canonical_actions([shapes.action_to_api(a) for a in props.get("defaultActions") or []]) != \
                    shapes.canonical_actions(held["defaultActions"]):
                report(f"the rollback output's default actions for listener {r.name} differ from the listener's "
                       f"(weights or targets). Build the snapshot from the same routing as the listener.", r.urn)
        elif r.resource_type in LISTENER_RULE:
            held = rules.get(props.get("arn"))
            if held is None:
                report(f"listener rule {r.name} is missing from the rollback output; add it to the snapshot.", r.urn)
                continue
            same = (shapes.canonical_actions([shapes.action_to_api(a) for a in props.get("actions") or []])
                    == shapes.canonical_actions(held["actions"])
                    and int(num(props.get("priority"), 0)) == int(held["priority"])
                    and shapes.canonical_conditions([shapes.condition_to_api(c) for c in props.get("conditions") or []])
                    == shapes.canonical_conditions(held["conditions"]))
            if not same:
                report(f"the rollback output's entry for rule {r.name} differs from the rule (weights, priority or "
                       f"conditions). Build the snapshot from the same routing as the rule.", r.urn)


rollback_output_required = StackValidationPolicy(
    name="rollback-output-required",
    description="The stack exports 'rollback', a routing snapshot covering every listener and rule with the same weights.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_rollback_output,
)
