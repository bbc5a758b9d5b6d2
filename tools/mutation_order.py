"""pytest plugin for the mutation run (tools/mutation.sh): run a mutant's tests fastest first.

mutmut runs the tests that reach a mutated function with -x, in whatever order it lists them;
ordering them by the durations mutmut recorded (mutants/mutmut-stats.json) lets the quick
direct tests of a module kill its mutants before the slow whole-program ones start. Tests
without a recorded duration (added since) go first: they are the new direct tests.
"""

from __future__ import annotations

import json
from pathlib import Path


def pytest_collection_modifyitems(session, config, items):
    stats = Path("mutmut-stats.json")
    if not stats.exists():
        return
    durations = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid.removeprefix("mutants/"), 0.0))
