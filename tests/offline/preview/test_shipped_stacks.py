"""Issue 25, "the shipped stacks": every change of port, protocol, internal, health-check port
and pool add/remove on dev, staging and prod previews deployable without a traffic window, or is
refused with the way to do it (each failure and each blocking window carries its fix)."""

from __future__ import annotations

import pytest

from tests.offline.preview.conftest import Change

P = "web-tier:"
pytestmark = pytest.mark.stackruns


def _first_pool(c: dict) -> str:
    return sorted(c[P + "pools"])[0]


EDITS = {
    "port": lambda c: c[P + "pools"][_first_pool(c)].update(port=8080),
    "protocol": lambda c: c[P + "pools"][_first_pool(c)].update(protocol="HTTPS"),
    "internal": lambda c: c[P + "loadBalancer"].update(internal=True),
    "health-check port": lambda c: c[P + "pools"][_first_pool(c)].setdefault("healthCheck", {}).update(port="8081"),
    "pool added": lambda c: c[P + "pools"].update(spare={"ami": "ami-0c7217cdde317cfec", "capacityRps": 100,
                                                         "minSize": 2, "desiredCapacity": 2, "maxSize": 4}),
    "pool removed": lambda c: c[P + "pools"].pop(sorted(c[P + "pools"])[-1])
    if not any(sorted(c[P + "pools"])[-1] in f.get("forward", {}).get("weights", {})
               for f in [c[P + "routing"]["default"], *c[P + "routing"].get("rules", {}).values()]) else None,
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize("what", sorted(EDITS))
def test_deployable_without_a_window_or_refused_with_the_way(tmp_path, stack, what):
    change = Change(tmp_path, stack)
    result = change.edit(EDITS[what]).preview()
    blocking = [w for w in result.windows if not w.accepted]
    if not result.failures and not blocking:
        return  # deployable, no traffic window
    assert all(f.fix for f in result.failures), [(f.call, f.error) for f in result.failures]
    assert all(w.fix for w in blocking), [w.cause for w in blocking]
    if what == "internal":  # refused before anything is written
        assert [f.error for f in result.failures] == ["Protected"] and result.writes == 0
