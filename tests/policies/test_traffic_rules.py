"""The June 1 rule and the capacity rule on raw pulumi_aws programs (no lbguard tags),
resolved and as a preview of a new stack where every ARN is unknown."""

from __future__ import annotations

import pytest

from tests.policies.fixtures import alb_tokens, by_name, june_1, mutate, web_tier

RULE = "shop-catch-all"


def policies_at(found, level):
    return {(p, name) for p, lvl, name in found if lvl == level}


def named(pack, run, user=None):
    return sorted((v.policy, v.enforcement_level, v.name) for v in pack.evaluate(run, user))


@pytest.mark.parametrize("tokens", ["aws:lb/", "aws:alb/"])
def test_june_1_catch_all_to_one_instance_violates(pack, tokens):
    run = june_1(instances=1)
    run = alb_tokens(run) if tokens == "aws:alb/" else run
    violations = [v for v in pack.evaluate(run, {}) if v.policy == "no-traffic-funnel"]
    assert [(v.enforcement_level, v.urn) for v in violations] == [("mandatory", by_name(run, RULE).urn)]
    assert "100%" in violations[0].message and "all-healthy" in violations[0].message


def test_one_instance_taking_exactly_half_fails_at_the_default_limit(pack):
    """Two even pools of two: with one instance lost, the survivor takes exactly 50% of the
    listener. Reaching the limit is the June 1 shape (one server, half the traffic): it fails."""
    found = named(pack, june_1(instances=2, pools=2), {})
    funnel = [f for f in found if f[0] == "no-traffic-funnel"]
    assert funnel == [("no-traffic-funnel", "mandatory", RULE)], found
    # Three per pool: 25% per survivor, under the limit.
    assert not [f for f in named(pack, june_1(instances=3, pools=2), {}) if f[0] == "no-traffic-funnel"]
    tight = [v for v in pack.evaluate(june_1(instances=3, pools=2), {"no-traffic-funnel": {"maxInstanceShare": 0.25}})
             if v.policy == "no-traffic-funnel"]
    assert [v.name for v in tight] == [RULE] and "instance-lost" in tight[0].message and "25%" in tight[0].message


def test_june_1_caught_in_a_preview_of_a_new_stack(pack):
    """Every ARN and id unknown: the rule, listener, target group and attachment are linked
    through propertyDependencies, so the funnel is still a mandatory violation."""
    run = june_1(instances=1, unknown=True)
    assert by_name(run, RULE).outputs["arn"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    found = named(pack, run, {})
    assert ("no-traffic-funnel", "mandatory", RULE) in found


def test_preview_ambiguity_is_advisory_not_a_pass(pack):
    """One Auto Scaling group serving two target groups whose ARNs are unknown: which is
    which cannot be told, so the funnel check says it could not evaluate (advisory)."""
    run = web_tier()
    run = mutate(run, "web-pool-api-asg", lambda p: p.update(targetGroupArns=p["targetGroupArns"] * 2))
    by_name(run, "web-pool-api-asg").property_dependencies["targetGroupArns"].append(
        by_name(run, "web-pool-blue-tg").urn)
    from tests.policies.fixtures import preview
    run = preview(run)
    funnel = [v for v in pack.evaluate(run) if v.policy == "no-traffic-funnel"]
    assert [v.enforcement_level for v in funnel] == ["advisory"]
    assert "could not be evaluated" in funnel[0].message and "web-pool-api-asg" in funnel[0].message
    assert funnel[0].type == "pulumi:pulumi:Stack"


def test_capacity_unknown_is_advisory_then_evaluated_from_config(pack):
    run = june_1(instances=2, pools=2)
    [v] = [v for v in pack.evaluate(run, {}) if v.policy == "capacity-covers-share"]
    assert v.enforcement_level == "advisory" and "no peak requests/s known" in v.message
    # Peak from the pack config, per-instance capacity still unknown: advisory again, naming the fix.
    [v] = [v for v in pack.evaluate(run, {"capacity-covers-share": {"peakRequestsPerSecond": 400}})
           if v.policy == "capacity-covers-share"]
    assert v.enforcement_level == "advisory" and "defaultRpsPerInstance" in v.message
    # Both known: 200 req/s per pool on 2 x 150 = 67% (fits 80%); one instance lost: 200 on 150 = 133% > 100%.
    cfg = {"capacity-covers-share": {"peakRequestsPerSecond": 400, "defaultRpsPerInstance": 150}}
    [v] = [v for v in pack.evaluate(run, cfg) if v.policy == "capacity-covers-share"]
    assert (v.enforcement_level, v.name) == ("mandatory", RULE)
    assert "133.3%" in v.message and "instance-lost" in v.message
    cfg["capacity-covers-share"]["defaultRpsPerInstance"] = 500
    assert not [v for v in pack.evaluate(run, cfg) if v.policy == "capacity-covers-share"]


def test_the_load_balancer_tag_beats_the_config_default(pack):
    run = web_tier()  # tagged lbguard:peak-rps 400, fits
    assert not pack.found(run, {"capacity-covers-share": {"peakRequestsPerSecond": 100000}})
