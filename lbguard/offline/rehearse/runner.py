"""One rehearsal run: instances, HAProxy and wrk on loopback, then the logs read back.

Everything started here is stopped by PID when :func:`run_once` returns or raises
(:class:`lbguard.offline.rehearse.procs.Processes`). A run is bounded in time (wrk's ``-d``, a
kill timeout) and in requests (the Lua script stops each thread after its share).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.core.model import LbguardError
from lbguard.offline.rehearse import haproxy, wrk
from lbguard.offline.rehearse.plan import Plan
from lbguard.offline.rehearse.procs import Processes, free_port, require, wait_port

STOP_AT = 0.25  # scenarios stop their instances after this fraction of the run
MAX_RPS = 5000.0  # above this the loopback rig measures itself, not the routing


@dataclass
class Raw:
    """What one run leaves behind, before any summary."""

    scenario: str
    rate: float
    duration_s: float
    started: float  # epoch seconds, wrk start
    stopped: list[str] = field(default_factory=list)
    stopped_at: float | None = None  # epoch seconds
    frontend: list[tuple[float, str, int, int]] = field(default_factory=list)  # (t, rule, status, ms)
    targets: list[tuple[float, str, str, int, int]] = field(default_factory=list)  # (t, tg, instance, status, ms)
    health: list[str] = field(default_factory=list)  # HAProxy's server state changes
    instance_stats: dict[str, dict] = field(default_factory=dict)
    wrk_summary: str = ""
    config: str = ""


def _read_port(proc: subprocess.Popen, name: str, deadline: float) -> int:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline().decode()
        if line.startswith("PORT "):
            return int(line.split()[1])
        if not line:
            break
    raise LbguardError(f"instance {name} did not start (no port within 10 s)")


def _start_instances(procs: Processes, plan: Plan, workdir: Path, life_s: float) -> tuple[dict, dict]:
    started = {}
    for inst in plan.instances():
        argv = [sys.executable, "-m", "lbguard.offline.rehearse.instance", "--name", inst.name,
                "--capacity", f"{inst.capacity_rps:.6f}", "--workers", str(inst.workers), "--queue", str(inst.queue),
                "--stats", str(workdir / f"{inst.name}.json"), "--max-seconds", f"{life_s:.0f}"]
        started[inst.name] = procs.start(argv, pipe=True)
    deadline = time.monotonic() + 10
    ports = {name: _read_port(p, name, deadline) for name, p in started.items()}
    return started, ports


def _parse_log(path: Path, raw: Raw) -> None:
    """HAProxy logs when a request ends (``date``); it started ``%Ta`` ms before."""
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        try:
            if parts[:1] == ["F"] and len(parts) == 5:
                raw.frontend.append(((float(parts[1]) - int(parts[4])) / 1000, parts[2], int(parts[3]), int(parts[4])))
            elif parts[:1] == ["T"] and len(parts) == 6:
                inst = parts[3].removesuffix(".open")
                raw.targets.append(((float(parts[1]) - int(parts[5])) / 1000, parts[2].removeprefix("tg_"), inst, int(parts[4]), int(parts[5])))
            elif " is DOWN" in line or " is UP" in line:
                raw.health.append(line.strip())
        except ValueError:
            continue


@contextlib.contextmanager
def serve(plan: Plan, workdir: Path, *, hc_speedup: float = haproxy.HC_SPEEDUP, life_s: float = 600.0):
    """Instances and HAProxy up on loopback; yields (processes, instance procs, listener ports, log)."""
    haproxy_bin = require("haproxy")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "haproxy.log"
    with Processes() as procs:
        instances, ports = _start_instances(procs, plan, workdir, life_s=life_s)
        listener_ports = {l.name: free_port() for l in plan.listeners}
        config = haproxy.render(plan, listener_ports, ports, secrets.token_hex(4), hc_speedup)
        (workdir / "haproxy.cfg").write_text(config)
        proxy = procs.start([haproxy_bin, "-db", "-f", str(workdir / "haproxy.cfg")], stdout=log)
        for port in listener_ports.values():
            wait_port(port, alive=proxy, what=f"haproxy (its output: {log})")
        yield procs, instances, listener_ports, log


def run_once(plan: Plan, classes: list[wrk.LoadClass], scenario: str, stop: list[str], *, duration_s: float,
             workdir: Path, hc_speedup: float = haproxy.HC_SPEEDUP, max_requests: int | None = None) -> Raw:
    """Rehearse ``plan`` under ``classes`` for ``duration_s``, stopping ``stop`` instances at STOP_AT."""
    wrk_bin = require("wrk")
    rate = plan.peak_rps * plan.scale
    if rate > MAX_RPS:
        raise LbguardError(f"--scale {plan.scale:g}: {rate:.0f} requests/s is more than this loopback rig "
                           f"rehearses faithfully ({MAX_RPS:.0f}); lower --scale")
    max_requests = max_requests or int(rate * duration_s * 1.5) + 100
    raw = Raw(scenario=scenario, rate=rate, duration_s=duration_s, started=0.0)
    with serve(plan, workdir, hc_speedup=hc_speedup, life_s=duration_s + 120) as (procs, instances, listener_ports, log):
        raw.config = (workdir / "haproxy.cfg").read_text()
        (workdir / "load.lua").write_text(wrk.script(classes, rate, max_requests))
        url = f"http://127.0.0.1:{listener_ports[plan.primary().name]}/"
        argv = [wrk_bin, "-t", str(wrk.THREADS), "-c", str(wrk.connections_for(rate)), "-d", f"{duration_s:.0f}s",
                "--timeout", "10s", "-s", str(workdir / "load.lua"), url]
        raw.started = time.time()
        load = procs.start(argv, pipe=True)
        if stop:
            time.sleep(max(0.0, raw.started + STOP_AT * duration_s - time.time()))
            raw.stopped_at = time.time()
            for name in stop:
                procs.stop(instances[name])
            raw.stopped = list(stop)
        try:
            out, _ = load.communicate(timeout=duration_s + 20)
        except subprocess.TimeoutExpired:
            procs.stop(load)
            raise LbguardError(f"wrk did not finish within {duration_s + 20:.0f}s; stopped it") from None
        raw.wrk_summary = next((l for l in out.decode(errors="replace").splitlines() if l.startswith("WRK ")), "")
    _parse_log(log, raw)
    for inst in plan.instances():
        stats = workdir / f"{inst.name}.json"
        if stats.is_file():
            raw.instance_stats[inst.name] = json.loads(stats.read_text())
    return raw
