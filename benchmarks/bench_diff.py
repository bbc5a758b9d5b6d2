"""Pull-request impact for the prod stack: preflight of base + head, then `lbguard diff`.

    .venv/bin/python benchmarks/bench_diff.py [--runs N]

HEAD moves prod's default forward from 50/50 to 60/40. Each step is a fresh process,
as in the PR workflow.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(*cmds: list[str], ok=(0, 1)) -> None:
    """Run the commands concurrently (one each per core, as the PR workflow does)."""
    procs = [(c, subprocess.Popen(c, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
             for c in cmds]
    for cmd, proc in procs:
        _, err = proc.communicate()
        if proc.returncode not in ok:
            sys.exit(f"benchmark: {' '.join(cmd)} failed: {err.strip()[-300:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    lbguard = [sys.executable, "-m", "lbguard"]
    with tempfile.TemporaryDirectory() as tmp:
        head = Path(tmp) / "head"
        (head / "stacks").mkdir(parents=True)
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(ROOT / name, head / name)
        (head / "components").symlink_to(ROOT / "components")
        cfg = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
        cfg["config"]["web-tier:routing"]["default"]["forward"]["weights"] = {"blue": 60, "green": 40}
        (head / "stacks" / "Pulumi.prod.yaml").write_text(yaml.safe_dump(cfg))
        base_cmd = lbguard + ["preflight", "--stack", "prod", "--json", f"{tmp}/base.json"]
        head_cmd = lbguard + ["preflight", "--stack", "prod", "--cwd", str(head), "--json", f"{tmp}/head.json"]
        diff_cmd = lbguard + ["diff", f"{tmp}/base.json", f"{tmp}/head.json", "-o", f"{tmp}/diff.md"]
        diff_times = []
        for label, parallel in (("base || head", True), ("base; head", False)):
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                if parallel:
                    run(base_cmd, head_cmd)
                else:
                    run(base_cmd)
                    run(head_cmd)
                before_diff = time.perf_counter()
                run(diff_cmd, ok=(0,))
                diff_times.append(time.perf_counter() - before_diff)
                times.append(time.perf_counter() - start)
            print(f"prod preflight {label:12s} + diff: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}, n={args.runs})")
        print(f"lbguard diff alone (process incl. imports): median {statistics.median(diff_times):.2f} s")
        if "50% → 60%" not in (Path(tmp) / "diff.md").read_text():
            sys.exit("benchmark: the diff does not show the 50/50 -> 60/40 change")


if __name__ == "__main__":
    main()
