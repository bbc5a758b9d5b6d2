"""More of the routing policies (policies/lb_safety/routing.py) and the pack's shared helpers
(common.py), each finding with its exact words: rollback-output-required when the output is
missing, no-traffic-funnel and listener-rule-shadowing at the edges of what they can read."""

from __future__ import annotations

import copy
import sys

import pytest

from lbguard.core.snapshot import SCHEMA_VERSION
from tests.conftest import ROOT
from tests.policies.fixtures import (ELB, STACK_TYPE, UNKNOWN, add_resource, by_name, forward, mutate, refresh_rollback,
                                     setter, web_tier)
from tests.policies.test_pol1_routing import ARNS, EMPTY, both, chain, empty_pool, funnel, path, rule, set_https

BASE = web_tier()
STACK = "web-tier-prod"
HTTPS = "web-routing-https"
API = "web-routing-rule-api"

NO_ROLLBACK = (f"the stack exports no 'rollback' output. Export the routing snapshot (schemaVersion {SCHEMA_VERSION}, "
               f"built by lbguard.core.snapshot.build_snapshot from the same listeners and rules) so routing can be "
               f"restored with boto3 alone.")


@pytest.fixture(scope="module")
def common():
    """policies/lb_safety/common.py imported as the pack imports it, forgotten after."""
    sys.path.insert(0, str(ROOT / "policies"))
    try:
        import lb_safety.common as module
        yield module
    finally:
        sys.path.remove(str(ROOT / "policies"))
        for name in [n for n in sys.modules if n.split(".")[0] == "lb_safety"]:
            del sys.modules[name]


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


# ------------------------------------------------------------------ common.guard


def test_a_crashing_policy_prints_its_traceback_on_stderr_and_still_fails(common, capsys):
    """The pack's stdout is not where the engine looks for errors (pulumi_policy's server
    writes its port there); the traceback goes to stderr, and the policy still fails."""

    class Policy:
        name = "exploding"

        def validate(self, args, report):
            raise RuntimeError("boom")

    [wrapped] = common.guard([Policy()])
    with pytest.raises(RuntimeError, match="boom"):
        wrapped.validate(None, None)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("policy exploding raised:\nTraceback (most recent call last):") and "RuntimeError: boom" in err


def test_a_policy_that_cannot_evaluate_passes_through_the_guard_silently(common, capsys):
    class Policy:
        name = "unsure"

        def validate(self, args, report):
            report(args)
            common.cannot_evaluate(["x: unknown"])

    reported = []
    [wrapped] = common.guard([Policy()])
    with pytest.raises(common.CannotEvaluate):
        wrapped.validate("args", reported.append)
    assert reported == ["args"] and capsys.readouterr() == ("", "")


# ------------------------------------------------------------------ no-traffic-funnel at the edges


def without(name):
    def change(run):
        run = copy.deepcopy(run)
        run.resources = [r for r in run.resources if r.name != name]
        return run
    return change


def test_a_forward_alb_would_refuse_leaves_the_other_forwards_judged(pack):
    """even-target-weights reports the refused forward; the funnel policy still judges every
    other forward of the stack (an empty pool behind the api rule)."""
    run = set_https(forward((ARNS["blue"], 1000), (ARNS["green"], 1000)))(empty_pool("api")(BASE))
    assert findings(pack, run, "no-traffic-funnel") == [
        ("mandatory", API, EMPTY.format(fwd=f"{HTTPS}/{API}", sent="30%", pool="api"))]


def test_a_pool_weighted_zero_needs_no_known_capacity(pack):
    """A target group at weight 0 receives nothing: no capacity in the stack is not a reason to
    say the forward could not be judged."""
    run = without("web-pool-green-asg")(set_https(forward((ARNS["blue"], 1), (ARNS["green"], 0)))(BASE))
    assert findings(pack, run, "no-traffic-funnel") == []
    run = without("web-pool-green-asg")(BASE)
    [(level, name, message)] = findings(pack, run, "no-traffic-funnel")
    assert (level, name) == ("advisory", STACK) and message.endswith(
        f"could not be evaluated: {HTTPS}/default: no Auto Scaling group or registered target in this stack is "
        f"linked to target group green, so its instances are unknown")


@pytest.mark.parametrize("third, why", [
    # a third forward to a pool whose capacity is outside the stack
    (chain(rule("static", 20, path("/static/*")),
           lambda r: mutate(r, "static", setter(["actions"], [forward((ARNS["api"], 1))])), without("web-pool-api-asg")),
     f"{HTTPS}/static: no Auto Scaling group or registered target in this stack is linked to target group api"),
    # a third forward whose share is unknown
    (chain(rule("static", 20, path("/static/*")), lambda r: mutate(r, "static", lambda p: p.pop("tags"))),
     f"{HTTPS}/static: share unknown"),
])
def test_forwards_are_not_added_up_on_a_listener_with_one_that_cannot_be_judged(pack, third, why):
    """The default forward and the api rule to blue and green are over 15% together (a
    combined funnel, see test_pol1_routing); a third forward on the listener that cannot be
    judged leaves the listener's total unknown: said so, not reported as a smaller total."""
    run = third(both(BASE))
    [(level, name, message)] = findings(pack, run, "no-traffic-funnel", {"no-traffic-funnel": {"maxInstanceShare": 0.15}})
    assert (level, name) == ("advisory", STACK) and "could not be evaluated: " in message and why in message


# ------------------------------------------------------------------ listener-rule-shadowing


@pytest.mark.parametrize("conditions, error", [
    ([{"sourceIpX": {"values": ["10.0.0.0/8"]}}], "listener rule condition has no known field: ['sourceIpX']"),
    ([{"httpHeader": {"values": ["x"]}}], "'httpHeaderName'"),
    ([{"pathPattern": {"values": 5}}], "'float' object is not iterable"),
])
def test_a_rule_whose_conditions_cannot_be_read_is_said_so_and_the_others_judged(pack, conditions, error):
    run = chain(rule("odd", 20, path("/x/*")), rule("all", 5, path("/*")))(BASE)
    run = mutate(run, "odd", setter(["conditions"], conditions))
    got = findings(pack, run, "listener-rule-shadowing", {"rollback-output-required": "disabled"})
    assert [(level, name) for level, name, _ in got] == [("advisory", STACK), ("mandatory", API)]
    assert got[0][2].endswith(f"could not be evaluated: odd: conditions not understood ({error})")


# ------------------------------------------------------------------ where the traffic profile comes from


def profile(api_weight):
    return {"version": 1, "classes": [{"name": "api", "weight": api_weight, "path": "/api/items"},
                                      {"name": "pages", "weight": 100 - api_weight, "path": "/index.html"}]}


def untagged_api_to_an_empty_pool(output=None):
    run = mutate(empty_pool("api")(BASE), API, lambda p: p.pop("tags"))
    if output is not None:
        run.outputs["trafficProfile"] = output
    return run


@pytest.mark.parametrize("output, config, sent", [
    (None, None, "an unknown share (up to 100%)"),
    (profile(40), None, "40%"),  # the stack's own profile output
    (None, profile(20), "20%"),  # the pack config's, for a stack that exports none
    (profile(40), profile(20), "40%"),  # the stack's output comes first
    (UNKNOWN, profile(20), "20%"),  # an output not known yet (preview) is no profile
])
def test_shares_come_from_the_stacks_profile_output_else_the_pack_config(pack, output, config, sent):
    user = {"no-traffic-funnel": {} if config is None else {"trafficProfile": config}}
    got = findings(pack, untagged_api_to_an_empty_pool(output), "no-traffic-funnel", user)
    assert ("mandatory", API, EMPTY.format(fwd=f"{HTTPS}/{API}", sent=sent, pool="api")) in got
    assert any("share unknown" in message for _, _, message in got) == (sent.startswith("an unknown"))


# ------------------------------------------------------------------ rollback-output-required, entries it cannot compare


def not_comparable(what, name, err):
    return (f"the 'rollback' entry for {what} {name} cannot be compared: {err}. Export it in ELBv2 API shape "
            f"(lbguard.core.shapes).")


@pytest.mark.parametrize("name, key, actions, what, err", [
    (API, "actions", [{"type": "authenticate-oidc", "order": 1}], "listener rule",
     "listener action type 'authenticate-oidc' is not supported"),
    (API, "actions", [{"type": "redirect", "order": 1}], "listener rule", "'redirect'"),
    (HTTPS, "defaultActions", [{"type": "fixed-response", "order": 1, "fixedResponse": "404"}], "listener",
     "string indices must be integers, not 'str'"),
    (HTTPS, "defaultActions", [{"type": "forward", "order": 1, "forward": "web-blue"}], "listener",
     "'str' object has no attribute 'get'"),
])
def test_routing_the_snapshot_cannot_be_compared_with_is_named(pack, name, key, actions, what, err):
    """Routing in a shape lbguard.core.shapes does not read cannot be held against its entry:
    reported on that resource with the reason, the other resources still compared."""
    run = mutate(BASE, name, setter([key], actions))
    got = findings(pack, run, "rollback-output-required")
    assert ("mandatory", name, not_comparable(what, name, err)) in got
    assert [n for _, n, _ in got] == [name]


# ------------------------------------------------------------------ even-target-weights, actions partly unknown


def test_a_listener_with_one_unknown_action_is_not_judged_on_the_others(pack):
    """One action unknown in a preview (the engine's unknown in place of the object): the
    listener's forwards are not known as a whole, so nothing is judged from the known part."""
    uneven = forward((ARNS["blue"], 60), (ARNS["green"], 40))
    run = mutate(BASE, HTTPS, setter(["defaultActions"], [uneven, UNKNOWN]))
    assert findings(pack, run, "even-target-weights") == [
        ("advisory", HTTPS, f"can't run policy 'even-target-weights' from policy pack 'lb-safety@v0.0.1' during "
                            f"preview: could not be evaluated: {HTTPS}: its actions are unknown")]
    run = mutate(BASE, HTTPS, setter(["defaultActions"], [uneven]))
    assert [(level, name) for level, name, _ in findings(pack, run, "even-target-weights")] == [("mandatory", HTTPS)]


def test_a_snapshot_listener_without_rules_holds_a_listener_without_rules(pack):
    """'rules' is optional in the snapshot schema (lbguard.core.snapshot): a listener entry
    without it matches a listener that has none."""
    run = copy.deepcopy(BASE)
    http = next(l for l in run.outputs["rollback"]["listeners"] if l["key"] == "web-routing-http")
    assert http.pop("rules") == []
    assert findings(pack, run, "rollback-output-required") == []


# ------------------------------------------------------------------ common.plain / strict: props as the SDK hands them


def sdk_props(props):
    """Props wrapped as pulumi_policy (1.21.0, policy.py: Analyze/AnalyzeStack) hands them to a
    policy: reading an engine unknown raises UnknownValueError."""
    from pulumi_policy.proxy import unknown_checking_proxy

    return unknown_checking_proxy(copy.deepcopy(props))


def test_props_become_plain_data_keeping_unknowns(common):
    from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_NUMBER_VALUE

    props = sdk_props({"name": "web", "port": 443.0, "enabled": True, "gone": None, "raw": b"x",
                       "tags": {"team": "web"}, "arn": UNKNOWN, "subnets": UNKNOWN_ARRAY_VALUE,
                       "actions": ["a", UNKNOWN, {"weight": UNKNOWN_NUMBER_VALUE, "order": 1.0}]})
    got = common.plain(props)
    assert got == {"name": "web", "port": 443.0, "enabled": True, "gone": None, "raw": b"x", "tags": {"team": "web"},
                   "arn": UNKNOWN, "subnets": [UNKNOWN], "actions": ["a", UNKNOWN, {"weight": UNKNOWN, "order": 1.0}]}
    assert type(got) is dict and type(got["tags"]) is dict and type(got["actions"]) is list
    assert type(got["actions"][2]) is dict and type(got["subnets"]) is list


def test_strict_props_are_plain_data_or_the_sdks_unknown_error(common):
    from pulumi_policy.proxy import UnknownValueError

    got = common.strict(sdk_props({"healthCheck": {"path": "/health", "matcher": "200"}, "ports": [80.0, 443.0],
                                   "name": "web"}))
    assert got == {"healthCheck": {"path": "/health", "matcher": "200"}, "ports": [80.0, 443.0], "name": "web"}
    assert type(got) is dict and type(got["healthCheck"]) is dict and type(got["ports"]) is list
    for unknown in ({"healthCheck": {"path": UNKNOWN}}, {"ports": [80.0, UNKNOWN]}):
        with pytest.raises(UnknownValueError):
            common.strict(sdk_props(unknown))


@pytest.mark.parametrize("name, key, reason", [
    (HTTPS, "defaultActions", f"{HTTPS}: its actions are unknown"),
    (API, "priority", f"{API}: its conditions or priority are unknown"),
])
def test_routing_unknown_in_a_preview_is_not_compared_with_its_entry(pack, name, key, reason):
    run = mutate(BASE, name, setter([key], UNKNOWN))
    [(level, who, message)] = findings(pack, run, "rollback-output-required")
    assert (level, who) == ("advisory", STACK) and message.endswith(f"could not be evaluated: {reason}")


# ------------------------------------------------------------------ common.single_az (alb-multi-az, asg-multi-az)

SUBNET_AZ = {"subnet-a1": "us-east-1a", "subnet-a2": "us-east-1a", "subnet-b1": "us-east-1b",
             "urn:pulumi:prod::web-tier::aws:ec2/subnet:Subnet::web-subnet-b": "us-east-1b"}
OUTSIDE = ("web-asg: {n} of its subnets are outside this stack or unknown, so their AZs cannot be counted")


@pytest.mark.parametrize("subnets, deps, listed, want", [
    (["subnet-a1", "subnet-b1"], [], (), (None, None)),
    (["subnet-a1"], [], (), ({"us-east-1a"}, None)),
    (["subnet-a1", "subnet-a2"], [], (), ({"us-east-1a"}, None)),  # AZs are counted, not subnets
    (["subnet-a1"], [], ("us-east-1b",), (None, None)),  # AZs the resource lists itself count too
    (["subnet-a1"], [], ("us-east-1a",), ({"us-east-1a"}, None)),
    ([], [], (), (set(), None)),
    (["subnet-a1", "subnet-0elsewhere"], [], (), (set(), OUTSIDE.format(n=1))),
    (["subnet-a1", UNKNOWN, UNKNOWN], [], (), (set(), OUTSIDE.format(n=2))),
    # an unknown id linked to a subnet of the stack through its dependency is that subnet's AZ
    (["subnet-a1", UNKNOWN], ["urn:pulumi:prod::web-tier::aws:ec2/subnet:Subnet::web-subnet-b"], (), (None, None)),
    (["subnet-a1", "subnet-b1", "subnet-0elsewhere"], [], (), (None, None)),  # two known AZs are enough
])
def test_a_resource_is_single_az_when_its_subnets_span_fewer_than_two(common, subnets, deps, listed, want):
    from lbguard.core.topology import Res

    res = Res("urn:pulumi:prod::web-tier::aws:autoscaling/group:Group::web-asg", "aws:autoscaling/group:Group",
              "web-asg", {"vpcZoneIdentifiers": subnets}, {"vpcZoneIdentifiers": deps})
    assert common.single_az(res, "vpcZoneIdentifiers", subnets, SUBNET_AZ, listed) == want


def drop_held(key):
    def change(run):
        run = copy.deepcopy(run)
        snap = run.outputs["rollback"]
        snap["listeners"] = [l for l in snap["listeners"] if l["key"] != key]
        return run
    return change


DIFFERS = ("the 'rollback' output's entry for listener rule {name} differs from the listener rule's actions (targets "
           "or weights), priority or conditions: a rollback would restore something else. Build the snapshot from "
           "the same routing as the listener rule.")


@pytest.mark.parametrize("first, level", [
    (lambda r: mutate(r, "web-routing-http", setter(["arn"], UNKNOWN)), "advisory"),
    (drop_held("web-routing-http"), "mandatory"),
    (lambda r: mutate(r, "web-routing-http", setter(["defaultActions"], UNKNOWN)), "advisory"),
    (lambda r: mutate(r, "web-routing-http", setter(["defaultActions"], [{"type": "redirect", "order": 1}])),
     "mandatory"),
])
def test_every_listener_and_rule_is_compared_whatever_an_earlier_one_holds(pack, first, level):
    """The HTTP listener comes first in the stack, the api rule last: whatever leaves the listener
    uncompared, the rule whose priority changed is still reported."""
    run = first(mutate(BASE, API, setter(["priority"], 11)))
    got = findings(pack, run, "rollback-output-required")
    assert ("mandatory", API, DIFFERS.format(name=API)) in got and len(got) == 2
    assert level in {lvl for lvl, name, _ in got if name != API}


def test_a_rule_after_one_whose_conditions_are_unknown_is_compared(pack):
    run = refresh_rollback(rule("static", 20, path("/static/*"))(BASE))
    run = mutate(mutate(run, API, setter(["conditions"], UNKNOWN)), "static", setter(["priority"], 21))
    got = findings(pack, run, "rollback-output-required")
    assert got[0][:2] == ("advisory", STACK) and got[1:] == [("mandatory", "static", DIFFERS.format(name="static"))]


@pytest.mark.parametrize("first, limit", [
    (without("web-pool-green-asg"), None),  # the default forward's capacity is not known
    (lambda r: r, 0.05),  # the default forward funnels (each blue/green instance takes 8.75%)
])
def test_every_forward_is_judged_whatever_an_earlier_one_was(pack, first, limit):
    """The listener's default forward is judged first, the api rule after it: however the first
    ends, the api rule's empty pool is still reported."""
    run = first(empty_pool("api")(BASE))
    user = {"no-traffic-funnel": {} if limit is None else {"maxInstanceShare": limit}}
    got = findings(pack, run, "no-traffic-funnel", user)
    assert ("mandatory", API, EMPTY.format(fwd=f"{HTTPS}/{API}", sent="30%", pool="api")) in got
    assert len(got) == 2


def test_a_forward_after_one_whose_share_is_unknown_is_judged(pack):
    run = chain(rule("static", 20, path("/static/*")),
                lambda r: mutate(r, "static", setter(["actions"], [forward((ARNS["api"], 1))])))(BASE)
    run = mutate(mutate(run, HTTPS, setter(["defaultActions"], [forward((ARNS["blue"], 1))])), API,
                 lambda p: p.pop("tags"))
    run = mutate(run, "web-pool-api-asg", lambda p: p.update(minSize=0, desiredCapacity=0))
    got = findings(pack, run, "no-traffic-funnel")
    assert ("mandatory", "static", EMPTY.format(fwd=f"{HTTPS}/static", sent="1%", pool="api")) in got


def alt_listener(run):
    """A second listener (8443) on the same load balancer: 50/50 to blue and green, and a rule
    taking half its traffic, also to blue and green."""
    lb = by_name(run, "web-lb-alb").outputs["arn"]
    arn = f"{ELB}:listener/app/web-prod/50dc6c495c0c9188/0000000000008443"
    run = add_resource(run, "aws:lb/listener:Listener", "web-routing-alt",
                       {"loadBalancerArn": lb, "port": 8443, "protocol": "HTTP",
                        "defaultActions": [forward((ARNS["blue"], 1), (ARNS["green"], 1))]},
                       {"arn": arn, "id": arn},
                       deps={"loadBalancerArn": ["web-lb-alb"], "defaultActions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    run = rule("alt-rule", 10, path("/alt/*"), listener="web-routing-alt")(run)
    return mutate(run, "alt-rule", lambda p: p["tags"].update({"lbguard:traffic-fraction": "0.5"}))


def test_each_listener_is_added_up_on_its_own(pack):
    """The https listener cannot be added up (the api pool's capacity is outside the stack); the
    8443 listener's two forwards, each 8.3% per instance with one lost, are 16.7% together."""
    run = alt_listener(without("web-pool-api-asg")(BASE))
    got = findings(pack, run, "no-traffic-funnel", {"no-traffic-funnel": {"maxInstanceShare": 0.15}})
    assert [(level, name) for level, name, _ in got] == [("advisory", STACK), ("mandatory", "web-routing-alt")]
    assert got[1][2] == ("listener web-routing-alt: its forwards (web-routing-alt/default, web-routing-alt/alt-rule) "
                         "together funnel traffic: " + funnel("instance-lost:blue", 3, "blue", "16.7%", "15%"))



def test_a_funnel_names_the_pool_that_serves_not_the_empty_one_beside_it(pack):
    """green has no instances (its requests fail, reported as such); blue serves its half of the
    default forward: the funnel is blue's 3 instances with one lost, never green's 'unbounded'."""
    got = findings(pack, empty_pool("green")(BASE), "no-traffic-funnel", {"no-traffic-funnel": {"maxInstanceShare": 0.1}})
    assert ("mandatory", HTTPS, f"{HTTPS}/default funnels traffic: " +
            funnel("instance-lost:blue", 3, "blue", "11.7%", "10%")) in got
    assert not [m for _, _, m in got if "unbounded" in m]


def test_every_reason_a_forward_cannot_be_judged_is_listed(pack):
    """Two forwards whose capacity is outside the stack, and a rule whose listener is not in it:
    one advisory naming all three."""
    run = chain(without("web-pool-green-asg"), without("web-pool-api-asg"), rule("lost", 20, path("/x/*")))(BASE)
    run = mutate(run, "lost", setter(["listenerArn"], f"{ELB}:listener/app/other/1/2"))
    by_name(run, "lost").property_dependencies.pop("listenerArn")
    [(level, name, message)] = findings(pack, run, "no-traffic-funnel")
    assert (level, name) == ("advisory", STACK)
    reasons = message.split("could not be evaluated: ", 1)[1].split("; ")
    assert [r.split(":")[0] for r in reasons] == ["lost", f"{HTTPS}/default", f"{HTTPS}/{API}"]
    assert reasons[1].endswith("linked to target group green, so its instances are unknown")
    assert reasons[2].endswith("linked to target group api, so its instances are unknown")


def test_only_forward_actions_are_judged_for_their_weights(pack):
    """An action is what its type says: a fixed response carrying a leftover forward block sends
    nothing to those target groups (ELBv2 reads the config of the action's Type)."""
    leftover = dict(FIXED_404, forward=forward((ARNS["blue"], 60), (ARNS["green"], 40))["forward"])
    run = mutate(BASE, API, setter(["actions"], [leftover]))
    assert findings(pack, run, "even-target-weights") == []
    run = mutate(BASE, API, setter(["actions"], [dict(leftover, type="forward")]))
    assert [(level, name) for level, name, _ in findings(pack, run, "even-target-weights")] == [("mandatory", API)]


FIXED_404 = {"type": "fixed-response", "order": 1, "fixedResponse": {"contentType": "text/plain", "statusCode": "404"}}


def test_props_keep_values_that_are_no_data_structure(common):
    """An asset or archive (a Lambda's code, an S3 object's source) reaches a stack policy as the
    SDK's object; props are made plain around it, not through it."""
    import pulumi

    got = common.plain(sdk_props({"code": pulumi.FileArchive("./app"), "handler": "app.main"}))
    assert type(got) is dict and sorted(got) == ["code", "handler"] and got["handler"] == "app.main"
    assert isinstance(got["code"], pulumi.FileArchive) and got["code"].path == "./app"


def test_an_unknown_share_is_bounded_by_what_earlier_rules_leave(pack):
    """static (priority 5) takes a declared 20%; the api rule after it has no declared share,
    so it gets at most the 80% left: its empty pool is reported with that bound."""
    run = chain(rule("static", 5, path("/static/*")),
                lambda r: mutate(r, "static", lambda p: p["tags"].update({"lbguard:traffic-fraction": "0.2"})))(BASE)
    run = mutate(empty_pool("api")(run), API, lambda p: p.pop("tags"))
    got = findings(pack, run, "no-traffic-funnel")
    assert ("mandatory", API, EMPTY.format(fwd=f"{HTTPS}/{API}", sent="an unknown share (up to 80%)", pool="api")) in got


def test_more_than_five_reasons_are_summed_up(common):
    """Five reasons are shown; a sixth and beyond are counted."""
    from pulumi_policy.proxy import UnknownValueError

    for n, tail in ((5, ""), (6, "; and 1 more")):
        with pytest.raises(UnknownValueError) as err:
            common.cannot_evaluate([f"r{i}" for i in range(n)])
        assert err.value.message == "could not be evaluated: r0; r1; r2; r3; r4" + tail


@pytest.fixture(scope="module")
def routing(common):
    import lb_safety.routing as module

    return module


def test_a_target_group_named_targetgroup_is_labelled_by_its_name(routing):
    """A target group ARN is arn:...:targetgroup/<name>/<id>; the name is read after the first
    'targetgroup/', whatever the name is."""
    arns = [f"{ELB}:targetgroup/targetgroup/0123456789abcdef", f"{ELB}:targetgroup/web-green/0123456789abcdef"]
    why = routing.check_even_weights([(arns[0], 3), (arns[1], 1)], 0.0, None)
    assert why.startswith("weights are uneven (targetgroup=3, web-green=1: shares differ by 50%")
