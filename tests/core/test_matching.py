"""lbguard.core.matching: how ALB picks a rule for a request, and when one rule can never be reached.

ALB's semantics as the ELBv2 API reference states them (RuleCondition and the *ConditionConfig
types, docs.aws.amazon.com/elasticloadbalancing/latest/APIReference): host names, HTTP header
names and values and query strings compare case-insensitively; path patterns and methods are
case-sensitive; ``*`` matches 0 or more characters and ``?`` exactly one; values of one
condition are alternatives, conditions of one rule must all hold; the path pattern sees the
path only, never the query string.
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


def method(*values):
    return {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": list(values)}}


def header(name, *values):
    return {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": name, "Values": list(values)}}


def query(*pairs):
    return {"Field": "query-string", "QueryStringConfig": {"Values": [
        {"Value": p[0]} if len(p) == 1 else {"Key": p[0], "Value": p[1]} for p in pairs]}}


def source(*cidrs):
    return {"Field": "source-ip", "SourceIpConfig": {"Values": list(cidrs)}}


def rule(rid, priority, *conditions):
    return {"id": rid, "priority": priority, "conditions": list(conditions)}


# ---------------------------------------------------------------- one condition against one request

MATCHES = [
    # host-header: case-insensitive, the port is not part of the name, wildcards * and ?
    (host("api.example.com"), Request(host="API.Example.COM"), True),
    (host("api.example.com"), Request(host="api.example.com:8443"), True),
    (host("api.example.com"), Request(host="api.example.com.evil.net"), False),
    (host("api.example.com"), Request(host="www.api.example.com"), False),
    (host("*.example.com"), Request(host="a.b.example.com"), True),
    (host("*.example.com"), Request(host="example.com"), False),
    (host("api?.example.com"), Request(host="api1.example.com"), True),
    (host("api?.example.com"), Request(host="api.example.com"), False),
    (host("api?.example.com"), Request(host="api12.example.com"), False),
    (host("a.example.com", "b.example.com"), Request(host="b.example.com"), True),  # values are OR
    # path-pattern: case-sensitive, the path only (never the query string), * spans slashes
    (path("/api/*"), Request(path="/api/v1/users"), True),
    (path("/api/*"), Request(path="/api/"), True),
    (path("/api/*"), Request(path="/API/v1"), False),
    (path("/api/*"), Request(path="/apiv1"), False),
    (path("/api"), Request(path="/api/x"), False),
    (path("/api"), Request(path="/x/api"), False),
    (path("/login"), Request(path="/login?next=/admin"), True),
    (path("/admin*"), Request(path="/login?next=/admin"), False),
    (path("/v?/x"), Request(path="/v2/x"), True),
    (path("/v?/x"), Request(path="/v/x"), False),
    (path("/[ab]"), Request(path="/[ab]"), True),  # ALB has no character classes: [ ] . are literal
    (path("/[ab]"), Request(path="/a"), False),
    (path("/a.c"), Request(path="/abc"), False),
    (path("/a*"), Request(path="/a\nb"), True),  # * is any run of characters, whatever they are
    (path("/a?c"), Request(path="/a\nc"), True),
    # http-request-method: exact and case-sensitive
    (method("GET", "HEAD"), Request(method="HEAD"), True),
    (method("GET"), Request(method="get"), False),
    (method("POST"), Request(method="GET"), False),
    # http-header: the name and the values compare case-insensitively; an absent header never matches
    (header("X-Canary", "yes"), Request(headers={"x-canary": "YES"}), True),
    (header("x-canary", "y*"), Request(headers={"X-CANARY": "Yup"}), True),
    (header("X-Canary", "yes"), Request(headers={"X-Other": "yes"}), False),
    (header("X-Canary", "*"), Request(headers={}), False),
    (header("X-Canary", "*"), Request(headers={"X-Canary": ""}), True),
    (header("X-Canary", "no", "yes"), Request(headers={"X-Canary": "yes"}), True),
    # query-string: key and value case-insensitive with wildcards; a pair without a key matches any key
    (query(("version", "2")), Request(query={"Version": "2"}), True),
    (query(("version", "beta*")), Request(query={"version": "BETA-3"}), True),
    (query(("version", "2")), Request(query={"version": "3"}), False),
    (query(("version", "2")), Request(query={"other": "2"}), False),
    (query(("ver*", "2")), Request(query={"verbose": "2"}), True),
    (query(("beta",)), Request(query={"anything": "Beta"}), True),
    (query(("beta",)), Request(query={}), False),
    (query(("a", "1"), ("b", "2")), Request(query={"x": "0", "b": "2"}), True),
    (query(("a", "1"), ("b", "2")), Request(query={"a": "2", "b": "1"}), False),
    # source-ip: CIDR membership, IPv4 and IPv6; no client address, no match
    (source("10.0.0.0/8"), Request(source_ip="10.200.3.4"), True),
    (source("10.0.0.0/8"), Request(source_ip="11.0.0.1"), False),
    (source("10.0.0.0/8"), Request(), False),
    (source("192.168.1.7/32", "2001:db8::/32"), Request(source_ip="2001:db8::1"), True),
    (source("10.0.0.0/8"), Request(source_ip="::ffff:10.0.0.1"), False),
    (source("10.1.2.3/8"), Request(source_ip="10.9.9.9"), True),  # host bits set: read as its network
]


@pytest.mark.parametrize("cond,req,expected", MATCHES)
def test_condition_matches_as_alb_does(cond, req, expected):
    assert matching.condition_matches(cond, req) is expected


def test_legacy_top_level_values_match_like_the_config():
    # ELBv2 still accepts (and reports) host-header/path-pattern values at the condition's top level.
    assert matching.condition_matches({"Field": "path-pattern", "Values": ["/api/*"]}, Request(path="/api/x"))
    assert not matching.condition_matches({"Field": "path-pattern", "Values": ["/api/*"]}, Request(path="/x"))


def test_unknown_field_is_refused():
    with pytest.raises(ValueError, match="no-such-field"):
        matching.condition_matches({"Field": "no-such-field", "Values": ["x"]}, Request())


def test_conditions_of_a_rule_must_all_hold():
    conds = [host("api.example.com"), path("/v1/*"), method("POST")]
    assert matching.rule_matches(conds, Request(host="api.example.com", path="/v1/x", method="POST"))
    assert not matching.rule_matches(conds, Request(host="api.example.com", path="/v1/x", method="GET"))
    assert not matching.rule_matches(conds, Request(host="www.example.com", path="/v1/x", method="POST"))
    assert matching.rule_matches([], Request(path="/anything"))


def test_first_match_goes_by_ascending_priority_not_list_order():
    narrow = rule("narrow", 10, path("/api/*"))
    broad = rule("broad", 9, path("/*"))
    late = rule("late", 100, path("/api/*"))
    assert matching.first_match([late, narrow, broad], Request(path="/api/x")) is broad
    assert matching.first_match([late, narrow], Request(path="/api/x")) is narrow
    # priorities compare as numbers, as the engine may hand them over as strings or floats
    assert matching.first_match([{**narrow, "priority": "10"}, {**broad, "priority": "9"}],
                                Request(path="/api/x"))["id"] == "broad"
    assert matching.first_match([late, narrow], Request(path="/web")) is None  # the default action


# ---------------------------------------------------------------- glob_covers: pattern implication

COVERS = [
    # (high, low, ignore_case, covers)
    ("*", "", False, True),
    ("*", "/a/b", False, True),
    ("*", "/a*?", False, True),
    ("/*", "/api/*", False, True),
    ("/api/*", "/*", False, False),
    ("/api/*", "/api/v1/*", False, True),
    ("/api/*", "/api", False, False),
    ("/api/v?/*", "/api/v1/*", False, True),
    ("/api/v1/*", "/api/v?/*", False, False),  # low's ? may be any character, not only 1
    ("/a?c", "/a*c", False, False),  # ? takes exactly one; low's * may take none or many
    ("/a?c", "/a?c", False, True),
    ("/a*c", "/a?c", False, True),
    ("/a*", "/a", False, True),
    ("/a", "/a*", False, False),
    ("/a", "/a", False, True),
    ("/a", "/b", False, False),
    ("/ab", "/a", False, False),
    ("/a", "/ab", False, False),
    ("", "", False, True),
    ("", "x", False, False),
    ("x", "", False, False),
    ("?", "", False, False),
    ("*a", "ba", False, True),
    ("*a", "ab", False, False),
    ("a*b*c", "aXbYc", False, True),
    ("a*b*c", "aXcYb", False, False),
    ("/API/*", "/api/x", False, False),  # paths: case-sensitive
    ("API.example.com", "api.EXAMPLE.com", True, True),  # hosts: case-insensitive
    ("*.Example.com", "www.example.COM", True, True),
    ("*.example.com", "example.com", True, False),
]


@pytest.mark.parametrize("high,low,ignore_case,expected", COVERS)
def test_glob_covers_table(high, low, ignore_case, expected):
    assert matching.glob_covers(high, low, ignore_case) is expected


PATTERN = st.text(alphabet="ab/*?", max_size=7)
LITERAL = st.text(alphabet="aAbB/", max_size=7)


@settings(max_examples=300, deadline=None)
@given(PATTERN, LITERAL, st.booleans())
def test_glob_covers_a_literal_exactly_when_alb_would_match_it(high, value, ignore_case):
    # A literal low pattern stands for one string: covering it is matching it.
    cond = host(high) if ignore_case else path(high)
    req = Request(host=value) if ignore_case else Request(path=value)
    assert matching.glob_covers(high, value, ignore_case) == matching.condition_matches(cond, req)


@settings(max_examples=300, deadline=None)
@given(PATTERN, PATTERN, st.data())
def test_glob_covers_never_claims_a_cover_that_fails(high, low, data):
    if not matching.glob_covers(high, low):
        return
    # Any string low matches (each * and ? filled in) must match high.
    filled = "".join(data.draw(st.text(alphabet="ab/", max_size=3)) if c == "*"
                     else data.draw(st.sampled_from("ab/")) if c == "?" else c for c in low)
    assert matching.condition_matches(path(low), Request(path=filled))
    assert matching.condition_matches(path(high), Request(path=filled)), (high, low, filled)


# ---------------------------------------------------------------- covers: one rule implies another

def test_covers_same_field_conditions():
    assert matching.covers([path("/api/*")], [path("/api/v1/*", "/api/v2")])  # every alternative covered
    assert not matching.covers([path("/api/*")], [path("/api/v1/*", "/web")])
    assert matching.covers([path("/api/*", "/web")], [path("/web")])  # one of high's alternatives suffices
    assert not matching.covers([path("/api/*")], [host("api.example.com")])  # different fields imply nothing
    assert matching.covers([host("*.example.com")], [host("API.EXAMPLE.COM")])  # hosts compare case-insensitively
    assert not matching.covers([path("/API/*")], [path("/api/x")])  # paths do not


def test_covers_needs_every_condition_of_the_higher_rule():
    assert matching.covers([path("/api/*")], [host("a.example.com"), path("/api/x")])
    assert not matching.covers([host("a.example.com"), path("/api/*")], [path("/api/x")])
    assert matching.covers([host("a.example.com"), path("/api/*")], [path("/api/x"), host("a.example.com")])
    assert matching.covers([], [path("/api/x")])  # a rule without conditions matches every request
    assert not matching.covers([path("/api/*")], [])


def test_covers_methods_as_sets():
    assert matching.covers([method("GET", "HEAD")], [method("GET")])
    assert matching.covers([method("GET", "HEAD")], [method("HEAD", "GET")])
    assert not matching.covers([method("GET")], [method("GET", "POST")])
    assert not matching.covers([method("GET")], [method("get")])


def test_covers_http_headers_by_name_case_insensitively():
    assert matching.covers([header("X-Canary", "y*")], [header("x-canary", "YES")])
    assert not matching.covers([header("X-Canary", "*")], [header("X-Other", "yes")])
    assert not matching.covers([header("X-Canary", "yes")], [header("X-Canary", "y*")])


def test_covers_query_strings():
    assert matching.covers([query(("v", "*"))], [query(("V", "2"))])
    assert matching.covers([query(("beta",))], [query(("any", "BETA"))])  # no key: any key
    assert not matching.covers([query(("v", "beta"))], [query(("beta",))])  # low may carry the value under another key
    assert not matching.covers([query(("v", "2"))], [query(("w", "2"))])
    assert not matching.covers([query(("v", "2"))], [query(("v", "3"))])
    assert matching.covers([query(("v", "1"), ("v", "2"))], [query(("v", "2"))])
    assert not matching.covers([query(("v", "1"))], [query(("v", "1"), ("v", "2"))])


@pytest.mark.parametrize("high,low,expected", [
    (["10.0.0.0/8"], ["10.1.0.0/16"], True),
    (["10.1.0.0/16"], ["10.0.0.0/8"], False),
    (["10.0.0.0/8"], ["10.0.0.0/8"], True),
    (["10.0.0.0/8"], ["10.1.0.0/16", "192.168.0.0/24"], False),
    (["10.0.0.0/8", "192.168.0.0/16"], ["10.1.0.0/16", "192.168.0.0/24"], True),
    (["10.9.9.9/8"], ["10.1.0.0/16"], True),  # host bits set: read as its network
    (["10.0.0.0/8"], ["10.1.2.3/16"], True),
    (["0.0.0.0/0"], ["2001:db8::/32"], False),  # IPv4 never covers IPv6
    (["::/0"], ["10.0.0.0/8"], False),
    (["::/0"], ["2001:db8::/32"], True),
    (["not-a-cidr"], ["10.0.0.0/8"], False),  # what cannot be read covers nothing
    (["10.0.0.0/8"], ["not-a-cidr"], False),
])
def test_covers_source_ips(high, low, expected):
    assert matching.covers([source(*high)], [source(*low)]) is expected


@pytest.mark.parametrize("cond,always", [
    (path("/*"), True),
    (path("*"), True),
    (path("/api/*", "/*"), True),
    (path("/api/*"), False),
    (host("*"), True),
    (host("*.example.com"), False),
    (source("0.0.0.0/0", "::/0"), True),
    (source("0.0.0.0/0"), False),  # IPv6 clients are not covered
    (source("::/0"), False),
    (method(*"GET HEAD POST PUT DELETE PATCH OPTIONS".split()), False),
    (header("X", "*"), False),  # an absent header does not match
    (query(("*",)), False),  # nor an absent query string
])
def test_a_condition_every_request_satisfies_covers_across_fields(cond, always):
    # A /* path rule above a host-only rule pre-empts it although the fields differ.
    assert matching.covers([cond], [header("X-Low", "1")]) is always
    assert matching.covers([cond], [path("/zzz")]) is always


# ---------------------------------------------------------------- shadowing by several earlier rules

A = rule("a", 10, path("/a/*"))
B = rule("b", 20, path("/b/*"))


def test_union_cover_finds_each_alternative_covered_by_some_earlier_rule():
    low = rule("ab", 30, path("/a/x", "/b/y", "/a/z"))
    assert matching.union_cover([A, B], low) == [A, B]  # each earlier rule once, in order
    assert matching.union_cover([A], low) is None
    assert matching.union_cover([A, B], rule("abc", 30, path("/a/x", "/c"))) is None


def test_union_cover_expands_every_multi_valued_condition():
    low = rule("ab", 30, path("/a/x", "/b/y"), method("GET", "POST"))
    gets = rule("gets", 5, method("GET"))
    # (/a/x, GET) and (/b/y, GET) by gets, (/a/x, POST) by a, (/b/y, POST) by b
    assert matching.union_cover([gets, A, B], low) == [gets, A, B]
    assert matching.union_cover([gets, A], low) is None  # (/b/y, POST) by nobody
    assert matching.union_cover([gets, rule("post", 6, method("POST"))], low) is not None


def test_union_cover_needs_two_alternatives():
    # One alternative is a single cover's business (covers); no conditions: nothing to split.
    assert matching.union_cover([A], rule("x", 30, path("/a/x"))) is None
    assert matching.union_cover([A, B], rule("x", 30)) is None


def test_union_cover_at_its_size_limit_and_beyond():
    n = matching.MAX_DISJUNCTS
    at_limit = rule("many", 30, path(*[f"/a/{i}" for i in range(n // 2)] + [f"/b/{i}" for i in range(n - n // 2)]))
    assert matching.union_cover([A, B], at_limit) == [A, B]
    # Past the limit it gives up rather than judge from part of the alternatives.
    beyond = rule("more", 30, path(*[f"/a/{i}" for i in range(n)] + ["/c"]))
    assert matching.union_cover([A, B], beyond) is None


def shadowed(rules):
    return [(low["id"], tuple(r["id"] for r in by)) for low, by in matching.shadowed_rules(rules)]


def test_shadowed_rules_single_and_union_covers():
    catch = rule("catch", 50, path("/*"))
    api = rule("api", 60, path("/api/*"))
    ab = rule("ab", 40, path("/a/1", "/b/2"))
    assert shadowed([api, catch, ab, B, A]) == [("ab", ("a", "b")), ("api", ("catch",))]
    assert shadowed([A, B]) == []


def test_shadowed_rules_reports_the_first_earlier_cover():
    first = rule("first", 1, path("/a/*"))
    second = rule("second", 2, path("/*"))
    low = rule("low", 3, path("/a/b"))
    assert shadowed([low, second, first]) == [("low", ("first",))]


def test_shadowed_rules_answers_in_the_callers_own_rules():
    # Two listeners with the same rules: each gets its own rule objects back (the cache holds positions).
    one = [rule("x", 1, path("/*")), rule("y", 2, path("/y"))]
    two = [rule("x", 1, path("/*")), rule("y", 2, path("/y"))]
    (low1, by1), = matching.shadowed_rules(one)
    (low2, by2), = matching.shadowed_rules(two)
    assert low1 is one[1] and by1[0] is one[0]
    assert low2 is two[1] and by2[0] is two[0]


def test_shadowed_rules_with_conditions_json_cannot_spell():
    # Not cacheable (a set is no JSON): still answered, and answered again the same way.
    odd = [rule("x", 1, path("/*")), {"id": "y", "priority": 2, "conditions": [path("/y")], "tags": {1}}]
    odd[1]["conditions"].append({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/y"]}, "Extra": {2}})
    for _ in range(2):
        (low, by), = matching.shadowed_rules(odd)
        assert low is odd[1] and by == (odd[0],)


def test_shadowed_rules_stays_right_past_its_cache_size():
    for i in range(matching._SHADOWED_LIMIT + 5):
        rules = [rule("x", 1, path(f"/{i}/*")), rule("y", 2, path(f"/{i}/a")), rule("z", 3, path(f"/{i + 1}/a"))]
        assert [lo["id"] for lo, _ in matching.shadowed_rules(rules)] == ["y"]


# ---------------------------------------------------------------- catch-alls

@pytest.mark.parametrize("conditions,hosts,expected", [
    ([path("/*")], None, True),
    ([path("*")], None, True),
    ([host("*")], None, True),
    ([], None, True),
    ([path("/api/*")], None, False),
    ([host("*.example.com")], None, False),
    ([host("*.example.com")], [], False),
    # What the listener's certificates admit: a host rule covering each of them takes everything.
    ([host("*.example.com", "example.com")], ["*.example.com", "example.com"], True),
    ([host("*.EXAMPLE.com")], ["a.example.com", "b.Example.com"], True),
    ([host("*.example.com")], ["*.example.com", "example.com"], False),
    ([host("a.example.com")], ["*.example.com"], False),
    ([host("*.example.com"), path("/*")], ["a.example.com"], True),
    ([host("*.example.com"), path("/api/*")], ["a.example.com"], False),
    ([path("/api/*"), host("*.example.com")], ["a.example.com"], False),
])
def test_is_catch_all(conditions, hosts, expected):
    assert matching.is_catch_all(conditions, hosts) is expected


def test_duplicate_priorities():
    a, b, c = rule("a", 10), rule("b", 10.0), rule("c", 20)
    assert matching.duplicate_priorities([a, b, c]) == {10: [a, b]}
    assert matching.duplicate_priorities([a, c]) == {}
