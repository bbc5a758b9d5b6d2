"""`lbguard sandbox`: apply a stack into a local AWS emulator (moto server) and keep it up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from lbguard.live import endpoint as ep
from lbguard.live import state
from lbguard.cli.commands.common import project_dir_option, resolve_project_dir, stack_option, write_json
from lbguard.core.model import LbguardError
from lbguard.core.stackconfig import load_project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto_server(port: int, log: Path, timeout: float = 20.0) -> subprocess.Popen:
    """moto's own server on 127.0.0.1:port, detached so it outlives this command."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LbguardError(f"moto server exited ({proc.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise LbguardError(f"moto server did not listen on 127.0.0.1:{port} within {timeout:.0f}s; see {log}")


def _alive(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5):
            return True
    except OSError:
        return False


def _stop(doc: dict | None) -> str:
    pid = (doc or {}).get("serverPid")
    if not pid:
        return "no server of ours to stop"
    try:
        os.killpg(os.getpgid(int(pid)), signal.SIGTERM)
        return f"stopped moto server pid {pid}"
    except (ProcessLookupError, PermissionError):
        return f"moto server pid {pid} was not running"


def _endpoint(explicit: str | None, doc: dict | None, project_dir: Path, port: int | None) -> tuple[str, int | None]:
    """The server to apply into: --endpoint (loopback only), the running sandbox's, or a new one."""
    if explicit:
        if not ep.is_local(explicit):
            raise LbguardError(f"--endpoint {explicit}: the sandbox only uses an emulator on this machine "
                               f"(127.0.0.0/8, ::1 or localhost)")
        return explicit, None
    if doc and doc.get("endpoint") and _alive(doc["endpoint"]):
        return doc["endpoint"], doc.get("serverPid")
    port = port or free_port()
    proc = start_moto_server(port, project_dir / ".lbguard" / f"moto-{port}.log")
    return f"http://127.0.0.1:{port}", proc.pid


def _forget_drill(record: Path) -> str:
    """A drill's record is about the emulator being stopped or emptied: nothing left to undo."""
    if not record.exists():
        return ""
    record.unlink()
    return f"; forgot the drill record {record} (what it changed is gone with the emulator)"


@click.command()
@stack_option
@project_dir_option
@click.option("--endpoint", default=None, envvar="AWS_ENDPOINT_URL",
              help="an emulator already running on this machine (default: $AWS_ENDPOINT_URL, else start one)")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="port for a new moto server")
@click.option("--stop", is_flag=True, help="stop the sandbox's moto server and forget its state")
@click.option("--reset", is_flag=True, help="empty the emulator and apply the stack from scratch")
@click.option("--json", "json_path", default=None, help="write the outputs and the plan as JSON to FILE ('-': stdout)")
def sandbox(stack: str, cwd: Path | None, endpoint: str | None, port: int | None, stop: bool, reset: bool,
            json_path: str | None) -> int:
    """Apply the stack into a local moto server; run it again after an edit and it converges
    (the same plan-and-apply path as `lbguard preview`).

    \b
    Example:
      lbguard sandbox --stack dev            # start, apply, print outputs
      lbguard sandbox --stack dev            # after editing the stack: update
      lbguard sandbox --stack dev --stop
    """
    from lbguard.offline.emulator import emulated_aws, load_stack_config
    from lbguard.offline.preview import plan_and_apply, records_from_state, state_document

    project_dir = resolve_project_dir(cwd)
    path = state.sandbox_file(project_dir, stack)
    doc = state.load_sandbox(project_dir, stack)
    drill_record = state.drill_file(project_dir, stack)
    if stop:
        click.echo(f"sandbox: {_stop(doc)}; forgot {path}" + _forget_drill(drill_record), err=True)
        path.unlink(missing_ok=True)
        return 0
    _, config = load_stack_config(project_dir, stack)
    region = config.get("aws:region", "us-east-1")
    url, pid = _endpoint(endpoint, doc, project_dir, port)
    given = click.get_current_context().get_parameter_source("endpoint") == click.core.ParameterSource.ENVIRONMENT
    how = (("environment AWS_ENDPOINT_URL" if given else "--endpoint") if endpoint else
           "started now" if pid and pid != (doc or {}).get("serverPid") else
           f"the running sandbox of {path.relative_to(project_dir)}")
    click.echo(f"sandbox: {load_project(project_dir)['name']}/{stack} -> moto at {url} ({how}), region {region}",
               err=True)
    prior = []
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        if drill_record.exists():
            click.echo(f"sandbox: emptied the emulator{_forget_drill(drill_record)}", err=True)
    elif doc and doc.get("endpoint") == url and doc.get("state"):
        prior = records_from_state(doc["state"], str(path))
    with emulated_aws(region, endpoint=url):
        run, planner, _ = plan_and_apply(prior, project_dir, stack, region)
    steps = [s for s in planner.steps.values() if s.custom and s.op != "same"]
    new = {"endpoint": url, "region": region, "project": run.project, "stack": stack, "serverPid": pid,
           "outputs": run.outputs, "state": state_document(run)}
    state.save_state_file(path, new)
    report = {"endpoint": url, "outputs": run.outputs, "steps": [s.to_json() for s in steps],
              "failures": [f.to_json() for f in planner.failures]}
    if json_path:
        write_json(json_path, report)
    if json_path != "-":
        click.echo(json.dumps(run.outputs, indent=2, default=str))
    counts = {op: sum(s.op == op for s in steps) for op in ("create", "update", "replace", "delete")}
    click.echo("sandbox: " + ", ".join(f"{n} {op}d" for op, n in counts.items())
               + f"; {len(planner.failures)} failed" + (f" (moto server pid {pid} keeps running)" if pid else ""),
               err=True)
    for f in planner.failures:
        click.echo(f"sandbox: {f.urn.rsplit('::', 1)[-1]}: {f.call} -> {f.error}: {f.message}", err=True)
    click.echo(f"next: lbguard promote --stack {stack}; lbguard drill --stack {stack} --scenario funnel; "
               f"lbguard diagnose --stack {stack}; lbguard rollback --stack {stack}; lbguard drill --undo --stack {stack}",
               err=True)
    return 1 if planner.failures else 0
