"""Processes of a rehearsal: started in their own process group, stopped by PID.

Every child (instances, HAProxy, wrk) is started through a :class:`Processes` set used
as a context manager: leaving it, normally, on an exception or on Ctrl-C, stops each
child it started by its PID (SIGTERM to its process group, SIGKILL after a grace
period). Nothing is ever stopped by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from lbguard.core.model import LbguardError

INSTALL_HINT = "install it with: sudo apt-get install -y haproxy wrk (Debian/Ubuntu packages)"


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise LbguardError(f"{binary} is not installed: lbguard rehearse needs it; {INSTALL_HINT}")
    return path


def free_port() -> int:
    """A loopback port the OS picks (closed again at once; the child binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self._files: list[IO] = []

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def start(self, argv: list[str], *, stdout: Path | None = None, pipe: bool = False,
              env: dict | None = None) -> subprocess.Popen:
        out: IO | int = subprocess.DEVNULL
        if pipe:
            out = subprocess.PIPE
        elif stdout is not None:
            f = open(stdout, "wb")
            self._files.append(f)
            out = f
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if stdout or pipe else subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, grace_s: float = 3.0) -> None:
        """SIGTERM the child's process group (its own PID), then SIGKILL if it lingers."""
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=grace_s)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        for f in self._files:
            f.close()
        self._files.clear()


def wait_port(port: int, timeout_s: float = 10.0, alive: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise LbguardError(f"{what} exited at start")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise LbguardError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g}s")
