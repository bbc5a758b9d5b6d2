"""More of the routing policies (policies/lb_safety/routing.py) and the pack's shared helpers
(common.py), each finding with its exact words: rollback-output-required when the output is
missing, no-traffic-funnel and listener-rule-shadowing at the edges of what they can read."""

from __future__ import annotations

import copy

from lbguard.core.snapshot import SCHEMA_VERSION
from tests.policies.fixtures import STACK_TYPE, web_tier

BASE = web_tier()
STACK = "web-tier-prod"
HTTPS = "web-routing-https"
API = "web-routing-rule-api"

NO_ROLLBACK = (f"the stack exports no 'rollback' output. Export the routing snapshot (schemaVersion {SCHEMA_VERSION}, "
               f"built by lbguard.core.snapshot.build_snapshot from the same listeners and rules) so routing can be "
               f"restored with boto3 alone.")


def findings(pack, run, policy, user=None):
    return sorted((v.enforcement_level, v.name, v.message)
                  for v in pack.evaluate(run, {} if user is None else user) if v.policy == policy)


def test_a_stack_without_a_rollback_output_is_told_what_to_export(pack):
    run = copy.deepcopy(BASE)
    del run.outputs["rollback"]
    assert findings(pack, run, "rollback-output-required") == [("mandatory", STACK, NO_ROLLBACK)]


def test_resources_without_the_root_stack_have_no_rollback_output(pack):
    """A resource list without the root stack (so no outputs at all) is a missing rollback
    output, not a crash of the policy."""
    run = copy.deepcopy(BASE)
    run.resources = [r for r in run.resources if r.type != STACK_TYPE]
    assert [(level, message) for level, _, message in findings(pack, run, "rollback-output-required")] == \
        [("mandatory", NO_ROLLBACK)]
