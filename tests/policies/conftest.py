"""One pack process per test module, started exactly as the engine starts it."""

from __future__ import annotations

import json
import os
import sys

import pytest
from google.protobuf import empty_pb2

from lbguard.offline.policy_runner import InProcessPack, PackProcess, analyze, reconcile_config

from tests.conftest import ROOT

PACK = ROOT / "policies"
CONFIGS = {stack: json.loads((PACK / "config" / f"{stack}.json").read_text()) for stack in ("dev", "staging", "prod")}


class Pack:
    def __init__(self, process: PackProcess, info):
        self.process, self.info = process, info

    def evaluate(self, run, user=None):
        """Violations of ``run`` under ``user`` config (default: config/prod.json, every policy mandatory)."""
        config = reconcile_config(self.info, CONFIGS["prod"] if user is None else user)
        violations = analyze(self.process, run.resources, run.outputs, config=config)
        if os.environ.get("LBGUARD_RECORD_POLICY_CASES"):
            from tests.policies.golden import record

            record(os.environ["LBGUARD_RECORD_POLICY_CASES"], run, user, violations)
        return violations

    def found(self, run, user=None):
        return sorted((v.policy, v.enforcement_level, v.urn) for v in self.evaluate(run, user))


_FRESH_IN: list[int] = []  # the process that last imported lb_safety afresh


def open_pack(*, fresh: bool = False, **kwargs):
    """The pack in its own process, as the engine starts it; with LBGUARD_TEST_PACK=in-process in
    this interpreter (the mutation run, tools/mutation.sh: a child process would import the
    unmutated modules and its coverage would not reach mutmut's per-test selection)."""
    if os.environ.get("LBGUARD_TEST_PACK") == "in-process":
        # InProcessPack forgets the pack's modules it finds in the pack directory; the mutation run
        # keeps lb_safety at its root instead, so it is forgotten here: once in each process (each
        # mutant's forked child imports it with the mutant in place, so that the policies the pack
        # builds as it loads are built, and tested, with it), and whenever a test asks for a
        # ``fresh`` pack (the code that runs as the pack loads is then that test's).
        if fresh or _FRESH_IN != [os.getpid()]:
            for name in [n for n in sys.modules if n.split(".")[0] == "lb_safety"]:
                del sys.modules[name]
            _FRESH_IN[:] = [os.getpid()]
        return InProcessPack(PACK, **kwargs)
    return PackProcess(PACK, **kwargs)


@pytest.fixture(scope="module")
def pack():
    with open_pack(project="web-tier", stack="prod", timeout=60) as process:
        yield Pack(process, process.call("GetAnalyzerInfo", empty_pb2.Empty()))
