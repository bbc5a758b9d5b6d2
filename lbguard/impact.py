"""Change impact between two preflight results: shares, capacity, verdicts, resources.

Pure functions over preflight JSON documents (see ``lbguard preflight --json``). All
shares and utilisations come from :mod:`lbguard.traffic` over the topology that
:mod:`lbguard.topology` builds, the same path the policy pack takes.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from lbguard import topology, traffic
from lbguard.model import LbguardError

MARKER = "<!-- lbguard-diff -->"
SCENARIOS = ("all-healthy", "instance-lost", "az-lost", "pool-down")


def check_document(doc: Any, where: str) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list) or "stack" not in doc:
        raise LbguardError(f"{where}: not a preflight result (expected the JSON of `lbguard preflight --json`)")
    return doc


# ------------------------------------------------------------------ routing and capacity


def _scenario_kind(name: str) -> str:
    return name.split(":", 1)[0]


def route_table(doc: Mapping[str, Any]) -> dict[str, dict]:
    """route id -> {pools: {label: {share, perInstance, instances}}, capacity: {scenario: worst util}}."""
    topo = topology.from_preflight(doc)
    pools = topo.pools()
    out: dict[str, dict] = {}
    for fwd in topo.forwards:
        try:
            traffic.validate_weights(fwd.weights)
        except traffic.WeightError as err:
            out[fwd.id] = {"pools": {}, "capacity": {}, "error": str(err)}
            continue
        base = traffic.evaluate(fwd.route(), pools, peak_rps=topo.peak_rps)
        entry = {"pools": {}, "capacity": {}, "peak": topo.peak_rps}
        for tg, load in base.loads.items():
            entry["pools"][topo.label(tg)] = {"share": load.share, "perInstance": load.per_instance_share,
                                             "instances": load.healthy}
        for result in traffic.simulate(fwd.route(), pools, topo.peak_rps):
            kind = _scenario_kind(result.scenario)
            # Requests sent to a failed-open pool fail; they are reported apart from load on the survivors.
            utils = [l.utilisation for l in result.loads.values()
                     if l.share > 0 and not l.failing and l.utilisation is not None]
            util = max(utils, default=None)
            if result.failed_fraction > 0:
                entry.setdefault("failing", {})[kind] = max(entry.get("failing", {}).get(kind, 0), result.failed_fraction)
            if util is not None:
                entry["capacity"][kind] = max(entry["capacity"].get(kind, 0.0), util)
        out[fwd.id] = entry
    return out


# ------------------------------------------------------------------ resources


def _identifiers(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, placeholder) for every id/ARN a run produced, longest first."""
    seen: dict[str, str] = {}
    for r in doc["resources"]:
        for key in ("arn", "id", "arnSuffix"):  # an ARN that is also the id keeps its ".arn" name
            v = r.get(key)
            if isinstance(v, str) and len(v) >= 8 and v not in seen:
                seen[v] = f"<{r['name']}.{key}>"
    return sorted(seen.items(), key=lambda p: (-len(p[0]), p[0]))


def _normalise(value: Any, ids: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str):
        for raw, placeholder in ids:
            if raw in value:
                value = value.replace(raw, placeholder)
    return value


def _changed_paths(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _changed_paths(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _changed_paths(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [path or "(value)"]


def resource_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, list]:
    bi, hi = _identifiers(base), _identifiers(head)
    b = {r["urn"]: r for r in base["resources"] if r["type"] != "pulumi:pulumi:Stack"}
    h = {r["urn"]: r for r in head["resources"] if r["type"] != "pulumi:pulumi:Stack"}
    changed = []
    for urn in sorted(set(b) & set(h)):
        paths = _changed_paths(_normalise(b[urn].get("inputs") or {}, bi), _normalise(h[urn].get("inputs") or {}, hi))
        if paths:
            changed.append({"urn": urn, "type": h[urn]["type"], "name": h[urn]["name"],
                            "properties": sorted({re.sub(r"\[\d+\].*$", "", p) if p.count(".") > 3 else p for p in paths})})
    return {
        "added": [{"urn": u, "type": h[u]["type"], "name": h[u]["name"]} for u in sorted(set(h) - set(b))],
        "changed": changed,
        "removed": [{"urn": u, "type": b[u]["type"], "name": b[u]["name"]} for u in sorted(set(b) - set(h))],
    }


def verdict_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, list]:
    def key(v):
        return (v["policy"], v.get("name") or v.get("urn"), v["enforcementLevel"])
    b = {key(v): v for v in base.get("violations", [])}
    h = {key(v): v for v in head.get("violations", [])}
    return {"new": [h[k] for k in sorted(set(h) - set(b))], "resolved": [b[k] for k in sorted(set(b) - set(h))]}


# ------------------------------------------------------------------ the whole diff


def diff(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict:
    check_document(base, "BASE")
    check_document(head, "HEAD")
    rb, rh = route_table(base), route_table(head)
    routes = []
    for rid in sorted(set(rb) | set(rh)):
        before, after = rb.get(rid, {}), rh.get(rid, {})
        pools = []
        for pool in sorted(set(before.get("pools", {})) | set(after.get("pools", {}))):
            pb, ph = before.get("pools", {}).get(pool, {}), after.get("pools", {}).get(pool, {})
            pools.append({"pool": pool, "shareBefore": pb.get("share"), "shareAfter": ph.get("share"),
                          "perInstanceBefore": pb.get("perInstance"), "perInstanceAfter": ph.get("perInstance"),
                          "instancesBefore": pb.get("instances"), "instancesAfter": ph.get("instances")})
        capacity = [{"scenario": s, "before": before.get("capacity", {}).get(s), "after": after.get("capacity", {}).get(s),
                     "failingBefore": before.get("failing", {}).get(s), "failingAfter": after.get("failing", {}).get(s)}
                    for s in SCENARIOS if s in before.get("capacity", {}) or s in after.get("capacity", {})]
        routes.append({"route": rid, "status": "added" if not before else "removed" if not after else "kept",
                       "pools": pools, "capacity": capacity, "peak": after.get("peak") or before.get("peak"),
                       "errorAfter": after.get("error")})
    return {"stack": head.get("stack"), "routes": routes, "verdicts": verdict_changes(base, head),
            "resources": resource_changes(base, head)}


# ------------------------------------------------------------------ markdown


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    if x == float("inf"):
        return "∞"
    return f"{x * 100:.1f}%".replace(".0%", "%")


def _arrow(a: float | None, b: float | None) -> str:
    text = f"{_pct(a)} → {_pct(b)}"
    return f"**{text}**" if a != b else text


def _mermaid(doc: Mapping[str, Any], d: dict) -> str:
    changed = {(r["route"], p["pool"]) for r in d["routes"] for p in r["pools"] if p["shareBefore"] != p["shareAfter"]}
    lines = ["flowchart LR"]
    ids: dict[str, str] = {}

    def node(label: str, shape: str = "[{}]") -> str:
        if label not in ids:
            ids[label] = f"n{len(ids)}"
            lines.append(f"  {ids[label]}{shape.format(chr(34) + label + chr(34))}")
        return ids[label]

    for r in d["routes"]:
        if r["status"] == "removed":
            continue
        listener, _, rule = r["route"].partition("/")
        src = node(f"listener {listener}", "([{}])")
        mid = node(r["route"], "{{{}}}")
        lines.append(f"  {src} --> {mid}")
        for p in r["pools"]:
            if not p["shareAfter"]:
                continue
            dst = node(f"pool {p['pool']}", "[({})]")
            if (r["route"], p["pool"]) in changed:
                lines.append(f"  {mid} ==>|\"{_pct(p['shareBefore'])} → {_pct(p['shareAfter'])}\"| {dst}")
            else:
                lines.append(f"  {mid} -->|\"{_pct(p['shareAfter'])}\"| {dst}")
    return "\n".join(lines)


def markdown(base: Mapping[str, Any], head: Mapping[str, Any], d: dict | None = None) -> str:
    d = d or diff(base, head)
    out = [MARKER, f"## lbguard: traffic impact on stack `{d['stack']}`", ""]
    new = d["verdicts"]["new"]
    blocking = [v for v in new if v["enforcementLevel"] == "mandatory"]
    if blocking:
        out.append(f"**{len(blocking)} new mandatory policy violation(s): this change would be blocked.**")
        out.append("")
    out += ["### Share of each listener's traffic", "",
            "| listener / rule | pool | share | per instance | instances |", "|---|---|---|---|---|"]
    for r in d["routes"]:
        label = r["route"] + ("" if r["status"] == "kept" else f" ({r['status']})")
        for p in r["pools"]:
            out.append(f"| {label} | {p['pool']} | {_arrow(p['shareBefore'], p['shareAfter'])} | "
                       f"{_arrow(p['perInstanceBefore'], p['perInstanceAfter'])} | "
                       f"{p['instancesBefore'] if p['instancesBefore'] is not None else '–'} → "
                       f"{p['instancesAfter'] if p['instancesAfter'] is not None else '–'} |")
        if r.get("errorAfter"):
            out.append(f"| {label} | – | invalid: {r['errorAfter']} | | |")
    out += ["", "### Capacity: worst utilisation at peak (headroom = 100% − utilisation)", "",
            "| listener / rule | peak req/s | scenario | before | after | requests failing (fail-open) |",
            "|---|---|---|---|---|---|"]
    for r in d["routes"]:
        for c in r["capacity"]:
            failing = _arrow(c["failingBefore"], c["failingAfter"]) if (c["failingBefore"] or c["failingAfter"]) else ""
            out.append(f"| {r['route']} | {r['peak'] if r['peak'] is not None else '–'} | {c['scenario']} | "
                       f"{_pct(c['before'])} | {'**' + _pct(c['after']) + '**' if c['before'] != c['after'] else _pct(c['after'])} "
                       f"| {failing} |")
    out += ["", "### Policy verdicts that changed", ""]
    if not new and not d["verdicts"]["resolved"]:
        out.append("No change.")
    for v in new:
        out.append(f"- new **{v['policy']}** ({v['enforcementLevel']}) on `{v.get('name')}`: {v['message']}")
    for v in d["verdicts"]["resolved"]:
        out.append(f"- resolved {v['policy']} ({v['enforcementLevel']}) on `{v.get('name')}`")
    res = d["resources"]
    out += ["", "### Resources", ""]
    if not any(res.values()):
        out.append("No change.")
    for r in res["added"]:
        out.append(f"- added `{r['name']}` ({r['type']})")
    for r in res["changed"]:
        out.append(f"- changed `{r['name']}` ({r['type']}): {', '.join(r['properties'])}")
    for r in res["removed"]:
        out.append(f"- removed `{r['name']}` ({r['type']})")
    out += ["", "### Routing after this change (thick edges changed)", "", "```mermaid", _mermaid(head, d), "```", ""]
    return "\n".join(out)
