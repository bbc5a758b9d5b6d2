"""`lbguard preflight` end to end: program + pack, exit codes, JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lbguard.cli.app import main
from tests.conftest import ROOT

REPLAY = ROOT / "examples" / "june-1-replay"


def preflight(*args):
    return CliRunner().invoke(main, ["preflight", *args])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_stacks_pass_their_own_pack_config(stack, tmp_path):
    out = tmp_path / "pf.json"
    result = preflight("--stack", stack, "--json", str(out))
    doc = json.loads(out.read_text())
    assert result.exit_code == 0, result.output
    assert [v for v in doc["violations"] if v["enforcementLevel"] == "mandatory"] == []
    assert doc["stack"] == stack and doc["outputs"]["rollback"]["schemaVersion"] == 2
    assert all(r["emulated"] for r in doc["resources"])
    assert {"urn", "type", "name", "emulated"} <= set(doc["resources"][0])


@pytest.mark.parametrize("stack", ["replay", "replay-alb"])
def test_june_first_replay_is_blocked(stack, tmp_path):
    out = tmp_path / "pf.json"
    result = preflight("--cwd", str(REPLAY), "--stack", stack, "--json", str(out))
    assert result.exit_code == 1, result.output
    doc = json.loads(out.read_text())
    funnel = [v for v in doc["violations"] if v["policy"] == "no-traffic-funnel"]
    assert len(funnel) == 1
    v = funnel[0]
    assert v["enforcementLevel"] == "mandatory" and v["name"] == "performance"
    prefix = "aws:alb/" if stack == "replay-alb" else "aws:lb/"
    assert v["type"] == f"{prefix}listenerRule:ListenerRule"
    assert "receives 100% of the listener's traffic" in v["message"]
    assert "no-traffic-funnel" in result.output


def test_unknown_stack_is_one_line():
    result = preflight("--stack", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "stack 'nope' not found" in result.stderr


def test_bad_pack_config_file_is_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no-such-policy": "mandatory"}))
    result = preflight("--stack", "dev", "--policy-pack-config", str(bad))
    assert result.exit_code == 2
    assert "no-such-policy: no such policy" in result.stderr and result.stderr.strip().count("\n") == 0


def test_not_a_project_is_exit_2(tmp_path):
    result = preflight("--cwd", str(tmp_path))
    assert result.exit_code == 2 and "no Pulumi.yaml" in result.stderr


def test_readme_command_in_its_own_process():
    """README command 1 as a user runs it: a fresh process (import order as the console
    script has it, nothing preloaded by other tests), exit 0, the header first."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "lbguard", "preflight", "--stack", "dev"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("lbguard preflight: web-tier/dev in ") and "0 mandatory" in out.stdout
