"""A preview holds unknowns where AWS assigns values. A listener or rule whose routing is unknown
must leave the pack able to run: every policy that needs that routing says it could not judge
it and names the resource (advisory), the others judge the rest of the stack, and an unknown is
never read as a value that passes (an unknown forward weight is not weight 1)."""

from __future__ import annotations

import pytest

from tests.policies.fixtures import UNKNOWN, mutate, setter, web_tier

BASE = web_tier()
HTTPS = "web-routing-https"
API = "web-routing-rule-api"
TRAFFIC = ("alarm-coverage", "capacity-covers-share", "health-check-port-reachable", "no-traffic-funnel")


def verdicts(pack, run):
    return {(v.policy, v.enforcement_level, v.message) for v in pack.evaluate(run, {})}


def cannot(policy, found, reason):
    return [m for p, level, m in found if p == policy and level == "advisory"
            and m.endswith(f"could not be evaluated: {reason}")]


def test_an_unknown_forward_weight_is_reported_as_not_evaluated(pack):
    run = mutate(BASE, HTTPS, setter(["defaultActions", 0, "forward", "targetGroups", 1, "weight"], UNKNOWN))
    found = verdicts(pack, run)
    assert len(cannot("even-target-weights", found, f"{HTTPS}: a forward weight is unknown")) == 1
    assert len([v for v in found if v[0] == "even-target-weights"]) == 1


UNKNOWN_ROUTING = [
    (["actions"], f"{API}: its actions are unknown, so the target groups it forwards to cannot be resolved",
     {"even-target-weights": f"{API}: its actions are unknown", "rollback-output-required": f"{API}: its actions are unknown"}),
    (["actions", 0, "forward"], f"{API}: its actions forward to target groups that are unknown",
     {"even-target-weights": f"{API}: the target groups of a forward are unknown",
      "rollback-output-required": f"{API}: its actions are unknown"}),
    (["actions", 0, "forward", "targetGroups"], f"{API}: its actions forward to target groups that are unknown",
     {"even-target-weights": f"{API}: the target groups of a forward are unknown",
      "rollback-output-required": f"{API}: its actions are unknown"}),
    (["conditions"], f"{API}: its priority or conditions are not known, so no rule's share of listener {HTTPS} can "
                     f"be computed",
     {"listener-rule-shadowing": f"{API}: conditions or priority unknown",
      "rollback-output-required": f"{API}: its conditions or priority are unknown"}),
]


@pytest.mark.parametrize("path, traffic_reason, own", UNKNOWN_ROUTING, ids=lambda v: ".".join(map(str, v))
                         if isinstance(v, list) else None)
def test_unknown_routing_is_said_not_judged_and_crashes_nothing(pack, path, traffic_reason, own):
    base = verdicts(pack, BASE)
    found = verdicts(pack, mutate(BASE, API, setter(path, UNKNOWN)))
    for policy in TRAFFIC:
        assert cannot(policy, found, traffic_reason), policy
    for policy, reason in own.items():
        assert cannot(policy, found, reason), policy
    # nothing else changed: the stack's other verdicts stand
    said = set(TRAFFIC) | set(own)
    assert {v for v in found if v[0] not in said} == {v for v in base if v[0] not in said}
