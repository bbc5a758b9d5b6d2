"""`lbguard rehearse`: what the load generator sustains here, and a 20 s rehearsal end to end.

    .venv/bin/python benchmarks/bench_rehearse.py [--seconds 5] [--skip-e2e]

1. Saturation (closed loop, no think time, wrk -t2 -c64) for ``--seconds`` each:
   a. baseline: wrk -> HAProxy answering itself (``http-request return``): the most
      requests/s wrk and HAProxy sustain together on this machine;
   b. the rehearsal's own path: wrk -> listener -> forward -> target group -> one
      instance server with a capacity far above the load (so the Python server is the
      only extra cost), as a ratio of (a).
2. The rehearsal rate: the default load (DEFAULT_RPS) offered with the Lua script,
   measured/offered, and as a fraction of (b): the default scale keeps the rig well
   inside what it can serve, so what is measured is the routing, not the rig.
3. End to end: ``lbguard rehearse --stack dev --base main --duration 20s`` on the June 1
   change (two program runs + two 20 s rehearsals), wall time and its parts.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lbguard.core import topology  # noqa: E402
from lbguard.cli.commands.rehearse import DEFAULT_RPS  # noqa: E402
from lbguard.core.matching import Request  # noqa: E402
from lbguard.offline.rehearse import runner, wrk  # noqa: E402
from lbguard.offline.rehearse.plan import HealthCheck, Instance, Plan, TargetGroup, _listener  # noqa: E402
from lbguard.offline.rehearse.procs import Processes, free_port, require, wait_port  # noqa: E402


def one_instance_plan(capacity: float) -> Plan:
    node = topology.ListenerNode(urn="l", name="front", arn=None, port=80, protocol="HTTP", load_balancer=None,
                                 default_actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                     {"TargetGroupArn": "tg", "Weight": 1}]}}])
    tg = TargetGroup(id="tg", pool="web", algorithm="round_robin", health=HealthCheck(path="/health"), stickiness_s=0)
    tg.instances = [Instance("web-0", "web", "az-1", capacity, workers=1, queue=10000)]
    return Plan(stack="bench", scale=1.0, peak_rps=DEFAULT_RPS, listeners=[_listener(node)], target_groups={"tg": tg})


def wrk_rate(url: str, seconds: float, extra: list[str] = ()) -> float:
    out = subprocess.run([require("wrk"), "-t2", "-c64", f"-d{seconds:.0f}s", *extra, url], capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        sys.exit(f"benchmark: wrk printed no rate: {out[-300:]}")
    return float(m.group(1))


def baseline(seconds: float, tmp: Path) -> float:
    port = free_port()
    cfg = tmp / "self.cfg"
    cfg.write_text("defaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 1s\n"
                   f"frontend f\n    bind 127.0.0.1:{port}\n    http-request return status 200\n")
    with Processes() as procs:
        proxy = procs.start([require("haproxy"), "-db", "-f", str(cfg)])
        wait_port(port, alive=proxy, what="haproxy")
        return wrk_rate(f"http://127.0.0.1:{port}/", seconds)


def rig(seconds: float, tmp: Path) -> tuple[float, float, float]:
    """(saturated rate through the rig, measured rate at DEFAULT_RPS offered, p99 ms there)."""
    plan = one_instance_plan(capacity=1e6)
    with runner.serve(plan, tmp / "rig") as (_, _, ports, _):
        url = f"http://127.0.0.1:{ports['front']}/"
        top = wrk_rate(url, seconds)
    classes = [wrk.LoadClass("home", Request(host="www.example.com", path="/"), 1.0)]
    raw = runner.run_once(plan, classes, "all-healthy", [], duration_s=seconds, workdir=tmp / "paced")
    lat = sorted(ms for *_, ms in raw.frontend)
    return top, len(raw.frontend) / seconds, float(lat[int(0.99 * (len(lat) - 1))]) if lat else float("nan")


def end_to_end(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "rehearse"))
    from june1 import apply_june1, git_project

    project = git_project(tmp / "project")
    apply_june1(project)
    out = tmp / "e2e.json"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "lbguard", "rehearse", "--stack", "dev", "--cwd", str(project),
                           "--base", "main", "--duration", "20s", "--json", str(out), "--chart", str(tmp / "e2e.png")],
                          capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"benchmark: rehearse failed: {proc.stderr.strip()[-300:]}")
    doc = json.loads(out.read_text())
    print(f"3. end to end, dev June 1 change, base + head, 20 s each: wall {wall:.1f} s "
          f"(load {2 * 20} s = {40 / wall:.0%} of it; the rest: two program runs, process start/stop, report), "
          f"exit {proc.returncode}, verdict {'ok' if doc['verdict']['ok'] else 'block'}")
    for key, run in doc["runs"].items():
        print(f"   {key}: {run['requests']} requests, {run['measuredRps']}/s of {run['offeredRps']}/s, "
              f"p99 {run['p99Ms']} ms, 5xx {run['errorRate']:.1%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        base = baseline(args.seconds, tmp)
        top, paced, p99 = rig(args.seconds, tmp)
        print(f"1a. baseline, wrk -> HAProxy (answers itself), saturated: {base:,.0f} requests/s")
        print(f"1b. wrk -> rehearsal path (listener, forward, target group, one instance), saturated: "
              f"{top:,.0f} requests/s = {top / base:.2f} x baseline")
        print(f"2.  default rehearsal load {DEFAULT_RPS:g}/s offered with the Lua script: {paced:.1f}/s measured "
              f"({paced / DEFAULT_RPS:.2f} x offered), p99 {p99:.0f} ms; {DEFAULT_RPS / top:.1%} of the rig's "
              f"saturated rate -> default scale = {DEFAULT_RPS:g} / peak (dev 200 -> 0.5, prod 3000 -> 0.033)")
        if not args.skip_e2e:
            end_to_end(tmp)


if __name__ == "__main__":
    main()
