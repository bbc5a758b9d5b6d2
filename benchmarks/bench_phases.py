"""Preflight against the bare echo-mock run of the same program, as ratios in one run (issue 15).

    .venv/bin/python benchmarks/bench_phases.py [--stack prod] [--pairs 3]

Baseline: Pulumi's documented unit-test way, ``pulumi.runtime.set_mocks`` with mocks that
return each resource's inputs (invokes answered with fixed values), in a fresh process.
Measured: ``lbguard preflight`` (program + pack) and ``--no-policy``, fresh processes.
Runs alternate (A, B, C, A, B, C, ...) so machine load hits each alike; CPU is the
children's user+sys time (the pack runs in the same process unless LBGUARD_PACK_PROCESS=1; its process is then included). Also prints the import phases.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ECHO = r'''
import os, runpy, sys
import pulumi
project, stack = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.getcwd())
from lbguard.core.stackconfig import load_stack_config
name, config, secret = load_stack_config(__import__("pathlib").Path("."), stack)
pulumi.runtime.set_all_config(config, secret)
ANSWERS = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": ["us-east-1a", "us-east-1b", "us-east-1c"],
                                                            "zoneIds": ["use1-az1", "use1-az2", "use1-az4"]},
    "aws:index/getRegion:getRegion": {"name": "us-east-1", "region": "us-east-1", "id": "us-east-1"},
    "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:root",
                                                      "userId": "x"},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:ec2/getAmi:getAmi": {"id": "ami-0c7217cdde317cfec", "rootDeviceName": "/dev/sda1"},
    "aws:elb/getServiceAccount:getServiceAccount": {"arn": "arn:aws:iam::127311923021:root", "id": "127311923021"},
    "aws:lb/getServiceAccount:getServiceAccount": {"arn": "arn:aws:iam::127311923021:root", "id": "127311923021"},
    "aws:iam/getPolicyDocument:getPolicyDocument": {"json": "{}"},
    "aws:ec2/getVpc:getVpc": {"id": "vpc-1", "cidrBlock": "172.31.0.0/16"},
}
class Echo(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", dict(args.inputs, arn=f"arn:aws:x:us-east-1:123456789012:{args.name}",
                                       arnSuffix=f"app/{args.name}/1", name=args.inputs.get("name", args.name))
    def call(self, args):
        return ANSWERS.get(args.token, {})
pulumi.runtime.set_mocks(Echo(), project=name, stack=stack, preview=False)
runpy.run_path("__main__.py", run_name="__main__")
'''


def measured(cmd: list[str], *, env: dict | None = None, cwd: Path = ROOT,
             who: str = "bench_phases") -> tuple[float, float]:
    """(wall s, CPU s of the child and its children); exit 0 or 1 (a finding) expected."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"{who}: {' '.join(map(str, cmd[:5]))} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_time(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", default="prod")
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    cmds = {
        "echo-mock baseline": [py, "-c", ECHO, "web-tier", args.stack],
        "preflight (program+pack)": [py, "-m", "lbguard", "preflight", "--stack", args.stack],
        "preflight --no-policy": [py, "-m", "lbguard", "preflight", "--stack", args.stack, "--no-policy"],
    }
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for _ in range(args.pairs):
        for label, cmd in cmds.items():
            results[label].append(measured(cmd))
    base_cpu = statistics.median(c for _, c in results["echo-mock baseline"])
    print(f"stack {args.stack}, {args.pairs} alternating runs each, machine load {os.getloadavg()[0]:.2f}")
    for label, rows in results.items():
        wall = statistics.median(w for w, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        print(f"  {label:26s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  cpu/baseline {cpu / base_cpu:5.2f}x")
    print("import phases (fresh interpreter each):")
    for module in ("lbguard.cli.app", "pulumi", "pulumi_aws", "moto", "lbguard.offline.emulator"):
        print(f"  import {module:18s} {import_time(module):6.2f} s")


if __name__ == "__main__":
    main()
