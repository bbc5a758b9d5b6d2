"""Which rule a request matches on each listener (ALB order) and which pools it reaches, with
what probability: the route service behind ``lbguard route``, the rehearsal plan and profiles."""

from __future__ import annotations

from urllib.parse import urlencode

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
        rule = next((r for r in lst.rules if hit is not None and r.urn == hit["urn"]), None)
        entry = {"listener": lst.name, "port": lst.port, "protocol": lst.protocol,
                 "rule": hit["name"] if hit else None, "priority": hit["priority"] if hit else None,
                 "listenerKey": lst.key, "ruleKey": topology.rule_key(rule) if rule is not None else None,
                 "label": topo.route_label(lst.urn, rule), "action": action.get("type"), "pools": []}
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
            entry["location"] = redirect_location(entry["redirect"], req, lst.protocol, lst.port)
        elif action.get("type") == "fixed-response":
            entry["fixedResponse"] = shapes.action_to_api(action)["FixedResponseConfig"]
        out.append(entry)
    return out


def listener_actions(lst: topology.ListenerNode) -> list[dict]:
    """The listener's default actions in the pulumi-aws shape (topology keeps the API shape)."""
    return [shapes.action_from_api(a) for a in lst.default_actions]


def redirect_location(config: dict, req: matching.Request, protocol: str | None, port: int | None) -> str:
    """Where ALB redirects ``req``: the RedirectActionConfig (API shape) with its reserved
    keywords filled in from the request. Per the ELBv2 API reference (RedirectActionConfig, in
    botocore's elbv2 2015-12-01 service model): components not given keep their original
    values; ``#{protocol}``, ``#{host}``, ``#{port}``, ``#{path}`` (without its leading "/")
    and ``#{query}`` reuse the request's; the query is written without its "?"."""
    values = {"protocol": (protocol or "HTTP").upper(), "host": req.host.split(":", 1)[0],
              "port": str(port or ""), "path": req.path.lstrip("/"), "query": urlencode(dict(req.query))}

    def fill(template: str) -> str:
        for key, value in values.items():
            template = template.replace("#{" + key + "}", value)
        return template

    scheme = fill(str(config.get("Protocol") or "#{protocol}")).lower()
    host = fill(str(config.get("Host") or "#{host}")) or "#{host}"
    port_ = fill(str(config.get("Port") or "#{port}"))
    path = fill(str(config.get("Path") or "/#{path}"))
    query = fill(str(config.get("Query") or "#{query}"))
    return f"{scheme}://{host}{':' + port_ if port_ else ''}{path}{'?' + query if query else ''}"
