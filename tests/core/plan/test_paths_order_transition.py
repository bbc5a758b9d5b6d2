"""lbguard.core.plan: the one differ and the engine's ignoreChanges paths, stable order and races,
and the traffic windows of a walked apply."""

from __future__ import annotations

import random

import pytest

from lbguard.core.model import RecordedResource
from lbguard.core.plan import order, transition
from lbguard.core.plan.paths import MASK, Change, apply_ignore_changes, changes, parse, secret


def test_changes_old_new_and_secrets():
    assert changes({"a": 1, "b": {"c": [1, 2]}}, {"a": 2, "b": {"c": [1, 3]}}) == [
        Change("a", 1, 2), Change("b.c[1]", 2, 3)]
    assert changes({"t": {"lbguard:pool": "a"}}, {"t": {"lbguard:pool": "b"}}) == [Change('t["lbguard:pool"]', "a", "b")]
    assert changes({"s": secret("x")}, {"s": secret("y")}) == [Change("s", MASK, MASK, True)]
    assert changes({"s": secret("x")}, {"s": "x"}) == []  # compared by value
    assert changes({"l": [1]}, {"l": [1, 2]}) == [Change("l", [1], [1, 2])]


def test_parse_follows_the_engine_grammar():
    assert parse('a.b[0]["k.x"][*].c') == ["a", "b", 0, "k.x", "*", "c"]
    with pytest.raises(ValueError):
        parse(".a")


@pytest.mark.parametrize("old, new, path, expected, ok", [
    ({"a": 1}, {"a": 2}, "a", {"a": 1}, True),
    ({}, {"a": 2}, "a", {}, True),  # absent in old: deleted from new
    ({"l": [{"x": 1}, {"x": 2}]}, {"l": [{"x": 5}, {"x": 6}]}, "l[*].x", {"l": [{"x": 1}, {"x": 2}]}, True),
    ({"l": [1, 2]}, {"l": [9, 8]}, "l[1]", {"l": [9, 2]}, True),
    ({"l": [1]}, {"l": [1, 2]}, "l[1]", {"l": [1, 2]}, False),  # an added item cannot be ignored
    ({"m": {"a": 1, "b": 2}}, {"m": {"a": 5, "c": 3}}, "m.*", {"m": {"a": 1, "b": 2}}, True),
])
def test_ignore_changes_reset(old, new, path, expected, ok):
    out, invalid = apply_ignore_changes(old, new, [path])
    assert out == expected and (invalid == []) is ok


def test_stable_order_is_independent_of_arrival():
    deps = {"c": {"b"}, "b": {"a"}, "a": set(), "z": set(), "y": {"a"}}
    want = order.stable_order(deps)
    assert want == ["a", "b", "c", "y", "z"]
    for seed in range(5):
        keys = list(deps)
        random.Random(seed).shuffle(keys)
        assert order.stable_order({k: deps[k] for k in keys}) == want


RULE = "aws:lb/listenerRule:ListenerRule"


def test_a_priority_handed_over_without_a_dependency_is_a_race():
    moved = order.claims("api", RULE, "update", {"listenerArn": "L", "priority": 10}, {"listenerArn": "L", "priority": 5})
    taken = order.claims("beta", RULE, "create", None, {"listenerArn": "L", "priority": 10})
    applied = moved + taken
    recs = [RecordedResource("api", RULE, "api", True), RecordedResource("beta", RULE, "beta", True)]
    found = order.races(applied, order.ancestors(recs))
    assert [(r.free.urn, r.take.urn) for r in found] == [("api", "beta")]
    recs[1].dependencies = ["api"]  # beta waits for api: ordered, no race
    assert order.races(applied, order.ancestors(recs)) == []


def _picture_base():
    tg = ("tg", "aws:lb/targetGroup:TargetGroup", "old-tg", {"arn": "arn:tg/old/1", "healthCheck": {"interval": 15}})
    lb = ("lb", "aws:lb/loadBalancer:LoadBalancer", "lb", {"arn": "arn:lb/app/x/1", "loadBalancerType": "application"})
    listener = ("l", "aws:lb/listener:Listener", "https", {
        "arn": "arn:listener/1", "loadBalancerArn": "arn:lb/app/x/1", "port": 443, "protocol": "HTTPS",
        "defaultActions": [{"type": "forward", "forward": {"targetGroups": [{"arn": "arn:tg/old/1", "weight": 1}]}}]})
    asg = ("asg", "aws:autoscaling/group:Group", "asg", {"desiredCapacity": 3, "targetGroupArns": ["arn:tg/old/1"]})
    return [tg, lb, listener, asg]


def test_detach_before_the_routing_moves_is_a_503_window():
    base = _picture_base()
    new_tg = transition.Event("create", "tg", "aws:lb/targetGroup:TargetGroup", "new-tg",
                              {"arn": "arn:tg/new/2", "healthCheck": {"interval": 15}})
    swap = transition.Event("update", "asg", "aws:autoscaling/group:Group", "asg",
                            {"desiredCapacity": 3, "targetGroupArns": ["arn:tg/new/2"]}, base[3][3])
    move = transition.Event("update", "l", "aws:lb/listener:Listener", "https",
                            {**base[2][3], "defaultActions": [{"type": "forward", "forward": {
                                "targetGroups": [{"arn": "arn:tg/new/2", "weight": 1}]}}]}, base[2][3])
    windows = transition.walk(base, [new_tg, swap, move], tg_labels={"arn:tg/old/1": "old-tg", "arn:tg/new/2": "new-tg"})
    causes = {(w.target, w.share) for w in windows}
    assert ("old-tg", 1.0) in causes  # detached while still forwarded to
    assert ("new-tg", 1.0) in causes  # registered, not yet healthy: one health check
    assert all(w.fix for w in windows)
    # the same events without the detach: nothing
    keep = transition.Event("update", "asg", "aws:autoscaling/group:Group", "asg",
                            {"desiredCapacity": 3, "targetGroupArns": ["arn:tg/old/1"]}, base[3][3])
    assert transition.walk(base, [keep]) == []


def test_a_listener_deleted_before_its_replacement_is_a_full_window():
    base = _picture_base()
    gone = transition.Event("delete", "l", "aws:lb/listener:Listener", "https", None, base[2][3])
    back = transition.Event("create", "l", "aws:lb/listener:Listener", "https", {**base[2][3], "arn": "arn:listener/2"})
    windows = transition.walk(base, [gone, back])
    assert [(w.listener, w.share) for w in windows] == [("https:443", 1.0)]
