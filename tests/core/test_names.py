"""One name per thing (lbguard.core.names): the stack's keys read back from the Pulumi names the
components build with the same functions, and free text (policy messages) renamed to them."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from lbguard.core import names

RULE, LISTENER, TG = "aws:lb/listenerRule:ListenerRule", "aws:lb/listener:Listener", "aws:lb/targetGroup:TargetGroup"
ASG = "aws:autoscaling/group:Group"
keys = st.from_regex(names.KEY_RE, fullmatch=True)


@given(keys, st.sampled_from(["web", "web-tier", "a-routing-b", "x-pool-y"]), st.booleans())
def test_every_built_name_reads_back_to_its_key(key, tier, tier_known):
    """With the WebTier's name known, any tier; without, a tier that is not itself shaped like a
    name (the project's is ``web``)."""
    if not tier_known and ("-routing-" in tier or "-pool-" in tier):
        tier = "web"
    t = tier if tier_known else None
    routing = names.routing(tier)
    assert names.of(RULE, names.rule(routing, key), t) == names.Name(names.rule(routing, key), "rule", key)
    assert names.of(LISTENER, names.listener(routing, key), t).key == key
    pool = names.pool(tier, key)
    assert names.of(names.POOL_COMPONENT, pool, t).label == f"pool {key}"
    for part, (types, what) in names.POOL_PARTS.items():
        n = names.of(types[0], names.part(pool, part), t)
        assert (n.kind, n.key, n.part) == ("pool", key, what), part
    assert names.of("aws:lb/loadBalancer:LoadBalancer", names.part(names.load_balancer(tier), "alb"), t).label == \
        "load balancer"


def test_the_renamer_takes_the_tier_from_the_webtier_component():
    r = names.Renamer([(names.TIER_TYPE, "a-routing-b"), (LISTENER, "a-routing-b-routing-https"),
                       (RULE, "a-routing-b-routing-rule-x-routing-y")])
    assert r.text("a-routing-b-routing-https/a-routing-b-routing-rule-x-routing-y") == "rule x-routing-y"


def test_labels_carry_the_kind_where_keys_collide():
    """prod has a pool `api` and a rule `api`."""
    assert names.label(RULE, "web-routing-rule-api") == "rule api"
    assert names.label(TG, "web-pool-api-tg") == "pool api"
    assert names.label(ASG, "web-pool-api-asg") == "pool api (Auto Scaling group)"
    assert names.label(LISTENER, "web-routing-https") == "listener https"
    assert names.label("aws:lb/loadBalancer:LoadBalancer", "web-lb-alb") == "load balancer"
    # The type decides: a rule's name on another type, or a name of no component, is left as it is.
    assert names.label(TG, "web-routing-rule-api") == "web-routing-rule-api"
    assert names.label("aws:s3/bucket:Bucket", "web-logs-bucket") == "web-logs-bucket"
    assert names.label(RULE, "performance") == "performance"  # the June 1 replay's raw resources
    assert names.route_label("https", "api") == "rule api" and names.route_label("https", None) == \
        "default action of https"


PROD = [(RULE, "web-routing-rule-api"), (RULE, "web-routing-rule-api-v2"), (LISTENER, "web-routing-https"),
        (TG, "web-pool-api-tg"), (ASG, "web-pool-api-asg")]


@pytest.mark.parametrize("text,renamed", [
    ("rule web-routing-rule-api (priority 10) can never match: rule web-routing-rule-api-v2 (priority 5)",
     "rule api (priority 10) can never match: rule api-v2 (priority 5)"),
    ("web-routing-https/web-routing-rule-api funnels traffic", "rule api funnels traffic"),
    ("web-routing-https/default: share unknown", "default action of https: share unknown"),
    ("listener web-routing-https: its forwards (web-routing-https/default, web-routing-https/web-routing-rule-api)",
     "listener https: its forwards (default action of https, rule api)"),
    ("target group web-pool-api-tg takes 100%; Auto Scaling group web-pool-api-asg", "pool api takes 100%; "
     "Auto Scaling group pool api (Auto Scaling group)"),
    ("web-routing-rule-apiary and xweb-routing-rule-api stay", "web-routing-rule-apiary and xweb-routing-rule-api stay"),
])
def test_renamer_rewrites_names_in_messages(text, renamed):
    assert names.Renamer(PROD).text(text) == renamed


def test_renamer_message_drops_the_subject_the_line_names():
    r = names.Renamer(PROD)
    assert r.message("web-routing-https/web-routing-rule-api: in scenario 'all-healthy' ...", RULE,
                     "web-routing-rule-api") == "in scenario 'all-healthy' ..."
    assert r.message("rule web-routing-rule-api (priority 10) can never match", RULE, "web-routing-rule-api") == \
        "rule api (priority 10) can never match"


def assert_keyed_names(run, settings: dict) -> None:
    """Every listener, rule, pool child and the load balancer of a program run reads back to the
    stack file's keys (a child added to a component without a name in lbguard.core.names fails)."""
    parents = {r.urn: r for r in run.resources}
    rule_keys, pool_keys = set(settings["web-tier:routing"].get("rules", {})), set(settings["web-tier:pools"])
    seen = {"rule": set(), "pool": set(), "listener": set()}
    for r in run.resources:
        parent = parents.get(r.parent)
        ptype = parent.type if parent else ""
        n = names.of(r.type, r.name)
        if ptype == "web-tier:routing:Routing":
            assert n.kind in ("rule", "listener"), r.name
        elif ptype == "web-tier:pool:Pool":
            assert (n.kind, n.key) == ("pool", names.of(parent.type, parent.name).key), r.name
        elif r.type == names.POOL_COMPONENT:
            assert n.kind == "pool" and n.key in pool_keys, r.name
        elif ptype == "web-tier:lb:LoadBalancer" and r.type in names.LB_TYPES:
            assert n.label == "load balancer", r.name
        if n.kind in seen:
            seen[n.kind].add(n.key)
    assert seen["rule"] == rule_keys and seen["pool"] == pool_keys and seen["listener"] <= {"http", "https"}


def test_renamer_knows_route_ids_from_the_rules_alone():
    """preview and preflight may only have the violations' own resources: the listener of a
    route id is read from its name."""
    r = names.Renamer([(RULE, "web-routing-rule-performance")])
    assert r.text("web-routing-https/web-routing-rule-performance funnels traffic; web-routing-https/default: x; "
                  "other/default stays; a/b stays") == \
        "rule performance funnels traffic; default action of https: x; other/default stays; a/b stays"


def test_the_names_deployed_stacks_hold_never_change():
    """A rename is a replacement in every deployed stack (new URN): these are the names stacks
    were deployed with before lbguard.core.names existed."""
    routing = names.routing("web")
    assert (routing, names.listener(routing, "https"), names.rule(routing, "api")) == \
        ("web-routing", "web-routing-https", "web-routing-rule-api")
    pool = names.pool("web", "blue")
    assert [names.part(pool, p) for p in names.POOL_PARTS] == [
        "web-pool-blue-tg", "web-pool-blue-asg", "web-pool-blue-lt", "web-pool-blue-instance-sg",
        "web-pool-blue-from-alb", "web-pool-blue-from-alb-hc", "web-pool-blue-alb-to-pool",
        "web-pool-blue-alb-to-pool-hc", "web-pool-blue-https-out", "web-pool-blue-cpu",
        "web-pool-blue-requests-per-target"]
    assert [names.part(names.load_balancer("web"), p) for p in names.LB_PARTS] == ["web-lb-alb", "web-lb-sg"]
