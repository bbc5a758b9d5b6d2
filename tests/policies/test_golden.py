"""Every program the policy tests evaluate gives exactly the violations recorded for it
(tests/policies/golden.py says how the corpus is recorded and when to record it again)."""

from __future__ import annotations

import pytest

from tests.policies.golden import load, run_from_json, violations_to_json

CASES = load()


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_the_pack_says_what_it_said(pack, case):
    found = violations_to_json(pack.evaluate(run_from_json(case["run"]), case["user"]))
    assert found == case["violations"]
