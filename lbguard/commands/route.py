"""`lbguard route`: which rule a request matches and which pools it reaches."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard import matching, shapes, topology, traffic
from lbguard.commands.common import console, project_dir_option, resolve_project_dir, stack_option, table, write_json
from lbguard.model import LbguardError


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise LbguardError(f"{what} {v!r}: expected KEY=VALUE")
        out[key] = val
    return out


def route_request(topo: topology.Topology, req: matching.Request) -> list[dict]:
    """Per listener: the matching rule (or default) and the pools it reaches."""
    forwards = {(f.listener_urn, f.rule_urn): f for f in topo.forwards}
    pools = topo.pools()
    out = []
    for lst in topo.listeners.values():
        rules = []
        for r in lst.rules:
            rules.append({"urn": r.urn, "name": r.name, "priority": int(float(r.props.get("priority") or 0)),
                          "conditions": [shapes.condition_to_api(c) for c in r.props.get("conditions") or []],
                          "actions": [shapes.action_to_api(a) for a in r.props.get("actions") or []]})
        hit = matching.first_match(rules, req)
        actions = hit["actions"] if hit else lst.default_actions
        entry = {"listener": lst.name, "port": lst.port, "protocol": lst.protocol,
                 "rule": hit["name"] if hit else None, "priority": hit["priority"] if hit else None, "pools": []}
        first = sorted(actions, key=lambda a: a.get("Order", 0) or 0)[0] if actions else {}
        entry["action"] = first.get("Type")
        fwd = forwards.get((lst.urn, hit["urn"] if hit else None))
        if first.get("Type") == "forward" and fwd is not None:
            result = traffic.evaluate(traffic.Route(fwd.id, fwd.weights), pools)
            entry["pools"] = [{"pool": topo.label(k), "probability": l.share, "instances": l.healthy,
                               "perInstance": l.per_instance_share} for k, l in result.loads.items()]
        elif first.get("Type") == "redirect":
            entry["redirect"] = first.get("RedirectConfig")
        elif first.get("Type") == "fixed-response":
            entry["fixedResponse"] = first.get("FixedResponseConfig")
        out.append(entry)
    return out


@click.command()
@stack_option
@project_dir_option
@click.option("--host", default="", help="Host header")
@click.option("--path", "path_", default="/", show_default=True, help="request path")
@click.option("--method", default="GET", show_default=True)
@click.option("--header", "headers", multiple=True, metavar="K=V", help="request header (repeatable)")
@click.option("--query", "query", multiple=True, metavar="K=V", help="query-string parameter (repeatable)")
@click.option("--source-ip", default=None, help="client IP address")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
def route(stack: str, cwd: Path | None, host: str, path_: str, method: str, headers: tuple[str, ...],
          query: tuple[str, ...], source_ip: str | None, json_path: str | None) -> int:
    """Replay a request offline: matching rule (ALB order) and pools reached, with probabilities."""
    from lbguard.commands.preflight import run_preflight

    if not path_.startswith("/"):
        raise LbguardError(f"--path {path_!r}: must start with '/'")
    req = matching.Request(host=host, path=path_, method=method, headers=_pairs(headers, "--header"),
                           query=_pairs(query, "--query"), source_ip=source_ip)
    run, _ = run_preflight(resolve_project_dir(cwd), stack, policy_pack=None, policy_config=None, use_pack=False)
    result = route_request(topology.from_run(run), req)
    if json_path:
        write_json(json_path, {"stack": stack, "request": {"host": host, "path": path_, "method": method},
                               "listeners": result})
    if json_path != "-":
        out = console()
        for e in result:
            where = f"rule {e['rule']} (priority {e['priority']})" if e["rule"] else "default action"
            out.print(f"listener {e['listener']} ({e['protocol']} {e['port']}): {where} -> {e['action']}")
            if e["pools"]:
                out.print(table("", ["pool", "probability", "instances", "per instance"],
                                [[p["pool"], f"{p['probability']:.1%}", p["instances"], f"{p['perInstance']:.1%}"]
                                 for p in e["pools"]]))
            elif e.get("redirect"):
                out.print(f"  redirect: {e['redirect']}")
            elif e.get("fixedResponse"):
                out.print(f"  fixed response: {e['fixedResponse']}")
    return 0
