"""Routing policies: the rules that would have stopped June 1.

Every share, per-instance share and scenario comes from ``lbguard.core.traffic`` through the
topology ``lbguard.core.topology`` builds; nothing here computes a share itself.
"""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import (PROFILE_SCHEMA, LISTENER, LISTENER_RULE, UNKNOWN, cannot_evaluate, capacity_unknown, forward_actions,
                              forward_weights, known, num, pct, plain, scenario_label, schema, share_unknown,
                              stack_outputs, stack_resources, stack_topology, unresolved_reasons, valid_forwards)
from lbguard.core import matching, shapes, topology, traffic

# ------------------------------------------------------------------ even-target-weights


def _tg_label(arn: str | None, index: int) -> str:
    """'arn:...:targetgroup/web-blue/0123' -> 'web-blue'; unknown ARNs by position."""
    if isinstance(arn, str) and known(arn) and "targetgroup/" in arn:
        return arn.split("targetgroup/", 1)[1].split("/", 1)[0]
    return f"targetGroups[{index}]"


def check_even_weights(weights: list[tuple[str | None, float | None]], tolerance: float,
                       canary_max_share: float | None) -> str | None:
    """Why a forward's weights are not acceptable, or None."""
    labels = [_tg_label(arn, i) for i, (arn, _) in enumerate(weights)]
    named = {f"{labels[i]}#{i}": w for i, (_, w) in enumerate(weights)}
    try:
        shares = traffic.shares(named)
    except traffic.WeightError as err:
        return f"{err}. Use integer weights 0..{traffic.MAX_WEIGHT} with a positive sum."
    if len(shares) < 2:
        return None
    values = sorted(shares.values())
    if canary_max_share is not None and values[0] <= canary_max_share + 1e-9:
        values = values[1:]  # the exempted canary; the rest must still be even among themselves
        if len(values) < 2:
            return None
        rest = sum(values)
        values = [v / rest for v in values]
    spread = values[-1] - values[0]
    if spread > tolerance + 1e-9:
        listing = ", ".join(f"{key.split('#')[0]}={w:g}" for key, w in named.items())
        return (f"weights are uneven ({listing}: shares differ by {pct(spread)}, tolerance {pct(tolerance)}). "
                f"Give every target group the same weight, or name this forward in the pack config's "
                f"canaryExemptions with the canary's maximum share.")
    return None


def _even_weights(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LISTENER + LISTENER_RULE:
        return
    cfg = args.get_config()
    exemption = next((e for e in cfg.get("canaryExemptions") or [] if e.get("name") in (args.name, args.urn)), None)
    canary = num(exemption.get("maxShare")) if exemption else None
    key = "defaultActions" if args.resource_type in LISTENER else "actions"
    props = plain(args.props)
    actions = props.get(key)
    if actions is not None and not topology.known_list(actions):
        cannot_evaluate([f"{args.name}: its actions are unknown"])
    for action in forward_actions(props, key):
        pairs = forward_weights(action)
        if pairs is None:
            cannot_evaluate([f"{args.name}: the target groups of a forward are unknown"])
        if any(w == UNKNOWN for _, w in pairs):
            cannot_evaluate([f"{args.name}: a forward weight is unknown"])
        why = check_even_weights(pairs, num(cfg.get("tolerance"), 0.0), canary)
        if why:
            report(f"{args.name}: {why}")


even_target_weights = ResourceValidationPolicy(
    name="even-target-weights",
    description="A forward to two or more target groups splits traffic evenly; weights are integers 0..999 with a "
                "positive sum (listener default actions and rule actions).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_even_weights,
    config_schema=schema(
        tolerance={"type": "number", "minimum": 0, "maximum": 1, "default": 0,
                   "description": "largest allowed difference between two target groups' shares (0.1 = 10 points)"},
        canaryExemptions={
            "type": "array", "default": [],
            "description": "listeners/rules (logical name or URN) allowed one canary target group of at most "
                           "maxShare; the others must still be even",
            "items": {"type": "object", "required": ["name", "maxShare"], "additionalProperties": False,
                      "properties": {"name": {"type": "string"},
                                     "maxShare": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}}}},
    ),
)

# ------------------------------------------------------------------ no-traffic-funnel


def _funnel_finding(topo, pools, route: traffic.Route, limit: float) -> str | None:
    """The funnel in ``route`` (its worst scenario), or None."""
    worst = traffic.worst(traffic.simulate(route, pools, include=("all-healthy", "instance-lost")))
    if worst is None or worst.max_instance_share < limit - 1e-9:  # reaching the limit violates
        return None
    pool, load = max(((k, l) for k, l in worst.loads.items() if l.share > 0 and not l.failing),
                     key=lambda kv: kv[1].per_instance_share)
    return (f"in scenario '{scenario_label(topo, worst.scenario)}' each of the {load.healthy} healthy instance(s) "
            f"of target group {topo.label(pool)} receives {pct(load.per_instance_share)} of the listener's traffic "
            f"(limit {pct(limit)}). Spread the traffic over more target groups or instances (raise the Auto Scaling "
            f"minimum) so that every instance carries less than {pct(limit)}, also with one instance lost.")


def _funnel(args: StackValidationArgs, report: ReportViolation) -> None:
    limit = num(args.get_config().get("maxInstanceShare"), 0.5)
    topo = stack_topology(args)
    pools = topo.pools()
    notes = unresolved_reasons(topo)
    by_listener: dict[str, list[topology.Forward]] = {}
    partial: set[str] = set()  # listeners with a forward whose share or capacity is unknown
    for fwd in valid_forwards(topo):
        unknown = capacity_unknown(topo, fwd)
        if unknown:
            notes += unknown
            partial.add(fwd.listener_urn)
            continue
        why = share_unknown(fwd)
        empty = [k for k, s in traffic.shares(fwd.weights).items() if s > 0 and pools[k].instances == 0]
        for k in empty:  # a fault at any share
            sent = (f"an unknown share (up to {pct(traffic.shares(fwd.weights)[k] * fwd.traffic_fraction)})" if why
                    else pct(traffic.shares(fwd.weights)[k] * fwd.traffic_fraction))
            report(f"{fwd.id} sends {sent} of the listener's "
                   f"traffic to target group {topo.label(k)}, which has no instances (Auto Scaling minimum 0). "
                   f"Give it capacity before routing to it, or set its weight to 0.", fwd.resource_urn)
        if why:  # the per-instance share is not known: advisory, never an assumed 100%
            notes.append(why)
            partial.add(fwd.listener_urn)
            continue
        finding = _funnel_finding(topo, pools, fwd.route(), limit)
        if finding:
            report(f"{fwd.id} funnels traffic: {finding}", fwd.resource_urn)
            partial.add(fwd.listener_urn)  # reported once, on the forward that does it
            continue
        by_listener.setdefault(fwd.listener_urn, []).append(fwd)
    # Forwards that share pools add up: each within the limit, together over it.
    for urn, group in by_listener.items():
        if urn in partial or len(group) < 2:
            continue
        finding = _funnel_finding(topo, pools, traffic.combine(f"{topo.listeners[urn].name}/all",
                                                                [f.route() for f in group]), limit)
        if finding:
            report(f"listener {topo.listeners[urn].name}: its forwards ({', '.join(f.id for f in group)}) together "
                   f"funnel traffic: {finding}", urn)
    cannot_evaluate(notes)


no_traffic_funnel = StackValidationPolicy(
    name="no-traffic-funnel",
    description="No single healthy instance receives more than a set share of a listener's traffic, also with one "
                "instance lost (the June 1 outage).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_funnel,
    config_schema=schema(
        maxInstanceShare={"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5,
                          "description": "share of a listener's requests at which one healthy instance is a "
                                         "funnel: reaching it violates (0.5: one server taking half of the listener "
                                         "fails, as on June 1)"},
        trafficProfile=PROFILE_SCHEMA,
    ),
)

# ------------------------------------------------------------------ listener-rule-shadowing


def _shadowing(args: StackValidationArgs, report: ReportViolation) -> None:
    topo = stack_topology(args)
    notes = [n for urn, why in topo.unresolved if "listenerArn" in why
             for n in [f"{urn.rsplit('::', 1)[-1]}: {why}"]]
    for listener in topo.listeners.values():
        rules = []
        for r in listener.rules:
            conds, prio = r.props.get("conditions") or [], r.props.get("priority")
            if not known(conds) or not known(prio):
                notes.append(f"{r.name}: conditions or priority unknown")
                continue
            try:
                conditions = [shapes.condition_to_api(c) for c in conds]
            except (ValueError, KeyError, TypeError) as err:
                notes.append(f"{r.name}: conditions not understood ({err})")
                continue
            rules.append({"urn": r.urn, "name": r.name, "priority": int(num(prio, 0)), "conditions": conditions})
        dupes = matching.duplicate_priorities(rules)
        for prio, same in dupes.items():
            names = ", ".join(d["name"] for d in same)
            for d in same:
                report(f"rules {names} on listener {listener.name} share priority {prio}; ALB refuses this "
                       f"(PriorityInUse). Give each rule a unique priority.", d["urn"])
        unique = [r for r in rules if r["priority"] not in dupes]
        for low, by in matching.shadowed_rules(unique):
            names = " and ".join(f"{h['name']} (priority {h['priority']})" for h in by)
            which = f"rule {names} on the same listener matches" if len(by) == 1 else \
                f"rules {names} on the same listener together match"
            first = min(by, key=lambda h: h["priority"])["name"]
            report(f"rule {low['name']} (priority {low['priority']}) can never match: {which} every request it "
                   f"would. Give it a lower priority number than {first}, or narrow "
                   f"{' and '.join(h['name'] for h in by)}'s conditions.", low["urn"])
    cannot_evaluate(notes)


listener_rule_shadowing = StackValidationPolicy(
    name="listener-rule-shadowing",
    description="Every listener rule can match some request (no higher-priority rule on the same listener covers its "
                "conditions) and priorities are unique per listener.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_shadowing,
)

# ------------------------------------------------------------------ rollback-output-required


def _api_actions(actions) -> list[dict]:
    return shapes.canonical_actions([shapes.action_to_api(a) for a in actions or []])


def _rollback_output(args: StackValidationArgs, report: ReportViolation) -> None:
    from lbguard.core.model import LbguardError
    from lbguard.core.snapshot import SCHEMA_VERSION, validate_snapshot

    found = stack_outputs(args)
    stack_urn, outputs = found if found else ("", {})
    snap = outputs.get("rollback")
    if snap is None:
        report(f"the stack exports no 'rollback' output. Export the routing snapshot (schemaVersion {SCHEMA_VERSION}, "
               "built by lbguard.core.snapshot.build_snapshot from the same listeners and rules) so routing can be restored with "
               "boto3 alone.", stack_urn)
        return
    if not known(snap):
        cannot_evaluate(["the 'rollback' output is not known yet (it is computed from new resources' ARNs)"])
    try:
        validate_snapshot(snap, "rollback output")
    except LbguardError as err:
        report(f"{err}. Export a schemaVersion {SCHEMA_VERSION} snapshot built by lbguard.core.snapshot.build_snapshot.", stack_urn)
        return
    listeners = {l["arn"]: l for l in snap["listeners"]}
    rules = {r["arn"]: r for l in snap["listeners"] for r in l.get("rules", [])}
    seen: set[str] = set()
    notes: list[str] = []
    for r in stack_resources(args):
        if r.type not in LISTENER + LISTENER_RULE:
            continue
        arn = r.props.get("arn")
        if not known(arn):
            notes.append(f"{r.name}: its ARN is unknown, so its rollback entry cannot be matched")
            continue
        seen.add(arn)
        is_listener = r.type in LISTENER
        held = (listeners if is_listener else rules).get(arn)
        what = "listener" if is_listener else "listener rule"
        if held is None:
            report(f"{what} {r.name} ({arn}) is missing from the 'rollback' output; build the snapshot from every "
                   f"listener and rule of the stack.", r.urn)
            continue
        props = r.props
        if not known(props.get("defaultActions" if is_listener else "actions")):
            notes.append(f"{r.name}: its actions are unknown")
            continue
        if not is_listener and not (known(props.get("conditions")) and known(props.get("priority"))):
            notes.append(f"{r.name}: its conditions or priority are unknown")
            continue
        try:
            if is_listener:
                same = _api_actions(props.get("defaultActions")) == shapes.canonical_actions(held["defaultActions"])
            else:
                same = (_api_actions(props.get("actions")) == shapes.canonical_actions(held["actions"])
                        and int(num(props.get("priority"), 0)) == int(held["priority"])
                        and shapes.canonical_conditions([shapes.condition_to_api(c) for c in props.get("conditions") or []])
                        == shapes.canonical_conditions(held["conditions"]))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            report(f"the 'rollback' entry for {what} {r.name} cannot be compared: {err}. Export it in ELBv2 API "
                   f"shape (lbguard.core.shapes).", r.urn)
            continue
        if not same:
            parts = "actions (targets or weights)" if is_listener else "actions (targets or weights), priority or conditions"
            report(f"the 'rollback' output's entry for {what} {r.name} differs from the {what}'s {parts}: a rollback "
                   f"would restore something else. Build the snapshot from the same routing as the {what}.", r.urn)
    if not notes:
        for arn in sorted(set(listeners) | set(rules)):
            if arn not in seen:
                report(f"the 'rollback' output names {arn}, which is no listener or rule of this stack: a rollback "
                       f"would fail on it. Rebuild the snapshot from the stack's current routing.", stack_urn)
    cannot_evaluate(notes)


rollback_output_required = StackValidationPolicy(
    name="rollback-output-required",
    description="The stack exports 'rollback', a schemaVersion 2 routing snapshot covering every listener and rule "
                "with the same actions and weights.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_rollback_output,
)
