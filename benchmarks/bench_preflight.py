"""Median wall time of `lbguard preflight` (dev, prod; emulated, with the policy pack)
and of the whole test suite.

    .venv/bin/python benchmarks/bench_preflight.py [--runs N] [--no-suite]

Each preflight is a fresh process, as a user runs it (interpreter start and imports
included).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"benchmark: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-suite", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    for stack in ("dev", "prod"):
        for label, extra in (("program+pack", []), ("program only", ["--no-policy"])):
            times = [timed([py, "-m", "lbguard", "preflight", "--stack", stack, *extra]) for _ in range(args.runs)]
            print(f"preflight {stack:5s} {label:13s} median {statistics.median(times):6.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}, n={args.runs})")
    if not args.no_suite:
        t = timed([py, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
        print(f"test suite                        {t:6.2f} s (one run)")


if __name__ == "__main__":
    main()
