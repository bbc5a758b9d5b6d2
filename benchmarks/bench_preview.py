"""`lbguard preview` of prod with a one-rule change, against one `lbguard preflight` of prod,
both measured in this run (fresh processes, alternating, median).

    .venv/bin/python benchmarks/bench_preview.py [--runs N]

The change: the prod stack's first rule moves to a free priority (an in-place
SetRulePriorities). A preview runs the base program, the head program against it and the
pack on head, so its floor is about two preflights' program time plus one pack run.
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


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", *args], cwd=cwd, check=True,
                   capture_output=True)


def repo_with_change(tmp: Path) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, repo / name)
    for sub in ("components", "stacks", "policies"):
        shutil.copytree(ROOT / sub, repo / sub, ignore=shutil.ignore_patterns("__pycache__"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    path = repo / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    rules = doc["config"]["web-tier:routing"]["rules"]
    first = min(rules, key=lambda k: rules[k]["priority"])
    used = {r["priority"] for r in rules.values()}
    rules[first]["priority"] = next(p for p in range(1, 50000) if p not in used and p > max(used))
    path.write_text(yaml.safe_dump(doc))
    return repo


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"benchmark: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        repo = repo_with_change(Path(tmp))
        pre, prev = [], []
        for _ in range(args.runs):
            pre.append(timed([py, "-m", "lbguard", "preflight", "--stack", "prod", "--cwd", str(repo)], repo))
            prev.append(timed([py, "-m", "lbguard", "preview", "--stack", "prod", "--cwd", str(repo),
                               "--base", "main"], repo))
    p, v = statistics.median(pre), statistics.median(prev)
    print(f"preflight prod (program + pack)        median {p:6.2f} s (min {min(pre):.2f}, max {max(pre):.2f}, "
          f"n={args.runs})")
    print(f"preview prod, one rule moved           median {v:6.2f} s (min {min(prev):.2f}, max {max(prev):.2f}, "
          f"n={args.runs})")
    print(f"preview / preflight                    {v / p:6.2f}x")


if __name__ == "__main__":
    main()
