"""Rollback wall time and write calls against a moto server, without and with faults.

    .venv/bin/python benchmarks/bench_rollback.py [--runs 3] [--rules 50]

Scenarios (tests/live/world.py builds them through boto3):

- ``june-1``: the June 1 change: a pool left with one instance and a new catch-all rule
  at priority 1 sending all traffic to it (2 other rules, a 50/50 default);
- ``drift-N``: N rules whose weights are skewed to 100/0 and whose priorities are
  reversed, plus a skewed default action and the June 1 catch-all rule.

Each is rolled back by ``lbguard.live.operation.run_rollback`` (lock, journal, converge,
freeze: what ``lbguard rollback`` runs), through a fault proxy (tests/live/
faultproxy.py): once with no fault (the baseline, same run), once with faults injected
(3 throttled writes, the first DeleteRule's response lost, 2 reads answered 500, 2
stale reads), with botocore's real retry backoff. Prints seconds (median of --runs),
write calls made by lbguard, HTTP requests the proxy saw, and the ratio to the baseline.
Every run must end verified; a second run must make no write call of any kind (SSM included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from lbguard.live import operation, reader  # noqa: E402
from lbguard.cli.commands.sandbox import free_port, start_moto_server  # noqa: E402
from tests.live import world as W  # noqa: E402
from tests.live.faultproxy import WRITE_PREFIXES, FaultProxy  # noqa: E402


def faults(proxy: FaultProxy) -> None:
    proxy.add("throttle", "write", times=3)
    proxy.add("lost", {"DeleteRule"}, times=1)
    proxy.add("error500", {"DescribeRules", "DescribeListeners"}, after=1, times=2)
    proxy.add("stale", {"DescribeRules"}, after=3, times=2)


def one(world: W.World, breaker, proxy: FaultProxy, direct: str, with_faults: bool) -> tuple[float, int, int]:
    breaker(world, direct)
    proxy.clear()
    if with_faults:
        faults(proxy)
    before = len(proxy.log)
    elbv2 = reader.client(region=W.REGION, endpoint_url=proxy.url)
    ssm = boto3.client("ssm", region_name=W.REGION, endpoint_url=proxy.url, config=reader.RETRY_CONFIG)
    start = time.perf_counter()
    run = operation.run_rollback(elbv2, ssm, world.snapshot, world.target, source="bench", wait=60)
    took = time.perf_counter() - start
    assert run.result.verified, run.result.not_applied
    assert W.routing_now(world, direct) == W.freeze_routing(world.snapshot)
    requests = len(proxy.log[before:])
    proxy.clear()
    second = len(proxy.log)
    again = operation.run_rollback(elbv2, ssm, world.snapshot, world.target, source="bench")
    assert again.result.verified and again.result.write_calls == 0
    assert not [e.op for e in proxy.log[second:] if e.op.startswith(WRITE_PREFIXES)]  # SSM included: no lock, journal
    return took, run.result.write_calls, requests


def june_1(world: W.World, direct: str) -> None:
    W.june_1(world, direct)


def drift(world: W.World, direct: str) -> None:
    W.june_1(world, direct)
    W.drift_all(world, direct)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rules", type=int, default=50)
    args = ap.parse_args()
    port = free_port()
    server = start_moto_server(port, Path("/tmp") / f"bench-rollback-moto-{port}.log")
    direct = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=W.REGION)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    proxy = FaultProxy(direct).start()
    try:
        for name, rules, breaker in (("june-1", 2, june_1), (f"drift-{args.rules}", args.rules, drift)):
            world = W.build(f"bench-{name}", rules=rules, endpoint=direct)
            baseline = None
            for with_faults in (False, True):
                runs = [one(world, breaker, proxy, direct, with_faults) for _ in range(args.runs)]
                median = statistics.median(t for t, _, _ in runs)
                baseline = baseline or median
                print(f"{name:9s} {'faults' if with_faults else 'clean ':6s}: rollback median {median:.3f} s "
                      f"(min {min(t for t, _, _ in runs):.3f}, n={args.runs}), {runs[0][1]} write calls, "
                      f"{runs[0][2]} HTTP requests at the proxy, {median / baseline:.2f}x the clean run; "
                      f"verified, second run 0 write calls of any kind (SSM included)")
    finally:
        proxy.stop()
        server.kill()


if __name__ == "__main__":
    main()
