"""Change impact between two preflight results: shares, capacity, verdicts, resources.

Pure functions over preflight JSON documents (see ``lbguard preflight --json``). All
shares and utilisations come from :mod:`lbguard.core.traffic` over the topology that
:mod:`lbguard.core.topology` builds, the same path the policy pack takes.

A *route* is one listener's default action or one of its rules, identified as
``<listener name>/<rule name>`` or ``<listener name>/default`` (the ids topology gives
forwards), so the same route in two runs compares by name, never by ARN.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

from lbguard.core import topology, traffic
from lbguard.core.plan.paths import changes
from lbguard.core.model import LbguardError, is_secret

MARKER = "<!-- lbguard-diff -->"
SCENARIOS = ("all-healthy", "instance-lost", "az-lost", "pool-down")


def check_document(doc: Any, where: str) -> dict:
    """``doc`` if it has the shape of ``lbguard preflight --json`` output, else one-line error."""
    def bad(why: str) -> LbguardError:
        return LbguardError(f"{where}: not a preflight result ({why}; expected the JSON of `lbguard preflight --json`)")

    if not isinstance(doc, dict):
        raise bad(f"top level is a {type(doc).__name__}, not an object")
    if not isinstance(doc.get("stack"), str) or not isinstance(doc.get("resources"), list):
        raise bad("no 'stack' string or no 'resources' list")
    for i, r in enumerate(doc["resources"]):
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("urn", "type", "name")):
            raise bad(f"resources[{i}] lacks urn/type/name")
        if not isinstance(r.get("inputs") or {}, dict):
            raise bad(f"resources[{i}].inputs is not an object")
    violations = doc.get("violations", [])
    if not isinstance(violations, list) or not all(
            isinstance(v, dict) and isinstance(v.get("policy"), str) and isinstance(v.get("enforcementLevel"), str)
            for v in violations):
        raise bad("'violations' is not a list of {policy, enforcementLevel, ...}")
    return doc


# ------------------------------------------------------------------ routing and capacity


def _terminal_action(actions: list) -> Mapping[str, Any] | None:
    """The action that decides where a request goes: ALB runs actions by order, the last one is terminal."""
    actions = [a for a in actions or [] if isinstance(a, Mapping)]
    if not actions:
        return None
    return sorted(enumerate(actions), key=lambda p: (float(p[1].get("order") or 0), p[0]))[-1][1]


def _describe(action: Mapping[str, Any] | None) -> str:
    if action is None:
        return "none"
    kind = action.get("type")
    if kind == "redirect":
        r = action.get("redirect") or {}
        where = "".join(
            f"{prefix}{r[key]}" for key, prefix in (("protocol", ""), ("host", "://"), ("port", ":"), ("path", ""),
                                                   ("query", "?")) if r.get(key) not in (None, ""))
        return f"redirect {where} ({r.get('statusCode', '?')})".replace("  ", " ")
    if kind == "fixed-response":
        f = action.get("fixedResponse") or {}
        return f"fixed response {f.get('statusCode', '?')}"
    return str(kind)


def route_table(doc: Mapping[str, Any]) -> dict[str, dict]:
    """route id -> what the route does: action, each pool's share, headroom per scenario kind.

    Ordered as ALB evaluates: listeners by port, rules by priority, default last.
    """
    topo = topology.from_preflight(doc)
    pools = topo.pools()
    forwards = {(f.listener_urn, f.rule_urn): f for f in topo.forwards}
    out: dict[str, dict] = {}
    for lst in sorted(topo.listeners.values(), key=lambda l: (l.port or 0, l.name)):
        rules = sorted(lst.rules, key=lambda r: (float(r.props.get("priority") or 0), r.name))
        entries = [(r, r.props.get("actions")) for r in rules]
        listener_res = next(r for r in _resources_of(doc, lst.urn))
        entries.append((None, (listener_res.get("inputs") or {}).get("defaultActions")))
        for rule, actions in entries:
            rid = f"{lst.name}/{rule.name if rule else 'default'}"
            action = _terminal_action(actions or [])
            reach = (lst.reach or {}).get(rid)
            entry: dict[str, Any] = {
                "listener": lst.name, "port": lst.port, "rule": rule.name if rule else None,
                "priority": int(float(rule.props.get("priority") or 0)) if rule else None,
                "action": (action or {}).get("type"), "target": _describe(action),
                "pools": {}, "capacity": {}, "scenarios": {}, "peak": topo.peak_rps, "fraction": 1.0,
                # Its share of the listener, from lbguard.core.traffic.listener_reach (profile or facts).
                "reach": None if reach is None else reach.share,
                "reachSource": None if reach is None else reach.source,
                "shadowedBy": [] if reach is None else [s.split("/", 1)[-1] for s in reach.shadowed_by],
            }
            out[rid] = entry
            if entry["action"] != "forward":
                continue
            fwd = forwards.get((lst.urn, rule.urn if rule else None))
            if fwd is None:
                entry["error"] = "target groups could not be resolved"
                continue
            entry["fraction"] = fwd.traffic_fraction
            try:
                base = traffic.evaluate(fwd.route(), pools, peak_rps=topo.peak_rps)
            except traffic.WeightError as err:
                entry["error"] = str(err)
                continue
            entry["target"] = "forward to " + ", ".join(sorted({topo.label(k) for k in fwd.weights}))
            for tg, load in base.loads.items():
                entry["pools"][topo.label(tg)] = {"share": load.share, "perInstance": load.per_instance_share,
                                                  "instances": load.healthy}
            results = traffic.simulate(fwd.route(), pools, topo.peak_rps)
            for res in results:  # every concrete scenario, so a row can compare one scenario before and after
                entry["scenarios"][_scenario_label(res.scenario, topo)] = {
                    "utilisation": res.serving_utilisation, "failing": res.failed_fraction}
            for kind, h in traffic.headroom_by_scenario(results).items():  # the cases worth a row, per kind
                entry["capacity"][kind] = [_scenario_label(c, topo) for c in h.cases]
    return out


def _resources_of(doc: Mapping[str, Any], urn: str):
    return (r for r in doc["resources"] if r["urn"] == urn)


def _scenario_label(name: str, topo: topology.Topology) -> str:
    kind, sep, pool = name.partition(":")
    return f"{kind}:{topo.label(pool)}" if sep else kind


# ------------------------------------------------------------------ resources


def _identifiers(base: Mapping[str, Any], head: Mapping[str, Any]) -> tuple[list, list]:
    """(value, placeholder) pairs for BASE and HEAD: every id/ARN found on one side only (each
    emulator run mints new ones), named after the resource that owns it. Ids found on both
    sides (deterministic names) are left alone, so a name that happens to equal some
    resource's id is never rewritten."""
    b = {r["urn"]: r for r in base["resources"]}
    h = {r["urn"]: r for r in head["resources"]}
    keys = ("arn", "id", "arnSuffix")  # an ARN that is also the id keeps its ".arn" name
    stable = ({r.get(k) for r in b.values() for k in keys} & {r.get(k) for r in h.values() for k in keys})
    bm: dict[str, str] = {}
    hm: dict[str, str] = {}
    for urn in list(h) + [u for u in b if u not in h]:
        rb, rh = b.get(urn) or {}, h.get(urn) or {}
        name = (rh or rb)["name"]
        for key in keys:
            for value, into in ((rb.get(key), bm), (rh.get(key), hm)):
                if isinstance(value, str) and len(value) >= 8 and value not in stable:
                    into.setdefault(value, f"<{name}.{key}>")
    order = lambda m: sorted(m.items(), key=lambda p: (-len(p[0]), p[0]))
    return order(bm), order(hm)


def _replace_ids(value: str, ids: list[tuple[str, str]]) -> str:
    for raw, placeholder in ids:
        if value == raw:
            return placeholder
    for raw, placeholder in ids:
        # ARNs and ARN suffixes are distinctive enough to rewrite inside longer strings (policies,
        # dashboards, snapshots); bare ids only when they are the whole value.
        if ("/" in raw or ":" in raw) and raw in value:
            value = value.replace(raw, placeholder)
    return value


def _normalise(value: Any, ids: list[tuple[str, str]]) -> Any:
    """Ids and ARNs replaced by the resource that owns them; secrets marked, not unwrapped."""
    if is_secret(value):
        return {**value, "value": _normalise(value.get("value"), ids)}
    if isinstance(value, dict):
        return {k: _normalise(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str):
        return _replace_ids(value, ids)
    return value


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _changed_paths(a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    """(path, before, after) of every leaf that differs (lbguard.core.plan.paths, the one
    differ); secret values are never shown."""
    return [(f"{c.path} (secret)" if c.secret else c.path or "(value)", c.old, c.new) for c in changes(a, b)]


def _short(v: Any, limit: int = 60) -> str | None:
    if not _scalar(v):
        return None
    text = json.dumps(v) if not isinstance(v, str) else v
    return text if len(text) <= limit else None


def resource_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, list]:
    """Resources added / removed (by URN) and changed (which input properties)."""
    bi, hi = _identifiers(base, head)
    b = {r["urn"]: r for r in base["resources"] if r["type"] != "pulumi:pulumi:Stack"}
    h = {r["urn"]: r for r in head["resources"] if r["type"] != "pulumi:pulumi:Stack"}
    changed = []
    for urn in [u for u in h if u in b]:
        leaves = _changed_paths(_normalise(b[urn].get("inputs") or {}, bi), _normalise(h[urn].get("inputs") or {}, hi))
        if not leaves:
            continue
        props: dict[str, dict] = {}
        for path, before, after in leaves:
            # Deeply nested leaves are reported at their top-level list item.
            key = re.sub(r"\[\d+\].*$", "", path) if path.count(".") > 3 else path
            entry = props.setdefault(key, {"property": key})
            if key == path and not path.endswith("(secret)") and _short(before) is not None and _short(after) is not None:
                entry.update(before=before, after=after)
        changed.append({"urn": urn, "type": h[urn]["type"], "name": h[urn]["name"],
                        "properties": sorted(props), "values": [props[k] for k in sorted(props)]})
    return {
        "added": [{"urn": u, "type": h[u]["type"], "name": h[u]["name"]} for u in h if u not in b],
        "changed": changed,
        "removed": [{"urn": u, "type": b[u]["type"], "name": b[u]["name"]} for u in b if u not in h],
    }


def verdict_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, list]:
    """Violations that appeared, disappeared, or kept their place but changed their message."""
    bi, hi = _identifiers(base, head)

    def where(v):
        return (v["policy"], v.get("urn") or v.get("name"), v["enforcementLevel"])

    def full(v, ids):
        return (*where(v), _replace_ids(str(v.get("message", "")), ids))  # messages may quote ARNs

    bset = {full(v, bi): v for v in base.get("violations", [])}
    hset = {full(v, hi): v for v in head.get("violations", [])}
    new = [v for k, v in hset.items() if k not in bset]
    gone = [v for k, v in bset.items() if k not in hset]
    gone_at = {where(v): v for v in gone}
    changed = [{"before": gone_at[where(v)], "after": v} for v in new if where(v) in gone_at]
    changed_at = {where(c["after"]) for c in changed}
    order = lambda v: (v["enforcementLevel"] != "mandatory", v["policy"], v.get("name") or "")
    return {"new": sorted((v for v in new if where(v) not in changed_at), key=order),
            "changed": sorted(changed, key=lambda c: order(c["after"])),
            "resolved": sorted((v for v in gone if where(v) not in changed_at), key=order)}


# ------------------------------------------------------------------ the whole diff


def diff(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict:
    """Everything the PR comment shows, as plain data (``--format json``)."""
    check_document(base, "BASE")
    check_document(head, "HEAD")
    if base["stack"] != head["stack"] and base["resources"]:
        raise LbguardError(f"BASE is stack {base['stack']!r} and HEAD is stack {head['stack']!r}: "
                           "compare two results of the same stack")
    rb, rh = route_table(base), route_table(head)
    routes = []
    for rid in list(rh) + [r for r in rb if r not in rh]:
        before, after = rb.get(rid), rh.get(rid)
        cur = after or before
        bp, hp = (before or {}).get("pools", {}), (after or {}).get("pools", {})
        pools = []
        for pool in list(hp) + [p for p in bp if p not in hp]:
            pb, ph = bp.get(pool, {}), hp.get(pool, {})
            pools.append({"pool": pool, "shareBefore": pb.get("share"), "shareAfter": ph.get("share"),
                          "perInstanceBefore": pb.get("perInstance"), "perInstanceAfter": ph.get("perInstance"),
                          "instancesBefore": pb.get("instances"), "instancesAfter": ph.get("instances")})
        capacity = []
        sb, sh = (before or {}).get("scenarios", {}), (after or {}).get("scenarios", {})
        for kind in SCENARIOS:
            # One concrete scenario per row, the same one before and after: the scenarios with
            # the highest utilisation and with the most failing requests, before and after.
            cases = list(dict.fromkeys((before or {}).get("capacity", {}).get(kind, []) +
                                       (after or {}).get("capacity", {}).get(kind, [])))
            for case in cases:
                b, a = sb.get(case), sh.get(case)
                ub, ua = (b or {}).get("utilisation"), (a or {}).get("utilisation")
                capacity.append({"scenario": kind, "case": case,
                                 "worstBefore": case if b is not None else None,
                                 "worstAfter": case if a is not None else None,
                                 "before": ub, "after": ua,
                                 "headroomBefore": None if ub is None else 1.0 - ub,
                                 "headroomAfter": None if ua is None else 1.0 - ua,
                                 "failingBefore": (b or {}).get("failing"), "failingAfter": (a or {}).get("failing")})
        status = "added" if before is None else "removed" if after is None else "kept"
        action_before, action_after = (before or {}).get("target"), (after or {}).get("target")
        reach_before, reach_after = (before or {}).get("reach"), (after or {}).get("reach")
        changed = (status != "kept" or action_before != action_after or _differs(reach_before, reach_after)
                   or any(_differs(p["shareBefore"], p["shareAfter"]) or _differs(p["perInstanceBefore"], p["perInstanceAfter"])
                          for p in pools)
                   or any(_differs(c["before"], c["after"]) or _differs(c["failingBefore"], c["failingAfter"])
                          for c in capacity)
                   or (before or {}).get("error") != (after or {}).get("error"))
        routes.append({"route": rid, "listener": cur["listener"], "rule": cur["rule"], "priority": cur["priority"],
                       "status": status, "changed": changed,
                       "actionBefore": action_before, "actionAfter": action_after,
                       "pools": pools, "capacity": capacity,
                       "peakBefore": (before or {}).get("peak"), "peakAfter": (after or {}).get("peak"),
                       "fraction": cur.get("fraction", 1.0), "errorAfter": (after or {}).get("error"),
                       "reachBefore": reach_before, "reachAfter": reach_after,
                       "reachSourceBefore": (before or {}).get("reachSource"),
                       "reachSourceAfter": (after or {}).get("reachSource"),
                       "shadowedBy": (after or {}).get("shadowedBy") or []})
    head_topo = topology.from_preflight(head)
    unresolved = [{"urn": u, "why": why} for u, why in head_topo.unresolved]
    resources = resource_changes(base, head)
    return {"stack": head["stack"], "routes": routes, "unresolved": unresolved,
            "headline": headline(routes), "pools": pool_totals(head_topo, routes),
            "alarmsRemoved": [r["name"] for r in resources["removed"] if r["type"] == ALARM_TYPE],
            "verdicts": verdict_changes(base, head), "resources": resources}


ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"


def headline(routes: list[dict]) -> str | None:
    """One line for a change that starves routes: a rule that now pre-empts every request of
    routes that received traffic before (the June 1 shape), and what it captures; else None."""
    for r in routes:
        if not r["rule"] or r["status"] == "removed":
            continue
        starved = [x for x in routes if x["listener"] == r["listener"] and x is not r
                   and r["rule"] in x["shadowedBy"] and (x["reachBefore"] or 0) > 0 and not x["reachAfter"]]
        if not starved:
            continue
        names = [f"`{x['rule']}`" if x["rule"] else "the default action" for x in starved]
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        return (f"`{r['rule']}` (priority {r['priority']}) now captures {_pct(r['reachAfter'])} of {r['listener']}; "
                f"{listed} no longer receive{'s' if len(names) == 1 else ''} traffic")
    return None


def pool_totals(topo: topology.Topology, routes: list[dict]) -> dict[str, dict]:
    """Per pool after the change, over every route of every listener that reaches it: share
    of its listener's requests, instances, per-instance share, utilisation at peak."""
    pools = topo.pools()
    out: dict[str, dict] = {}
    for key, pool in pools.items():
        label = topo.label(key)
        mine = [(r, p) for r in routes if r["status"] != "removed" for p in r["pools"] if p["pool"] == label]
        # A narrow route without profile or expectedShare is evaluated at its upper bound: the
        # sum is then an upper bound too ("up to"), never more than the whole listener.
        known = all(r["reachSourceAfter"] != "unknown" for r, _ in mine)
        share = sum(p["shareAfter"] or 0 for _, p in mine)
        share = share if known else min(share, 1.0)
        util = None
        if topo.peak_rps is not None and pool.rps_per_instance:
            cap = pool.instances * pool.rps_per_instance
            util = (share * topo.peak_rps / cap) if cap else (math.inf if share else 0.0)
        out[label] = {"share": share, "known": known, "instances": pool.instances,
                      "perInstance": (share / pool.instances) if pool.instances else (math.inf if share else 0.0),
                      "utilisation": util}
    return out


def _differs(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    if math.isinf(a) or math.isinf(b):
        return a != b
    return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# ------------------------------------------------------------------ markdown


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    if x == math.inf:
        return "∞"
    return f"{x * 100:.1f}%".replace(".0%", "%")


def _arrow(a: float | None, b: float | None) -> str:
    text = f"{_pct(a)} → {_pct(b)}"
    return f"**{text}**" if _differs(a, b) else _pct(b)


def _util(x: float | None) -> str:
    text = _pct(x)
    return f"{text} ⚠️" if x is not None and x > 1 else text


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _reach_cell(r: dict) -> str:
    """The route's share of its listener, before -> after, and why it is 0 when shadowed."""
    b, a = r.get("reachBefore"), r.get("reachAfter")
    text = _arrow(b, a)
    if r.get("reachSourceAfter") == "unknown":
        text = f"up to {text}"
    if not a and r.get("shadowedBy"):
        text += f" (shadowed by {', '.join(r['shadowedBy'])})"
    return text


def _mermaid_text(label: str) -> str:
    return label.replace('"', "#quot;")


def mermaid(d: dict) -> str:
    """Routing after the change, rules in ALB evaluation order: listener -> rule -> pool.
    Changed edges thick and red; routes that receive no traffic (shadowed) dotted and grey,
    edges the change removed dotted; pool nodes with instances, per-instance share and
    utilisation at peak."""
    lines = ["flowchart LR"]
    ids: dict[str, str] = {}
    edges = 0
    marked: list[int] = []
    grey: list[int] = []
    dead_nodes: list[str] = []
    totals = d.get("pools") or {}

    def node(key: str, label: str, shape: str) -> str:
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            lines.append(f"  {ids[key]}{shape.format(chr(34) + _mermaid_text(label) + chr(34))}")
        return ids[key]

    def edge(src: str, dst: str, label: str, style: str) -> None:
        nonlocal edges
        arrow = {"same": "-->", "changed": "==>", "removed": "-.->", "dead": "-.->"}[style]
        text = f"|\"{_mermaid_text(label)}\"|" if label else ""
        lines.append(f"  {src} {arrow}{text} {dst}")
        if style == "dead":
            grey.append(edges)
        elif style != "same":
            marked.append(edges)
        edges += 1

    def pool_label(name: str) -> str:
        t = totals.get(name)
        if not t:
            return f"pool {name}"
        up = "" if t.get("known", True) else "up to "
        return (f"pool {name} · {t['instances']} instance(s) · {up}{_pct(t['perInstance'])} each · "
                f"{_pct(t['utilisation']) if t['utilisation'] is not None else 'capacity unknown'} at peak")

    for r in d["routes"]:
        if r["status"] == "removed":
            continue
        dead = r.get("reachAfter") == 0
        src = node(f"listener:{r['listener']}", f"listener {r['listener']}", "([{}])")
        mid = node(f"route:{r['route']}", r["rule"] or "default action", "{{{}}}")
        if dead:
            dead_nodes.append(mid)
        label = "otherwise" if r["rule"] is None else f"priority {r['priority']}"
        if r.get("reachAfter") is not None:
            label += f" · {_pct(r['reachAfter'])}"
        if dead and r.get("shadowedBy"):
            label += f" · shadowed by {', '.join(r['shadowedBy'])}"
        changed_reach = _differs(r.get("reachBefore"), r.get("reachAfter"))
        edge(src, mid, label, "dead" if dead else "changed" if r["status"] == "added" or changed_reach else "same")
        if r["actionAfter"] and not r["actionAfter"].startswith("forward"):
            dst = node(f"action:{r['actionAfter']}", r["actionAfter"], "[{}]")
            edge(mid, dst, "", "dead" if dead else "changed" if r["actionBefore"] != r["actionAfter"] else "same")
            continue
        for p in r["pools"]:
            dst = node(f"pool:{p['pool']}", pool_label(p["pool"]), "[({})]")
            before, after = p["shareBefore"], p["shareAfter"]
            if not after:
                if before:
                    edge(mid, dst, f"{_pct(before)} → {_pct(after)}", "dead" if dead else "removed")
                continue
            if _differs(before, after):
                edge(mid, dst, f"{_pct(before)} → {_pct(after)}", "changed")
            else:
                edge(mid, dst, _pct(after), "same")
    if marked:
        lines.append(f"  linkStyle {','.join(map(str, marked))} stroke:#d62728,stroke-width:3px")
    if grey:
        lines.append(f"  linkStyle {','.join(map(str, grey))} stroke:#999999,stroke-dasharray:4")
    if dead_nodes:
        lines.append("  classDef dead fill:#eeeeee,stroke:#999999,color:#999999,stroke-dasharray:4")
        lines.append(f"  class {','.join(dead_nodes)} dead")
    return "\n".join(lines)


def _summary(d: dict) -> list[str]:
    out = []
    for r in d["routes"]:
        if not r["changed"]:
            continue
        where = f"`{r['route']}`"
        if r["status"] != "kept":
            out.append(f"- {where}: route {r['status']} ({r['actionAfter'] or r['actionBefore']})")
            continue
        if r["actionBefore"] != r["actionAfter"]:
            out.append(f"- {where}: {r['actionBefore']} → {r['actionAfter']}")
        for p in r["pools"]:
            if not (_differs(p["shareBefore"], p["shareAfter"]) or _differs(p["perInstanceBefore"], p["perInstanceAfter"])):
                continue
            share = (f"{_pct(p['shareBefore'])} → {_pct(p['shareAfter'])}" if _differs(p["shareBefore"], p["shareAfter"])
                     else f"{_pct(p['shareAfter'])} (unchanged)")
            ib, ia = p["instancesBefore"] or 0, p["instancesAfter"] or 0
            inst = f"{ib} → {ia}" if ib != ia else str(ia)
            out.append(f"- {where}: pool **{p['pool']}** {share} of the listener's traffic; each of its {inst} "
                       f"instance(s) {_pct(p['perInstanceBefore'])} → {_pct(p['perInstanceAfter'])}")
        over, kinds = [], set()
        for c in r["capacity"]:  # the first case per kind that goes over
            if c["after"] is not None and c["after"] > 1 and (c["before"] is None or c["before"] <= 1) \
                    and c["scenario"] not in kinds:
                kinds.add(c["scenario"])
                over.append(c)
        for c in over:
            out.append(f"- {where}: over capacity at peak in scenario `{c['worstAfter']}` "
                       f"({_pct(c['before'])} → {_pct(c['after'])} utilisation)")
    return out


def markdown(base: Mapping[str, Any], head: Mapping[str, Any], d: dict | None = None) -> str:
    """One Markdown document for a sticky pull-request comment (starts with :data:`MARKER`)."""
    d = d or diff(base, head)
    v = d["verdicts"]
    blocking = [x for x in v["new"] if x["enforcementLevel"] == "mandatory"]
    still = [x for x in head.get("violations", []) if x["enforcementLevel"] == "mandatory"]
    out = [MARKER, f"## lbguard: change impact on stack `{d['stack']}`", ""]
    if blocking:  # GitHub's alert syntax: a red "Caution" box
        out += ["> [!CAUTION]", f"> **Blocked:** {len(blocking)} new mandatory policy violation(s)."]
    elif still:
        out += ["> [!CAUTION]", f"> **Blocked:** {len(still)} mandatory policy violation(s), none new in this change."]
    else:
        out.append("> No mandatory policy violation.")
    if d.get("headline"):
        out += ["", f"**{d['headline']}.**"]
    if d.get("alarmsRemoved"):
        out += ["", "> [!WARNING]", f"> This change removes {len(d['alarmsRemoved'])} alarm(s): "
                + ", ".join(f"`{n}`" for n in d["alarmsRemoved"]) + ". Nothing pages for what they watched."]
    out.append("")
    summary = _summary(d)
    out += summary or ["No change to traffic shares or capacity."]
    for u in d["unresolved"]:
        out.append(f"- could not evaluate `{u['urn'].rsplit('::', 1)[-1]}`: {u['why']}")

    changed = [r for r in d["routes"] if r["changed"]]
    same = [r for r in d["routes"] if not r["changed"]]

    def share_rows(routes: list[dict]) -> list[str]:
        rows = ["| listener | rule (priority) | reaches | action | pool | share | per instance | instances |",
                "|---|---|---|---|---|---|---|---|"]
        for r in routes:
            rule = f"{r['rule']} ({r['priority']})" if r["rule"] else "default"
            if r["status"] != "kept":
                rule += f" — {r['status']}"
            action = r["actionAfter"] if r["actionBefore"] in (r["actionAfter"], None) else \
                f"**{r['actionBefore']} → {r['actionAfter']}**"
            first = f"| {_cell(r['listener'])} | {_cell(rule)} | {_cell(_reach_cell(r))} | {_cell(action)} "
            if r.get("errorAfter"):
                rows.append(first + f"| – | invalid: {_cell(r['errorAfter'])} | | |")
            if not r["pools"]:
                rows.append(first + "| – | – | – | – |")
            for p in r["pools"]:
                ib, ia = p["instancesBefore"], p["instancesAfter"]
                inst = str(ia if ia is not None else "–") if ib == ia else f"**{'–' if ib is None else ib} → {'–' if ia is None else ia}**"
                rows.append(first + f"| {_cell(p['pool'])} | {_arrow(p['shareBefore'], p['shareAfter'])} | "
                            f"{_arrow(p['perInstanceBefore'], p['perInstanceAfter'])} | {inst} |")
        return rows

    def capacity_rows(routes: list[dict]) -> list[str]:
        rows = ["| route | scenario | worst case | utilisation | headroom | requests failing |",
                "|---|---|---|---|---|---|"]
        for r in routes:
            for c in r["capacity"]:
                worst = c.get("case") or c["worstAfter"] or c["worstBefore"] or ""
                util = (f"**{_util(c['before'])} → {_util(c['after'])}**" if _differs(c["before"], c["after"])
                        else _util(c["after"]))
                head_ = (f"{_pct(c['headroomBefore'])} → {_pct(c['headroomAfter'])}"
                         if _differs(c["headroomBefore"], c["headroomAfter"]) else _pct(c["headroomAfter"]))
                failing = (_arrow(c["failingBefore"], c["failingAfter"])
                           if (c["failingBefore"] or c["failingAfter"]) else "0%")
                rows.append(f"| {_cell(r['route'])} | {c['scenario']} | {_cell(worst)} | {util} | {head_} | {failing} |")
        return rows

    befores = sorted({r["peakBefore"] for r in d["routes"] if r["capacity"] and r["peakBefore"] is not None}, key=str)
    afters = sorted({r["peakAfter"] for r in d["routes"] if r["capacity"] and r["peakAfter"] is not None}, key=str)
    peak_text = ", ".join(map(_num, afters or befores)) if not befores or not afters or befores == afters else \
        f"{', '.join(map(_num, befores))} → {', '.join(map(_num, afters))}"
    out += ["", "### Traffic share per listener and rule", "",
            "*reaches*: the route's share of the listener's requests, from the stack's traffic profile sent through "
            "ALB's rule evaluation (priority order, first match wins), or from facts alone (a catch-all takes all "
            "that reaches it; *up to* = a narrow rule with no profile or expectedShare). *share*: what each pool "
            "gets through the route, split by weight; per instance = share ÷ healthy instances of the pool.",
            ""]
    out += share_rows(changed) if changed else ["No route changed."]
    if same:
        out += ["", f"<details><summary>{len(same)} unchanged route(s)</summary>", ""] + share_rows(same) + \
               ["", "</details>"]
    cap_changed = [r for r in changed if r["capacity"]]
    cap_same = [r for r in same if r["capacity"]]
    if cap_changed or cap_same:
        out += ["", "### Capacity headroom at peak, per scenario", "",
                f"Peak {peak_text} req/s (load balancer tag `lbguard:peak-rps`, else the profile's), each route at the "
                "share it reaches. One scenario per row, the same before and after: per kind, the case with the "
                "highest utilisation and the one failing the most requests (all healthy; one instance lost; one AZ "
                "lost; one pool fully unhealthy, where ALB fails open and its requests fail).",
                ""]
        out += capacity_rows(cap_changed) if cap_changed else ["No change in capacity."]
        if cap_same:
            out += ["", f"<details><summary>{len(cap_same)} route(s) with unchanged capacity</summary>", ""] + \
                   capacity_rows(cap_same) + ["", "</details>"]

    if d.get("pools"):
        out += ["", "### Pools after this change", "",
                "Each pool's share of its listener's requests over every route, per healthy instance, and its "
                "utilisation at peak with every instance healthy.", "",
                "| pool | share | instances | per instance | utilisation at peak |", "|---|---|---|---|---|"]
        for name, p in d["pools"].items():
            up = "" if p.get("known", True) else "up to "
            out.append(f"| {_cell(name)} | {up}{_pct(p['share'])} | {p['instances']} | {up}{_pct(p['perInstance'])} | "
                       f"{up}{_util(p['utilisation'])} |")

    out += ["", "### Policy verdicts that changed", ""]
    if not any(v.values()):
        out.append("No change.")
    for x in v["new"]:
        out.append(f"- 🆕 **{x['policy']}** ({x['enforcementLevel']}) on `{x.get('name')}`: {_line(x['message'])}")
    for c in v["changed"]:
        x = c["after"]
        out.append(f"- ✏️ **{x['policy']}** ({x['enforcementLevel']}) on `{x.get('name')}` now: {_line(x['message'])}")
    for x in v["resolved"]:
        out.append(f"- ✅ resolved {x['policy']} ({x['enforcementLevel']}) on `{x.get('name')}`")

    res = d["resources"]
    out += ["", "### Resources", ""]
    if not any(res.values()):
        out.append("No change.")
    for r in res["added"]:
        out.append(f"- added `{r['name']}` ({r['type']})")
    for r in res["changed"]:
        props = ", ".join(
            f"`{p['property']}` {_short(p['before'])} → {_short(p['after'])}" if "before" in p else f"`{p['property']}`"
            for p in r["values"])
        out.append(f"- changed `{r['name']}` ({r['type']}): {props}")
    for r in res["removed"]:
        out.append(f"- removed `{r['name']}` ({r['type']})")
    out += ["", "### Routing after this change", "",
            "Rules in ALB evaluation order. Thick red edges changed; dotted grey routes receive no traffic "
            "(shadowed by an earlier rule); other dotted edges were removed by this change.", "",
            "```mermaid", mermaid(d), "```", ""]
    return "\n".join(out)


def _num(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"{x:g}"


def _line(text: str) -> str:
    return " ".join(str(text).split())
