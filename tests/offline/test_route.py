"""`lbguard route`: which rule a request matches (ALB order) and where it goes, by hand and on dev."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from lbguard.core import matching, topology
from lbguard.cli.app import main
from lbguard.offline.route import route_request

P = {"Field": "path-pattern"}
TGS = {k: f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{k}/0f" for k in ("a", "b", "c", "empty")}
SIZES = {"a": 2, "b": 4, "c": 1, "empty": 0}


def _res(typ, name, props):
    return topology.Res(f"urn:{name}", typ, name, props)


def fwd(weights: dict[str, int]) -> list[dict]:
    return [{"type": "forward", "forward": {"targetGroups": [{"arn": TGS[k], "weight": v} for k, v in weights.items()]}}]


def build(rules, default=None, port=443):
    """Pools a (2 instances), b (4), c (1), empty (0); one listener; ``rules``: (name, priority, conditions, actions)."""
    res = [_res("aws:lb/targetGroup:TargetGroup", k, {"arn": arn, "tags": {"lbguard:pool": k}}) for k, arn in TGS.items()]
    res += [_res("aws:autoscaling/group:Group", f"asg-{k}", {"minSize": n, "targetGroupArns": [TGS[k]]})
            for k, n in SIZES.items()]
    res.append(_res("aws:lb/listener:Listener", "https", {"arn": "arn:l", "port": port, "protocol": "HTTPS",
                                                          "defaultActions": default or fwd({"a": 1, "b": 1})}))
    for name, prio, conds, actions in rules:
        actions = fwd(actions) if isinstance(actions, dict) else actions
        res.append(_res("aws:lb/listenerRule:ListenerRule", name, {"listenerArn": "arn:l", "priority": prio,
                                                                   "conditions": conds, "actions": actions}))
    return topology.build(res)


def hit(topo, **request):
    [entry] = route_request(topo, matching.Request(**request))
    return entry


def pools(entry):
    return [(p["pool"], p["probability"], p["perInstance"]) for p in entry["pools"]]


RULES = [
    # Declared out of order on purpose: ALB goes by priority, not by position.
    ("api", 20, [{"pathPattern": {"values": ["/api/*"]}}], {"b": 1}),
    ("canary", 10, [{"pathPattern": {"values": ["/api/*"]}},
                    {"httpHeader": {"httpHeaderName": "X-Canary", "values": ["yes"]}}], {"c": 1}),
    ("admin", 30, [{"hostHeader": {"values": ["admin.*"]}}], {"a": 3, "b": 1}),
    ("beta", 40, [{"queryStrings": [{"key": "beta", "value": "1"}]}, {"httpRequestMethod": {"values": ["POST"]}}],
     {"a": 1, "c": 1}),
    ("office", 50, [{"sourceIp": {"values": ["10.0.0.0/8"]}}], {"b": 1}),
]


def test_priority_order_beats_declaration_order():
    topo = build(RULES)
    assert hit(topo, path="/api/x")["rule"] == "api"
    canary = hit(topo, path="/api/x", headers={"x-canary": "YES"})  # header names and values: case-insensitive
    assert (canary["rule"], canary["priority"]) == ("canary", 10)
    assert pools(canary) == [("c", 1.0, 1.0)]


def test_conditions_as_alb_evaluates_them():
    topo = build(RULES)
    assert hit(topo, path="/API/x")["rule"] is None  # path patterns are case-sensitive
    assert hit(topo, path="/api")["rule"] is None  # "/api/*" needs the slash
    assert hit(topo, host="Admin.Example.com:443", path="/")["rule"] == "admin"  # host: case-insensitive, no port
    assert hit(topo, path="/", query={"beta": "1"})["rule"] is None  # every condition must hold (method)
    assert hit(topo, path="/", method="POST", query={"beta": "1"})["rule"] == "beta"
    assert hit(topo, path="/", source_ip="10.1.2.3")["rule"] == "office"
    assert hit(topo, path="/", source_ip="192.168.1.1")["rule"] is None


def test_weights_give_probabilities_and_per_instance_shares():
    admin = hit(build(RULES), host="admin.example.com", path="/")
    # 3:1 between a (2 instances) and b (4 instances).
    assert pools(admin) == [("a", 0.75, 0.375), ("b", 0.25, 0.0625)]
    assert [p["weight"] for p in admin["pools"]] == [3, 1]


def test_default_action_when_nothing_matches():
    default = hit(build(RULES), path="/")
    assert (default["rule"], default["priority"], default["action"]) == (None, None, "forward")
    assert pools(default) == [("a", 0.5, 0.25), ("b", 0.5, 0.125)]


def test_pool_without_healthy_instances_fails_open():
    entry = hit(build([("new", 5, [{"pathPattern": {"values": ["/new/*"]}}], {"empty": 1, "a": 1})]), path="/new/x")
    empty = next(p for p in entry["pools"] if p["pool"] == "empty")
    # ALB keeps sending the empty group its weighted half: those requests fail; no failover to a.
    assert empty["failsOpen"] and empty["probability"] == 0.5 and math.isinf(empty["perInstance"])
    assert not next(p for p in entry["pools"] if p["pool"] == "a")["failsOpen"]


def test_redirect_and_fixed_response():
    redirect = [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]
    fixed = [{"type": "fixed-response", "fixedResponse": {"statusCode": "503", "contentType": "text/plain",
                                                          "messageBody": "down"}}]
    topo = build([("maintenance", 1, [{"pathPattern": {"values": ["/maintenance"]}}], fixed)], default=redirect,
                 port=80)
    m = hit(topo, path="/maintenance")
    assert (m["action"], m["fixedResponse"], m["pools"]) == (
        "fixed-response", {"StatusCode": "503", "ContentType": "text/plain", "MessageBody": "down"}, [])
    d = hit(topo, path="/")
    assert (d["action"], d["redirect"]) == ("redirect", {"StatusCode": "HTTP_301", "Protocol": "HTTPS", "Port": "443"})
    # Components the action does not set keep the request's own (host, path, query).
    assert hit(topo, host="shop.example.com:80", path="/a/b", query={"q": "1 2"})["location"] == \
        "https://shop.example.com:443/a/b?q=1+2"


@pytest.mark.parametrize("config,location", [
    ({"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}, "https://h.example:443/p/q?x=1"),
    ({"Host": "new.#{host}", "Path": "/v2/#{path}", "Query": "#{query}&y=2", "StatusCode": "HTTP_302"},
     "http://new.h.example:80/v2/p/q?x=1&y=2"),
    ({"Protocol": "#{protocol}", "Port": "#{port}", "Path": "/static", "StatusCode": "HTTP_301"},
     "http://h.example:80/static?x=1"),
])
def test_redirect_location_fills_alb_keywords(config, location):
    from lbguard.offline.route import redirect_location

    req = matching.Request(host="h.example", path="/p/q", query={"x": "1"})
    assert redirect_location(config, req, "HTTP", 80) == location


def test_terminal_action_is_the_last_by_order():
    actions = [{"type": "forward", "order": 2, "forward": fwd({"b": 1})[0]["forward"]},
               {"type": "fixed-response", "order": 1, "fixedResponse": {"statusCode": "200", "contentType": "text/plain"}}]
    # Not a valid ALB rule, but it pins which action decides: the highest order.
    assert hit(build([("r", 1, [{"pathPattern": {"values": ["/*"]}}], actions)]), path="/")["action"] == "forward"


def test_zero_weights_reported_not_raised():
    entry = hit(build([("dead", 1, [{"pathPattern": {"values": ["/*"]}}], {"a": 0, "b": 0})]), path="/")
    assert entry["pools"] == [] and "weights sum to 0" in entry["error"]


def test_shadowing_by_hand():
    rules = [{"priority": 1, "name": "all", "conditions": [{**P, "PathPatternConfig": {"Values": ["/*"]}}]},
             {"priority": 2, "name": "api", "conditions": [{**P, "PathPatternConfig": {"Values": ["/api/*"]}}]},
             {"priority": 3, "name": "x", "conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["x.com"]}}]}]
    # `/*` on the path matches every request, whatever the host: x is dead too (across fields).
    assert [(l["name"], h["name"]) for l, (h,) in matching.shadowed_rules(rules)] == [("api", "all"), ("x", "all")]
    assert matching.glob_covers("/api/*", "/api/v?/*") and not matching.glob_covers("/api/v?/*", "/api/*")


def test_shadowing_answers_in_the_callers_rules_and_follows_their_content():
    """shadowed_rules is cached by content: an equal rule set gets the same answer in terms
    of its own rule objects, a changed one is computed afresh."""
    def rules(api_path):
        return [{"priority": 2, "name": "api", "conditions": [{**P, "PathPatternConfig": {"Values": [api_path]}}]},
                {"priority": 1, "name": "all", "conditions": [{**P, "PathPatternConfig": {"Values": ["/a*"]}}]},
                {"priority": 3, "name": "v1", "conditions": [{**P, "PathPatternConfig": {"Values": ["/api/v1/*"]}}]}]
    first, second = rules("/api/*"), rules("/api/*")
    a, b = matching.shadowed_rules(first), matching.shadowed_rules(second)
    assert [(l["name"], [h["name"] for h in by]) for l, by in a] == [("api", ["all"]), ("v1", ["all"])]
    assert all(l is second[0] or l is second[2] for l, _ in b) and b[0][1][0] is second[1]
    assert matching.shadowed_rules(rules("/b/*")) == [(rules("/b/*")[2], (rules("/b/*")[1],))]


# ------------------------------------------------------------------ properties

segment = st.sampled_from(["api", "v1", "admin", "x", "static"])
paths = st.lists(segment, min_size=0, max_size=3).map(lambda s: "/" + "/".join(s))
patterns = st.sampled_from(["/api/*", "/admin*", "/*", "/v1/*", "/x", "/api/v1/*", "/static/*"])
weights = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 999), min_size=1).filter(
    lambda w: sum(w.values()) > 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(patterns, weights), min_size=0, max_size=6, unique_by=lambda t: t[0]),
       st.permutations(range(6)), paths)
def test_first_match_is_the_lowest_matching_priority_and_probabilities_sum_to_one(rules, priorities, path):
    spec = [(f"r{i}", priorities[i] + 1, [{"pathPattern": {"values": [pat]}}], w) for i, (pat, w) in enumerate(rules)]
    entry = hit(build(spec), path=path)
    matching_ = [(prio, name) for name, prio, conds, _ in spec
                 if matching.rule_matches([{**P, "PathPatternConfig": {"Values": conds[0]["pathPattern"]["values"]}}],
                                          matching.Request(path=path))]
    expected = min(matching_)[1] if matching_ else None
    assert entry["rule"] == expected
    assert math.isclose(sum(p["probability"] for p in entry["pools"]), 1.0)
    for p in entry["pools"]:
        assert p["perInstance"] == p["probability"] / SIZES[p["pool"]]


# ------------------------------------------------------------------ the command on the dev stack


@pytest.fixture(scope="module")
def dev_route():
    def run(*args: str):
        return CliRunner(env={"COLUMNS": "200"}).invoke(main, ["route", "--stack", "dev", *args])
    return run


def test_dev_api_request(dev_route):
    result = dev_route("--host", "www.example.com", "--path", "/api/users", "--header", "X-Trace=1", "--json", "-")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["request"]["headers"] == {"X-Trace": "1"}
    http, https = doc["listeners"]
    assert (http["port"], http["action"], http["redirect"]["Protocol"]) == (80, "redirect", "HTTPS")
    assert (https["rule"], https["priority"], https["action"]) == ("web-routing-rule-api", 10, "forward")
    # the stack's keys beside the Pulumi names
    assert (https["listenerKey"], https["ruleKey"], https["label"]) == ("https", "api", "rule api")
    assert [(p["pool"], p["probability"], p["instances"], p["perInstance"]) for p in https["pools"]] == [
        ("blue", 0.5, 3, 1 / 6), ("green", 0.5, 3, 1 / 6)]


def test_dev_human_output(dev_route):
    result = dev_route("--host", "dev.example.com", "--path", "/maintenance")
    assert result.exit_code == 0, result.output
    assert ("listener https (HTTPS 443): rule maintenance (priority 20) -> fixed response 503 (text/plain): "
            "down for maintenance") in result.output
    assert ("listener http (HTTP 80): default action -> redirect 301 (permanent) to "
            "https://dev.example.com:443/maintenance") in result.output
    assert "{" not in result.output  # no Python dict


@pytest.mark.parametrize("args,needle", [
    (["--path", "api"], "--path 'api': must start with '/'"),
    (["--header", "novalue"], "--header 'novalue': expected KEY=VALUE"),
    (["--source-ip", "10.0.0.300"], "--source-ip '10.0.0.300': not an IPv4 or IPv6 address"),
    (["--cwd", "/nonexistent"], "no Pulumi.yaml there"),
])
def test_bad_usage_is_one_line(dev_route, args, needle):
    result = dev_route(*args)
    assert result.exit_code == 2 and needle in result.stderr and result.stderr.strip().count("\n") == 0


# ------------------------------------------------------------------ from a preflight JSON, nothing run

REQUESTS = [("www.example.com", "/api/users"), ("", "/maintenance"), ("shop.example.com", "/"), ("", "/static/x.css")]


@pytest.fixture(scope="module")
def preflights(tmp_path_factory):
    out = {}
    for stack in ("dev", "prod"):
        path = tmp_path_factory.mktemp("preflight") / f"{stack}.json"
        result = CliRunner().invoke(main, ["preflight", "--stack", stack, "--no-policy", "--json", str(path)])
        assert result.exit_code == 0, result.output
        out[stack] = path
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_route_from_a_preflight_answers_as_the_program(preflights, stack):
    for host, path in REQUESTS:
        args = ["--host", host, "--path", path, "--json", "-"]
        ran = CliRunner().invoke(main, ["route", "--stack", stack, *args])
        read = CliRunner().invoke(main, ["route", "--from", str(preflights[stack]), *args])
        assert ran.exit_code == read.exit_code == 0, read.output
        assert json.loads(read.stdout) == json.loads(ran.stdout)
        assert any(listener["pools"] for listener in json.loads(read.stdout)["listeners"]) or path == "/maintenance"


def test_route_from_names_a_wrong_stack_or_file(preflights, tmp_path):
    wrong = CliRunner().invoke(main, ["route", "--stack", "dev", "--from", str(preflights["prod"])])
    assert wrong.exit_code == 2 and "a preflight of stack 'prod', not 'dev'" in wrong.stderr
    (tmp_path / "bad.json").write_text("[1]")
    bad = CliRunner().invoke(main, ["route", "--from", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "not a preflight result" in bad.stderr and bad.stderr.strip().count("\n") == 0


HEAVY = ("pulumi", "pulumi_aws", "moto", "pulumi_policy", "grpc")
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: sys.stderr.write('\\nIMPORTED ' + ','.join(m for m in %r if m in sys.modules) + '\\n'))\n"
         "from lbguard.cli.app import main\n"
         "main(sys.argv[1:], prog_name='lbguard')\n" % (HEAVY,))


@pytest.mark.parametrize("argv", [
    ["--help"], ["route", "--help"], ["route", "--from", "{prod}", "--path", "/api/x"],
    ["diff", "{dev}", "{dev}"], ["diff", "{prod}", "{prod}", "--format", "json"],
], ids=["help", "route-help", "route-from", "diff", "diff-json"])
def test_commands_that_run_nothing_import_neither_pulumi_nor_the_emulator(preflights, argv):
    import subprocess
    import sys

    args = [a.format(dev=preflights["dev"], prod=preflights["prod"]) for a in argv]
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "LBGUARD_WORKER": "0"})
    assert proc.returncode in (0, 1), proc.stderr
    assert "IMPORTED \n" in proc.stderr, proc.stderr[-300:]
