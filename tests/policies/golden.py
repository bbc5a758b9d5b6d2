"""The policy corpus: every program the policy tests evaluate, with the violations the pack
reported for it, replayed by tests/policies/test_golden.py as an exact comparison.

The policy tests assert what matters in each case (this policy fires on that resource, that
one stays quiet); the corpus pins everything else the pack said about the same programs: every
other policy's verdict and every message word for word, so a change to any policy's logic or
wording shows as a difference. It is recorded from the policy tests' own runs:

    LBGUARD_RECORD_POLICY_CASES=/tmp/cases .venv/bin/python -m pytest -q -n 0 tests/policies
    .venv/bin/python -m tests.policies.golden /tmp/cases      # writes tests/policies/golden.json.gz

After a deliberate change of what the pack says, the same programs can be judged again instead
(``.venv/bin/python -m tests.policies.golden --refresh``: it prints every changed case's
difference); read that difference before committing it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import sys
from pathlib import Path

from lbguard.core.model import ProgramRun, RecordedResource

CORPUS = Path(__file__).with_name("golden.json.gz")
RESOURCE_FIELDS = ("urn", "type", "name", "custom", "parent", "dependencies", "property_dependencies", "inputs",
                   "outputs", "id")


def run_to_json(run: ProgramRun) -> dict:
    return {"project": run.project, "stack": run.stack, "outputs": run.outputs,
            "resources": [{k: getattr(r, k) for k in RESOURCE_FIELDS} for r in run.resources]}


def run_from_json(doc: dict) -> ProgramRun:
    return ProgramRun(project=doc["project"], stack=doc["stack"], outputs=doc["outputs"],
                      resources=[RecordedResource(**r) for r in doc["resources"]])


def violations_to_json(violations) -> list[list[str]]:
    return sorted([v.policy, v.enforcement_level, v.urn, v.message] for v in violations)


def record(directory: str, run: ProgramRun, user: dict | None, violations) -> None:
    case = {"run": run_to_json(run), "user": user, "violations": violations_to_json(violations)}
    text = json.dumps(case, sort_keys=True, default=str)
    path = Path(directory) / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def load() -> list[dict]:
    return json.loads(gzip.decompress(CORPUS.read_bytes()))


def main(directory: str) -> int:
    cases = sorted((json.loads(p.read_text()) for p in Path(directory).glob("*.json")),
                   key=lambda c: json.dumps(c, sort_keys=True))
    CORPUS.write_bytes(gzip.compress(json.dumps(cases, sort_keys=True).encode(), mtime=0))
    print(f"wrote {CORPUS}: {len(cases)} cases, {sum(len(c['violations']) for c in cases)} violations")
    return 0


def refresh() -> int:
    """Judge the corpus's programs again with today's pack and print what changed."""
    from google.protobuf import empty_pb2

    from tests.policies.conftest import Pack, open_pack

    cases = load()
    changed = 0
    with open_pack(project="web-tier", stack="prod", timeout=60) as process:
        pack = Pack(process, process.call("GetAnalyzerInfo", empty_pb2.Empty()))
        for i, case in enumerate(cases):
            found = violations_to_json(pack.evaluate(run_from_json(case["run"]), case["user"]))
            if found != case["violations"]:
                changed += 1
                for v in case["violations"]:
                    if v not in found:
                        print(f"case{i} - {v}")
                for v in found:
                    if v not in case["violations"]:
                        print(f"case{i} + {v}")
                case["violations"] = found
    CORPUS.write_bytes(gzip.compress(json.dumps(cases, sort_keys=True).encode(), mtime=0))
    print(f"wrote {CORPUS}: {len(cases)} cases, {changed} changed")
    return 0


if __name__ == "__main__":
    sys.exit(refresh() if sys.argv[1:] == ["--refresh"] else main(sys.argv[1]))
