"""lbguard.core.traffic: the share model at its edges, line by line of what ALB does.

Weights: ELBv2 ``TargetGroupTuple.Weight`` is 0..999 and a forward names at most 5 target groups
(API reference, ForwardActionConfig / TargetGroupTuple). The messages of ``WeightError`` are shown
to users as they are (diagnose's ``invalid-weights`` finding, the impact report's ``error``), so
they are checked word for word.
"""

from __future__ import annotations

import math

import pytest

from lbguard.core import traffic
from lbguard.core.matching import Request
from lbguard.core.traffic import DEFAULT, Pool, Reach, Route, RouteResult, PoolLoad, Scenario

# Pool keys as the callers spell them: live code keys pools by target-group ARN, the pack by
# Pulumi URN; both contain colons, as scenario names do ("instance-lost:<pool>").
ARN_A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/0123456789abcdef"
ARN_B = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/fedcba9876543210"


# ---------------------------------------------------------------- weights ALB accepts

@pytest.mark.parametrize("weights", [
    {"a": 1},
    {"a": 999, "b": 0},  # both ends of 0..999
    {f"p{i}": 1 for i in range(5)},  # the most target groups one forward may name
    {"a": 0, "b": 1},  # a total of 1 is enough
    {"a": 3.0},  # an integral float is an integer weight
])
def test_weights_alb_accepts(weights):
    traffic.validate_weights(weights)
    assert math.isclose(sum(traffic.shares(weights).values()), 1.0)


@pytest.mark.parametrize("weights,message", [
    ({}, "a forward needs at least one target group"),
    ({f"p{i}": 1 for i in range(6)}, "a forward may name at most 5 target groups, got 6"),
    ({"a": 1.5}, "weight of a must be an integer 0..999, got 1.5"),
    ({"a": 1000}, "weight of a must be an integer 0..999, got 1000"),
    ({"a": 2, "b": -1}, "weight of b must be an integer 0..999, got -1"),
    ({"a": 0, "b": 0}, "weights sum to 0: the forward sends traffic nowhere"),
    ({"a": 0}, "weights sum to 0: the forward sends traffic nowhere"),
])
def test_weights_alb_refuses_with_the_reason(weights, message):
    with pytest.raises(traffic.WeightError) as err:
        traffic.validate_weights(weights)
    assert str(err.value) == message
    with pytest.raises(traffic.WeightError):
        traffic.shares(weights)


# ---------------------------------------------------------------- weight_spread: diagnose's uneven-weights

# lbguard.live.findings reports "uneven-weights" (a warning) for a multi-group forward whose
# spread is above 0: the largest minus the smallest share.
@pytest.mark.parametrize("weights,spread", [
    ({"a": 1}, 0.0),
    ({"a": 50, "b": 50}, 0.0),
    ({"a": 7, "b": 7, "c": 7}, 0.0),
    ({"a": 90, "b": 10}, 0.8),
    ({"a": 1, "b": 1, "c": 2}, 0.25),
    ({"a": 0, "b": 3}, 1.0),
])
def test_weight_spread_is_largest_minus_smallest_share(weights, spread):
    assert traffic.weight_spread(weights) == pytest.approx(spread)


def test_weight_spread_refuses_weights_alb_refuses():
    with pytest.raises(traffic.WeightError, match="sum to 0"):
        traffic.weight_spread({"a": 0, "b": 0})


# ---------------------------------------------------------------- losing the biggest AZ

@pytest.mark.parametrize("instances,azs,lost", [
    (0, 3, 0),  # nothing to lose
    (1, 1, 1),
    (1, 3, 1),
    (2, 3, 1),  # more AZs than instances: one instance per occupied AZ
    (4, 1, 4),  # one AZ holds everything
    (4, 2, 2),
    (5, 3, 2),  # 2/2/1
    (6, 3, 2),
    (7, 2, 4),  # 4/3
    (3, 0, 3),  # no AZ count: treated as one AZ
])
def test_instances_lost_with_the_fullest_az(instances, azs, lost):
    assert Pool(instances, azs=azs).lost_in_one_az() == lost


# ---------------------------------------------------------------- a route's shares of the listener

def test_pool_shares_scale_the_forward_by_the_rules_reach():
    assert Route("r", {"a": 1, "b": 3}, 0.4).pool_shares() == pytest.approx({"a": 0.1, "b": 0.3})
    assert Route("r", {"a": 1, "b": 3}).pool_shares() == {"a": 0.25, "b": 0.75}


def test_pool_shares_given_directly_are_taken_as_they_are():
    given = Route("r", {"a": 1, "b": 1}, 1.0, listener_shares={"a": 0.7, "b": 0.1})
    assert given.pool_shares() == {"a": 0.7, "b": 0.1}


def test_combine_adds_up_each_pools_share_over_the_forwards():
    # Two rules that each send 40% of the listener to the same pool load it with 80%.
    one = Route("rule:api", {"a": 1}, 0.4)
    two = Route("rule:v2", {"a": 1, "b": 1}, 0.2)
    three = Route("rule:web", {"b": 1}, 0.1)
    total = traffic.combine("https/all", [one, two, three])
    assert total.id == "https/all"
    assert total.pool_shares() == pytest.approx({"a": 0.5, "b": 0.2})
    assert total.traffic_fraction == pytest.approx(0.7)  # the forwards' part of the listener
    assert set(total.weights) == {"a", "b"}
    # It evaluates as one route: the pool both rules feed carries both shares.
    loads = traffic.evaluate(total, {"a": Pool(2), "b": Pool(1)}).loads
    assert loads["a"].per_instance_share == pytest.approx(0.25)
    # ... and simulates over the pools it names.
    names = [r.scenario for r in traffic.simulate(total, {"a": Pool(2), "b": Pool(1), "c": Pool(3)})]
    assert names == ["all-healthy", "instance-lost:a", "instance-lost:b", "az-lost", "pool-down:a", "pool-down:b"]


def test_combine_of_nothing_is_an_empty_route():
    total = traffic.combine("none", [])
    assert total.pool_shares() == {} and total.traffic_fraction == 0


# ---------------------------------------------------------------- evaluate: one pool at a time

# (share of the listener, pool, healthy instances or None = the pool's own, peak rps) ->
# (per-instance share, rps, capacity rps, utilisation, failing)
EVALUATE = [
    # all healthy, capacity known
    (0.5, Pool(2, 100.0), None, 300.0, (0.25, 150.0, 200.0, 0.75, False)),
    # exactly one healthy instance carries the whole share
    (0.5, Pool(4, 100.0), 1, 300.0, (0.5, 150.0, 100.0, 1.5, False)),
    # capacity of exactly 1 req/s and below it: still a ratio, never "no capacity"
    (1.0, Pool(2, 0.5), None, 0.5, (0.5, 0.5, 1.0, 0.5, False)),
    (1.0, Pool(1, 0.25), None, 0.5, (1.0, 0.5, 0.25, 2.0, False)),
    # no healthy instance: ALB fails open, the share fails; no capacity left for it
    (0.5, Pool(3, 100.0), 0, 300.0, (math.inf, 150.0, 0.0, math.inf, True)),
    (0.5, Pool(3, 100.0), 0, 1.0, (math.inf, 0.5, 0.0, math.inf, True)),  # even half a request/s
    (0.5, Pool(3, 100.0), 0, None, (math.inf, None, 0.0, None, True)),
    # no share: nothing fails and nothing loads, with or without instances
    (0.0, Pool(3, 100.0), 0, 300.0, (0.0, 0.0, 0.0, 0.0, False)),
    (0.0, Pool(3, 100.0), None, 300.0, (0.0, 0.0, 300.0, 0.0, False)),
    # unknown peak or unknown capacity: no utilisation
    (0.5, Pool(2, 100.0), None, None, (0.25, None, 200.0, None, False)),
    (0.5, Pool(2), None, 300.0, (0.25, 150.0, None, None, False)),
]


@pytest.mark.parametrize("share,pool,healthy,peak,expected", EVALUATE)
def test_evaluate_one_pool(share, pool, healthy, peak, expected):
    route = Route("r", {"p": 1}, listener_shares={"p": share})
    result = traffic.evaluate(route, {"p": pool}, None if healthy is None else {"p": healthy}, peak)
    load = result.loads["p"]
    per_instance, rps, cap, util, failing = expected
    assert load.pool == "p" and load.share == share
    assert load.healthy == (pool.instances if healthy is None else healthy)
    assert load.per_instance_share == pytest.approx(per_instance)
    assert load.rps == (None if rps is None else pytest.approx(rps))
    assert load.capacity_rps == (None if cap is None else pytest.approx(cap))
    assert load.utilisation == (None if util is None else pytest.approx(util))
    assert load.failing is failing


def test_evaluate_names_its_route_and_scenario():
    r = traffic.evaluate(Route("rule:api", {"a": 1}), {"a": Pool(2)})
    assert (r.route, r.scenario) == ("rule:api", "all-healthy")
    r = traffic.evaluate(Route("rule:api", {"a": 1}), {"a": Pool(2)}, {"a": 1}, scenario="instance-lost:a")
    assert (r.route, r.scenario) == ("rule:api", "instance-lost:a")


def test_evaluate_a_pool_nobody_knows_has_no_instances():
    # A forward to a target group the pools do not list: its share goes nowhere and fails.
    r = traffic.evaluate(Route("r", {"a": 1, "ghost": 1}), {"a": Pool(2, 100.0)}, peak_rps=100)
    ghost = r.loads["ghost"]
    assert (ghost.healthy, ghost.failing, ghost.per_instance_share) == (0, True, math.inf)
    assert r.failed_fraction == 0.5


def test_evaluate_healthy_counts_override_only_the_pools_they_name():
    pools = {"a": Pool(4, 100.0), "b": Pool(2, 100.0)}
    r = traffic.evaluate(Route("r", {"a": 1, "b": 1}), pools, {"a": 1}, peak_rps=200)
    assert (r.loads["a"].healthy, r.loads["b"].healthy) == (1, 2)
    assert r.loads["a"].utilisation == pytest.approx(1.0) and r.loads["b"].utilisation == pytest.approx(0.5)


def test_route_result_summaries_skip_failed_and_idle_pools():
    pools = {"a": Pool(2, 100.0), "b": Pool(1, 100.0), "c": Pool(1, 100.0)}
    r = traffic.evaluate(Route("r", {"a": 2, "b": 1, "c": 0}), pools, {"b": 0}, peak_rps=300)
    assert r.failed_fraction == pytest.approx(1 / 3)
    assert r.max_instance_share == pytest.approx(1 / 3)  # a's, not b's infinity
    assert r.worst_utilisation == math.inf  # b: its requests have nowhere to go
    assert r.serving_utilisation == pytest.approx(1.0)  # a: 200 req/s on 200


# ---------------------------------------------------------------- the failure scenarios

def test_scenarios_spelled_out():
    pools = {"web": Pool(4, azs=2), "api": Pool(1, azs=3), "idle": Pool(0)}
    assert traffic.scenarios(pools) == [
        Scenario("all-healthy", {"api": 1, "idle": 0, "web": 4}, "every instance healthy"),
        Scenario("instance-lost:api", {"api": 0, "idle": 0, "web": 4}, "one instance of api lost"),
        Scenario("instance-lost:web", {"api": 1, "idle": 0, "web": 3}, "one instance of web lost"),
        Scenario("az-lost", {"api": 0, "idle": 0, "web": 2}, "one availability zone lost"),
        Scenario("pool-down:api", {"api": 0, "idle": 0, "web": 4}, "every target of api unhealthy (ALB fails open)"),
        Scenario("pool-down:idle", {"api": 1, "idle": 0, "web": 4}, "every target of idle unhealthy (ALB fails open)"),
        Scenario("pool-down:web", {"api": 1, "idle": 0, "web": 0}, "every target of web unhealthy (ALB fails open)"),
    ]


def test_scenarios_over_named_pools_only_and_unknown_names_have_none():
    pools = {"web": Pool(2, azs=2), "other": Pool(5)}
    got = traffic.scenarios(pools, ["web", "ghost"])
    assert [s.name for s in got] == ["all-healthy", "instance-lost:web", "az-lost", "pool-down:ghost",
                                     "pool-down:web"]
    assert got[0].healthy == {"ghost": 0, "web": 2}
    assert got[2].healthy == {"ghost": 0, "web": 1}  # an unknown pool loses nothing: it has nothing


@pytest.mark.parametrize("include,names", [
    (("all-healthy",), ["all-healthy"]),
    (("instance-lost",), ["instance-lost:a", "instance-lost:b"]),
    (("az-lost",), ["az-lost"]),
    (("pool-down",), ["pool-down:a", "pool-down:b"]),
    (("instance-lost", "pool-down"), ["instance-lost:a", "instance-lost:b", "pool-down:a", "pool-down:b"]),
    ((), []),
])
def test_scenarios_only_of_the_kinds_asked(include, names):
    pools = {"a": Pool(2), "b": Pool(3)}
    assert [s.name for s in traffic.scenarios(pools, include=include)] == names


def test_no_pools_no_az_scenario():
    assert traffic.scenarios({}) == [Scenario("all-healthy", {}, "every instance healthy")]


def test_simulate_runs_every_scenario_of_the_routes_pools_at_peak():
    pools = {"a": Pool(2, 100.0), "b": Pool(2, 100.0), "unused": Pool(1, 100.0)}
    results = traffic.simulate(Route("r", {"a": 1, "b": 1}), pools, 100)
    assert [r.scenario for r in results] == ["all-healthy", "instance-lost:a", "instance-lost:b", "az-lost",
                                             "pool-down:a", "pool-down:b"]
    assert {r.route for r in results} == {"r"}
    by = {r.scenario: r for r in results}
    assert by["all-healthy"].loads["a"].rps == pytest.approx(50)
    assert by["instance-lost:a"].loads["a"].utilisation == pytest.approx(0.5)
    assert by["pool-down:b"].failed_fraction == 0.5 and not by["pool-down:b"].loads["a"].failing
    only = traffic.simulate(Route("r", {"a": 1, "b": 1}), pools, 100, include=("pool-down",))
    assert [r.scenario for r in only] == ["pool-down:a", "pool-down:b"]


# ---------------------------------------------------------------- worst and headroom

def _result(name, share_per_instance):
    return RouteResult("r", name, {"p": PoolLoad("p", 0.5, 1, share_per_instance, None, None, None, False)})


def test_worst_is_the_first_largest():
    a, b, c = _result("a", 0.2), _result("b", 0.6), _result("c", 0.6)
    assert traffic.worst([a, b, c]) is b  # ties: the earlier scenario
    assert traffic.worst([a]) is a
    assert traffic.worst([]) is None


def test_worst_ignores_unknown_values():
    pools = {"a": Pool(2)}
    unknown = traffic.simulate(Route("r", {"a": 1}), pools, 100)  # no capacity: no utilisation
    assert traffic.worst(unknown, "worst_utilisation") is None
    known = traffic.evaluate(Route("r", {"a": 1}), {"a": Pool(2, 100.0)}, peak_rps=100)
    assert traffic.worst(unknown + [known], "worst_utilisation") is known


def test_headroom_groups_scenarios_by_kind_whatever_the_pool_keys():
    pools = {ARN_A: Pool(2, 100.0, azs=2), ARN_B: Pool(4, 100.0, azs=2)}
    h = traffic.headroom_by_scenario(traffic.simulate(Route("r", {ARN_A: 1, ARN_B: 1}), pools, 200))
    assert list(h) == ["all-healthy", "instance-lost", "az-lost", "pool-down"]
    assert {kind: v.kind for kind, v in h.items()} == {k: k for k in h}
    assert h["instance-lost"].scenario == f"instance-lost:{ARN_A}"  # 100 req/s on 1 instance of A
    assert h["instance-lost"].utilisation == pytest.approx(1.0)
    assert h["pool-down"].failing_scenario == f"pool-down:{ARN_A}"  # ties: the first
    assert h["pool-down"].failed_fraction == 0.5


def test_headroom_names_the_failing_scenario_only_when_requests_fail():
    pools = {"a": Pool(2, 100.0, azs=2), "b": Pool(2, 100.0, azs=2)}
    h = traffic.headroom_by_scenario(traffic.simulate(Route("r", {"a": 3, "b": 1}), pools, 100))
    for kind in ("all-healthy", "instance-lost", "az-lost"):
        assert h[kind].failed_fraction == 0.0 and h[kind].failing_scenario is None, kind
        assert h[kind].cases == [h[kind].scenario]
    down = h["pool-down"]
    # pool-down:a fails 75% of the requests, pool-down:b only 25% but loads a more.
    assert down.failing_scenario == "pool-down:a" and down.failed_fraction == 0.75
    assert down.scenario == "pool-down:b" and down.utilisation == pytest.approx(75 / 200)
    assert down.cases == ["pool-down:b", "pool-down:a"]


# ---------------------------------------------------------------- share-skew bands and blind funnels

@pytest.mark.parametrize("weights,deviation,bounds", [
    ({"a": 1}, 0.15, {"a": (0.85, 1.0)}),  # never above all of it
    ({"a": 50, "b": 50}, 0.15, {"a": (0.35, 0.65), "b": (0.35, 0.65)}),
    ({"a": 90, "b": 10}, 0.15, {"a": (0.75, 1.0), "b": (0.0, 0.25)}),  # never below none of it
    ({"a": 90, "b": 10}, 0.0, {"a": (0.9, 0.9), "b": (0.1, 0.1)}),
])
def test_skew_bounds(weights, deviation, bounds):
    got = traffic.skew_bounds(weights, deviation)
    assert got.keys() == bounds.keys()
    for k, (lo, hi) in bounds.items():
        assert got[k] == (pytest.approx(lo), pytest.approx(hi)), k


@pytest.mark.parametrize("weights,deviation,blind", [
    ({"a": 90, "b": 10}, 0.15, ["a"]),  # all onto a: a at 100%, b at 0%, both inside their bands
    ({"a": 90, "b": 10}, 0.05, []),
    ({"a": 50, "b": 50}, 0.15, []),
    ({"a": 50, "b": 50}, 0.5, ["a", "b"]),
    ({"a": 1}, 0.0, ["a"]),  # one group gets everything anyway
    ({"a": 80, "b": 10, "c": 10}, 0.2, ["a"]),
    ({"a": 80, "b": 10, "c": 10}, 0.05, []),
])
def test_blind_funnels(weights, deviation, blind):
    assert traffic.blind_funnels(weights, deviation) == blind


# ---------------------------------------------------------------- listener_reach

def path(*values):
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}


def host(*values):
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def rule(rid, priority, *conditions):
    return {"id": rid, "priority": priority, "conditions": list(conditions)}


API = rule("api", 10, path("/api/*"))
V2 = rule("v2", 15, path("/api/v2/*"))  # always pre-empted by api
ADMIN = rule("admin", 20, host("admin.example.com"))
CATCH = rule("catch", 30, path("/*"))
LATE = rule("late", 40, path("/late"))
CERT_NAMES = ["*.example.com", "example.com"]
ALL_HOSTS = rule("all-hosts", 25, host(*CERT_NAMES))


def reach_table(reach):
    return {k: (round(v.share, 9), v.source, v.shadowed_by) for k, v in reach.items()}


def test_reach_without_profile_follows_priority_not_list_order():
    assert reach_table(traffic.listener_reach([LATE, CATCH, ADMIN, V2, API])) == {
        "api": (1.0, "unknown", ()),
        "v2": (0.0, "shadowed", ("api",)),
        "admin": (1.0, "unknown", ()),
        "catch": (1.0, "catch-all", ()),
        "late": (0.0, "shadowed", ("catch",)),
        DEFAULT: (0.0, "shadowed", ("catch",)),
    }


def test_reach_with_declared_shares_takes_them_in_priority_order():
    reach = traffic.listener_reach([API, ADMIN, rule("web", 30, path("/web/*")), LATE],
                                   declared={"api": 0.5, "admin": 0.3, "web": 0.4, "missing": 0.9, "late": None})
    assert reach_table(reach) == {
        "api": (0.5, "declared", ()),
        "admin": (0.3, "declared", ()),
        "web": (0.2, "declared", ()),  # at most what the earlier rules left
        "late": (0.0, "unknown", ()),  # nothing left for an unknown rule either
        DEFAULT: (0.0, "default", ()),
    }


def test_reach_unknown_rules_are_bounded_by_what_declared_rules_leave():
    reach = traffic.listener_reach([API, ADMIN, LATE], declared={"api": 0.25})
    assert reach_table(reach) == {
        "api": (0.25, "declared", ()),
        "admin": (0.75, "unknown", ()),
        "late": (0.75, "unknown", ()),
        DEFAULT: (0.75, "default", ()),
    }


def test_reach_host_catch_all_from_the_certificate_names():
    # A host rule covering every name the listener's certificate serves takes every request:
    # the path rule after it is never reached, though its conditions are on another field.
    rules = [API, ALL_HOSTS, LATE]
    assert reach_table(traffic.listener_reach(rules, hosts=CERT_NAMES)) == {
        "api": (1.0, "unknown", ()),
        "all-hosts": (1.0, "catch-all", ()),
        "late": (0.0, "shadowed", ("all-hosts",)),
        DEFAULT: (0.0, "shadowed", ("all-hosts",)),
    }
    # Without the names it is just a narrow host rule.
    assert reach_table(traffic.listener_reach(rules)) == {
        "api": (1.0, "unknown", ()), "all-hosts": (1.0, "unknown", ()), "late": (1.0, "unknown", ()),
        DEFAULT: (1.0, "default", ()),
    }


def test_reach_the_first_live_catch_all_wins():
    # A catch-all pre-empted by an earlier one is dead, not the listener's catch-all.
    first = rule("first", 5, path("*"))
    second = rule("second", 6, path("/*"))
    assert reach_table(traffic.listener_reach([second, first, LATE])) == {
        "first": (1.0, "catch-all", ()),
        "second": (0.0, "shadowed", ("first",)),
        "late": (0.0, "shadowed", ("first",)),
        DEFAULT: (0.0, "shadowed", ("first",)),
    }


def test_reach_by_several_earlier_rules():
    both = rule("both", 50, path("/api/x", "/late"))
    assert traffic.listener_reach([API, LATE, both])["both"] == Reach(0.0, "shadowed", ("api", "late"))


CLASSES = [(Request(host="www.example.com", path="/api/v2/x"), 0.5),
           (Request(host="admin.example.com", path="/"), 0.2),
           (Request(host="www.example.com", path="/"), 0.3)]


def test_reach_with_a_profile_and_default_class_names():
    reach = traffic.listener_reach([V2, ADMIN, API], CLASSES)
    assert reach["api"] == Reach(0.5, "profile", (), ("class-0",))
    assert reach["v2"] == Reach(0.0, "shadowed", ("api",), ())  # pre-empted: the profile agrees
    assert reach["admin"] == Reach(0.2, "profile", (), ("class-1",))
    assert reach[DEFAULT] == Reach(0.3, "profile", (), ("class-2",))


def test_reach_with_a_profile_the_default_behind_a_catch_all():
    reach = traffic.listener_reach([API, CATCH], CLASSES, class_names=["api", "admin", "home"])
    assert reach["api"] == Reach(0.5, "profile", (), ("api",))
    assert reach["catch"] == Reach(0.5, "profile", (), ("admin", "home"))
    assert reach[DEFAULT] == Reach(0.0, "profile", ("catch",), ())


def test_reach_with_a_profile_class_outside_the_certificate_still_reaches_the_default():
    # The host catch-all covers the certificate's names; a class for another name (a profile
    # that is wrong, or a name served by SNI elsewhere) still goes where ALB would send it.
    classes = [(Request(host="a.example.com", path="/x"), 0.9), (Request(host="other.net", path="/x"), 0.1)]
    reach = traffic.listener_reach([ALL_HOSTS], classes, class_names=["ours", "stray"], hosts=CERT_NAMES)
    assert reach["all-hosts"] == Reach(0.9, "profile", (), ("ours",))
    assert reach[DEFAULT] == Reach(0.1, "profile", (), ("stray",))


def test_reach_a_dead_catch_all_is_never_named_as_what_pre_empts_the_default():
    # The certificate's two names are taken by two earlier rules together: the host catch-all
    # after them is dead, so it pre-empts nothing; everything goes to the two narrow rules.
    wild, apex = rule("wild", 1, host("*.example.com")), rule("apex", 2, host("example.com"))
    rules = [wild, apex, ALL_HOSTS, LATE]
    classes = [(Request(host="a.example.com", path="/late"), 0.6), (Request(host="example.com", path="/"), 0.4)]
    reach = traffic.listener_reach(rules, classes, class_names=["sub", "apex"], hosts=CERT_NAMES)
    assert reach["all-hosts"] == Reach(0.0, "shadowed", ("wild", "apex"), ())
    assert reach["late"] == Reach(0.0, "profile", (), ())
    assert reach[DEFAULT] == Reach(0.0, "profile", (), ())
    facts = traffic.listener_reach(rules, hosts=CERT_NAMES)
    assert reach_table(facts) == {
        "wild": (1.0, "unknown", ()), "apex": (1.0, "unknown", ()),
        "all-hosts": (0.0, "shadowed", ("wild", "apex")),
        "late": (1.0, "unknown", ()), DEFAULT: (1.0, "default", ()),
    }
