"""lbguard.core.matching: what a catch-all is, which rules are pre-empted, and the shadowing cache.

A condition taken as true for every request (``_always_true``) lets a rule pre-empt rules on
other fields, and a catch-all makes everything after it dead: both must hold for *every*
request ALB can receive, so they are checked against ALB's own matching (``condition_matches``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from lbguard.core import matching
from lbguard.core.matching import Request


def path(*values):
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}


def host(*values):
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def header(name, *values):
    return {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": name, "Values": list(values)}}


def rule(rid, priority, *conditions):
    return {"id": rid, "priority": priority, "conditions": list(conditions)}


def shadowed(rules):
    return [(low["id"], tuple(r["id"] for r in by)) for low, by in matching.shadowed_rules(rules)]


# ---------------------------------------------------------------- conditions every request satisfies

# A rule below asking for another field: only a condition true for every request covers it.
OTHER_FIELDS = {"host-header": [header("X-Low", "1"), path("/zzz")],
                "path-pattern": [header("X-Low", "1"), host("z.example.com")]}


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="xX.*?", max_size=5), st.text(alphabet="xXa.", max_size=6))
def test_a_host_pattern_that_pre_empts_any_rule_matches_every_host(pattern, name):
    # ALB sends every request with a Host header; a host rule above a path rule pre-empts it
    # only if it matches whatever the host is.
    if any(matching.covers([host(pattern)], [low]) for low in OTHER_FIELDS["host-header"]):
        assert matching.condition_matches(host(pattern), Request(host=name)), (pattern, name)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="/x*?", max_size=5), st.text(alphabet="/xa", max_size=6))
def test_a_path_pattern_that_pre_empts_any_rule_matches_every_path(pattern, rest):
    if any(matching.covers([path(pattern)], [low]) for low in OTHER_FIELDS["path-pattern"]):
        assert matching.condition_matches(path(pattern), Request(path="/" + rest)), (pattern, rest)


@pytest.mark.parametrize("pattern,always", [
    ("*", True),
    ("**", True),
    ("x*", False),
    ("*x*", False),
    ("*.*", False),
    ("?*", False),  # "?" needs a character: an empty host does not match it
])
def test_host_patterns_true_for_every_host(pattern, always):
    assert matching.covers([host(pattern)], [path("/zzz")]) is always


# ---------------------------------------------------------------- catch-alls

@pytest.mark.parametrize("conditions,hosts,expected", [
    ([path("??*")], None, False),  # every path but "/": the root still reaches the rules below
    ([path("/?*")], None, False),
    ([path("*/*")], None, True),
    # With the certificate's names: every condition must hold for every request they admit,
    # in whatever order the conditions come.
    ([path("/*"), host("a.example.com")], ["*.example.com"], False),
    ([host("a.example.com"), path("/*")], ["*.example.com"], False),
    ([path("/*"), host("*.example.com")], ["*.example.com"], True),
    ([path("/*"), header("X-Canary", "*"), host("*.example.com")], ["*.example.com"], False),
])
def test_is_catch_all_needs_every_condition_to_hold_for_every_request(conditions, hosts, expected):
    assert matching.is_catch_all(conditions, hosts) is expected


# ---------------------------------------------------------------- shadowing

def test_every_rule_behind_a_catch_all_is_reported():
    rules = [rule("catch", 1, path("/*")), rule("a", 2, path("/a")), rule("b", 3, path("/b/*")),
             rule("c", 4, host("c.example.com"))]
    assert shadowed(rules) == [("a", ("catch",)), ("b", ("catch",)), ("c", ("catch",))]


def test_rules_behind_single_and_union_covers_in_one_listener():
    rules = [rule("a", 1, path("/a/*")), rule("b", 2, path("/b/*")), rule("a1", 3, path("/a/1")),
             rule("ab", 4, path("/a/2", "/b/2")), rule("c", 5, path("/c"))]
    assert shadowed(rules) == [("a1", ("a",)), ("ab", ("a", "b"))]


def test_shadowing_is_worked_out_once_per_listener_content(monkeypatch):
    # Every policy that reads the topology asks for the same listeners (quadratic work each
    # time): the answer is kept by the rules' priorities and conditions.
    calls = []
    work = matching._shadowed_positions
    monkeypatch.setattr(matching, "_SHADOWED", {})
    monkeypatch.setattr(matching, "_shadowed_positions", lambda ordered: calls.append(1) or work(ordered))
    one = [rule("x", 1, path("/*")), rule("y", 2, path("/y"))]
    # The same listener read again: other objects, in another order, keys in another order.
    again = [rule("y", 2, {"PathPatternConfig": {"Values": ["/y"]}, "Field": "path-pattern"}),
             rule("x", 1, path("/*"))]
    assert shadowed(one) == [("y", ("x",))]
    assert shadowed(again) == [("y", ("x",))]
    assert len(calls) == 1
    # Other content is worked out anew, and right.
    other = [rule("x", 1, path("/a/*")), rule("y", 2, path("/y"))]
    assert shadowed(other) == []
    assert len(calls) == 2
    assert shadowed(other) == [] and len(calls) == 2


def test_the_shadowing_cache_stays_within_its_limit(monkeypatch):
    monkeypatch.setattr(matching, "_SHADOWED", {})
    for i in range(matching._SHADOWED_LIMIT * 2 + 3):
        matching.shadowed_rules([rule("x", 1, path(f"/{i}/*")), rule("y", 2, path(f"/{i}/a"))])
        assert len(matching._SHADOWED) <= matching._SHADOWED_LIMIT
