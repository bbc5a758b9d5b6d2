"""`lbguard profile --from-logs` throughput and memory, against plain gzip + split of the same files.

    .venv/bin/python benchmarks/bench_profile.py [--sizes 100000,1000000] [--runs 3]

For each size, ALB access logs in AWS's entry format (tests/profile/alblog_gen.py, the dev
mix, gzip, one file per node per 5 minutes) are written to a temporary directory. Each
measurement is a fresh process that reports its own time and memory:

- ``baseline``: gzip-decompress every file and split every line on spaces (the least any
  reader must do; nothing kept);
- ``dir``: ``lbguard.offline.alb_logs.profile_from_logs(DIR)`` (parse, aggregate, build the profile);
- ``s3``: the same from a moto S3 bucket in process (objects uploaded before the clock starts;
  moto keeps them in memory, so the floor there includes the bucket itself).

Lines/s and the time ratio to the baseline measured in the same run are printed, with the
peak resident set while reading (``/proc/self/statm`` sampled every 5 ms) and its growth
over the resident set just before reading (after imports, and after the upload for ``s3``):
"constant memory" reads as the same growth at 100k and 1M lines; and the process's peak
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, imports included). Linux carries a parent's
high-water mark into its children across fork and exec, so the logs are generated in a
process of their own and this driver stays small. The 1M-line set is the 100k-line set written ten times under different dates
(distinct file names and request times, same mix): generating a million distinct entries in
Python takes longer than reading them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench-alb-logs"


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


def child(mode: str, root: str) -> None:
    sys.path.insert(0, str(ROOT))
    from lbguard.offline import alb_logs
    from lbguard.core import matching, profile  # noqa: F401 - imported before the RSS floor is taken

    files = sorted(Path(root).rglob("*.log.gz"))
    floor_kb, sampler = rss_now_kb(), Sampler()
    t0 = time.perf_counter()
    lines = 0
    if mode == "baseline":
        for f in files:
            with gzip.open(f, "rt", encoding="utf-8", newline="") as fh:
                for line in fh:
                    line.split(" ")
                    lines += 1
    elif mode == "dir":
        _, agg, _ = alb_logs.profile_from_logs(root)
        lines = agg.lines
    elif mode == "s3":
        import boto3
        from moto import mock_aws

        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        with mock_aws():
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            for f in files:
                s3.put_object(Bucket=BUCKET, Key=str(f.relative_to(root)), Body=f.read_bytes())
            sampler.stop()
            floor_kb, sampler = rss_now_kb(), Sampler()
            t0 = time.perf_counter()
            _, agg, _ = alb_logs.profile_from_logs(f"s3://{BUCKET}/AWSLogs")
            lines = agg.lines
    else:
        sys.exit(f"unknown mode {mode}")
    seconds = time.perf_counter() - t0
    rss_kb = sampler.stop()
    print(json.dumps({"mode": mode, "lines": lines, "seconds": seconds, "rss_kb": rss_kb, "floor_kb": floor_kb,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def measure(mode: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(root)], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"benchmark: {mode} failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_logs(root: Path, lines: int) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.profile import alblog_gen as gen

    unit = min(lines, 100_000)
    copies = max(1, lines // unit)
    start = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    files, truth = gen.generate(gen.dev_mix(), unit, start=start, malformed=0, seed=3)
    for i in range(copies):
        shift = timedelta(days=i)
        for key, body in files:
            day = start + shift
            name = key.rsplit("/", 1)[-1].replace("20260601T", f"{day:%Y%m%d}T")
            if i:
                text = gzip.decompress(body).decode().replace("2026-06-01T", f"{day:%Y-%m-%d}T")
                body = gzip.compress(text.encode(), compresslevel=1)
            p = root / "AWSLogs" / gen.ACCOUNT / "elasticloadbalancing" / gen.REGION / f"{day:%Y/%m/%d}" / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(body)
    return unit * copies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=2, metavar=("DIR", "LINES"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="baseline,dir,s3")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.generate:
        print(write_logs(Path(args.generate[0]), int(args.generate[1])))
        return
    modes = args.modes.split(",")
    print(f"{'lines':>9} {'mode':>9} {'seconds':>8} {'lines/s':>10} {'x baseline':>10} {'RSS MiB':>8} {'grew MiB':>10} {'maxrss MiB':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            gen = subprocess.run([sys.executable, __file__, "--generate", str(root), str(size)], capture_output=True,
                                 text=True, cwd=ROOT)
            if gen.returncode != 0:
                sys.exit(f"benchmark: generating the logs failed: {gen.stderr.strip()[-500:]}")
            n = int(gen.stdout.strip())
            mb = sum(p.stat().st_size for p in root.rglob("*.gz")) / 2**20
            best: dict[str, dict] = {}
            for mode in modes:
                runs = [measure(mode, root) for _ in range(args.runs)]
                for r in runs:
                    if mode != "baseline" and r["lines"] != n:
                        sys.exit(f"benchmark: {mode} read {r['lines']} lines, wrote {n}")
                best[mode] = {"seconds": statistics.median(r["seconds"] for r in runs),
                              "rss_kb": max(r["rss_kb"] for r in runs),
                              "grew_kb": max(r["rss_kb"] - r["floor_kb"] for r in runs),
                              "maxrss_kb": max(r["maxrss_kb"] for r in runs)}
            base = best.get("baseline", {}).get("seconds")
            for mode, r in best.items():
                ratio = f"{r['seconds'] / base:10.2f}" if base else f"{'-':>10}"
                print(f"{n:>9} {mode:>9} {r['seconds']:8.2f} {n / r['seconds']:10.0f} {ratio} "
                      f"{r['rss_kb'] / 1024:8.1f} {r['grew_kb'] / 1024:10.1f} {r['maxrss_kb'] / 1024:10.1f}")
            print(f"{'':>9} ({mb:.1f} MiB gzip in {sum(1 for _ in root.rglob('*.gz'))} files; "
                  f"time: median of {args.runs} runs; RSS: max)")


if __name__ == "__main__":
    main()
