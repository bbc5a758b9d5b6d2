"""Which rule a request matches on each listener (ALB order) and which pools it reaches, with
what probability: the route service behind ``lbguard route``, the rehearsal plan and profiles."""

from __future__ import annotations

from lbguard.core import matching, shapes, topology, traffic
from lbguard.core.model import LbguardError


def rule_view(rule: topology.Res) -> dict:
    try:
        conditions = [shapes.condition_to_api(c) for c in rule.props.get("conditions") or []]
    except (ValueError, KeyError, TypeError) as err:
        raise LbguardError(f"rule {rule.name}: conditions cannot be evaluated: {err}") from None
    return {"urn": rule.urn, "name": rule.name, "priority": int(float(rule.props.get("priority") or 0)),
            "conditions": conditions, "actions": list(rule.props.get("actions") or [])}


def terminal_action(actions: list) -> dict:
    """ALB runs a rule's actions by order; the last one (forward, redirect, fixed-response) decides."""
    actions = [a for a in actions or [] if isinstance(a, dict)]
    if not actions:
        return {}
    return sorted(enumerate(actions), key=lambda p: (float(p[1].get("order") or 0), p[0]))[-1][1]


def route_request(topo: topology.Topology, req: matching.Request) -> list[dict]:
    """Per listener (by port): the rule ALB picks for ``req`` (or its default action) and what it does.

    A forward reports each pool's probability and the per-instance probability over its
    healthy instances, from the traffic model; a pool with no healthy instance fails open
    (its share of the requests goes to unhealthy targets and fails).
    """
    forwards = {(f.listener_urn, f.rule_urn): f for f in topo.forwards}
    pools = topo.pools()
    out = []
    for lst in sorted(topo.listeners.values(), key=lambda l: (l.port or 0, l.name)):
        hit = matching.first_match([rule_view(r) for r in lst.rules], req)
        action = terminal_action(hit["actions"] if hit is not None else listener_actions(lst))
        entry = {"listener": lst.name, "port": lst.port, "protocol": lst.protocol,
                 "rule": hit["name"] if hit else None, "priority": hit["priority"] if hit else None,
                 "action": action.get("type"), "pools": []}
        if action.get("type") == "forward":
            fwd = forwards.get((lst.urn, hit["urn"] if hit else None))
            if fwd is None:
                entry["error"] = "target groups could not be resolved"
            else:
                try:
                    result = traffic.evaluate(traffic.Route(fwd.id, fwd.weights), pools)
                except traffic.WeightError as err:
                    entry["error"] = str(err)
                else:
                    entry["pools"] = [{"pool": topo.label(k), "weight": fwd.weights[k], "probability": l.share,
                                       "instances": l.healthy, "perInstance": l.per_instance_share,
                                       "failsOpen": l.failing} for k, l in result.loads.items()]
        elif action.get("type") == "redirect":
            entry["redirect"] = shapes.action_to_api(action)["RedirectConfig"]
        elif action.get("type") == "fixed-response":
            entry["fixedResponse"] = shapes.action_to_api(action)["FixedResponseConfig"]
        out.append(entry)
    return out


def listener_actions(lst: topology.ListenerNode) -> list[dict]:
    """The listener's default actions in the pulumi-aws shape (topology keeps the API shape)."""
    return [shapes.action_from_api(a) for a in lst.default_actions]
