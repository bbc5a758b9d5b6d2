"""The resident worker (`lbguard serve`, issue 15): the same results as a cold run, the
user's terminal and exit codes, one-line errors, and a stale worker never used.

Each test starts its own worker in its own directory (LBGUARD_WORKER_DIR) through the
console script, as a user does, and stops it afterwards.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest

from tests.offline.test_warm_identity import ROOT, STACKS, cold, normalised

pytestmark = pytest.mark.stackruns
LBGUARD = Path(sys.executable).with_name("lbguard")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


@pytest.fixture()
def worker(tmp_path):
    # A short directory: a Unix socket's path is at most 107 bytes (pytest's tmp_path under
    # xdist is longer than that).
    run_dir = Path(tempfile.mkdtemp(prefix="lbw-", dir="/tmp"))
    env = dict(os.environ, LBGUARD_WORKER="1", LBGUARD_WORKER_DIR=str(run_dir))
    start = subprocess.run([str(LBGUARD), "serve", "--background", "--idle", "300"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, start.stderr
    assert start.stdout.startswith("worker: running, pid ")
    log = next(run_dir.glob("lbguard-*/worker-*.log"))
    yield env, log
    subprocess.run([str(LBGUARD), "serve", "--stop"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(run_dir, ignore_errors=True)


def test_a_socket_path_too_long_is_one_line(tmp_path):
    env = dict(os.environ, LBGUARD_WORKER="1", LBGUARD_WORKER_DIR=str(tmp_path / ("d" * 100)))
    proc = subprocess.run([str(LBGUARD), "serve", "--background"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("lbguard: error: ") and "internal" not in proc.stderr
    assert "at most 107 bytes" in proc.stderr and "LBGUARD_WORKER_DIR" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / ("d" * 100)).exists()


def served(log: Path) -> int:
    return len(re.findall(r"^lbguard serve: command \d+: child pid \d+$", log.read_text(), re.M))


def test_worker_results_are_the_cold_results(worker, tmp_path):
    env, log = worker
    cold_docs = {stack: normalised(cold(stack, tmp_path)) for stack in STACKS}
    order = (*STACKS, STACKS[0])
    for i, stack in enumerate(order):
        out = tmp_path / f"worker-{i}.json"
        proc = subprocess.run([str(LBGUARD), "preflight", "--stack", stack, "--json", str(out)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-500:]
        assert proc.stdout.startswith("lbguard preflight: ")
        doc = json.loads(out.read_text())
        doc.pop("freeze", None)
        assert normalised(doc) == cold_docs[stack], f"worker {stack} (run {i}) differs from the cold run"
    assert served(log) == len(order)
    assert re.search(r"^lbguard serve: warmed with a preflight of dev \(\d+ resources", log.read_text(), re.M)


def _copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py", "components", "stacks"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


def test_a_module_edited_after_the_warm_up_is_read_afresh(tmp_path):
    """The worker warms with the project's dev stack; an edit to a component module after
    that is what the next command runs (the warm-up's modules were purged), as a cold run."""
    project = _copy_project(tmp_path / "project")
    run_dir = Path(tempfile.mkdtemp(prefix="lbw-", dir="/tmp"))
    env = dict(os.environ, LBGUARD_WORKER="1", LBGUARD_WORKER_DIR=str(run_dir))
    try:
        start = subprocess.run([str(LBGUARD), "serve", "--background", "--idle", "300", "--cwd", str(project)],
                               env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert start.returncode == 0, start.stderr
        log = next(run_dir.glob("lbguard-*/worker-*.log"))
        assert "warmed with a preflight of dev" in log.read_text()
        settings = project / "components" / "settings.py"
        text = settings.read_text()
        assert "timeout_seconds: int = Field(5," in text
        settings.write_text(text.replace("timeout_seconds: int = Field(5,", "timeout_seconds: int = Field(6,"))

        def timeouts(doc: dict) -> set:
            return {r["inputs"].get("healthCheck", {}).get("timeout") for r in doc["resources"]
                    if r["type"] == "aws:lb/targetGroup:TargetGroup"}

        docs = {}
        for how in ("worker", "cold"):
            out = tmp_path / f"{how}.json"
            proc = subprocess.run([str(LBGUARD), "preflight", "--cwd", str(project), "--stack", "dev", "--json",
                                   str(out)], env=dict(env, LBGUARD_WORKER="1" if how == "worker" else "0"),
                                  cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr[-500:]
            docs[how] = json.loads(out.read_text())
            docs[how].pop("freeze", None)
        assert served(log) == 1
        assert timeouts(docs["worker"]) == {5, 6}  # blue sets 5 in the stack; green has the edited default
        assert normalised(docs["worker"]) == normalised(docs["cold"])
    finally:
        subprocess.run([str(LBGUARD), "serve", "--stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_serve_warm_options_bad_input_is_one_line(tmp_path):
    env = dict(os.environ, LBGUARD_WORKER="1", LBGUARD_WORKER_DIR=str(tmp_path))
    for args in (["--warm", "no-such-stack"], ["--warm", "dev", "--no-warm"], ["--status", "--warm", "dev"],
                 ["--cwd", str(tmp_path / "nowhere")]):
        proc = subprocess.run([str(LBGUARD), "serve", "--background", *args] if "--status" not in args
                              else [str(LBGUARD), "serve", *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith("lbguard: error: "), (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert not list(tmp_path.glob("lbguard-*/*.sock"))


def test_worker_errors_are_one_line_exit_2(worker, tmp_path):
    env, log = worker
    for args in (["preflight", "--stack", "no-such-stack"], ["preflight", "--bogus"],
                 ["route", "--stack", "dev", "--json", str(tmp_path / "missing" / "x.json")]):
        proc = subprocess.run([str(LBGUARD), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert 1 <= len(lines) <= 3 and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert served(log) == 3


def test_worker_writes_to_the_users_terminal(worker):
    env, log = worker
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    proc = subprocess.Popen([str(LBGUARD), "preflight", "--cwd", str(ROOT / "examples" / "june-1-replay"),
                             "--stack", "replay"], stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 1  # the replay's mandatory violation, as a cold run
    raw = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in raw  # colour: the child saw a terminal
    lines = [line.rsplit("\r", 1)[-1] for line in ANSI.sub("", raw).replace("\r\n", "\n").split("\n")]
    assert lines[0].startswith("lbguard preflight: ")
    assert not [line for line in lines if len(line) > 80]
    assert any("[mandatory]" in line for line in lines)
    assert served(log) == 1


def test_a_stale_worker_is_not_used(worker, tmp_path):
    env, log = worker
    module = ROOT / "lbguard" / "core" / "traffic.py"
    before = module.stat()
    try:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
        out = tmp_path / "dev.json"
        proc = subprocess.run([str(LBGUARD), "preflight", "--stack", "dev", "--json", str(out)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert proc.returncode == 0, proc.stderr[-500:]
    assert json.loads(out.read_text())["resources"]  # run by the client itself
    assert served(log) == 0
    assert "changed since the worker started" in log.read_text()
    for _ in range(100):
        status = subprocess.run([str(LBGUARD), "serve", "--status"], env=env, capture_output=True, text=True)
        if "not running" in status.stdout:
            break
        time.sleep(0.05)
    assert "worker: not running" in status.stdout
