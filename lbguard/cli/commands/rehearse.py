"""`lbguard rehearse`: load-test a routing change on a real proxy, real servers, real load.

Base and head (the working tree) are each run in the emulator, translated to HAProxy,
given one capacity-limited server process per instance and loaded by wrk with the
traffic profile's mix at the stack's peak times ``--scale``, one after the other, on
127.0.0.1 only. Exit 1 when head breaks an SLO (``--p99-ms``, ``--max-error-rate``)
that base meets (without ``--base``: when head breaks one); 2 on bad input.
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
from pathlib import Path

import click

from lbguard.offline import gitbase
from lbguard.cli.commands.common import console, project_dir_option, resolve_project_dir, stack_option, table, write_json
from lbguard.core.model import LbguardError

# The default load: the stack's peak scaled to DEFAULT_RPS requests/s (never above 1x).
# benchmarks/bench_rehearse.py, on this 2-core machine shared with other work: wrk ->
# HAProxy answering itself sustains ~23,000 requests/s; wrk through the rehearsal's own
# path (two proxy hops and a Python instance) ~3,200. 100 requests/s is ~3% of that, so
# the rig's own CPU use stays out of the measurement, yet each instance still sees
# dozens of requests a second (prod: 100 over 18 instances).
DEFAULT_RPS = 100.0
SCENARIO_CHOICES = ("all-healthy", "instance-lost", "az-lost")


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m)?\s*", text)
    if not m:
        raise LbguardError(f"--duration {text!r}: expected seconds like 20s or 1m")
    seconds = float(m.group(1)) * (60 if m.group(2) == "m" else 1)
    if not 2 <= seconds <= 300:
        raise LbguardError(f"--duration {text}: must be between 2s and 300s, got {seconds:g}s")
    return seconds


def _check_output(path: str | None, what: str, suffix: str | None = None) -> None:
    if path is None or path == "-":
        return
    if suffix and not path.lower().endswith(suffix):
        raise LbguardError(f"{what} {path}: must end in {suffix}")
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise LbguardError(f"{what} {path}: directory {parent} does not exist")


def _profile(project_dir: Path, stack: str, profile_path: Path | None):
    """(profile, path) from --profile or stacks/traffic.<stack>.yaml; (None, None) if neither."""
    from lbguard.core.profile import load_profile, profile_path as default_path

    path = profile_path or default_path(project_dir, stack)
    if profile_path is None and not path.is_file():
        return None, None
    if not path.is_file():
        raise LbguardError(f"--profile {path}: file not found")
    return load_profile(path), path


def _classes(profile, path, plans: list):
    from lbguard.offline.rehearse import mix

    if profile is None:
        return mix.derived(plans), "derived from the routing: one request per reachable rule and the default, equal shares"
    return mix.from_profile(profile, plans[-1].primary().port, str(path)), f"profile {path}"


def _program(project_dir: Path, stack: str):
    from lbguard.offline.preflight import run_preflight

    return run_preflight(project_dir, stack, policy_pack=None, policy_config=None, use_pack=False)[0]


def _plans(project_dir: Path, stack: str, base_ref: str | None, scale: float | None, profile) -> dict:
    """Base (if asked) and head plans under ONE load: the same peak (the profile's, else
    head's) and the same scale, so the two runs differ only by the change."""
    from lbguard.offline.rehearse.plan import build_plan

    runs = {}
    if base_ref is not None:
        commit = gitbase.resolve(project_dir, base_ref)
        with gitbase.project_at(project_dir, commit) as base_dir:
            runs["base"] = _program(base_dir, stack)
    runs["head"] = _program(project_dir, stack)
    peak = (profile.peak_requests_per_second if profile is not None else None) or \
        build_plan(runs["head"], stack, 1.0).peak_rps
    chosen = scale if scale is not None else min(1.0, DEFAULT_RPS / peak)
    return {k: build_plan(r, stack, chosen, peak_rps=peak) for k, r in runs.items()}


def _rehearse_one(plan, classes, scenario: str, duration_s: float, workdir: Path):
    from lbguard.offline.rehearse import predict, report, runner

    sc = predict.scenario_for(plan, scenario, classes)
    label = sc.name.split(":", 1)[0]
    if ":" in sc.name:
        label += ":" + plan.target_groups[sc.name.split(":", 1)[1]].pool
    predicted = predict.predicted_shares(plan, classes, sc)
    raw = runner.run_once(plan, classes, label, predict.stopped_instances(plan, sc), duration_s=duration_s,
                          workdir=workdir)
    return report.summarise(raw, plan, predicted, label), report.series(raw, plan)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _print(out, stack: str, runs: dict, verdict: dict) -> None:
    for key, run in runs.items():
        out.print(f"{key}: {run['scenario']}, {run['requests']} requests ({run['measuredRps']:g}/s of "
                  f"{run['offeredRps']:g}/s offered), p99 {run['p99Ms']} ms, 5xx {run['errorRate']:.2%}"
                  + (f", stopped {', '.join(run['stopped'])} (shares after {run['windowStartS']:g}s)"
                     if run["stopped"] else ""))
        out.print(table("", ["pool", "instance", "az", "requests", "share", "model", "p50 ms", "p99 ms", "5xx",
                             "saturated s"],
                        [[i["pool"], i["instance"] + (" (stopped)" if i["stopped"] else ""), i["az"], i["requests"],
                          f"{i['share']:.1%}", f"{i['predictedShare']:.1%}", i["p50Ms"], i["p99Ms"],
                          f"{i['errorRate']:.1%}", i["saturatedS"]] for i in run["instances"]]))
    out.print(f"verdict for {stack}: " + ("ok" if verdict["ok"] else "BLOCK: " + "; ".join(verdict["reasons"])))


@click.command()
@stack_option
@project_dir_option
@click.option("--base", "base_ref", default=None, help="git revision to rehearse first (head: the working tree)")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None,
              help="traffic profile (default: stacks/traffic.<stack>.yaml if present, else derived from the routing)")
@click.option("--scale", type=float, default=None,
              help=f"fraction of peak requests/s and of each instance's capacity (default: peak scaled to {DEFAULT_RPS:g}/s)")
@click.option("--duration", default="20s", show_default=True, help="length of each run")
@click.option("--scenario", default="all-healthy", show_default=True,
              help="all-healthy | instance-lost[:POOL] | az-lost (instances stopped mid-run)")
@click.option("--p99-ms", type=float, default=250.0, show_default=True, help="SLO: p99 latency")
@click.option("--max-error-rate", type=float, default=0.01, show_default=True, help="SLO: fraction of 5xx")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@click.option("--chart", "chart_path", default=None, help="write a PNG chart to FILE.png")
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), default=None,
              help="keep configs, Lua script and logs in DIR")
def rehearse(stack, cwd, base_ref, profile_path, scale, duration, scenario, p99_ms, max_error_rate, json_path,
             chart_path, keep_dir) -> int:
    """Load-test base then head on HAProxy + one server per instance + wrk, on 127.0.0.1."""
    from lbguard.offline.rehearse import chart, procs, report

    duration_s = parse_duration(duration)
    if scale is not None and not 0 < scale <= 1:
        raise LbguardError(f"--scale {scale:g}: must be > 0 and <= 1 (a fraction of peak and capacity)")
    if scenario.split(":", 1)[0] not in SCENARIO_CHOICES:
        raise LbguardError(f"--scenario {scenario}: must be one of {', '.join(SCENARIO_CHOICES)} (or instance-lost:POOL)")
    if p99_ms <= 0 or not 0 <= max_error_rate <= 1:
        raise LbguardError("--p99-ms must be > 0 and --max-error-rate between 0 and 1")
    _check_output(json_path, "--json")
    _check_output(chart_path, "--chart", ".png")
    if profile_path is not None and not profile_path.is_file():
        raise LbguardError(f"--profile {profile_path}: file not found")
    project_dir = resolve_project_dir(cwd)
    profile, profile_file = _profile(project_dir, stack, profile_path)  # bad input first, then the tools
    procs.require("haproxy"), procs.require("wrk")
    plans = _plans(project_dir, stack, base_ref, scale, profile)
    classes, mix_note = _classes(profile, profile_file, list(plans.values()))
    out = console() if json_path != "-" else None
    head = plans["head"]
    if out:
        out.print(f"rehearsing stack {stack} on 127.0.0.1: {' then '.join(plans)}, scenario {scenario}, "
                  f"{head.peak_rps * head.scale:g} requests/s (peak {head.peak_rps:g} x scale {head.scale:.4g}) "
                  f"for {duration_s:g}s each; mix {mix_note}; writes "
                  + (", ".join(p for p in (json_path, chart_path) if p) or "nothing but this report"))
    workdir = keep_dir or Path(tempfile.mkdtemp(prefix="lbguard-rehearse-"))
    runs, series = {}, {}
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a killed rehearsal still stops its processes
    try:
        for key, plan in plans.items():
            runs[key], series[key] = _rehearse_one(plan, classes, scenario, duration_s, workdir / key)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if keep_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    verdict = report.verdict(runs, p99_ms, max_error_rate)
    doc = {"stack": stack, "scale": head.scale, "base": base_ref, "mix": mix_note,
           "slo": {"p99Ms": p99_ms, "maxErrorRate": max_error_rate}, "runs": runs, "verdict": verdict}
    if json_path:
        write_json(json_path, doc)
    if chart_path:
        titles = {"base": f"base ({base_ref})", "head": "head (working tree)"}
        chart.render(Path(chart_path), stack, runs, series, p99_ms, max_error_rate, titles)
    if out:
        _print(out, stack, runs, verdict)
    return 0 if verdict["ok"] else 1
