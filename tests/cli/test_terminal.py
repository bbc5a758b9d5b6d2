"""Commands in a real pseudo-terminal at 80 and 120 columns: no line wider than the
terminal, mandatory violations before advisory ones (issue 12). Runs whole programs, so it
is in the stackruns group (.ci/run runs it)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.stackruns
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
REPLAY = ROOT / "examples" / "june-1-replay"


def in_terminal(args: list[str], cols: int) -> tuple[int, list[str]]:
    """Run lbguard with stdout and stderr on a pty of ``cols`` x 50; (exit code, visible lines)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "lbguard", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=120)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")
    # A spinner redraws one line with carriage returns: what stays visible is after the last one.
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return code, lines


@pytest.mark.parametrize("cols", [80, 120])
def test_preflight_fits_the_terminal_and_lists_mandatory_first(cols):
    code, lines = in_terminal(["preflight", "--cwd", str(REPLAY), "--stack", "replay"], cols)
    assert code == 1
    wide = [line for line in lines if len(line) > cols]
    assert not wide, wide
    levels = [m.group(1) for line in lines for m in [re.search(r"\[(mandatory|advisory)\]", line)] if m]
    assert "mandatory" in levels and "advisory" in levels
    assert levels.index("advisory") > max(i for i, lv in enumerate(levels) if lv == "mandatory")
    assert lines[0].startswith("lbguard preflight: ")


@pytest.mark.parametrize("cols", [80, 120])
@pytest.mark.parametrize("args", [
    ["route", "--stack", "dev", "--host", "www.example.com", "--path", "/api/v1/items"],
    ["--help"], ["preflight", "--help"], ["preview", "--help"], ["diff", "--help"], ["rollback", "--help"],
    ["profile", "--help"], ["rehearse", "--help"], ["sandbox", "--help"], ["promote", "--help"],
    ["diagnose", "--help"], ["drill", "--help"], ["freeze", "--help"], ["unfreeze", "--help"], ["route", "--help"],
    ["serve", "--help"],
])
def test_commands_fit_the_terminal(cols, args):
    code, lines = in_terminal(args, cols)
    assert code == 0, lines
    wide = [line for line in lines if len(line) > cols]
    assert not wide, wide


def test_preflight_last_screen_at_80x50_shows_every_violation_and_the_verdict_last(tmp_path):
    """Issue 29: the resource inventory is one line, the violations come last (mandatory first),
    then the verdict: at 80x50 the screen left after the run shows every violation of the June 1
    replay and ends with the verdict."""
    import json

    out = tmp_path / "replay.json"
    code, lines = in_terminal(["preflight", "--cwd", str(REPLAY), "--stack", "replay", "--json", str(out)], 80)
    assert code == 1
    violations = json.loads(out.read_text())["violations"]
    assert len(violations) >= 8
    while lines and not lines[-1].strip():
        lines.pop()
    screen = lines[-49:]  # 50 rows, the last one holding the cursor
    assert len([line for line in screen if re.match(r"  \[(mandatory|advisory)", line)]) == len(violations)
    assert any(line.startswith("policy violations: ") for line in screen)
    mandatory = sum(v["enforcementLevel"] == "mandatory" for v in violations)
    assert screen[-1] == f"BLOCKED: {mandatory} mandatory violations " \
        f"({len({v['policy'] for v in violations if v['enforcementLevel'] == 'mandatory'})} policies), " \
        f"{len(violations) - mandatory} advisory"
    levels = [m.group(1) for line in screen for m in [re.match(r"  \[(mandatory|advisory)", line)] if m]
    assert levels == sorted(levels, key=lambda lv: lv != "mandatory")
