"""Preflights with every acceleration off and on give the same JSON (issue 26).

Off: ``lbguard preflight --json`` in a fresh process with ``LBGUARD_ACCEL=0`` (the libraries'
own code throughout, the pack in its own process as the engine runs it). On: the same
preflight in this interpreter, where the registry counts each installation, so the
comparison is known to have run with the accelerations in place. AWS-generated ids are
numbered by first appearance before comparing (tests/offline/test_warm_identity.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lbguard.accel import registry
from lbguard.offline.preflight import default_pack, offline_message, preflight_document, run_preflight
from tests.offline.test_warm_identity import normalised

from tests.conftest import ROOT

pytestmark = pytest.mark.stackruns
REPLAY = ROOT / "examples" / "june-1-replay"
CASES = [(ROOT, "dev"), (ROOT, "staging"), (ROOT, "prod"), (REPLAY, "replay")]


def _off(project: Path, stack: str, tmp_path: Path) -> tuple[int, dict]:
    out = tmp_path / f"off-{stack}.json"
    env = {**os.environ, "LBGUARD_ACCEL": "0", "LBGUARD_WORKER": "0"}
    proc = subprocess.run([sys.executable, "-m", "lbguard", "preflight", "--stack", stack, "--cwd", str(project),
                           "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-1000:]
    assert "accelerations" not in proc.stderr
    doc = json.loads(out.read_text())
    doc.pop("freeze", None)
    return proc.returncode, doc


def _on(project: Path, stack: str) -> tuple[int, dict]:
    before = dict(registry.INSTALLS)
    run, violations = run_preflight(project, stack, policy_pack=default_pack(project), policy_config=None)
    installed = {a.name for a in registry.REGISTRY if registry.INSTALLS[a.name] > before.get(a.name, 0)}
    assert installed == {a.name for a in registry.REGISTRY if a.install}, "not every acceleration was on"
    assert all(registry.active(a.name) for a in registry.REGISTRY)
    doc = preflight_document(run, violations)
    for v in doc["violations"]:
        v["message"] = offline_message(v["message"])
    rc = 1 if any(v.enforcement_level == "mandatory" for v in violations) else 0
    return rc, json.loads(json.dumps(doc, default=str))


@pytest.mark.parametrize("project,stack", CASES, ids=[stack for _, stack in CASES])
def test_preflight_json_is_the_same_with_accelerations_off_and_on(project, stack, tmp_path, monkeypatch):
    monkeypatch.delenv("LBGUARD_ACCEL", raising=False)
    monkeypatch.delenv("LBGUARD_ACCEL_OFF", raising=False)
    off_rc, off = _off(project, stack, tmp_path)
    on_rc, on = _on(project, stack)
    assert len(on["resources"]) > (10 if stack == "replay" else 40)
    if stack == "replay":
        assert on_rc == 1 and any(v["enforcementLevel"] == "mandatory" for v in on["violations"])
    assert on_rc == off_rc
    assert normalised(on) == normalised(off)
