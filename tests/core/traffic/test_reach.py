"""lbguard.core.traffic.listener_reach: a rule's share of its listener, from a profile or from facts."""

from lbguard.core import traffic
from lbguard.core.matching import Request


def path(*values):
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}


def host(*values):
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


API = {"id": "api", "priority": 10, "conditions": [path("/api/*")]}
ADMIN = {"id": "admin", "priority": 20, "conditions": [host("admin.example.com")]}
MAINT = {"id": "maintenance", "priority": 30, "conditions": [path("/maintenance")]}
PERF = {"id": "performance", "priority": 5, "conditions": [path("/*")]}


def test_without_profile_narrow_rules_are_unknown_and_default_takes_the_rest():
    reach = traffic.listener_reach([API, ADMIN])
    assert reach["api"].source == "unknown" and not reach["api"].known
    assert reach["api"].share == 1.0  # evaluated at its upper bound
    assert reach[traffic.DEFAULT].source == "default" and reach[traffic.DEFAULT].share == 1.0


def test_declared_shares_are_taken_and_leave_the_rest_to_the_default():
    reach = traffic.listener_reach([API, ADMIN], declared={"api": 0.3, "admin": 0.1})
    assert (reach["api"].source, reach["api"].share) == ("declared", 0.3)
    assert abs(reach[traffic.DEFAULT].share - 0.6) < 1e-12


def test_june_1_catch_all_kills_everything_after_it_without_a_profile():
    reach = traffic.listener_reach([API, ADMIN, MAINT, PERF])
    assert (reach["performance"].source, reach["performance"].share) == ("catch-all", 1.0)
    for rid in ("api", "admin", "maintenance", traffic.DEFAULT):
        assert reach[rid].dead and reach[rid].shadowed_by == ("performance",), rid


def test_profile_classes_go_through_alb_first_match_and_unmatched_go_to_default():
    classes = [(Request(host="www.example.com", path="/api/v1/x"), 0.5),
               (Request(host="admin.example.com", path="/"), 0.2),
               (Request(host="admin.example.com", path="/api/users"), 0.1),  # api (priority 10) wins
               (Request(host="www.example.com", path="/"), 0.2)]
    reach = traffic.listener_reach([API, ADMIN], classes, class_names=["a", "b", "c", "d"])
    assert abs(reach["api"].share - 0.6) < 1e-12 and reach["api"].classes == ("a", "c")
    assert abs(reach["admin"].share - 0.2) < 1e-12 and reach["admin"].source == "profile"
    assert abs(reach[traffic.DEFAULT].share - 0.2) < 1e-12
    with_perf = traffic.listener_reach([API, ADMIN, PERF], classes)
    assert with_perf["performance"].share == 1.0
    assert with_perf["api"].share == 0 and with_perf[traffic.DEFAULT].share == 0
