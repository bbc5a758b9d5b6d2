"""`lbguard serve`: the resident worker for the edit loop and CI (see lbguard.cli.worker).

While it runs, every `lbguard` command of the same installation runs in a child forked
from it, with the imports already done; results are the same as without it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import click

from lbguard.cli import worker
from lbguard.cli.commands.common import (check_json_target, json_option, project_dir_option, resolve_project_dir,
                                     write_json)
from lbguard.core.model import LbguardError


def _log(text: str) -> None:
    sys.stderr.write(f"lbguard serve: {text}\n")
    sys.stderr.flush()


@click.command(epilog="Examples:\n\n\b\n  lbguard serve --background     # start it; later commands use it\n"
                      "  lbguard serve --status\n  lbguard serve --stop\n  LBGUARD_WORKER=0 lbguard preflight "
                      "--stack dev   # one command without it")
@click.option("--idle", type=click.FloatRange(min=1), default=worker.DEFAULT_IDLE, show_default=True,
              help="exit after this many seconds without a command")
@click.option("--background", is_flag=True, help="detach and return once the worker is ready")
@click.option("--status", "show_status", is_flag=True, help="say whether a worker runs, and where")
@click.option("--stop", "stop", is_flag=True, help="stop the running worker")
@click.option("--warm", "warm_stack", default=None, metavar="STACK",
              help="before the first command, run one preflight of STACK and keep what it warmed "
                   "[default: dev, when the project has it]")
@click.option("--no-warm", is_flag=True, help="start without the warm-up preflight")
@project_dir_option
@json_option("the worker's status (with --status)")
def serve(idle: float, background: bool, show_status: bool, stop: bool, warm_stack: str | None, no_warm: bool,
          cwd: Path | None, json_path: str | None) -> int:
    """Keep an interpreter with Pulumi, pulumi_aws, moto and the pack imported; commands
    run in a fresh child of it (fresh emulator, program and pack state each time)."""
    if sum((background, show_status, stop)) > 1:
        raise LbguardError("--background, --status and --stop: give one of them")
    if json_path is not None and not show_status:
        raise LbguardError("--json: only with --status")
    if (warm_stack is not None or no_warm or cwd is not None) and (show_status or stop):
        raise LbguardError("--warm, --no-warm and --cwd: only when starting a worker (not with --status or --stop)")
    if warm_stack is not None and no_warm:
        raise LbguardError("--warm and --no-warm: give one of them")
    check_json_target(json_path)
    warm = None if (no_warm or show_status or stop) else _warm_target(cwd, warm_stack)
    path = worker.checked_socket_path() if not (show_status or stop) else worker.socket_path()
    pid = worker.worker_pid()
    if show_status and json_path is not None:
        write_json(json_path, {"running": pid is not None, "pid": pid, "socket": str(path)})
        if json_path == "-":
            return 0
    if show_status:
        click.echo(f"worker: running, pid {pid}, {path}" if pid else f"worker: not running ({path})")
        return 0
    if stop:
        if pid is None:
            click.echo("worker: not running")
            return 0
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if worker.worker_pid() is None:
                break
            time.sleep(0.05)
        click.echo(f"worker: stopped (pid {pid})")
        return 0
    if pid is not None:
        raise LbguardError(f"a worker already runs (pid {pid}, {path}); lbguard serve --stop ends it")
    if background:
        return _background(idle, path, warm)
    _log(f"starting at {path}")
    served = worker.serve(idle, log=_log, warm=warm)
    _log(f"ran {served} command(s)")
    return 0


def _warm_target(cwd: Path | None, stack: str | None) -> tuple[Path, str] | None:
    """(project, stack) for the warm-up: an explicit --warm STACK or --cwd DIR must exist;
    the default (dev in the nearest project) is skipped when there is none."""
    from lbguard.core.stackconfig import load_stack_config

    explicit = stack is not None or cwd is not None
    try:
        project = resolve_project_dir(cwd)
    except LbguardError:
        if explicit:
            raise
        return None
    try:
        load_stack_config(project, stack or "dev")
    except LbguardError as err:
        if stack is not None:
            raise LbguardError(f"--warm {stack}: {err}") from None
        return None
    return project, stack or "dev"


def _background(idle: float, path, warm: tuple[Path, str] | None = None) -> int:
    log_file = path.with_suffix(".log")
    worker._private_dir(path.parent)
    child = os.fork()
    if child == 0:
        os.setsid()
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            worker.serve(idle, log=_log, warm=warm)
        except BaseException as err:  # noqa: BLE001 - logged: nobody is attached
            _log(f"error: {err}")
        finally:
            os._exit(0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.worker_pid() is not None:
            click.echo(f"worker: running, pid {worker.worker_pid()}, {path} (log {log_file})")
            return 0
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            raise LbguardError(f"the worker exited while starting; see {log_file}")
        time.sleep(0.05)
    raise LbguardError(f"the worker did not start within 60 s; see {log_file}")
