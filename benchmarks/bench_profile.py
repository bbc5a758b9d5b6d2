"""`lbguard profile` throughput and memory: the embedded engine (DuckDB), the streaming parser and
the decompression floor, on the same generated files, in one run.

    .venv/bin/python benchmarks/bench_profile.py [--sizes 1000000,10000000] [--runs 3] [--modes ...]

For each size, ALB access logs in AWS's entry format (tests/offline/profile/alblog_gen.py, the dev mix,
gzip, one file per node per 5 minutes) are generated once and cached under
``$TMPDIR/lbguard-bench-logs/<lines>-<seed>-v2`` (``--fresh`` regenerates). Each measurement is a
fresh process that reports its own time and memory:

- ``floor``: ``zcat`` of the same files on both cores, counting lines (the files split in two
  halves by size, ``zcat FILES | wc -l`` for each half at the same time): what any reader of
  these files pays to decompress them;
- ``duckdb``: ``lbguard.offline.logduck.run(DIR)`` (the default engine: parse, aggregate, fold);
- ``stream``: ``lbguard.offline.alb_logs.profile_from_logs(DIR)`` (the streaming parser, one core);
- ``cli``: ``lbguard profile --from-logs DIR -o FILE`` as a user runs it (interpreter start,
  imports, the engine, the profile written), wall time of the whole command.

Printed: wall seconds (median of ``--runs``), lines/s, the ratio to the floor measured in the
same run (target for ``duckdb``: within 2x), CPU seconds (user + system, every thread and child)
and their ratio to the floor's (on a shared machine, wall ratios move with the other load; CPU
ratios much less), and memory: the peak resident set while reading
(``/proc/self/statm`` sampled every 5 ms), its growth over the set before reading, and the
process's high-water mark (``ru_maxrss``, imports included; for ``floor`` the largest zcat).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE_VERSION = "v2"  # bump when the generator's output changes
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_now_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE // 1024


class Sampler:
    """The process's resident set, sampled every 5 ms on a thread: the peak while reading."""

    def __init__(self):
        import threading

        self.peak_kb, self._stop = rss_now_kb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, rss_now_kb())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak_kb, rss_now_kb())


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def child(mode: str, root: str) -> None:
    sys.path.insert(0, str(ROOT))
    from lbguard.offline import alb_logs, logduck
    from lbguard.core import matching, profile  # noqa: F401 - imported before the RSS floor is taken

    import duckdb  # noqa: F401

    floor_kb, sampler = rss_now_kb(), Sampler()
    c0 = cpu_self()
    t0 = time.perf_counter()
    if mode == "duckdb":
        lines = logduck.run(root).aggregates[None].lines
    elif mode == "stream":
        lines = alb_logs.profile_from_logs(root)[1].lines
    else:
        sys.exit(f"unknown mode {mode}")
    seconds = time.perf_counter() - t0
    cpu = cpu_self() - c0
    rss_kb = sampler.stop()
    print(json.dumps({"mode": mode, "lines": lines, "seconds": seconds, "cpu": cpu, "rss_kb": rss_kb, "floor_kb": floor_kb,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def measure(mode: str, root: Path) -> dict:
    if mode == "floor":
        return floor(root)
    if mode == "cli":
        return cli(root)
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(root)], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"benchmark: {mode} failed: {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def halves(root: Path) -> list[list[str]]:
    files = sorted(root.rglob("*.gz"), key=lambda p: -p.stat().st_size)
    parts: list[list[str]] = [[], []]
    sizes = [0, 0]
    for f in files:  # largest first onto the lighter half: two halves of equal work
        i = 0 if sizes[0] <= sizes[1] else 1
        parts[i].append(str(f))
        sizes[i] += f.stat().st_size
    return parts


def floor(root: Path) -> dict:
    """zcat | wc -l on two halves at once (both cores); lines summed."""
    procs = []
    c0 = cpu_children()
    t0 = time.perf_counter()
    for part in halves(root):
        files = tempfile.NamedTemporaryFile("w", delete=False, suffix=".list")
        files.write("\0".join(part))
        files.close()
        procs.append((subprocess.Popen(f"xargs -0 zcat < {files.name} | wc -l", shell=True, stdout=subprocess.PIPE,
                                       text=True), files.name))
    lines = 0
    for p, name in procs:
        out, _ = p.communicate()
        os.unlink(name)
        lines += int(out.strip())
    seconds = time.perf_counter() - t0
    return {"mode": "floor", "lines": lines, "seconds": seconds, "cpu": cpu_children() - c0, "rss_kb": None,
            "floor_kb": None,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def cli(root: Path) -> dict:
    lbguard = Path(sys.executable).with_name("lbguard")
    with tempfile.TemporaryDirectory() as tmp:
        out, js = Path(tmp) / "traffic.yaml", Path(tmp) / "r.json"
        c0 = cpu_children()
        t0 = time.perf_counter()
        run = subprocess.run([str(lbguard), "profile", "--from-logs", str(root), "-o", str(out), "--json", str(js)],
                             capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - t0
        if run.returncode != 0:
            sys.exit(f"benchmark: lbguard profile failed: {run.stderr.strip()[-800:]}")
        cpu = cpu_children() - c0
        lines = json.loads(js.read_text())["profile"]["observed"]["lines"]
    return {"mode": "cli", "lines": lines, "seconds": seconds, "cpu": cpu, "rss_kb": None, "floor_kb": None,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def write_logs(root: Path, lines: int, seed: int = 3) -> int:
    """``lines`` entries: a 100,000-line day written again under later dates (distinct file
    names and request times, same mix): generating each entry in Python takes longer than reading it."""
    sys.path.insert(0, str(ROOT))
    from tests.offline.profile import alblog_gen as gen

    unit = min(lines, 100_000)
    copies = max(1, lines // unit)
    start = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    files, truth = gen.generate(gen.dev_mix(), unit, start=start, malformed=0, seed=seed)
    for i in range(copies):
        day = start + timedelta(days=i)
        for key, body in files:
            name = key.rsplit("/", 1)[-1].replace("20260101T", f"{day:%Y%m%d}T")
            if i:
                text = gzip.decompress(body).decode().replace("2026-01-01T", f"{day:%Y-%m-%d}T")
                body = gzip.compress(text.encode(), compresslevel=1)
            p = root / "AWSLogs" / gen.ACCOUNT / "elasticloadbalancing" / gen.REGION / f"{day:%Y/%m/%d}" / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(body)
    return unit * copies


def cached_logs(lines: int, seed: int, fresh: bool) -> tuple[Path, int]:
    root = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "lbguard-bench-logs" / f"{lines}-{seed}-{CACHE_VERSION}"
    done = root / "complete"
    if fresh and root.exists():
        shutil.rmtree(root)
    if not done.exists():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        gen = subprocess.run([sys.executable, __file__, "--generate", str(root), str(lines), str(seed)],
                             capture_output=True, text=True, cwd=ROOT)
        if gen.returncode != 0:
            sys.exit(f"benchmark: generating the logs failed: {gen.stderr.strip()[-500:]}")
        done.write_text(gen.stdout.strip())
    return root, int(done.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=3, metavar=("DIR", "LINES", "SEED"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--runs", type=int, default=3, help="runs per mode and size (median); sizes above 1M: --big-runs")
    ap.add_argument("--big-runs", type=int, default=1)
    ap.add_argument("--modes", default="floor,duckdb,stream,cli")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="regenerate the cached logs")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.generate:
        print(write_logs(Path(args.generate[0]), int(args.generate[1]), int(args.generate[2])))
        return
    modes = args.modes.split(",")
    print(f"{'lines':>9} {'mode':>7} {'seconds':>8} {'lines/s':>11} {'x floor':>8} {'cpu s':>7} {'cpu x':>6} "
          f"{'RSS MiB':>8} {'grew MiB':>9} {'maxrss MiB':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        root, n = cached_logs(size, args.seed, args.fresh)
        runs_n = args.runs if size <= 1_000_000 else args.big_runs
        mb = sum(p.stat().st_size for p in root.rglob("*.gz")) / 2**20
        best: dict[str, dict] = {}
        for mode in modes:
            runs = [measure(mode, root) for _ in range(runs_n)]
            for r in runs:
                if r["lines"] != n:
                    sys.exit(f"benchmark: {mode} read {r['lines']} lines, {n} were written")
            best[mode] = {"seconds": statistics.median(r["seconds"] for r in runs),
                          "cpu": statistics.median(r["cpu"] for r in runs),
                          "rss_kb": max((r["rss_kb"] or 0) for r in runs),
                          "grew_kb": max(((r["rss_kb"] or 0) - (r["floor_kb"] or 0)) for r in runs),
                          "maxrss_kb": max(r["maxrss_kb"] for r in runs)}
        base = best.get("floor", {}).get("seconds")
        base_cpu = best.get("floor", {}).get("cpu")
        for mode, r in best.items():
            ratio = f"{r['seconds'] / base:8.2f}" if base else f"{'-':>8}"
            cpu_ratio = f"{r['cpu'] / base_cpu:6.2f}" if base_cpu else f"{'-':>6}"
            rss = f"{r['rss_kb'] / 1024:8.1f} {r['grew_kb'] / 1024:9.1f}" if r["rss_kb"] else f"{'-':>8} {'-':>9}"
            print(f"{n:>9} {mode:>7} {r['seconds']:8.2f} {n / r['seconds']:11,.0f} {ratio} {r['cpu']:7.2f} {cpu_ratio} {rss} "
                  f"{r['maxrss_kb'] / 1024:10.1f}")
        print(f"{'':>9} ({mb:.1f} MiB gzip in {sum(1 for _ in root.rglob('*.gz'))} files, {os.cpu_count()} cores; "
              f"time: median of {runs_n} run(s); load average at the end {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
