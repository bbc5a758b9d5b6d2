"""From a run's logs to the report: per pool and instance, the model beside the measurement.

Sources, all written by the data plane itself: HAProxy's per-request log lines (the
listener's ``F`` lines: rule, status, total time; each target group's ``T`` lines:
instance, status, time) and each instance's own counters (time spent saturated).

* ``share``: the instance's requests over the listener's requests. With instances
  stopped it is measured after HAProxy's health checks took the last of them out
  (``windowStartS``), which is the state the model's scenario describes.
* ``errorRate``: 5xx over requests, except responses a fixed-response action is
  configured to give (the maintenance page's 503 is the routing working).
* ``saturatedS``: seconds during which requests waited for a busy worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lbguard.offline.rehearse.haproxy import safe
from lbguard.offline.rehearse.plan import Plan
from lbguard.offline.rehearse.runner import Raw

BUCKET_S = 1.0


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)])


def _rate(bad: int, total: int) -> float:
    return round(bad / total, 4) if total else 0.0


def _measured_rps(front: list, duration_s: float) -> float:
    """Requests over the time they actually spanned (wrk's -d is not exact to the second)."""
    if len(front) < 2:
        return round(len(front) / duration_s, 2)
    span = max(t for t, *_ in front) - min(t for t, *_ in front)
    return round((len(front) - 1) / span, 2) if span > 0 else 0.0


def window_start(raw: Raw) -> float:
    """When the stopped instances stopped receiving requests (HAProxy took them out)."""
    if not raw.stopped or raw.stopped_at is None:
        return raw.started
    last = max((t for t, _, inst, _, _ in raw.targets if inst in raw.stopped), default=raw.stopped_at)
    return max(last, raw.stopped_at) + 0.05


def summarise(raw: Raw, plan: Plan, predicted: dict[str, float], scenario_label: str) -> dict:
    listener = plan.primary()
    configured = {safe(r.name) for r in listener.rules if r.action["Type"] == "fixed-response"}
    if listener.default_action["Type"] == "fixed-response":
        configured.add("default")
    front = raw.frontend
    errors = sum(1 for _, rule, st, _ in front if st >= 500 and rule not in configured)
    start = window_start(raw)
    in_window = sum(1 for t, *_ in front if t >= start)
    instances, pools = [], {}
    for tg in plan.target_groups.values():
        for inst in tg.instances:
            rows = [r for r in raw.targets if r[2] == inst.name]
            lat = [r[4] for r in rows]
            bad = sum(1 for r in rows if r[3] >= 500)
            win = sum(1 for r in rows if r[0] >= start)
            instances.append({
                "pool": inst.pool, "instance": inst.name, "az": inst.az, "requests": len(rows),
                "share": round(win / in_window, 4) if in_window else 0.0,
                "predictedShare": round(predicted.get(inst.name, 0.0), 4),
                "p50Ms": percentile(lat, 50), "p99Ms": percentile(lat, 99), "errorRate": _rate(bad, len(rows)),
                "saturatedS": (raw.instance_stats.get(inst.name) or {}).get("saturatedS"),
                "capacityRps": round(inst.capacity_rps, 3), "stopped": inst.name in raw.stopped})
            p = pools.setdefault(inst.pool, {"pool": inst.pool, "requests": 0, "share": 0.0, "predictedShare": 0.0,
                                             "lat": [], "bad": 0})
            p["requests"] += len(rows)
            p["share"] += instances[-1]["share"]
            p["predictedShare"] += instances[-1]["predictedShare"]
            p["lat"] += lat
            p["bad"] += bad
    pool_rows = [{"pool": p["pool"], "requests": p["requests"], "share": round(p["share"], 4),
                  "predictedShare": round(p["predictedShare"], 4), "p50Ms": percentile(p["lat"], 50),
                  "p99Ms": percentile(p["lat"], 99), "errorRate": _rate(p["bad"], p["requests"])}
                 for p in pools.values()]
    return {"scenario": scenario_label, "requests": len(front), "p99Ms": percentile([r[3] for r in front], 99),
            "p50Ms": percentile([r[3] for r in front], 50), "errorRate": _rate(errors, len(front)),
            "offeredRps": round(raw.rate, 2), "measuredRps": _measured_rps(front, raw.duration_s),
            "durationS": raw.duration_s, "stopped": raw.stopped,
            "windowStartS": round(start - raw.started, 2), "pools": pool_rows, "instances": instances}


@dataclass
class Series:
    """Per instance, per second: requests, p99 ms and 5xx (for the chart)."""

    seconds: list[float]
    load: dict[str, list[float]]
    p99: dict[str, list[float | None]]
    errors: dict[str, list[float]]
    stopped_at: float | None


def series(raw: Raw, plan: Plan) -> Series:
    n = max(1, math.ceil(raw.duration_s / BUCKET_S))
    load = {i.name: [0.0] * n for i in plan.instances()}
    errs = {i.name: [0.0] * n for i in plan.instances()}
    lat: dict[str, list[list[int]]] = {i.name: [[] for _ in range(n)] for i in plan.instances()}
    for t, _, inst, status, ms in raw.targets:
        b = int((t - raw.started) / BUCKET_S)
        if inst in load and 0 <= b < n:
            load[inst][b] += 1 / BUCKET_S
            lat[inst][b].append(ms)
            errs[inst][b] += (status >= 500) / BUCKET_S
    return Series(seconds=[(b + 0.5) * BUCKET_S for b in range(n)], load=load,
                  p99={k: [percentile(v, 99) for v in vs] for k, vs in lat.items()}, errors=errs,
                  stopped_at=None if raw.stopped_at is None else raw.stopped_at - raw.started)


def breaches(run: dict, p99_ms: float, max_error_rate: float) -> dict[str, str]:
    out = {}
    if run["p99Ms"] is not None and run["p99Ms"] > p99_ms:
        out["p99"] = f"p99 {run['p99Ms']:.0f} ms > {p99_ms:g} ms"
    if run["errorRate"] > max_error_rate:
        out["errors"] = f"5xx rate {run['errorRate']:.1%} > {max_error_rate:.1%}"
    return out


def verdict(runs: dict[str, dict], p99_ms: float, max_error_rate: float) -> dict:
    """Head breaking an SLO that base meets blocks (without base: head breaking it)."""
    head = breaches(runs["head"], p99_ms, max_error_rate)
    base = breaches(runs["base"], p99_ms, max_error_rate) if "base" in runs else {}
    reasons = [f"head: {why}" + (" (base meets it)" if "base" in runs else "")
               for slo, why in head.items() if slo not in base]
    out = {"ok": not reasons, "reasons": reasons}
    if base:
        out["baseBreaks"] = list(base.values())
    return out
