"""`lbguard sandbox`: apply a stack into a local AWS emulator (moto server) and keep it up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from lbguard import state
from lbguard.commands.common import project_dir_option, resolve_project_dir, stack_option
from lbguard.model import LbguardError


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


@click.command()
@stack_option
@project_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="port for a new moto server")
def sandbox(stack: str, cwd: Path | None, port: int | None) -> int:
    """Apply the stack into the moto server at AWS_ENDPOINT_URL, or start one on
    127.0.0.1 and keep it running; print the stack outputs as JSON."""
    from lbguard.emulator import emulated_aws, load_stack_config, run_program

    project_dir = resolve_project_dir(cwd)
    _, config = load_stack_config(project_dir, stack)
    region = config.get("aws:region", "us-east-1")
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    pid = None
    if not endpoint:
        port = port or free_port()
        proc = start_moto_server(port, project_dir / ".lbguard" / f"moto-{port}.log")
        endpoint, pid = f"http://127.0.0.1:{port}", proc.pid
    with emulated_aws(region, endpoint=endpoint):
        run = run_program(project_dir, stack)
    doc = {"endpoint": endpoint, "region": region, "project": run.project, "stack": stack, "serverPid": pid,
           "outputs": run.outputs}
    path = state.sandbox_file(project_dir, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    click.echo(json.dumps(run.outputs, indent=2, default=str))
    click.echo(f"\nsandbox: {run.project}/{stack} applied at {endpoint}"
               + (f" (moto server pid {pid}, keeps running)" if pid else ""), err=True)
    click.echo(f"next: export AWS_ENDPOINT_URL={endpoint}\n"
               f"      lbguard promote --stack {stack}\n"
               f"      lbguard drill --stack {stack} --scenario funnel\n"
               f"      lbguard diagnose --stack {stack}\n"
               f"      lbguard rollback --stack {stack}", err=True)
    return 0
