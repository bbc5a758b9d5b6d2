"""stickiness-duration (policies/lb_safety/stickiness.py): which resources it reads (target
groups, listener default actions, listener rule actions, under both the aws.lb and aws.alb
tokens), the bound (default one day, pack config maxSeconds; a duration equal to it passes) and
the exact finding: what, where, how long, the hazard and the setting to lower."""

from __future__ import annotations

import pytest

from lbguard.core.stickiness import FORWARD_HAZARD, TARGET_GROUP_HAZARD
from tests.policies.fixtures import alb_tokens, forward, mutate, setter, web_tier

BASE = web_tier()
HTTPS = "web-routing-https"
API = "web-routing-rule-api"
BLUE_TG = "web-pool-blue-tg"


def findings(pack, run, user=None):
    return sorted((v.enforcement_level, v.name, v.message)
                  for v in pack.evaluate(run, {} if user is None else user) if v.policy == "stickiness-duration")


def tg_sticky(seconds=None, kind="lb_cookie", enabled=True):
    block = {"enabled": enabled, "type": kind}
    if seconds is not None:
        block["cookieDuration"] = seconds
    return lambda run: mutate(run, BLUE_TG, setter(["stickiness"], block))


def forward_sticky(name, key, seconds):
    def change(run):
        by = web_tier().resources
        action = next(r for r in by if r.name == name).outputs[key][0]
        sticky = dict(action, forward=dict(action["forward"], stickiness={"enabled": True, "duration": seconds}))
        return mutate(run, name, setter([key], [sticky]))
    return change


def tg_message(cookie, spelled, seconds, limit_spelled, limit):
    return (f"target group {BLUE_TG} has {cookie} stickiness of {spelled} ({seconds} s), above {limit_spelled}: it "
            f"{TARGET_GROUP_HAZARD}; lower stickiness.cookieDuration to at most {limit} s, or turn stickiness off.")


def forward_message(what, name, spelled, seconds, limit_spelled, limit):
    return (f"{what}'s forward {name} has group stickiness of {spelled} ({seconds} s), above {limit_spelled}: it "
            f"{FORWARD_HAZARD}; lower forward.stickiness.duration to at most {limit} s, or turn stickiness off.")


@pytest.mark.parametrize("change, config, want", [
    (lambda r: r, {}, []),
    (tg_sticky(), {}, []),  # the API default, one day, is the default bound: equal passes
    (tg_sticky(86400), {}, []),
    (tg_sticky(86401), {}, [(BLUE_TG, tg_message("lb_cookie", "24.0003 h", "86401", "1 day", "86400"))]),
    (tg_sticky(172800, "app_cookie"), {}, [(BLUE_TG, tg_message("app_cookie", "2 days", "172800", "1 day", "86400"))]),
    (tg_sticky(604800, enabled=False), {}, []),
    (tg_sticky(), {"maxSeconds": 3600}, [(BLUE_TG, tg_message("lb_cookie", "1 day", "86400", "1 h", "3600"))]),
    (tg_sticky(5400), {"maxSeconds": 5400}, []),
    (forward_sticky(HTTPS, "defaultActions", 259200), {},
     [(HTTPS, forward_message("listener", HTTPS, "3 days", "259200", "1 day", "86400"))]),
    (forward_sticky(API, "actions", 172800), {},
     [(API, forward_message("listener rule", API, "2 days", "172800", "1 day", "86400"))]),
    (forward_sticky(API, "actions", 7200), {"maxSeconds": 3600},
     [(API, forward_message("listener rule", API, "2 h", "7200", "1 h", "3600"))]),
    (forward_sticky(API, "actions", 3600), {"maxSeconds": 3600}, []),
])
def test_stickiness_beyond_the_bound_is_reported_with_its_setting(pack, change, config, want):
    got = findings(pack, change(BASE), {"stickiness-duration": config})
    assert got == sorted(("advisory", n, m) for n, m in want)


def test_the_aws_alb_tokens_are_read_as_well(pack):
    run = alb_tokens(forward_sticky(API, "actions", 172800)(tg_sticky(86401)(BASE)))
    assert [name for _, name, _ in findings(pack, run)] == [BLUE_TG, API]


def test_only_forward_actions_carry_group_stickiness(pack):
    """A redirect or fixed response next to a sticky forward is not read as one; an action that
    is not an object (a malformed program) is skipped, not a crash."""
    sticky = dict(forward(("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-api/1", 1)),
                  order=3)
    sticky["forward"]["stickiness"] = {"enabled": True, "duration": 172800}
    as_redirect = dict(sticky, type="redirect", order=1)
    run = mutate(BASE, API, setter(["actions"], [as_redirect, "not-an-action", sticky]))
    assert [name for _, name, _ in findings(pack, run)] == [API]
    run = mutate(BASE, API, setter(["actions"], [as_redirect]))
    assert findings(pack, run) == []
    run = mutate(BASE, HTTPS, setter(["defaultActions"], [dict(as_redirect)]))
    assert findings(pack, run) == []


def test_every_forward_of_an_action_list_is_judged(pack):
    """As even-target-weights does: a first forward within the bound does not hide a second
    one beyond it."""
    short = forward(("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-api/1", 1), stickiness=True)
    long = dict(short, order=2, forward=dict(short["forward"], stickiness={"enabled": True, "duration": 172800}))
    run = mutate(BASE, API, setter(["actions"], [short, long]))
    assert findings(pack, run) == [
        ("advisory", API, forward_message("listener rule", API, "2 days", "172800", "1 day", "86400"))]
