"""Change impact between two preflight results: shares, capacity, verdicts, resources.

Pure functions over preflight JSON documents (see ``lbguard preflight --json``). All
shares and utilisations come from :mod:`lbguard.core.traffic` over the topology that
:mod:`lbguard.core.topology` builds, the same path the policy pack takes.

A *route* is one listener's default action or one of its rules, identified as
``<listener name>/<rule name>`` or ``<listener name>/default`` (the ids topology gives
forwards), so the same route in two runs compares by name, never by ARN. What people read
names it by the stack's keys (:mod:`lbguard.core.names`: ``rule api``, ``default action of
https``); the JSON keeps the Pulumi names beside the keys.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from lbguard.core import names, topology, traffic
from lbguard.core.model import LbguardError, is_secret, violation_rank
from lbguard.core.plan.paths import changes

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
        keys = {r.name: topology.rule_key(r) for r in lst.rules}
        entries = [(r, r.props.get("actions")) for r in rules]
        listener_res = next(r for r in _resources_of(doc, lst.urn))
        entries.append((None, (listener_res.get("inputs") or {}).get("defaultActions")))
        for rule, actions in entries:
            rid = f"{lst.name}/{rule.name if rule else 'default'}"
            action = _terminal_action(actions or [])
            reach = (lst.reach or {}).get(rid)
            entry: dict[str, Any] = {
                "listener": lst.name, "port": lst.port, "rule": rule.name if rule else None,
                "listenerKey": lst.key, "ruleKey": keys[rule.name] if rule else None,
                "label": topo.route_label(lst.urn, rule),
                "priority": int(float(rule.props.get("priority") or 0)) if rule else None,
                "action": (action or {}).get("type"), "target": _describe(action),
                "pools": {}, "capacity": {}, "scenarios": {}, "peak": topo.peak_rps, "fraction": 1.0,
                # Its share of the listener, from lbguard.core.traffic.listener_reach (profile or facts).
                "reach": None if reach is None else reach.share,
                "reachSource": None if reach is None else reach.source,
                "shadowedBy": [] if reach is None else [s.split("/", 1)[-1] for s in reach.shadowed_by],
                "shadowedByKeys": [] if reach is None else [keys.get(n, n) for n in
                                                            (s.split("/", 1)[-1] for s in reach.shadowed_by)],
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
                       "listenerKey": cur["listenerKey"], "ruleKey": cur["ruleKey"], "label": cur["label"],
                       "status": status, "changed": changed,
                       "actionBefore": action_before, "actionAfter": action_after,
                       "pools": pools, "capacity": capacity,
                       "peakBefore": (before or {}).get("peak"), "peakAfter": (after or {}).get("peak"),
                       "fraction": cur.get("fraction", 1.0), "errorAfter": (after or {}).get("error"),
                       "reachBefore": reach_before, "reachAfter": reach_after,
                       "reachSourceBefore": (before or {}).get("reachSource"),
                       "reachSourceAfter": (after or {}).get("reachSource"),
                       "shadowedBy": (after or {}).get("shadowedBy") or [],
                       "shadowedByKeys": (after or {}).get("shadowedByKeys") or []})
    head_topo = topology.from_preflight(head)
    unresolved = [{"urn": u, "why": why} for u, why in head_topo.unresolved]
    resources = resource_changes(base, head)
    return {"stack": head["stack"], "routes": routes, "unresolved": unresolved,
            "headline": headline(routes), "pools": pool_totals(head_topo, routes),
            "listeners": listener_changes(topology.from_preflight(base) if base["resources"] else None, head_topo),
            "alarmsRemoved": [r["name"] for r in resources["removed"] if r["type"] == ALARM_TYPE],
            "verdicts": verdict_changes(base, head), "resources": resources}


ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"


def headline(routes: list[dict]) -> str | None:
    """One line for a change that starves routes: a rule that now pre-empts every request of
    routes that received traffic before (the June 1 shape), and what it captures; else None."""
    for r in routes:
        if not r["rule"] or r["status"] == "removed":
            continue
        starved = starved_by(routes, r)
        if not starved:
            continue
        listed = _and([f"`{x['ruleKey']}`" if x["rule"] else "the default action" for x in starved])
        return (f"`{r['ruleKey']}` (priority {r['priority']}) now captures {_pct(r['reachAfter'])} of "
                f"`{r['listenerKey']}`; {listed} no longer receive{'s' if len(starved) == 1 else ''} traffic")
    return None


def starved_by(routes: list[dict], r: dict) -> list[dict]:
    """The routes of ``r``'s listener that received traffic before and receive none now because
    ``r`` matches their requests first."""
    return [x for x in routes if x["listener"] == r["listener"] and x is not r and r["rule"]
            and r["rule"] in x["shadowedBy"] and (x["reachBefore"] or 0) > 0 and not x["reachAfter"]]


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def listener_loads(topo: topology.Topology) -> dict[str, dict]:
    """Per listener, over all its forwards (lbguard.core.traffic.combine): each pool's share of
    the listener's requests, healthy instances, share per instance and utilisation at peak with
    every instance healthy; and the failure scenario that fails the most of its requests."""
    pools = topo.pools()
    out: dict[str, dict] = {}
    for lst in sorted(topo.listeners.values(), key=lambda l: (l.port or 0, l.name)):
        fwds = [f for f in topo.forwards if f.listener_urn == lst.urn]
        entry: dict[str, Any] = {"listener": lst.name, "key": lst.key, "peak": topo.peak_rps,
                                 "known": all(f.share_known for f in fwds), "pools": {}, "worstFailure": None}
        out[lst.name] = entry
        if not fwds:
            continue
        combined = traffic.combine(f"{lst.name}/all", [f.route() for f in fwds])
        if not entry["known"]:
            # Upper bounds (narrow rules without a profile) add up past the whole listener:
            # no pool can receive more than all of it.
            capped = {k: min(v, 1.0) for k, v in combined.pool_shares().items()}
            combined = traffic.Route(combined.id, combined.weights, min(1.0, sum(capped.values())),
                                     listener_shares=capped)
        try:
            loads = traffic.evaluate(combined, pools, peak_rps=topo.peak_rps).loads
            results = traffic.simulate(combined, pools, topo.peak_rps)
        except traffic.WeightError:
            continue
        for tg, load in loads.items():
            entry["pools"][topo.label(tg)] = {"share": load.share, "instances": load.healthy,
                                              "perInstance": load.per_instance_share, "utilisation": load.utilisation}
        worst = max(results, key=lambda res: res.failed_fraction)
        if worst.failed_fraction > 0:
            entry["worstFailure"] = {"scenario": _scenario_label(worst.scenario, topo),
                                     "failing": min(1.0, worst.failed_fraction)}
    return out


def listener_changes(base: topology.Topology | None, head: topology.Topology) -> list[dict]:
    """:func:`listener_loads` after the change, with each listener's loads before beside them."""
    before = listener_loads(base) if base is not None else {}
    return [{**entry, "poolsBefore": (before.get(name) or {}).get("pools", {}),
             "worstFailureBefore": (before.get(name) or {}).get("worstFailure")}
            for name, entry in listener_loads(head).items()]


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


# ------------------------------------------------------------------ markdown: cells and words

# GitHub refuses a comment body over 65,536 characters (REST API 422 "Body is too long
# (maximum is 65536 characters)"). Counted here in UTF-8 bytes, never fewer than characters.
COMMENT_LIMIT = 65536
# Mermaid (11.12.2, dist/mermaid.js defaultConfig) draws nothing past maxTextSize 5e4
# characters or maxEdges 500 ("Maximum text size in diagram exceeded").
MERMAID_MAX_TEXT = 50_000
MERMAID_MAX_EDGES = 500
REASON_MAX = 220  # characters of a violation's one-line reason in the verdict


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
    if not a and r.get("shadowedByKeys"):
        text += f" (shadowed by {', '.join(r['shadowedByKeys'])})"
    return text


def _num(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"{x:g}"


def _line(text: str) -> str:
    return " ".join(str(text).split())


def _reason(v: Mapping[str, Any], renamer: names.Renamer) -> str:
    """A violation's one-line reason: the first sentence of its message, names as keys, without
    the place the verdict already names."""
    text = _line(renamer.message(v["message"], v.get("type") or "", v.get("name") or ""))
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0]
    return first if len(first) <= REASON_MAX else first[: REASON_MAX - 1].rstrip() + "…"


def _scenario_words(scenario: str) -> str:
    kind, _, pool = scenario.partition(":")
    return {"instance-lost": f"losing one instance of `{pool}`", "az-lost": "losing one availability zone",
            "pool-down": f"`{pool}` going unhealthy", "all-healthy": "with every instance healthy"}.get(kind, scenario)


def _renamer(base: Mapping[str, Any], head: Mapping[str, Any]) -> names.Renamer:
    return names.renamer_of(list(base.get("resources", [])) + list(head.get("resources", [])))


# ------------------------------------------------------------------ markdown: the verdict block


def _blocking_lines(head: Mapping[str, Any], d: dict, renamer: names.Renamer) -> list[str]:
    """One bullet per blocking policy: its name, where (keys), its one-line reason."""
    new = {(x["policy"], x.get("urn") or x.get("name")) for x in d["verdicts"]["new"]} | \
        {(c["after"]["policy"], c["after"].get("urn") or c["after"].get("name")) for c in d["verdicts"]["changed"]}
    by_policy: dict[str, list[dict]] = {}
    for v in head.get("violations", []):
        if v["enforcementLevel"] == "mandatory":
            by_policy.setdefault(v["policy"], []).append(v)
    order = sorted(by_policy, key=lambda p: (min(violation_rank("mandatory", v.get("severity", ""))
                                                 for v in by_policy[p]), p))
    out = []
    for policy in order:
        vs = by_policy[policy]
        where = _and([renamer.label(v.get("name") or "", v.get("type") or "") or "the stack" for v in vs[:4]] +
                     ([f"{len(vs) - 4} more"] if len(vs) > 4 else []))
        old = sum((v["policy"], v.get("urn") or v.get("name")) not in new for v in vs)
        note = "" if not old else " (already before this change)" if old == len(vs) else f" ({old} already before)"
        out.append(f"> - **{policy}** on {where}{note}: {_reason(vs[0], renamer)}")
    return out


def _pool_words(lst: dict, pool: str, p: dict) -> str:
    """``100% of `https` goes to 1 instance of `fast`: 133% of its capacity at peak``."""
    up = "" if lst.get("known", True) else "up to "
    n, share = p["instances"], f"{up}{_pct(p['share'])}"
    if n == 0:
        text = f"{share} of `{lst['key']}` goes to `{pool}`, which has no instance: those requests fail"
    elif n == 1:
        text = f"{share} of `{lst['key']}` goes to 1 instance of `{pool}`"
    else:
        text = f"{share} of `{lst['key']}` goes to `{pool}`'s {n} instances ({up}{_pct(p['perInstance'])} each)"
    if n and p.get("utilisation") is not None:
        whose = "its" if n == 1 else "their"
        text += f": {up}{_pct(p['utilisation'])} of {whose} capacity at peak"
        if lst.get("peak") is not None:
            text += f" ({_num(lst['peak'])} req/s)"
        if p["utilisation"] > 1:
            text += " ⚠️"
    return text


def _listener_consequence(lst: dict, routes: list[dict]) -> list[str]:
    """The traffic consequence on one listener in plain words: where its requests go now (the
    most loaded pool), what fails when that pool loses an instance, and who receives nothing."""
    out = []
    live = {k: p for k, p in lst["pools"].items() if p["share"] > 0}
    if live:
        def load(item):
            p = item[1]
            return (p["utilisation"] if p["utilisation"] is not None else -1, p["perInstance"], item[0])

        ranked = sorted(live.items(), key=load, reverse=True)
        text = _pool_words(lst, *ranked[0])
        up = "" if lst.get("known", True) else "up to "
        others = [f"`{k}` {up}{_pct(p['share'])} on {p['instances']} instance{'s' if p['instances'] != 1 else ''}"
                  + (f" ({up}{_pct(p['utilisation'])} of capacity)" if p["utilisation"] is not None else "")
                  for k, p in ranked[1:3]]
        if others:
            text += f"; the rest to {_and(others + ([f'{len(ranked) - 3} more pools'] if len(ranked) > 3 else []))}"
        out.append(text + ".")
    worst, before = lst.get("worstFailure"), lst.get("worstFailureBefore")
    if worst and worst["failing"] > (before or {}).get("failing", 0) + 1e-9:
        words = _scenario_words(worst["scenario"])
        up = "" if lst.get("known", True) else "up to "
        out.append(f"{words[:1].upper()}{words[1:]} fails {up}{_pct(worst['failing'])} of `{lst['key']}`.")
    for r in routes:
        starved = starved_by(routes, r)
        if r["rule"] and starved:
            listed = _and([f"`{x['ruleKey']}`" if x["rule"] else "the default action" for x in starved])
            out.append(f"{listed[:1].upper()}{listed[1:]} receive{'s' if len(starved) == 1 else ''} nothing: "
                       f"rule `{r['ruleKey']}` (priority {r['priority']}) matches "
                       f"{'their' if len(starved) > 1 else 'its'} requests first.")
    return out


def _consequence(d: dict) -> list[str]:
    changed = {r["listener"] for r in d["routes"] if r["changed"]}
    out = []
    for lst in d.get("listeners", []):
        if lst["listener"] in changed:
            out += _listener_consequence(lst, [r for r in d["routes"] if r["listener"] == lst["listener"]])
    return out or ["Traffic shares and capacity do not change."]


def _verdict_block(head: Mapping[str, Any], d: dict, plan: Mapping[str, Any] | None,
                   renamer: names.Renamer) -> list[str]:
    """The first element after the heading: blocked or not and by what, then the traffic
    consequence in plain words (GitHub's alert syntax: a red Caution or a green Tip box)."""
    blocking = _blocking_lines(head, d, renamer)
    failures = list((plan or {}).get("failures") or [])
    mandatory = sum(v["enforcementLevel"] == "mandatory" for v in head.get("violations", []))
    advisory = [v for v in d["verdicts"]["new"] if v["enforcementLevel"] != "mandatory"]
    if blocking or failures:
        why = [f"{mandatory} mandatory policy violation{'s' if mandatory != 1 else ''}"] if mandatory else []
        if failures:
            why.append(f"{len(failures)} step{'s' if len(failures) != 1 else ''} of the plan failing at apply time")
        fresh = "" if not blocking or any("already before" in line for line in blocking) else ", all new"
        out = ["> [!CAUTION]", f"> **Blocked:** {_and(why)}{fresh}."] \
            + blocking
    else:
        out = ["> [!TIP]", "> **Not blocked:** no mandatory policy violation."]
    if advisory:
        out.append(f"> Advisory, new: {_and(sorted({'**' + v['policy'] + '**' for v in advisory}))}.")
    resolved = [v for v in d["verdicts"]["resolved"] if v["enforcementLevel"] == "mandatory"]
    if resolved:
        out.append(f"> Resolved by this change: {_and(sorted({'**' + v['policy'] + '**' for v in resolved}))}.")
    out += [">", "> **Traffic after this change:**"] + [f"> - {line}" for line in _consequence(d)]
    if d.get("alarmsRemoved"):
        out.append(f"> - ⚠️ This change removes {len(d['alarmsRemoved'])} alarm(s) "
                   f"({', '.join(f'`{n}`' for n in d['alarmsRemoved'][:5])}"
                   f"{', …' if len(d['alarmsRemoved']) > 5 else ''}): nothing pages for what they watched.")
    for u in d["unresolved"][:3]:
        out.append(f"> - Not evaluated: {renamer.text(u['urn'].rsplit('::', 1)[-1])}: {renamer.text(u['why'])}.")
    return out


# ------------------------------------------------------------------ markdown: the plan (lbguard preview --json)

PLAN_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": ""}


def _plan_counts(plan: Mapping[str, Any]) -> str:
    s = plan.get("summary") or {}
    return " ".join(f"{PLAN_SYMBOL[op]}{s.get(op, 0)}" for op in ("create", "update", "replace", "delete"))


def _step_label(step: Mapping[str, Any] | None, urn: str, renamer: names.Renamer) -> str:
    if step is None:
        return renamer.text(urn.rsplit("::", 1)[-1])
    return renamer.label(step.get("name", ""), step.get("type", ""))


def _window_words(w: Mapping[str, Any], renamer: names.Renamer) -> str:
    listener = renamer.text(str(w.get("listener", "?")))
    seconds = w.get("seconds")
    text = f"{_pct(w.get('share'))} of {listener}" + (f" for ~{_num(seconds)} s" if seconds is not None else "")
    return text + (f" ({_line(renamer.text(str(w['cause'])))})" if w.get("cause") else "")


def _plan_line(plan: Mapping[str, Any], renamer: names.Renamer) -> str:
    """The plan in one line: counts as `pulumi preview` ends, failing steps and traffic windows named."""
    steps = {st.get("urn"): st for st in plan.get("steps", [])}
    text = (f"**Plan** (`lbguard preview`, base `{plan.get('base', '?')}`): `{_plan_counts(plan)}`, "
            f"{(plan.get('summary') or {}).get('same', 0)} unchanged")
    failures = plan.get("failures") or []
    if failures:
        text += "; fails at apply time: " + "; ".join(
            f"{_step_label(steps.get(f.get('urn')), f.get('urn', ''), renamer)} "
            f"(`{f.get('call', '?')}` → `{f.get('error', '?')}`)" for f in failures[:3])
        text += f" and {len(failures) - 3} more" if len(failures) > 3 else ""
    else:
        text += "; every step applies"
    windows = plan.get("windows")
    if isinstance(windows, list):
        text += ("; traffic windows during the apply: " + "; ".join(_window_words(w, renamer) for w in windows[:3])
                 + (f" and {len(windows) - 3} more" if len(windows) > 3 else "")) if windows else \
            "; no traffic window during the apply"
    return text + "."


def _step_changes(st: Mapping[str, Any]) -> str:
    changes = st.get("changes")
    if isinstance(changes, list) and changes:
        shown = [f"`{c.get('path')}` {_short(c.get('old'))} → {_short(c.get('new'))}"
                 if _short(c.get("old")) is not None and _short(c.get("new")) is not None else f"`{c.get('path')}`"
                 for c in changes[:4] if isinstance(c, Mapping)]
    else:
        shown = [f"`{p}`" for p in (st.get("diffs") or [])[:4]]
    more = len(changes if isinstance(changes, list) and changes else st.get("diffs") or []) - len(shown)
    return ", ".join(shown) + (f", +{more}" if more > 0 else "")


def _plan_section(plan: Mapping[str, Any], renamer: names.Renamer) -> _Section:
    steps = [st for st in plan.get("steps", []) if st.get("op") != "same"]
    steps.sort(key=lambda st: (st.get("status") != "failed", st["op"] != "replace", st["op"], st.get("urn", "")))
    head = [f"<details><summary><b>Plan</b>: {len(steps)} step(s), <code>{_plan_counts(plan)}</code></summary>", ""]
    failures = plan.get("failures") or []
    by_urn = {st.get("urn"): st for st in plan.get("steps", [])}
    for f in failures:
        head.append(f"- ❌ {_step_label(by_urn.get(f.get('urn')), f.get('urn', ''), renamer)}: `{f.get('call')}` → "
                    f"`{f.get('error')}` {_line(renamer.text(str(f.get('message', ''))))}"
                    + (f" **How to deploy it:** {_line(renamer.text(str(f['fix'])))}" if f.get("fix") else ""))
    for w in plan.get("windows") or []:
        head.append(f"- ⏱️ {_window_words(w, renamer)}" + (f". {_line(renamer.text(str(w['fix'])))}" if w.get("fix") else ""))
    if failures or plan.get("windows"):
        head.append("")
    head += ["| | what | type | changed | forces replacement |", "|---|---|---|---|---|"]
    rows = [f"| `{PLAN_SYMBOL[st['op']]}` | {_cell(renamer.label(st.get('name', ''), st.get('type', '')))}"
            f"{' **fails**' if st.get('status') == 'failed' else ''} | `{st.get('type', '').rsplit(':', 1)[-1]}` | "
            f"{_cell(_step_changes(st))} | {', '.join(f'`{p}`' for p in (st.get('replaceReasons') or [])[:3])} |"
            for st in steps]
    return _Section("plan", head, rows, ["", "</details>"])


# ------------------------------------------------------------------ markdown: folded sections


@dataclass
class _Section:
    """A part of the comment: ``head`` and ``tail`` stay whole; ``rows`` may be cut from the end
    to keep the comment under GitHub's limit, with a notice saying how many were left out."""

    key: str
    head: list[str]
    rows: list[str]
    tail: list[str] = field(default_factory=list)
    cut: int = 0

    def lines(self) -> list[str]:
        notice = ["", f"*… {self.cut} more row(s) left out to keep this comment under GitHub's "
                      f"{COMMENT_LIMIT:,}-character limit; `lbguard diff --format json` has all of them.*"] \
            if self.cut else []
        return self.head + self.rows + notice + self.tail


def _change_lines(d: dict) -> list[str]:
    """Per changed route: each pool's share and per-instance share before -> after, and each
    failure scenario the change pushes over capacity."""
    out = []
    for r in (r for r in d["routes"] if r["changed"]):
        where = r["label"]
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
        kinds: set[str] = set()
        for c in r["capacity"]:  # the first case per kind that goes over
            if c["after"] is not None and c["after"] > 1 and (c["before"] is None or c["before"] <= 1) \
                    and c["scenario"] not in kinds:
                kinds.add(c["scenario"])
                out.append(f"- {where}: over capacity at peak in scenario `{c['worstAfter']}` "
                           f"({_pct(c['before'])} → {_pct(c['after'])} utilisation)")
    return out


def _share_rows(routes: list[dict]) -> list[str]:
    rows = []
    for r in routes:
        rule = f"{r['ruleKey']} ({r['priority']})" if r["rule"] else "default"
        if r["status"] != "kept":
            rule += f" — {r['status']}"
        action = r["actionAfter"] if r["actionBefore"] in (r["actionAfter"], None) else \
            f"**{r['actionBefore']} → {r['actionAfter']}**"
        first = f"| {_cell(r['listenerKey'])} | {_cell(rule)} | {_cell(_reach_cell(r))} | {_cell(action)} "
        if r.get("errorAfter"):
            rows.append(first + f"| – | invalid: {_cell(r['errorAfter'])} | | |")
        if not r["pools"]:
            rows.append(first + "| – | – | – | – |")
        for p in r["pools"]:
            ib, ia = p["instancesBefore"], p["instancesAfter"]
            inst = str(ia if ia is not None else "–") if ib == ia else \
                f"**{'–' if ib is None else ib} → {'–' if ia is None else ia}**"
            rows.append(first + f"| {_cell(p['pool'])} | {_arrow(p['shareBefore'], p['shareAfter'])} | "
                        f"{_arrow(p['perInstanceBefore'], p['perInstanceAfter'])} | {inst} |")
    return rows


SHARE_HEADER = ["| listener | rule (priority) | reaches | action | pool | share | per instance | instances |",
                "|---|---|---|---|---|---|---|---|"]


def _routes_sections(d: dict) -> list[_Section]:
    changed = [r for r in d["routes"] if r["changed"]]
    same = [r for r in d["routes"] if not r["changed"]]
    opening = [f"<details><summary><b>Traffic per route</b>: {len(changed)} changed</summary>", ""]
    head = ["*reaches*: the route's share of the listener's requests, from the stack's traffic profile sent "
            "through ALB's rule evaluation (priority order, first match wins), or from facts alone (a catch-all "
            "takes all that reaches it; *up to* = a narrow rule with no profile or expectedShare). *share*: what "
            "each pool gets through the route, split by weight; per instance = share ÷ healthy instances.", ""]
    out = [_Section("changes", opening, _change_lines(d) if changed else ["No route changed."], [""]),
           _Section("routes", head + (SHARE_HEADER if changed else []), _share_rows(changed), ["", "</details>"])]
    if same:
        out.append(_Section("unchanged", [f"<details><summary>{len(same)} unchanged route(s)</summary>", ""]
                            + SHARE_HEADER, _share_rows(same), ["", "</details>"]))
    return out


def _capacity_rows(routes: list[dict]) -> list[str]:
    rows = []
    for r in routes:
        for c in r["capacity"]:
            worst = c.get("case") or c["worstAfter"] or c["worstBefore"] or ""
            util = (f"**{_util(c['before'])} → {_util(c['after'])}**" if _differs(c["before"], c["after"])
                    else _util(c["after"]))
            room = (f"{_pct(c['headroomBefore'])} → {_pct(c['headroomAfter'])}"
                    if _differs(c["headroomBefore"], c["headroomAfter"]) else _pct(c["headroomAfter"]))
            failing = (_arrow(c["failingBefore"], c["failingAfter"])
                       if (c["failingBefore"] or c["failingAfter"]) else "0%")
            rows.append(f"| {_cell(r['label'])} | {c['scenario']} | {_cell(worst)} | {util} | {room} | {failing} |")
    return rows


def _capacity_section(d: dict) -> list[_Section]:
    with_cap = [r for r in d["routes"] if r["capacity"]]
    if not with_cap:
        return []
    changed = [r for r in with_cap if r["changed"]]
    befores = sorted({r["peakBefore"] for r in with_cap if r["peakBefore"] is not None}, key=str)
    afters = sorted({r["peakAfter"] for r in with_cap if r["peakAfter"] is not None}, key=str)
    peak = ", ".join(map(_num, afters or befores)) if not befores or not afters or befores == afters else \
        f"{', '.join(map(_num, befores))} → {', '.join(map(_num, afters))}"
    head = [f"<details><summary><b>Capacity at peak</b> ({peak} req/s) per failure scenario: "
            f"{len(changed)} route(s) changed</summary>", "",
            f"Peak {peak} req/s (load balancer tag `lbguard:peak-rps`, else the profile's), each route at the share "
            "it reaches. One scenario per row, the same before and after: per kind, the case with the highest "
            "utilisation and the one failing the most requests (all healthy; one instance lost; one AZ lost; one pool "
            "fully unhealthy, where ALB fails open and its requests fail). Unchanged routes last.", "",
            "| route | scenario | worst case | utilisation | headroom | requests failing |",
            "|---|---|---|---|---|---|"]
    rows = _capacity_rows(changed) + _capacity_rows([r for r in with_cap if not r["changed"]])
    return [_Section("capacity", head, rows, ["", "</details>"])]


def _pools_section(d: dict) -> list[_Section]:
    if not d.get("pools"):
        return []
    head = ["<details><summary><b>Pools after this change</b></summary>", "",
            "Each pool's share of its listener's requests over every route, per healthy instance, and its "
            "utilisation at peak with every instance healthy.", "",
            "| pool | share | instances | per instance | utilisation at peak |", "|---|---|---|---|---|"]
    rows = []
    for name, p in d["pools"].items():
        up = "" if p.get("known", True) else "up to "
        rows.append(f"| {_cell(name)} | {up}{_pct(p['share'])} | {p['instances']} | {up}{_pct(p['perInstance'])} | "
                    f"{up}{_util(p['utilisation'])} |")
    return [_Section("pools", head, rows, ["", "</details>"])]


def _verdicts_section(d: dict, renamer: names.Renamer) -> list[_Section]:
    v = d["verdicts"]
    head = [f"<details><summary><b>Policy verdicts</b>: {len(v['new'])} new, {len(v['changed'])} changed, "
            f"{len(v['resolved'])} resolved</summary>", ""]
    where = lambda x: renamer.label(x.get("name") or "", x.get("type") or "") or "the stack"  # noqa: E731
    said = lambda x: _line(renamer.message(x["message"], x.get("type") or "", x.get("name") or ""))  # noqa: E731
    rows = [f"- 🆕 **{x['policy']}** ({x['enforcementLevel']}) on {where(x)}: {said(x)}" for x in v["new"]]
    rows += [f"- ✏️ **{c['after']['policy']}** ({c['after']['enforcementLevel']}) on {where(c['after'])} now: "
             f"{said(c['after'])}" for c in v["changed"]]
    rows += [f"- ✅ resolved {x['policy']} ({x['enforcementLevel']}) on {where(x)}" for x in v["resolved"]]
    return [_Section("verdicts", head, rows or ["No change."], ["", "</details>"])]


def _resources_section(d: dict, renamer: names.Renamer) -> list[_Section]:
    res = d["resources"]
    head = [f"<details><summary><b>Resources</b>: {len(res['added'])} added, {len(res['changed'])} changed, "
            f"{len(res['removed'])} removed</summary>", ""]
    what = lambda r: f"{renamer.label(r['name'], r['type'])} (`{r['type']}`)"  # noqa: E731
    rows = [f"- added {what(r)}" for r in res["added"]]
    for r in res["changed"]:
        props = ", ".join(f"`{p['property']}` {_short(p['before'])} → {_short(p['after'])}" if "before" in p
                          else f"`{p['property']}`" for p in r["values"])
        rows.append(f"- changed {what(r)}: {props}")
    rows += [f"- removed {what(r)}" for r in res["removed"]]
    return [_Section("resources", head, rows or ["No change."], ["", "</details>"])]


def _diagram_section(d: dict) -> list[_Section]:
    text = mermaid(d)
    head = ["### Routing after this change", "",
            "ALB's evaluation order, top to bottom: each listener's rules by priority, the default action last; "
            "a request that no rule matches falls through (the share on those edges). Thick red edges changed; "
            "grey dotted routes and pools receive nothing; red pools are over capacity at peak or have no instance.",
            ""]
    return [_Section("diagram", head, ["```mermaid\n" + text + "\n```"], [""])]


# Which sections give up rows first when the comment is too long: the least read first.
CUT_ORDER = ("resources", "unchanged", "diagram", "capacity", "pools", "plan", "verdicts", "routes", "changes")


def _fit(top: list[str], sections: list[_Section], limit: int) -> str:
    """``top`` (never cut) then the sections, rows cut from the sections in :data:`CUT_ORDER`
    until the whole is at most ``limit`` UTF-8 bytes."""
    def size() -> int:
        return len("\n".join(top + [line for s in sections for line in s.lines()]).encode())

    by_key = {s.key: s for s in sections}
    for key in CUT_ORDER:
        s = by_key.get(key)
        while s is not None and s.rows and size() > limit:
            excess = size() - limit
            n, freed = 0, 0
            while n < len(s.rows) and freed < excess:
                n += 1
                freed += len(s.rows[-n].encode()) + 1
            s.cut += n
            del s.rows[len(s.rows) - n:]
    text = "\n".join(top + [line for s in sections for line in s.lines()])
    if len(text.encode()) > limit:  # the verdict alone is over: cut it too, saying so
        notice = "\n\n*… cut to stay under GitHub's comment limit.*"
        text = text.encode()[: limit - len(notice.encode())].decode(errors="ignore") + notice
    return text


# ------------------------------------------------------------------ markdown: the comment


def markdown(base: Mapping[str, Any], head: Mapping[str, Any], d: dict | None = None, *,
             plan: Mapping[str, Any] | None = None, limit: int = COMMENT_LIMIT) -> str:
    """One Markdown document for a sticky pull-request comment (starts with :data:`MARKER`):
    the verdict block first (blocked or not, by which policies, what happens to traffic), the
    plan in one line (with ``plan``, an ``lbguard preview --json`` document), every detail
    folded in ``<details>``, the diagram last; at most ``limit`` bytes."""
    d = d or diff(base, head)
    renamer = _renamer(base, head)
    top = [MARKER, f"## lbguard: change impact on stack `{d['stack']}`", ""]
    top += _verdict_block(head, d, plan, renamer) + [""]
    if plan is not None:
        top += [_plan_line(plan, renamer), ""]
    sections = _routes_sections(d) + _capacity_section(d) + _pools_section(d) + _verdicts_section(d, renamer)
    if plan is not None:
        sections.append(_plan_section(plan, renamer))
    sections += _resources_section(d, renamer) + _diagram_section(d)
    for s in sections[:-1]:
        s.tail = s.tail + [""] if s.tail[-1:] != [""] else s.tail
    return _fit(top, sections, limit)


# ------------------------------------------------------------------ the diagram


def _mermaid_text(label: str) -> str:
    return label.replace('"', "#quot;")


class _Flowchart:
    """Mermaid flowchart lines with edge indexes kept for ``linkStyle`` and node classes."""

    ARROWS = {"same": "-->", "changed": "==>", "removed": "-.->", "dead": "-.->"}

    def __init__(self, direction: str):
        self.lines = [f"flowchart {direction}"]
        self.ids: dict[str, str] = {}
        self.styles: dict[str, list[int]] = {"changed": [], "removed": [], "dead": []}
        self.classes: dict[str, list[str]] = {}
        self.edges = 0

    def node(self, key: str, label: str, shape: str, cls: str | None = None) -> str:
        if key not in self.ids:
            self.ids[key] = f"n{len(self.ids)}"
            self.lines.append(f"  {self.ids[key]}{shape.format(chr(34) + _mermaid_text(label) + chr(34))}")
            if cls:
                self.classes.setdefault(cls, []).append(self.ids[key])
        return self.ids[key]

    def edge(self, src: str, dst: str, label: str, style: str) -> None:
        text = f"|\"{_mermaid_text(label)}\"|" if label else ""
        self.lines.append(f"  {src} {self.ARROWS[style]}{text} {dst}")
        if style != "same":
            self.styles[style].append(self.edges)
        self.edges += 1

    def text(self) -> str:
        out = list(self.lines)
        look = {"changed": "stroke:#d62728,stroke-width:3px", "removed": "stroke:#d62728,stroke-dasharray:4",
                "dead": "stroke:#999999,stroke-dasharray:4"}
        for style, idx in self.styles.items():
            if idx:
                out.append(f"  linkStyle {','.join(map(str, idx))} {look[style]}")
        defs = {"dead": "fill:#eeeeee,stroke:#999999,color:#777777,stroke-dasharray:4",
                "over": "fill:#ffd7d5,stroke:#d62728,stroke-width:3px,color:#82071e",
                "added": "stroke:#d62728,stroke-width:3px"}
        for cls, nodes in self.classes.items():
            out.append(f"  classDef {cls} {defs[cls]}")
            out.append(f"  class {','.join(nodes)} {cls}")
        return "\n".join(out)


def _pool_node_label(name: str, t: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """(label, class): ``over`` when over capacity at peak or without an instance while it gets
    traffic, ``dead`` when it gets nothing."""
    if not t:
        return f"pool {name}", None
    up = "" if t.get("known", True) else "up to "
    util = t.get("utilisation")
    label = (f"pool {name} · {t['instances']} instance{'s' if t['instances'] != 1 else ''}<br/>"
             f"{up}{_pct(t['perInstance'])} each · "
             f"{(up + _pct(util) + ' of capacity') if util is not None else 'capacity unknown'} at peak")
    if t["share"] > 0 and (not t["instances"] or (util is not None and util > 1)):
        return label + " ⚠️", "over"
    return label, ("dead" if not t["share"] else None)


def _route_node_label(r: dict) -> str:
    what = f"rule {r['ruleKey']} · priority {r['priority']}" if r["rule"] else "default action"
    reach = r.get("reachAfter")
    if reach is None:
        share = "share unknown"
    else:
        share = ("up to " if r.get("reachSourceAfter") == "unknown" else "") + (
            f"{_pct(r['reachBefore'])} → {_pct(reach)}" if _differs(r.get("reachBefore"), reach)
            and r["status"] == "kept" else _pct(reach))
    text = f"{what}<br/>{share} of {r['listenerKey']}"
    if not reach and r.get("shadowedByKeys"):
        text += f"<br/>shadowed by {', '.join(r['shadowedByKeys'])}"
    return text


def _route_targets(fc: _Flowchart, r: dict, mid: str, dead: bool, totals: Mapping[str, Any]) -> None:
    if r["actionAfter"] and not r["actionAfter"].startswith("forward"):
        dst = fc.node(f"action:{r['actionAfter']}", r["actionAfter"], "[{}]")
        fc.edge(mid, dst, "", "dead" if dead else "changed" if r["actionBefore"] != r["actionAfter"] else "same")
        return
    for p in r["pools"]:
        label, cls = _pool_node_label(p["pool"], totals.get(p["pool"]))
        dst = fc.node(f"pool:{p['pool']}", label, "[({})]", cls)
        before, after = p["shareBefore"], p["shareAfter"]
        if not after:
            if before:
                fc.edge(mid, dst, f"{_pct(before)} → {_pct(after)}", "dead" if dead else "removed")
            continue
        if _differs(before, after):
            fc.edge(mid, dst, f"{_pct(before)} → {_pct(after)}", "changed")
        else:
            fc.edge(mid, dst, _pct(after), "same")


def mermaid(d: dict) -> str:
    """Routing after the change in ALB's evaluation order, top to bottom: per listener its rules
    by priority, then the default action, chained by what falls through (the share of requests
    no earlier rule matched), each with the pools or action it sends to. Changed edges thick and
    red; routes and pools that receive nothing dotted grey; pools over capacity at peak or
    without an instance red; edges the change removed dotted red. At most as many routes as
    Mermaid draws (:data:`MERMAID_MAX_TEXT`, :data:`MERMAID_MAX_EDGES`), the first in ALB order;
    a note says how many more there are."""
    routes = [r for r in d["routes"] if r["status"] != "removed"]

    def fits(text: str, edges: int) -> bool:
        return len(text) <= MERMAID_MAX_TEXT and edges < MERMAID_MAX_EDGES

    text, edges = _draw(d, routes, 0)
    if fits(text, edges):
        return text
    lo, hi = 0, len(routes)  # the most routes that fit: lo fits, hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(*_draw(d, routes[:mid], len(routes) - mid)):
            lo = mid
        else:
            hi = mid
    return _draw(d, routes[:lo], len(routes) - lo)[0]


def _draw(d: dict, routes: list[dict], left_out: int) -> tuple[str, int]:
    fc = _Flowchart("TB")
    totals = d.get("pools") or {}
    by_listener: dict[str, list[dict]] = {}
    for r in routes:
        by_listener.setdefault(r["listener"], []).append(r)
    for listener, rs in by_listener.items():
        prev = fc.node(f"listener:{listener}", f"listener {rs[0]['listenerKey']}", "([{}])")
        left, left_before, known = 1.0, 1.0, True
        for i, r in enumerate(rs):
            dead = r.get("reachAfter") == 0
            mid = fc.node(f"route:{r['route']}", _route_node_label(r), "({})", "dead" if dead else
                          "added" if r["status"] == "added" else None)
            label = "" if i == 0 else (f"no match · {_pct(left)}" if known else "no match")
            moved = _differs(left, left_before) if i and known else False
            fc.edge(prev, mid, label, "dead" if known and left <= 1e-12 else "changed" if moved else "same")
            _route_targets(fc, r, mid, dead, totals)
            if r.get("reachAfter") is None or r.get("reachSourceAfter") == "unknown":
                known = False  # an upper bound: what falls through is not known
            else:
                left = max(0.0, left - r["reachAfter"])
                left_before = max(0.0, left_before - (r.get("reachBefore") or 0.0))
            prev = mid
    if left_out:
        fc.node("more", f"… {left_out} more route(s) not drawn (more than Mermaid draws): see the route table",
                "[{}]")
    return fc.text(), fc.edges
