"""Program runs shared by the rehearsal tests (the emulator run is the slow part)."""

from __future__ import annotations


import pytest

from tests.conftest import ROOT



@pytest.fixture(scope="session")
def program_run():
    from lbguard.offline.preflight import run_preflight

    cache = {}

    def get(stack: str):
        if stack not in cache:
            cache[stack] = run_preflight(ROOT, stack, policy_pack=None, policy_config=None, use_pack=False)[0]
        return cache[stack]

    return get
