"""Must show: the June 1 change on the dev stack, rehearsed base -> head through the CLI.

Numbers (default scale: dev's peak 200 req/s scaled to 100, so scale 0.5): every
instance's capacityRps 150 becomes 75 req/s (2 workers x 26.7 ms, queue 38 = 0.5 s).
The derived mix has four equal request classes (/, /api/rehearse, /maintenance from
base, /rehearse from head's catch-all). Base forwards 3/4 of 100 req/s over 4
instances: 18.75 req/s each, 25% of capacity. Head's catch-all (priority 1, /*) sends
all 100 req/s to perf's single instance: 133% of its 75 req/s, the postmortem's
"computed 133%". Its queue fills, latency climbs to ~0.5 s and the overflow is 503.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.offline.rehearse.june1 import apply_june1, git_project

pytestmark = pytest.mark.rehearse


def test_june1_head_drowns_one_instance_and_blocks(tmp_path):
    project = git_project(tmp_path / "project")
    apply_june1(project)
    out, chart = tmp_path / "r.json", tmp_path / "r.png"
    proc = subprocess.run([sys.executable, "-m", "lbguard", "rehearse", "--stack", "dev", "--cwd", str(project),
                           "--base", "main", "--duration", "6s", "--json", str(out), "--chart", str(chart)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "160"})  # pytest exports COLUMNS=80; a user's pipe has none
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["stack"] == "dev" and doc["scale"] == 0.5
    base, head = doc["runs"]["base"], doc["runs"]["head"]
    assert base["errorRate"] == 0 and base["p99Ms"] < doc["slo"]["p99Ms"]
    assert all(i["share"] > 0.15 for i in base["instances"])  # spread over the four instances
    perf = next(i for i in head["instances"] if i["pool"] == "perf")
    assert perf["share"] > 0.98 and perf["predictedShare"] == 1.0
    assert all(i["requests"] == 0 for i in head["instances"] if i["pool"] != "perf")
    assert perf["p99Ms"] > doc["slo"]["p99Ms"] and perf["errorRate"] > 0.05
    assert perf["saturatedS"] > 3  # saturated for most of the 6 s run
    assert head["p99Ms"] > doc["slo"]["p99Ms"] and head["errorRate"] > doc["slo"]["maxErrorRate"]
    assert not doc["verdict"]["ok"]
    assert any("p99" in r and "base meets it" in r for r in doc["verdict"]["reasons"])
    assert any("5xx" in r for r in doc["verdict"]["reasons"])
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BLOCK" in proc.stdout and "perf-0" in proc.stdout
