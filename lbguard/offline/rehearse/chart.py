"""The rehearsal as a PNG: per-instance load, p99 and 5xx over time, base beside head.

Instances that breach (p99 over the SLO or 5xx over the limit) are drawn thick in red
and named on the chart; the others thin, one colour family per pool. The capacity of
each pool's instances and the p99 SLO are dashed lines; a grey line marks when the
scenario stopped instances.
"""

from __future__ import annotations

from pathlib import Path

from lbguard.core.model import LbguardError
from lbguard.offline.rehearse.report import Series

FAMILIES = ["Blues", "Greens", "Purples", "Oranges", "Greys"]


def _colours(runs: dict[str, dict]) -> dict[str, tuple]:
    from matplotlib import colormaps

    pools: dict[str, list[str]] = {}
    for run in runs.values():
        for i in run["instances"]:
            names = pools.setdefault(i["pool"], [])
            if i["instance"] not in names:
                names.append(i["instance"])
    out = {}
    for n, (pool, names) in enumerate(sorted(pools.items())):
        cmap = colormaps[FAMILIES[n % len(FAMILIES)]]
        for k, name in enumerate(names):
            out[name] = cmap(0.45 + 0.4 * k / max(1, len(names)))
    return out


def _breaching(inst: dict, p99_ms: float, max_error_rate: float) -> bool:
    """A serving instance over the SLO (a stopped one's failures are the scenario, not overload)."""
    return not inst.get("stopped") and ((inst["p99Ms"] or 0) > p99_ms or inst["errorRate"] > max_error_rate)


def render(path: Path, stack: str, runs: dict[str, dict], series: dict[str, Series], p99_ms: float,
           max_error_rate: float, titles: dict[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = _colours(runs)
    cols = [k for k in ("base", "head") if k in runs]
    fig, axes = plt.subplots(3, len(cols), figsize=(7.5 * len(cols), 10), sharex=True, sharey="row", squeeze=False)
    top_load = max((max(v, default=0) for s in series.values() for v in s.load.values()), default=1)
    top_cap = max((i["capacityRps"] for r in runs.values() for i in r["instances"]), default=1)
    for c, key in enumerate(cols):
        run, s = runs[key], series[key]
        load_ax, p99_ax, err_ax = axes[0][c], axes[1][c], axes[2][c]
        for inst in run["instances"]:
            name, bad = inst["instance"], _breaching(inst, p99_ms, max_error_rate)
            style = dict(color="red", lw=2.8, zorder=5) if bad else dict(color=colours[name], lw=1.2)
            if inst.get("stopped"):
                style = dict(color="black", lw=1.2, ls=":")
            label = f"{name} ({inst['pool']}, {inst['az']})" + ("  DROWNING" if bad else "") + \
                ("  stopped" if inst.get("stopped") else "")
            load_ax.plot(s.seconds, s.load[name], label=label, **style)
            p99_ax.plot(s.seconds, [v if v is not None else float("nan") for v in s.p99[name]], **style)
            err_ax.plot(s.seconds, s.errors[name], **style)
        for cap in sorted({i["capacityRps"] for i in run["instances"]}):
            load_ax.axhline(cap, ls="--", color="black", lw=1)
            load_ax.annotate(f"capacity {cap:g} req/s", (0.01, cap), xycoords=("axes fraction", "data"),
                             va="bottom", fontsize=8)
        p99_ax.axhline(p99_ms, ls="--", color="black", lw=1)
        p99_ax.annotate(f"p99 SLO {p99_ms:g} ms", (0.01, p99_ms), xycoords=("axes fraction", "data"),
                        va="bottom", fontsize=8)
        for ax in (load_ax, p99_ax, err_ax):
            if s.stopped_at is not None:
                ax.axvline(s.stopped_at, color="grey", lw=1)
            ax.grid(alpha=0.3)
        load_ax.set_ylim(0, max(top_load, top_cap) * 1.15)
        load_ax.set_title(f"{titles[key]}: {run['scenario']} - p99 {run['p99Ms']:.0f} ms, "
                          f"5xx {run['errorRate']:.1%}", fontsize=10)
        load_ax.legend(fontsize=7, loc="upper right", ncol=2 if len(run["instances"]) > 8 else 1)
        load_ax.set_ylabel("requests/s per instance")
        p99_ax.set_ylabel("p99 latency (ms)")
        p99_ax.set_yscale("log")
        err_ax.set_ylabel("5xx/s per instance")
        err_ax.set_xlabel("seconds into the run" + ("  (grey: instances stopped)" if s.stopped_at else ""))
    fig.suptitle(f"lbguard rehearse: stack {stack}", fontsize=12)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=90)
    except OSError as err:
        raise LbguardError(f"--chart {path}: cannot write: {err.strerror}") from None
    finally:
        plt.close(fig)
