"""Cold and warm preflights give the same verdicts, resources and outputs (issue 15).

Cold: ``lbguard preflight --json`` in a fresh process with the pack in its own process
(``LBGUARD_PACK_PROCESS=1``, the engine's way). Warm: one interpreter running every stack,
then the first again, with the in-process pack, as a resident process would. AWS-generated ids
(ARN suffixes, sg-/vpc- ids, name suffixes) differ between any two runs, so each hex run of
seven or more characters (and each UUID) is replaced by its order of first appearance before comparing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lbguard.offline.preflight import default_pack, offline_message, preflight_document, run_preflight

from tests.conftest import ROOT

pytestmark = pytest.mark.stackruns
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?<![0-9a-zA-Z])[0-9a-f]{7,}(?![0-9a-zA-Z])|(?<=-)[0-9a-f]{7,}(?![0-9a-zA-Z])")


def _unordered_dependencies(resource: dict) -> dict:
    # Pulumi's runtime collects a resource's dependencies in a set: their order is not stable.
    resource = dict(resource)
    if isinstance(resource.get("dependencies"), list):
        resource["dependencies"] = sorted(resource["dependencies"])
    if isinstance(resource.get("propertyDependencies"), dict):
        resource["propertyDependencies"] = {k: sorted(v) for k, v in resource["propertyDependencies"].items()}
    return resource


def normalised(doc: dict) -> str:
    # Registration order is the runtime's (concurrent); each resource is compared by its URN.
    doc = dict(doc, resources=sorted((_unordered_dependencies(r) for r in doc["resources"]), key=lambda r: r["urn"]),
               violations=sorted(doc["violations"], key=lambda v: (v["policy"], v.get("urn") or "", v["message"])))
    text = json.dumps({k: doc[k] for k in ("resources", "outputs", "violations", "unconsumedInputs")}, sort_keys=True)
    seen: dict[str, str] = {}
    return _ID.sub(lambda m: seen.setdefault(m.group(0), f"<id{len(seen)}>"), text)


STACKS = sorted(f.name.split(".")[1] for f in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def cold(stack: str, tmp_path: Path) -> dict:
    out = tmp_path / f"cold-{stack}.json"
    env = dict(os.environ, LBGUARD_PACK_PROCESS="1")
    proc = subprocess.run([sys.executable, "-m", "lbguard", "preflight", "--stack", stack, "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-500:]
    doc = json.loads(out.read_text())
    doc.pop("freeze", None)
    return doc


def test_cold_and_warm_preflights_are_identical(tmp_path):
    assert {"dev", "staging", "prod"} <= set(STACKS)
    cold_docs = {stack: normalised(cold(stack, tmp_path)) for stack in STACKS}
    warm = []
    for stack in (*STACKS, STACKS[0]):  # every stack, then the first again after the others
        run, violations = run_preflight(ROOT, stack, policy_pack=default_pack(ROOT), policy_config=None)
        doc = preflight_document(run, violations)
        for v in doc["violations"]:
            v["message"] = offline_message(v["message"])
        warm.append((stack, json.loads(json.dumps(doc, default=str))))
    assert len(json.loads(cold_docs["prod"])["resources"]) > 80
    for stack, doc in warm:
        assert normalised(doc) == cold_docs[stack], f"warm {stack} differs from cold"
