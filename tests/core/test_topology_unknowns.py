"""A preview's unknowns in a listener's or rule's routing: the topology links what it can and
reports the rest as unresolved (the policies then say what they could not judge), and never
reads an unknown as routing nor stops on it."""

from __future__ import annotations

import pytest

from lbguard.core import topology
from tests.core.test_topology import U, build, fwd_action, listener, listener_arn, path_rule, simple_fwd, tg, tg_arn


@pytest.mark.parametrize("actions, why", [
    (U, "its defaultActions are unknown, so the target groups it forwards to cannot be resolved"),
    ([U], "its defaultActions are unknown, so the target groups it forwards to cannot be resolved"),
    ([simple_fwd(tg_arn("blue")), U], "its defaultActions are unknown, so the target groups it forwards to cannot be "
                                      "resolved"),
    ([{"type": "forward", "forward": U}], "its defaultActions forward to target groups that are unknown"),
    ([{"type": "forward", "forward": {"targetGroups": U}}], "its defaultActions forward to target groups that are unknown"),
    ([{"type": "forward", "forward": {"targetGroups": [U]}}],
     "its defaultActions forward to target groups that are unknown"),
    ([{"type": "forward", "forward": {"targetGroups": [{"arn": tg_arn("blue"), "weight": 1}, U]}}],
     "its defaultActions forward to target groups that are unknown"),
], ids=["unknown", "unknown-list", "one-unknown-action", "unknown-forward", "unknown-groups", "unknown-group-list",
        "one-unknown-group"])
def test_a_listener_whose_routing_is_unknown_is_unresolved(actions, why):
    blue = tg("blue")
    lst = listener("https", actions)
    topo = build(blue, lst)
    assert topo.forwards == []
    assert topo.unresolved == [(lst.urn, why)]


def test_an_unknown_weight_is_no_weight():
    blue, green = tg("blue"), tg("green")
    lst = listener("https", [fwd_action((tg_arn("blue"), 1), (tg_arn("green"), U))])
    [fwd] = build(blue, green, lst).forwards
    assert fwd.weights == {tg_arn("blue"): 1.0, tg_arn("green"): 0.0}
    assert topology.forward_pairs(fwd_action((tg_arn("blue"), 1), (tg_arn("green"), U))) == [
        (tg_arn("blue"), 1.0), (tg_arn("green"), U)]


@pytest.mark.parametrize("action, pairs", [
    ({"type": "forward", "targetGroupArn": tg_arn("blue")}, [(tg_arn("blue"), 1.0)]),
    ({"type": "forward", "forward": {"targetGroups": [{"arn": tg_arn("blue")}]}}, [(tg_arn("blue"), 1.0)]),
    ({"type": "forward", "forward": {"targetGroups": [{"arn": tg_arn("blue"), "weight": 0}]}}, [(tg_arn("blue"), 0.0)]),
    ({"type": "forward", "forward": {"targetGroups": []}, "targetGroupArn": tg_arn("blue")}, [(tg_arn("blue"), 1.0)]),
    ({"type": "forward", "forward": {"targetGroups": ({"arn": "a", "weight": 2},)}}, [("a", 2.0)]),
    ({"type": "forward", "forward": {"targetGroups": [{"arn": "a", "weight": 2}, "junk"]}}, None),
    ({"type": "forward", "forward": "junk"}, None),
])
def test_a_forward_is_read_in_both_of_its_shapes(action, pairs):
    assert topology.forward_pairs(action) == pairs


def test_a_rule_whose_actions_are_unknown_is_unresolved_and_its_listener_still_linked():
    blue = tg("blue")
    lst = listener("https", [simple_fwd(tg_arn("blue"))])
    rule = path_rule("api", listener_arn("https"), 10, ["/api/*"], [U])
    topo = build(blue, lst, rule)
    assert [f.id for f in topo.forwards] == ["https/default"]
    assert (rule.urn, "its actions are unknown, so the target groups it forwards to cannot be resolved") in topo.unresolved
