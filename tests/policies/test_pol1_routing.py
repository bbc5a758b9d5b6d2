"""The routing policies of policies/lb_safety/routing.py: even-target-weights (its rule as a
function, then through the pack), no-traffic-funnel, listener-rule-shadowing and
rollback-output-required, each with the exact finding it reports and where the stack leaves
it unable to judge (advisory "could not be evaluated")."""

from __future__ import annotations

import copy
import sys

import pytest

from lbguard.core.snapshot import SCHEMA_VERSION
from tests.conftest import ROOT
from tests.policies.fixtures import (ELB, UNKNOWN, add_resource, by_name, forward, mutate, refresh_rollback, setter,
                                     web_tier)

BASE = web_tier()
ARNS = BASE.outputs["targetGroupArns"]
STACK = "web-tier-prod"
HTTPS = "web-routing-https"
API = "web-routing-rule-api"


@pytest.fixture(scope="module")
def routing():
    """policies/lb_safety/routing.py imported as the pack imports it, forgotten after (the pack
    loads its own copy)."""
    sys.path.insert(0, str(ROOT / "policies"))
    try:
        import lb_safety.routing as module
        yield module
    finally:
        sys.path.remove(str(ROOT / "policies"))
        for name in [n for n in sys.modules if n.split(".")[0] == "lb_safety"]:
            del sys.modules[name]


def findings(pack, run, policy, user=None):
    return sorted((v.enforcement_level, v.name, v.message)
                  for v in pack.evaluate(run, {} if user is None else user) if v.policy == policy)


def cannot(message):
    return f"could not be evaluated: {message}"


# ------------------------------------------------------------------ even-target-weights, the rule


def tg(name):
    return f"{ELB}:targetgroup/{name}/0123456789abcdef"


def uneven(listing, spread, tolerance):
    return (f"weights are uneven ({listing}: shares differ by {spread}, tolerance {tolerance}). Give every target "
            f"group the same weight, or name this forward in the pack config's canaryExemptions with the canary's "
            f"maximum share.")


@pytest.mark.parametrize("weights, tolerance, canary, want", [
    ([(tg("blue"), 1)], 0.0, None, None),
    ([(tg("blue"), 1), (tg("green"), 1)], 0.0, None, None),
    ([(tg("blue"), 999), (tg("green"), 999), (tg("red"), 999)], 0.0, None, None),
    ([(tg("blue"), 60), (tg("green"), 40)], 0.0, None, uneven("blue=60, green=40", "20%", "0%")),
    ([(tg("blue"), 60), (tg("green"), 40)], 0.2, None, None),  # a spread equal to the tolerance is allowed
    ([(tg("blue"), 61), (tg("green"), 39)], 0.2, None, uneven("blue=61, green=39", "22%", "20%")),
    ([(tg("blue"), 2), (tg("green"), 1), (tg("red"), 1)], 0.0, None, uneven("blue=2, green=1, red=1", "25%", "0%")),
    ([(tg("blue"), 1), (tg("green"), 0)], 0.0, None, uneven("blue=1, green=0", "100%", "0%")),
    ([(tg("blue"), 1), (tg("blue"), 2)], 0.0, None, uneven("blue=1, blue=2", "33.3%", "0%")),
    ([(UNKNOWN, 3), ("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/1", 1)], 0.0, None,
     uneven("targetGroups[0]=3, targetGroups[1]=1", "50%", "0%")),
    ([(None, 1), (tg("green"), 3)], 0.0, None, uneven("targetGroups[0]=1, green=3", "50%", "0%")),
    # One canary at most maxShare is exempt; the others must still be even among themselves.
    ([(tg("blue"), 95), (tg("green"), 5)], 0.0, 0.1, None),
    ([(tg("blue"), 95), (tg("green"), 5)], 0.0, 0.05, None),
    ([(tg("blue"), 95), (tg("green"), 5)], 0.0, 0.04, uneven("blue=95, green=5", "90%", "0%")),
    ([(tg("blue"), 45), (tg("green"), 45), (tg("red"), 10)], 0.0, 0.1, None),
    ([(tg("blue"), 50), (tg("green"), 40), (tg("red"), 10)], 0.0, 0.1, uneven("blue=50, green=40, red=10", "11.1%", "0%")),
    ([(tg("blue"), 50), (tg("green"), 40), (tg("red"), 10)], 0.12, 0.1, None),
    ([(tg("blue"), 55), (tg("green"), 45)], 0.0, 0.3, uneven("blue=55, green=45", "10%", "0%")),
])
def test_even_weights_rule(routing, weights, tolerance, canary, want):
    assert routing.check_even_weights(weights, tolerance, canary) == want


@pytest.mark.parametrize("weights, error", [
    ([(tg("blue"), 1000), (tg("green"), 1000)], "1000"),
    ([(tg("blue"), 0), (tg("green"), 0)], "sum"),
    ([(tg("blue"), -1), (tg("green"), 2)], "-1"),
    ([(tg("blue"), 1.5), (tg("green"), 2)], "1.5"),
])
def test_weights_alb_refuses_are_named_with_the_valid_range(routing, weights, error):
    why = routing.check_even_weights(weights, 0.0, 0.5)
    assert why.endswith(". Use integer weights 0..999 with a positive sum.") and error in why


def set_https(*actions):
    return lambda run: refresh_rollback(mutate(run, HTTPS, setter(["defaultActions"], list(actions))))


def set_api(*actions):
    return lambda run: refresh_rollback(mutate(run, API, setter(["actions"], list(actions))))


FIXED = {"type": "fixed-response", "order": 2, "fixedResponse": {"contentType": "text/plain", "statusCode": "404"}}
EXEMPT = {"canaryExemptions": [{"name": HTTPS, "maxShare": 0.1}]}


@pytest.mark.parametrize("change, config, want", [
    (lambda r: r, {}, []),
    (set_https(forward((ARNS["blue"], 60), (ARNS["green"], 40))), {},
     [(HTTPS, uneven("web-blue=60, web-green=40", "20%", "0%"))]),
    (set_api(forward((ARNS["blue"], 3), (ARNS["green"], 1))), {},
     [(API, uneven("web-blue=3, web-green=1", "50%", "0%"))]),
    (set_api(forward((ARNS["blue"], 1), (ARNS["green"], 1)), dict(forward((ARNS["blue"], 3), (ARNS["green"], 1)), order=2)),
     {}, [(API, uneven("web-blue=3, web-green=1", "50%", "0%"))]),
    (set_api(FIXED), {}, []),
    (set_https(forward((ARNS["blue"], 60), (ARNS["green"], 40))), {"tolerance": 0.2}, []),
    (set_https(forward((ARNS["blue"], 95), (ARNS["green"], 5))), EXEMPT, []),
    (set_https(forward((ARNS["blue"], 95), (ARNS["green"], 5))), {"canaryExemptions": [
        {"name": by_name(BASE, HTTPS).urn, "maxShare": 0.1}]}, []),
    (set_https(forward((ARNS["blue"], 95), (ARNS["green"], 5))), {"canaryExemptions": [
        {"name": API, "maxShare": 0.1}]}, [(HTTPS, uneven("web-blue=95, web-green=5", "90%", "0%"))]),
    (set_api(forward((ARNS["blue"], 95), (ARNS["green"], 5))), EXEMPT,
     [(API, uneven("web-blue=95, web-green=5", "90%", "0%"))]),
])
def test_forwards_split_evenly(pack, change, config, want):
    got = findings(pack, change(BASE), "even-target-weights", {"even-target-weights": config})
    assert got == sorted(("mandatory", n, f"{n}: {m}") for n, m in want)


def test_an_unknown_weight_cannot_be_evaluated(pack):
    run = set_https(forward((ARNS["blue"], 1), (ARNS["green"], 1)))(BASE)
    run = mutate(run, HTTPS, setter(["defaultActions", 0, "forward", "targetGroups", 1, "weight"], UNKNOWN))
    [(level, name, message)] = findings(pack, run, "even-target-weights")
    assert level == "advisory" and message.endswith(cannot(f"{HTTPS}: a forward weight is unknown"))


# ------------------------------------------------------------------ no-traffic-funnel

SPREAD = ("Spread the traffic over more target groups or instances (raise the Auto Scaling minimum) so that every "
          "instance carries less than {limit}, also with one instance lost.")


def funnel(scenario, healthy, pool, share, limit):
    return (f"in scenario '{scenario}' each of the {healthy} healthy instance(s) of target group {pool} receives "
            f"{share} of the listener's traffic (limit {limit}). " + SPREAD.format(limit=limit))


def api_fraction(fraction, min_size=4):
    def change(run):
        run = mutate(run, API, lambda p: p["tags"].update({"lbguard:traffic-fraction": fraction}))
        return mutate(run, "web-pool-api-asg", lambda p: p.update(minSize=min_size, desiredCapacity=min_size))
    return change


both = set_api(forward((ARNS["blue"], 1), (ARNS["green"], 1)))  # the api rule to blue and green as well
COMBINED = f"listener {HTTPS}: its forwards ({HTTPS}/default, {HTTPS}/{API}) together funnel traffic: "


@pytest.mark.parametrize("change, limit, want", [
    (lambda r: r, None, []),
    (api_fraction("1"), None, []),  # 1/3 per instance with one lost, under the default 50%
    (api_fraction("1", 2), None,
     [(API, f"{HTTPS}/{API} funnels traffic: " + funnel("instance-lost:api", 1, "api", "100%", "50%"))]),
    (api_fraction("1"), 0.25,
     [(API, f"{HTTPS}/{API} funnels traffic: " + funnel("instance-lost:api", 3, "api", "33.3%", "25%"))]),
    (api_fraction("1"), 1 / 3, [(API, f"{HTTPS}/{API} funnels traffic: " +
                                 funnel("instance-lost:api", 3, "api", "33.3%", "33.3%"))]),  # reaching it violates
    (api_fraction("1"), 0.34, []),
    # Each forward within the limit, together over it: reported once, on the listener.
    (both, 0.15, [(HTTPS, COMBINED + funnel("instance-lost:blue", 3, "blue", "16.7%", "15%"))]),
    (both, 0.17, []),
])
def test_no_instance_takes_the_limit_of_a_listener(pack, change, limit, want):
    user = {"no-traffic-funnel": {} if limit is None else {"maxInstanceShare": limit}}
    assert findings(pack, change(BASE), "no-traffic-funnel", user) == sorted(("mandatory", n, m) for n, m in want)


def test_a_listener_with_a_funnel_is_not_added_up_again(pack):
    """static (20% to api, one instance) funnels alone; the default forward and the api rule
    would together be over 12% on blue (13.3%) but the listener is reported once, on static."""
    run = chain(rule("static", 20, path("/static/*")), both)(BASE)
    run = mutate(run, "static", lambda p: (p.update(actions=[forward((ARNS["api"], 1))]),
                                           p["tags"].update({"lbguard:traffic-fraction": "0.2"})))
    run = mutate(run, "web-pool-api-asg", lambda p: p.update(minSize=1, desiredCapacity=1))
    got = findings(pack, run, "no-traffic-funnel", {"no-traffic-funnel": {"maxInstanceShare": 0.12}})
    assert got == [("mandatory", "static", f"{HTTPS}/static funnels traffic: " +
                    funnel("all-healthy", 1, "api", "20%", "12%"))]
    run = mutate(run, "static", setter(["actions"], [forward((ARNS["blue"], 1), (ARNS["green"], 1))]))
    got = findings(pack, run, "no-traffic-funnel", {"no-traffic-funnel": {"maxInstanceShare": 0.12}})
    assert [(level, name) for level, name, _ in got] == [("mandatory", HTTPS)] and COMBINED[:40] in got[0][2]


EMPTY = ("{fwd} sends {sent} of the listener's traffic to target group {pool}, which has no instances (Auto Scaling "
         "minimum 0). Give it capacity before routing to it, or set its weight to 0.")


def empty_pool(pool):
    return lambda run: mutate(run, f"web-pool-{pool}-asg", lambda p: p.update(minSize=0, desiredCapacity=0))


@pytest.mark.parametrize("change, want", [
    (empty_pool("green"), [(HTTPS, EMPTY.format(fwd=f"{HTTPS}/default", sent="35%", pool="green"))]),
    (lambda r: empty_pool("green")(set_https(forward((ARNS["blue"], 1), (ARNS["green"], 0)))(r)), None),
    (lambda r: empty_pool("blue")(empty_pool("green")(r)),
     [(HTTPS, EMPTY.format(fwd=f"{HTTPS}/default", sent="35%", pool=p)) for p in ("blue", "green")]),
    (empty_pool("api"), [(API, EMPTY.format(fwd=f"{HTTPS}/{API}", sent="30%", pool="api"))]),
])
def test_a_pool_without_instances_is_reported_at_any_share(pack, change, want):
    got = [(n, m) for level, n, m in findings(pack, change(BASE), "no-traffic-funnel", {"no-traffic-funnel": {}})
           if "which has no instances" in m]
    assert got == sorted(want or [])


def test_a_pool_without_instances_behind_an_unknown_share(pack):
    """The share is unknown: the empty pool is still a fault, with the most it could be sent;
    the rest of the forward is advisory, never an assumed 100%."""
    run = mutate(empty_pool("api")(BASE), API, lambda p: p.pop("tags"))
    [stack, (level, name, message)] = findings(pack, run, "no-traffic-funnel")
    assert (level, name) == ("mandatory", API)
    assert message == EMPTY.format(fwd=f"{HTTPS}/{API}", sent="an unknown share (up to 100%)", pool="api")
    assert stack[:2] == ("advisory", STACK) and f"{HTTPS}/{API}: share unknown" in stack[2]


def test_capacity_outside_the_stack_cannot_be_evaluated(pack):
    run = copy.deepcopy(BASE)
    run.resources = [r for r in run.resources if r.name != "web-pool-api-asg"]
    [(level, name, message)] = findings(pack, run, "no-traffic-funnel")
    assert (level, name) == ("advisory", STACK)
    assert message.endswith(cannot(f"{HTTPS}/{API}: no Auto Scaling group or registered target in this stack is "
                                   f"linked to target group api, so its instances are unknown"))


def test_a_forward_alb_would_refuse_is_left_to_even_target_weights(pack):
    run = set_https(forward((ARNS["blue"], 1000), (ARNS["green"], 1000)))(empty_pool("green")(BASE))
    assert findings(pack, run, "no-traffic-funnel") == []


# ------------------------------------------------------------------ listener-rule-shadowing


def rule(name, priority, conditions, listener=HTTPS, arn_tail=None):
    def change(run):
        listener_arn = by_name(run, listener).outputs["arn"]
        return add_resource(run, "aws:lb/listenerRule:ListenerRule", name, {
            "listenerArn": listener_arn, "priority": priority, "conditions": conditions,
            "actions": [forward((ARNS["blue"], 1), (ARNS["green"], 1))], "tags": {"lbguard:traffic-fraction": "0.01"}},
            {"arn": listener_arn.replace(":listener/", ":listener-rule/") + "/" + (arn_tail or f"{abs(hash(name)):016x}")},
            deps={"listenerArn": [listener], "actions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    return change


def path(*values):
    return [{"pathPattern": {"values": list(values)}}]


def host(*values):
    return [{"hostHeader": {"values": list(values)}}]


def dead(low, prio, by, fix_first):
    which = (f"rule {by} on the same listener matches" if " and " not in by else
             f"rules {by} on the same listener together match")
    names = " and ".join(part.split(" (")[0] for part in by.split(" and "))
    return (f"rule {low} (priority {prio}) can never match: {which} every request it would. Give it a lower priority "
            f"number than {fix_first}, or narrow {names}'s conditions.")


def chain(*changes):
    def change(run):
        for c in changes:
            run = c(run)
        return run
    return change


@pytest.mark.parametrize("change, want", [
    (lambda r: r, []),
    (rule("all", 5, path("/*")), [(API, dead(API, 10, "all (priority 5)", "all"))]),
    (rule("all", 11, path("/*")), []),  # below api: reached by everything api does not take
    (rule("api-v1", 20, path("/api/v1/*")), [("api-v1", dead("api-v1", 20, f"{API} (priority 10)", API))]),
    (rule("api-v1", "20", path("/api/v1/*")), [("api-v1", dead("api-v1", 20, f"{API} (priority 10)", API))]),
    (rule("static", 20, path("/static/*")), []),
    (rule("static", 20, path("/static/*"), listener="web-routing-http"), []),  # other listener
    (chain(rule("a", 5, path("/a/*")), rule("b", 6, path("/b/*")), rule("ab", 30, path("/a/x", "/b/y"))),
     [("ab", dead("ab", 30, "a (priority 5) and b (priority 6)", "a"))]),
    (chain(rule("b", 5, path("/b/*")), rule("a", 6, path("/a/*")), rule("ab", 30, path("/a/x", "/b/y"))),
     [("ab", dead("ab", 30, "a (priority 6) and b (priority 5)", "b"))]),
])
def test_every_rule_can_match_some_request(pack, change, want):
    got = findings(pack, change(BASE), "listener-rule-shadowing", {"rollback-output-required": "disabled"})
    assert got == sorted(("mandatory", n, m) for n, m in want)


def test_rules_sharing_a_priority_are_each_reported_and_not_judged_for_shadowing(pack):
    """ALB refuses two rules at one priority; which one would win is not known, so neither is
    judged as shadowing (nor as shadowed), while other rules still are."""
    run = chain(rule("static", 10, path("/static/*")), rule("api-v1", 40, path("/api/v1/*")),
                rule("img", 30, path("/static/img/*")))(BASE)
    got = findings(pack, run, "listener-rule-shadowing", {"rollback-output-required": "disabled"})
    same = (f"rules {API}, static on listener {HTTPS} share priority 10; ALB refuses this (PriorityInUse). Give each "
            f"rule a unique priority.")
    assert got == sorted([("mandatory", API, same), ("mandatory", "static", same)])


@pytest.mark.parametrize("conditions, priority, why", [
    ([{"pathPattern": {"values": [UNKNOWN]}}], 20, "conditions or priority unknown"),
    (path("/x/*"), UNKNOWN, "conditions or priority unknown"),
])
def test_a_rule_that_cannot_be_read_is_said_so(pack, conditions, priority, why):
    run = rule("odd", priority, path("/x/*"))(BASE)
    run = mutate(run, "odd", lambda p: p.update(conditions=conditions, priority=priority))
    got = findings(pack, chain(rule("all", 5, path("/*")))(run), "listener-rule-shadowing",
                   {"rollback-output-required": "disabled"})
    assert [(level, name) for level, name, _ in got] == [("advisory", STACK), ("mandatory", API)]
    assert f"could not be evaluated: odd: {why}" in got[0][2]


def test_a_rule_whose_listener_is_unknown_is_said_so(pack):
    run = rule("lost", 20, path("/x/*"))(BASE)
    run = mutate(run, "lost", setter(["listenerArn"], f"{ELB}:listener/app/other/1/2"))
    by_name(run, "lost").property_dependencies.pop("listenerArn")
    [(level, name, message)] = findings(pack, run, "listener-rule-shadowing", {"rollback-output-required": "disabled"})
    assert (level, name) == ("advisory", STACK) and cannot("lost: ") in message and "listenerArn" in message


# ------------------------------------------------------------------ rollback-output-required


def snapshot_edit(fn):
    def change(run):
        run = copy.deepcopy(run)
        fn(run.outputs["rollback"])
        return run
    return change


def held_listener(snap, key=HTTPS):
    return next(l for l in snap["listeners"] if l["key"] == key)


def stale(what, name, arn):
    return f"{name}: {what}"


HTTPS_ARN = by_name(BASE, HTTPS).outputs["arn"]
API_ARN = by_name(BASE, API).outputs["arn"]
DIFFERS = ("the 'rollback' output's entry for {what} {name} differs from the {what}'s {parts}: a rollback would "
           "restore something else. Build the snapshot from the same routing as the {what}.")
L_PARTS, R_PARTS = "actions (targets or weights)", "actions (targets or weights), priority or conditions"


@pytest.mark.parametrize("change, want", [
    (lambda r: r, []),
    (lambda r: mutate(r, HTTPS, setter(["defaultActions"], [forward((ARNS["blue"], 2), (ARNS["green"], 2))])),
     [(HTTPS, DIFFERS.format(what="listener", name=HTTPS, parts=L_PARTS))]),
    (lambda r: mutate(r, API, setter(["actions"], [forward((ARNS["green"], 1))])),
     [(API, DIFFERS.format(what="listener rule", name=API, parts=R_PARTS))]),
    (lambda r: mutate(r, API, setter(["priority"], 11)),
     [(API, DIFFERS.format(what="listener rule", name=API, parts=R_PARTS))]),
    (lambda r: mutate(r, API, setter(["conditions"], path("/api/v2/*"))),
     [(API, DIFFERS.format(what="listener rule", name=API, parts=R_PARTS))]),
    (snapshot_edit(lambda s: held_listener(s)["rules"].clear()),
     [(API, f"listener rule {API} ({API_ARN}) is missing from the 'rollback' output; build the snapshot from every "
            f"listener and rule of the stack.")]),
    (snapshot_edit(lambda s: s["listeners"].remove(held_listener(s, "web-routing-http"))),
     [("web-routing-http", f"listener web-routing-http ({by_name(BASE, 'web-routing-http').outputs['arn']}) is missing "
                           f"from the 'rollback' output; build the snapshot from every listener and rule of the stack.")]),
    (snapshot_edit(lambda s: held_listener(s)["rules"][0].update(priority="ten")),
     [(STACK, "rollback output: listeners[1].rules[0].priority: 'ten' is not of type 'integer'. Export a schemaVersion "
              "2 snapshot built by lbguard.core.snapshot.build_snapshot.")]),
])
def test_the_rollback_output_holds_the_stacks_routing(pack, change, want):
    got = findings(pack, change(BASE), "rollback-output-required")
    assert got == sorted(("mandatory", n, m) for n, m in want)


def test_entries_for_routing_the_stack_lacks_are_reported_on_the_stack(pack):
    def extra(snap):
        rules = held_listener(snap)["rules"]
        rules.append(dict(rules[0], key="gone-2", priority=98, arn=API_ARN[:-2] + "fe"))
        rules.append(dict(rules[0], key="gone-1", priority=99, arn=API_ARN[:-2] + "fd"))
    got = findings(pack, snapshot_edit(extra)(BASE), "rollback-output-required")
    assert got == [("mandatory", STACK, f"the 'rollback' output names {arn}, which is no listener or rule of this stack: "
                                       f"a rollback would fail on it. Rebuild the snapshot from the stack's current "
                                       f"routing.") for arn in sorted([API_ARN[:-2] + "fd", API_ARN[:-2] + "fe"])]


def test_unknown_arns_or_actions_are_said_so_and_stale_entries_not_guessed(pack):
    """An ARN unknown in a preview cannot be matched to its entry: advisory, and no entry is
    called stale (it may be that routing's)."""
    run = mutate(BASE, API, setter(["arn"], UNKNOWN))
    [(level, name, message)] = findings(pack, run, "rollback-output-required")
    assert (level, name) == ("advisory", STACK)
    assert message.endswith(cannot(f"{API}: its ARN is unknown, so its rollback entry cannot be matched"))
    run = mutate(BASE, API, setter(["actions"], [{"type": "forward", "targetGroupArn": UNKNOWN}]))
    [(level, name, message)] = findings(pack, run, "rollback-output-required")
    assert message.endswith(cannot(f"{API}: its actions are unknown"))
    run = copy.deepcopy(BASE)
    run.outputs["rollback"] = UNKNOWN
    [(level, name, message)] = findings(pack, run, "rollback-output-required")
    assert message.endswith(cannot("the 'rollback' output is not known yet (it is computed from new resources' ARNs)"))


def test_a_rollback_output_that_is_no_snapshot_is_reported(pack):
    run = snapshot_edit(lambda s: s.pop("listeners"))(BASE)
    [(level, name, message)] = findings(pack, run, "rollback-output-required")
    assert (level, name) == ("mandatory", STACK)
    assert "rollback output" in message and message.endswith(
        f". Export a schemaVersion {SCHEMA_VERSION} snapshot built by lbguard.core.snapshot.build_snapshot.")


def test_the_rollback_advice_names_the_schema_version_the_snapshot_check_accepts(pack, routing):
    """Every word of advice names the version validate_snapshot accepts (an older one is refused)."""
    run = copy.deepcopy(BASE)
    del run.outputs["rollback"]
    [(_, _, message)] = findings(pack, run, "rollback-output-required")
    assert f"(schemaVersion {SCHEMA_VERSION}, built by" in message
    assert f"a schemaVersion {SCHEMA_VERSION} routing snapshot" in routing.rollback_output_required.description
