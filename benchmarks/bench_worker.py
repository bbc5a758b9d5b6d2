"""Issue 15's figures in one run: cold preflight, its CPU against the echo-mock baseline,
warm preflight and preview through `lbguard serve`, and the marginal cost per resource.

    .venv/bin/python benchmarks/bench_worker.py [--runs 5] [--sizes 84,400,2000]

* cold: ``lbguard preflight --stack prod`` (console script, LBGUARD_WORKER=0), fresh process;
  baseline: the echo-mock run of the same program (bench_phases.ECHO, Pulumi's documented
  ``set_mocks`` unit-test way). Runs alternate cold, baseline, worker, ... so load hits
  each alike; CPU is the child's user+sys (the worker's children are not this process's
  children, so worker runs report wall time only).
* worker: the same command with a worker started by ``lbguard serve --background``.
* cold, accelerations off: the cold command with ``LBGUARD_ACCEL=0`` (lbguard.accel.registry:
  every patch of moto, botocore, the SDK and pulumi_policy off, the collector left alone),
  what the accelerations are worth on this machine.
* preview: ``lbguard preview --stack prod --base HEAD`` in a scratch git copy of the project
  whose prod stack has one rule changed (a second path pattern on the api rule).
* marginal: prod with k extra pools, each with its own rule (about 14 resources a pool),
  preflight (program + pack) in a child forked from a preloaded parent warmed with one
  prod preflight, as the worker runs it; the slope between sizes is the cost per resource
  (rounds over all sizes; the best per size, and the median of each round's own slope).
  moto hard-codes AWS's default 60 rules per security group; an account with the quota raised (AWS allows up
  to 1,000 rules per group, inbound x groups per interface) is emulated by raising that
  number in the benchmark's children only, which the 2,000-resource stack needs.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_phases import ECHO, measured  # noqa: E402

LBGUARD = Path(sys.executable).with_name("lbguard")
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "policies", "stacks")


def run(cmd: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float]:
    """(wall s, CPU s of the child and its children), as bench_phases measures them."""
    return measured(cmd, env=env, cwd=cwd, who="bench_worker")


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


def scaled_stack(project: Path, extra_pools: int) -> str:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    config = doc["config"]
    template = config["web-tier:pools"]["api"]
    for i in range(extra_pools):
        pool = copy.deepcopy(template)
        pool["healthCheck"]["path"] = f"/p{i}/health"
        config["web-tier:pools"][f"p{i}"] = pool
        config["web-tier:routing"]["rules"][f"r{i}"] = {
            "priority": 100 + i, "expectedShare": 0.0001, "conditions": {"path": [f"/p{i}/*"]},
            "forward": {"weights": {f"p{i}": 1}}}
    name = f"scale{extra_pools}"
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return name


def _forked_preflight(project: Path, stack: str) -> tuple[float, int]:
    """(wall s, resources) of one preflight in a child forked from this (preloaded) process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 1
        try:
            from lbguard.accel.gcpause import one_shot

            one_shot()  # as the worker's child: one command, then exit
            _quota_raised()
            from lbguard.offline.preflight import run_preflight

            start = time.perf_counter()
            result, _violations = run_preflight(project, stack, policy_pack=None, policy_config=None)
            os.write(write, f"{time.perf_counter() - start} {len(result.resources)}".encode())
            code = 0
        except BaseException as err:  # noqa: BLE001 - reported by the parent
            os.write(write, f"error {type(err).__name__}: {err}"[:500].encode())
        os._exit(code)
    os.close(write)
    answer = os.read(read, 1000).decode()
    os.close(read)
    os.waitpid(pid, 0)
    if answer.startswith("error"):
        sys.exit(f"bench_worker: {stack}: {answer}")
    return float(answer.split()[0]), int(answer.split()[1])


def marginal(sizes: list[int], repeats: int) -> list[tuple[int, list[float], list[float]]]:
    """[(resources, preflight walls, echo-mock walls)] for prod with extra pools, one of each
    per round: each preflight in a fresh fork, the echo-mock run of the same stack (a fresh
    process) the Pulumi SDK's own cost per resource, the floor under any emulator. Rounds
    run every size in turn, so a slow minute on this machine hits all sizes of a round
    instead of all repeats of one size."""
    from lbguard.cli import worker

    worker.preload()
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp) / "project")
        print(f"  marginal parent: {worker.warm_up(project, 'prod')}", flush=True)  # as `lbguard serve` warms
        stacks = [scaled_stack(project, max(0, round((target - 84) / 14))) for target in sizes]
        walls: list[list[float]] = [[] for _ in sizes]
        echoes: list[list[float]] = [[] for _ in sizes]
        counts = [0] * len(sizes)
        for _ in range(repeats):
            for i, stack in enumerate(stacks):
                wall, counts[i] = _forked_preflight(project, stack)
                walls[i].append(wall)
                echoes[i].append(run([sys.executable, "-c", ECHO, "web-tier", stack], dict(os.environ),
                                     cwd=project)[0])
    return list(zip(counts, walls, echoes))


def _quota_raised() -> None:
    from moto.ec2.models.security_groups import SecurityGroupBackend
    from moto.ec2.exceptions import RulesPerSecurityGroupLimitExceededError

    def within_quota(self, group, current_rule_nb, ip_ranges, source_groups=None, egress=False):
        if current_rule_nb + len(ip_ranges or []) + len(source_groups or []) > 1000:
            raise RulesPerSecurityGroupLimitExceededError

    SecurityGroupBackend._verify_group_will_respect_rule_count_limit = within_quota


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="84,400,2000", help="resource counts for the marginal cost")
    ap.add_argument("--skip-marginal", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="rounds over all sizes for the marginal cost")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    cold_env = dict(os.environ, LBGUARD_WORKER="0")
    off_env = dict(cold_env, LBGUARD_ACCEL="0")
    warm_env = dict(os.environ, LBGUARD_WORKER="1", LBGUARD_WORKER_DIR=str(tmp / "run"))
    preflight = [str(LBGUARD), "preflight", "--stack", "prod"]

    # the one-rule change, in a scratch git repository
    repo = copy_project(tmp / "repo")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@invalid"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    prod = repo / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(prod.read_text())
    doc["config"]["web-tier:routing"]["rules"]["api"]["conditions"]["path"].append("/v2/api/*")
    prod.write_text(yaml.safe_dump(doc, sort_keys=False))
    preview = [str(LBGUARD), "preview", "--stack", "prod", "--base", "HEAD", "--cwd", str(repo)]

    subprocess.run([str(LBGUARD), "serve", "--background", "--idle", "600"], env=warm_env, check=True,
                   stdout=subprocess.DEVNULL)
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                                  ("echo", "cold", "cold accel off", "worker", "preview cold",
                                                   "preview worker")}
    try:
        run(preflight, warm_env)  # the worker's first child (page cache, lazily built state)
        for _ in range(args.runs):
            rows["echo"].append(run([sys.executable, "-c", ECHO, "web-tier", "prod"], cold_env))
            rows["cold"].append(run(preflight, cold_env))
            rows["cold accel off"].append(run(preflight, off_env))
            rows["worker"].append(run(preflight, warm_env))
            rows["preview cold"].append(run(preview, cold_env))
            rows["preview worker"].append(run(preview, warm_env))
    finally:
        subprocess.run([str(LBGUARD), "serve", "--stop"], env=warm_env, stdout=subprocess.DEVNULL)

    def med(label: str, i: int = 0) -> float:
        return statistics.median(r[i] for r in rows[label])

    print(f"prod, {args.runs} alternating runs each, load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    print(f"  echo-mock baseline            wall {med('echo'):5.2f} s  cpu {med('echo', 1):5.2f} s")
    print(f"  cold preflight                wall {med('cold'):5.2f} s  cpu {med('cold', 1):5.2f} s  "
          f"cpu/baseline {med('cold', 1) / med('echo', 1):4.2f}x (target <= 2.2x)")
    print(f"  cold, LBGUARD_ACCEL=0         wall {med('cold accel off'):5.2f} s  cpu {med('cold accel off', 1):5.2f} s  "
          f"cpu/baseline {med('cold accel off', 1) / med('echo', 1):4.2f}x (accelerations off)")
    print(f"  warm preflight (worker)       wall {med('worker'):5.2f} s  (target < 1.5 s)  "
          f"{med('cold') / med('worker'):4.2f}x faster than cold")
    print(f"  preview, one rule changed     cold {med('preview cold'):5.2f} s  worker {med('preview worker'):5.2f} s"
          f"  (target < 4 s warm)")
    if args.skip_marginal:
        return
    points = marginal([int(s) for s in args.sizes.split(",")], repeats=args.repeats)
    print(f"  marginal cost per resource (preflight in a fork of a preloaded, warmed parent; {args.repeats} rounds "
          f"over all sizes; best per size, and the median of the rounds' own slopes):")
    for (n, walls, echoes) in points:
        print(f"    {n:5d} resources  preflight {min(walls):6.2f} s   echo-mock program {min(echoes):6.2f} s")
    for (n1, w1, e1), (n2, w2, e2) in zip(points, points[1:]):
        best = 1000 * (min(w2) - min(w1)) / (n2 - n1)
        rounds = statistics.median(1000 * (b - a) / (n2 - n1) for a, b in zip(w1, w2))
        print(f"    {n1:5d} -> {n2:5d}: {best:5.1f} ms per resource, rounds' median {rounds:5.1f} ms (target < 8 ms); "
              f"echo-mock {1000 * (min(e2) - min(e1)) / (n2 - n1):4.1f} ms")


if __name__ == "__main__":
    main()
