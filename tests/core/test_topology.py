"""lbguard.core.topology: from a program's resources to listeners, forwards and the pools behind them.

Resources are written as the Pulumi engine hands them to a policy pack or to preflight: pulumi-aws
camelCase properties (inputs or outputs), ``propertyDependencies`` naming the resources a property
uses, and the engine's unknown sentinel wherever a value is computed during a preview
(``unknownValue`` in pulumi/pulumi sdk/nodejs/runtime/rpc.ts, "04da6b54-..."). The shapes follow the
pulumi-aws schema: an Auto Scaling group's ``tags`` are a list of ``{key, value,
propagateAtLaunch}``, every other resource's a map; ``trafficSources`` and a
``TrafficSourceAttachment``'s ``trafficSource`` are ``{identifier, type}``, type ``elbv2`` by default.
"""

from __future__ import annotations

import json

import pytest

from lbguard.core import topology, traffic
from lbguard.core.model import LbguardError
from lbguard.core.profile import parse_profile
from lbguard.core.topology import Res

U = topology.UNKNOWN
TG, TG_ALB = topology.TG_TYPES
LB, LB_ALB = topology.LB_TYPES
LISTENER, LISTENER_ALB = topology.LISTENER_TYPES
RULE, RULE_ALB = topology.RULE_TYPES
TGA, TGA_ALB = topology.TG_ATTACHMENT_TYPES
ASG = topology.ASG_TYPE
ATTACH = topology.ASG_ATTACHMENT_TYPE
TSA = topology.ASG_TRAFFIC_SOURCE_ATTACHMENT_TYPE
SUBNET = topology.SUBNET_TYPE
INSTANCE = topology.INSTANCE_TYPE
ELB = "arn:aws:elasticloadbalancing:us-east-1:123456789012"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::web-tier::{type_}::{name}"


def res(type_: str, name: str, props: dict, deps: dict[str, list[str]] | None = None) -> Res:
    """``deps``: property -> the (type, name) pairs of the resources it uses."""
    return Res(urn(type_, name), type_, name, props, {k: [urn(*d) for d in v] for k, v in (deps or {}).items()})


def tg_arn(name: str) -> str:
    return f"{ELB}:targetgroup/{name}/0123456789abcdef"


def listener_arn(name: str) -> str:
    return f"{ELB}:listener/app/web/50dc6c495c0c9188/{name}"


def tg(name: str, *, arn: str | None = "", pool: str | None = None, physical: str | None = "", type_: str = TG) -> Res:
    """A target group; ``arn``/``physical`` "" for the usual ones, None to leave them out."""
    props: dict = {"port": 8080, "protocol": "HTTP"}
    if arn is not None:
        props["arn"] = arn or tg_arn(name)
    if physical is not None:
        props["name"] = physical or name
    if pool is not None:
        props["tags"] = {topology.TAG_POOL: pool}
    return res(type_, name, props)


def subnet(zone: str, *, id_: str | None = None, az: str | None = None) -> Res:
    return res(SUBNET, f"subnet-{zone}", {"availabilityZone": az or f"us-east-1{zone}", "id": id_ or f"subnet-0{zone * 8}"})


def asg(logical: str, *, min_size=2, tgs=(), rps=None, subnets=(), deps=None, **props) -> Res:
    """An Auto Scaling group whose ``name`` is its logical name unless given."""
    name = logical
    tags = [{"key": "Name", "value": name, "propagateAtLaunch": True}]
    if rps is not None:
        tags.append({"key": topology.TAG_RPS, "value": str(rps), "propagateAtLaunch": False})
    return res(ASG, logical, {"name": name, "minSize": min_size, "maxSize": 10, "targetGroupArns": list(tgs),
                           "vpcZoneIdentifiers": list(subnets), "tags": tags, **props}, deps)


def fwd_action(*pairs) -> dict:
    return {"type": "forward", "forward": {"targetGroups": [{"arn": a, "weight": w} for a, w in pairs]}}


def simple_fwd(arn: str) -> dict:
    return {"type": "forward", "targetGroupArn": arn}


def listener(name: str, actions: list, *, port=443, protocol="HTTPS", arn: str | None = "", deps=None, **props) -> Res:
    p = {"port": port, "protocol": protocol, "loadBalancerArn": f"{ELB}:loadbalancer/app/web/50dc6c495c0c9188",
         "defaultActions": actions, **props}
    if arn is not None:
        p["arn"] = arn or listener_arn(name)
    return res(LISTENER, name, p, deps)


def path_rule(name: str, lst: str, priority, paths, actions: list, *, fraction=None, deps=None, **props) -> Res:
    p = {"listenerArn": lst, "priority": priority, "conditions": [{"pathPattern": {"values": list(paths)}}],
         "actions": actions, **props}
    if fraction is not None:
        p["tags"] = {topology.TAG_FRACTION: str(fraction)}
    return res(RULE, name, p, deps)


def build(*resources, **kw) -> topology.Topology:
    return topology.build(list(resources), **kw)


def capacity(topo: topology.Topology, tg_res: Res) -> tuple:
    node = next(n for n in topo.target_groups.values() if n.urn == tg_res.urn)
    return node.instances, node.rps_per_instance, sorted(node.azs)


# ---------------------------------------------------------------- target groups


def test_a_target_group_is_known_by_its_arn_and_labelled_by_pool_then_physical_then_logical_name():
    blue = tg("web-pool-blue-tg", pool="blue", physical="web-blue")
    named = tg("web-pool-green-tg", physical="web-green")
    bare = tg("web-pool-api-tg", physical=None)
    alb = tg("legacy-tg", type_=TG_ALB)
    topo = build(blue, named, bare, alb)
    assert sorted(topo.target_groups) == sorted(tg_arn(n) for n in ("web-pool-blue-tg", "web-pool-green-tg",
                                                                    "web-pool-api-tg", "legacy-tg"))
    node = topo.target_groups[tg_arn("web-pool-blue-tg")]
    assert (node.id, node.urn, node.name, node.physical_name, node.pool_key) == (
        tg_arn("web-pool-blue-tg"), blue.urn, "web-pool-blue-tg", "web-blue", "blue")
    assert [topo.label(tg_arn(n)) for n in ("web-pool-blue-tg", "web-pool-green-tg", "web-pool-api-tg", "legacy-tg")] \
        == ["blue", "web-green", "web-pool-api-tg", "legacy-tg"]
    assert topo.label("arn:not-in-this-program") == "arn:not-in-this-program"


def test_a_target_group_whose_arn_and_name_are_unknown_is_known_by_its_urn():
    new = tg("web-pool-new-tg", arn=U, physical=U)
    topo = build(new)
    assert list(topo.target_groups) == [new.urn]
    node = topo.target_groups[new.urn]
    assert node.physical_name is None and node.label == "web-pool-new-tg"


def test_a_pool_with_no_capacity_counts_zero_instances_in_one_zone():
    topo = build(tg("empty-tg"))
    assert topo.pools() == {tg_arn("empty-tg"): traffic.Pool(instances=0, rps_per_instance=None, azs=1)}


# ---------------------------------------------------------------- capacity: Auto Scaling groups


def test_an_auto_scaling_group_puts_its_minimum_its_rps_tag_and_its_zones_behind_its_target_group():
    t = tg("blue-tg")
    a = asg("blue-asg", min_size=4, rps=150, tgs=[tg_arn("blue-tg")], subnets=["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"])
    topo = build(subnet("a"), subnet("b"), t, a)
    node = topo.target_groups[tg_arn("blue-tg")]
    assert capacity(topo, t) == (4, 150.0, ["us-east-1a", "us-east-1b"])
    assert node.capacity_sources == [a.urn]
    assert node.pool() == traffic.Pool(instances=4, rps_per_instance=150.0, azs=2)


@pytest.mark.parametrize("min_size, expected", [(3, 3), ("3", 3), ("2.0", 2), (None, 0), (U, 0)])
def test_an_auto_scaling_groups_minimum_is_read_from_numbers_and_numeric_strings(min_size, expected):
    t = tg("blue-tg")
    a = asg("blue-asg", min_size=min_size, tgs=[tg_arn("blue-tg")])
    topo = build(t, a)
    assert topo.target_groups[tg_arn("blue-tg")].instances == expected
    assert topo.target_groups[tg_arn("blue-tg")].capacity_sources == [a.urn]


def test_two_groups_behind_one_target_group_add_up_and_the_later_rps_tag_wins():
    t = tg("blue-tg")
    topo = build(subnet("a"), subnet("b"), subnet("c"), t,
                 asg("blue-1", min_size=2, rps=100, tgs=[tg_arn("blue-tg")], subnets=["subnet-0aaaaaaaa"]),
                 asg("blue-2", min_size=3, rps=200, tgs=[tg_arn("blue-tg")], subnets=["subnet-0bbbbbbbb",
                                                                                      "subnet-0cccccccc"]))
    assert capacity(topo, t) == (5, 200.0, ["us-east-1a", "us-east-1b", "us-east-1c"])


def test_a_group_without_an_rps_tag_keeps_the_rate_already_known_else_takes_the_default():
    t, other = tg("blue-tg"), tg("green-tg")
    topo = build(t, other,
                 asg("blue-1", rps=120, tgs=[tg_arn("blue-tg")]),
                 asg("blue-2", tgs=[tg_arn("blue-tg")]),
                 asg("green", tgs=[tg_arn("green-tg")]))
    assert capacity(topo, t)[1] == 120.0 and capacity(topo, other)[1] is None
    topo = build(t, other, asg("blue-1", rps=120, tgs=[tg_arn("blue-tg")]), asg("green", tgs=[tg_arn("green-tg")]),
                 default_rps_per_instance=80.0)
    assert capacity(topo, t)[1] == 120.0 and capacity(topo, other)[1] == 80.0


@pytest.mark.parametrize("tag", ["fast", "", U])
def test_an_rps_tag_that_is_not_a_number_counts_as_absent(tag):
    t = tg("blue-tg")
    a = asg("blue", tgs=[tg_arn("blue-tg")])
    a.props["tags"].append({"key": topology.TAG_RPS, "value": tag})
    assert capacity(build(t, a, default_rps_per_instance=75.0), t)[1] == 75.0


def test_tags_written_as_a_map_are_read_as_well_as_the_auto_scaling_list_form():
    t = tg("blue-tg")
    a = asg("blue", tgs=[tg_arn("blue-tg")])
    a.props["tags"] = {topology.TAG_RPS: "90"}
    assert capacity(build(t, a), t)[1] == 90.0
    a.props["tags"] = [{"key": topology.TAG_RPS, "value": "90"}, "not-a-tag", None]
    assert capacity(build(t, a), t)[1] == 90.0
    for odd in ("k=v", None, [], 7):
        a.props["tags"] = odd
        assert capacity(build(t, a, default_rps_per_instance=5.0), t)[1] == 5.0


def test_a_groups_zones_come_from_its_subnets_in_the_program_and_its_availability_zones():
    t = tg("blue-tg")
    a = asg("blue", tgs=[tg_arn("blue-tg")], subnets=["subnet-0aaaaaaaa", "subnet-0aaaaaaa2"],
            availabilityZones=["us-east-1c", U])
    topo = build(subnet("a"), res(SUBNET, "subnet-a2", {"availabilityZone": "us-east-1a", "id": "subnet-0aaaaaaa2"}),
                 t, a)
    # two subnets in one zone are one zone; an unknown zone is no zone
    assert capacity(topo, t)[2] == ["us-east-1a", "us-east-1c"]


def test_subnets_outside_the_program_count_one_zone_each():
    t = tg("blue-tg")
    topo = build(t, asg("blue", tgs=[tg_arn("blue-tg")], subnets=["subnet-0x", "subnet-0y", U]))
    assert capacity(topo, t)[2] == ["subnet:subnet-0x", "subnet:subnet-0y"]
    assert topo.pools()[tg_arn("blue-tg")].azs == 2


def test_in_a_preview_a_groups_zones_come_from_the_subnets_it_depends_on():
    t = tg("blue-tg")
    a = asg("blue", tgs=[tg_arn("blue-tg")], subnets=[U, U],
            deps={"vpcZoneIdentifiers": [(SUBNET, "subnet-a"), (SUBNET, "subnet-b")]})
    topo = build(subnet("a", id_=U), subnet("b", id_=U), t, a)
    assert capacity(topo, t)[2] == ["us-east-1a", "us-east-1b"]


def test_a_subnet_whose_zone_is_unknown_gives_no_zone():
    t = tg("blue-tg")
    a = asg("blue", tgs=[tg_arn("blue-tg")], subnets=["subnet-0aaaaaaaa"])
    topo = build(subnet("a", az=U), t, a)
    assert capacity(topo, t)[2] == ["subnet:subnet-0aaaaaaaa"]


@pytest.mark.parametrize("source, counted", [
    ({"identifier": "TG", "type": "elbv2"}, True),
    ({"identifier": "TG"}, True),  # elbv2 is the default type
    ({"identifier": "TG", "type": "vpc-lattice"}, False),
    ({"identifier": U, "type": "elbv2"}, False),
    ({"identifier": f"{ELB}:targetgroup/elsewhere/1", "type": "elbv2"}, False),
    ("TG", False),
])
def test_an_inline_traffic_source_names_a_target_group_as_target_group_arns_does(source, counted):
    t = tg("blue-tg")
    if isinstance(source, dict):
        source = {k: (tg_arn("blue-tg") if v == "TG" else v) for k, v in source.items()}
    a = asg("blue", min_size=3, rps=60, trafficSources=[source])
    topo = build(t, a)
    assert capacity(topo, t)[:2] == ((3, 60.0) if counted else (0, None))
    assert topo.target_groups[tg_arn("blue-tg")].capacity_sources == ([a.urn] if counted else [])


def test_in_a_preview_a_group_names_its_one_target_group_through_its_dependency():
    t = tg("blue-tg", arn=U)
    a = asg("blue", min_size=4, tgs=[U], deps={"targetGroupArns": [(TG, "blue-tg")]})
    topo = build(t, a)
    assert capacity(topo, t)[0] == 4
    assert topo.unresolved == []


def test_two_unknown_target_groups_cannot_be_told_apart_by_dependencies():
    a_tg, b_tg = tg("a-tg", arn=U), tg("b-tg", arn=U)
    a = asg("both", min_size=4, tgs=[U, U], deps={"targetGroupArns": [(TG, "a-tg"), (TG, "b-tg")]})
    topo = build(a_tg, b_tg, a)
    assert capacity(topo, a_tg)[0] == 0 and capacity(topo, b_tg)[0] == 0
    assert topo.unresolved == [(a.urn, "targetGroupArns names target groups that cannot be resolved")]


def test_a_known_and_an_unknown_target_group_count_the_known_one_and_report_the_other():
    known, new = tg("known-tg"), tg("new-tg", arn=U)
    a = asg("both", min_size=2, tgs=[tg_arn("known-tg"), U], deps={"targetGroupArns": [(TG, "new-tg")]})
    topo = build(known, new, a)
    assert capacity(topo, known)[0] == 2 and capacity(topo, new)[0] == 0
    assert topo.unresolved == [(a.urn, "targetGroupArns names target groups that cannot be resolved")]


def test_a_group_with_no_target_groups_is_not_unresolved():
    assert build(tg("blue-tg"), asg("blue")).unresolved == []


# ---------------------------------------------------------------- capacity: attachments


def test_an_attachment_puts_the_named_groups_capacity_behind_its_target_group():
    t = tg("blue-tg")
    a = asg("web-blue", min_size=4, rps=150, subnets=["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"])
    att = res(ATTACH, "blue-attach", {"autoscalingGroupName": "web-blue", "lbTargetGroupArn": tg_arn("blue-tg")})
    topo = build(subnet("a"), subnet("b"), t, a, att)
    assert capacity(topo, t) == (4, 150.0, ["us-east-1a", "us-east-1b"])
    assert topo.target_groups[tg_arn("blue-tg")].capacity_sources == [att.urn]


def test_in_a_preview_an_attachment_finds_its_group_and_target_group_through_dependencies():
    t = tg("blue-tg", arn=U)
    a = asg("web-blue", min_size=3, name=U)
    att = res(ATTACH, "blue-attach", {"autoscalingGroupName": U, "lbTargetGroupArn": U},
              {"autoscalingGroupName": [(ASG, "web-blue")], "lbTargetGroupArn": [(TG, "blue-tg")]})
    topo = build(t, a, att)
    assert capacity(topo, t)[0] == 3 and topo.unresolved == []


@pytest.mark.parametrize("deps", [
    [(ASG, "web-blue"), (ASG, "web-green")],  # two groups: which one is not known
    [(TG, "blue-tg")],  # not a group
    [(ASG, "not-in-the-program")],
    [],
])
def test_an_attachment_whose_group_cannot_be_told_adds_no_instances_but_is_a_capacity_source(deps):
    t = tg("blue-tg")
    att = res(ATTACH, "blue-attach", {"autoscalingGroupName": U, "lbTargetGroupArn": tg_arn("blue-tg")},
              {"autoscalingGroupName": deps})
    topo = build(t, asg("web-blue", min_size=3, name=U), asg("web-green", min_size=5, name=U), att)
    node = topo.target_groups[tg_arn("blue-tg")]
    assert (node.instances, node.capacity_sources) == (0, [att.urn])


def test_an_attachments_rate_is_its_groups_tag_else_the_rate_known_else_the_default():
    blue, green, red = tg("blue-tg"), tg("green-tg"), tg("red-tg")
    tagged = asg("tagged", rps=300)
    plain = asg("plain")
    resources = [blue, green, red, tagged, plain,
                 asg("direct", rps=40, tgs=[tg_arn("green-tg")]),
                 res(ATTACH, "a1", {"autoscalingGroupName": "tagged", "lbTargetGroupArn": tg_arn("blue-tg")}),
                 res(ATTACH, "a2", {"autoscalingGroupName": "plain", "lbTargetGroupArn": tg_arn("green-tg")}),
                 res(ATTACH, "a3", {"autoscalingGroupName": "plain", "lbTargetGroupArn": tg_arn("red-tg")})]
    topo = topology.build(resources, default_rps_per_instance=25.0)
    assert [capacity(topo, t)[1] for t in (blue, green, red)] == [300.0, 40.0, 25.0]
    topo = topology.build(resources)
    assert [capacity(topo, t)[1] for t in (blue, green, red)] == [300.0, 40.0, None]


def test_an_attachment_adds_to_what_the_target_group_already_has():
    t = tg("blue-tg")
    topo = build(subnet("a"), subnet("b"), t,
                 asg("direct", min_size=2, tgs=[tg_arn("blue-tg")], subnets=["subnet-0aaaaaaaa"]),
                 asg("attached", min_size="3", subnets=["subnet-0bbbbbbbb"]),
                 res(ATTACH, "att", {"autoscalingGroupName": "attached", "lbTargetGroupArn": tg_arn("blue-tg")}))
    assert capacity(topo, t) == (5, None, ["us-east-1a", "us-east-1b"])


def test_an_attachment_to_a_group_without_a_minimum_adds_none():
    t = tg("blue-tg")
    a = asg("web-blue")
    del a.props["minSize"]
    topo = build(t, a, res(ATTACH, "att", {"autoscalingGroupName": "web-blue", "lbTargetGroupArn": tg_arn("blue-tg")}))
    assert capacity(topo, t)[0] == 0


def test_an_attachment_of_a_group_in_another_stack_is_a_capacity_source_without_instances():
    t = tg("blue-tg")
    att = res(ATTACH, "att", {"autoscalingGroupName": "elsewhere", "lbTargetGroupArn": tg_arn("blue-tg")})
    topo = build(t, att)
    assert topo.target_groups[tg_arn("blue-tg")].capacity_sources == [att.urn]
    assert capacity(topo, t)[0] == 0 and topo.unresolved == []


def test_an_attachment_to_an_unknown_target_group_with_no_dependency_is_unresolved():
    t = tg("blue-tg", arn=U)
    att = res(ATTACH, "att", {"autoscalingGroupName": "web-blue", "lbTargetGroupArn": U})
    topo = build(t, asg("web-blue", min_size=3), att)
    assert capacity(topo, t)[0] == 0
    assert topo.unresolved == [(att.urn, "lbTargetGroupArn names target groups that cannot be resolved")]


@pytest.mark.parametrize("source, counted", [
    ({"identifier": "TG", "type": "elbv2"}, True),
    ({"identifier": "TG"}, True),
    ({"identifier": "TG", "type": "vpc-lattice"}, False),
    ("TG", False),
])
def test_a_traffic_source_attachment_counts_only_elbv2_sources(source, counted):
    t = tg("blue-tg")
    if isinstance(source, dict):
        source = {k: (tg_arn("blue-tg") if v == "TG" else v) for k, v in source.items()}
    att = res(TSA, "tsa", {"autoscalingGroupName": "web-blue", "trafficSource": source})
    topo = build(t, asg("web-blue", min_size=4, rps=70), att)
    node = topo.target_groups[tg_arn("blue-tg")]
    assert (node.instances, node.rps_per_instance, node.capacity_sources) == \
        ((4, 70.0, [att.urn]) if counted else (0, None, []))
    assert topo.unresolved == []


def test_a_traffic_source_of_another_kind_does_not_hide_the_attachments_after_it():
    t = tg("blue-tg")
    lattice = res(TSA, "lattice", {"autoscalingGroupName": "web-blue",
                                   "trafficSource": {"identifier": "arn:aws:vpc-lattice:tg-1", "type": "vpc-lattice"}})
    elbv2 = res(TSA, "elbv2", {"autoscalingGroupName": "web-blue", "trafficSource": {"identifier": tg_arn("blue-tg")}})
    topo = build(t, asg("web-blue", min_size=4), lattice, elbv2)
    assert topo.target_groups[tg_arn("blue-tg")].capacity_sources == [elbv2.urn]
    assert capacity(topo, t)[0] == 4


def test_in_a_preview_a_traffic_source_attachment_finds_its_target_group_through_its_dependency():
    t = tg("blue-tg", arn=U)
    att = res(TSA, "tsa", {"autoscalingGroupName": "web-blue", "trafficSource": {"identifier": U, "type": "elbv2"}},
              {"trafficSource": [(TG, "blue-tg")]})
    topo = build(t, asg("web-blue", min_size=4), att)
    assert capacity(topo, t)[0] == 4 and topo.unresolved == []


# ---------------------------------------------------------------- capacity: registered targets


def test_each_registered_target_is_one_instance_in_its_instances_zone():
    t = tg("shop-tg")
    resources = [subnet("a"), subnet("b"), t,
                 res(INSTANCE, "i1", {"id": "i-1", "availabilityZone": "us-east-1a"}),
                 res(INSTANCE, "i2", {"id": "i-2", "subnetId": "subnet-0bbbbbbbb"}),  # zone through its subnet
                 res(TGA, "t1", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "i-1"}),
                 res(TGA_ALB, "t2", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "i-2"})]
    topo = topology.build(resources, default_rps_per_instance=50.0)
    assert capacity(topo, t) == (2, 50.0, ["us-east-1a", "us-east-1b"])
    assert topo.target_groups[tg_arn("shop-tg")].capacity_sources == [urn(TGA, "t1"), urn(TGA_ALB, "t2")]


def test_a_registered_targets_own_zone_wins_and_an_unknown_zone_adds_none():
    t = tg("shop-tg")
    topo = build(t, res(INSTANCE, "i1", {"id": "i-1", "availabilityZone": "us-east-1a"}),
                 res(TGA, "t1", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "i-1", "availabilityZone": "all"}),
                 res(TGA, "t2", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "10.0.0.7"}))
    assert capacity(topo, t) == (2, None, ["all"])


def test_in_a_preview_a_registered_targets_zone_comes_from_the_instance_it_depends_on():
    t = tg("shop-tg", arn=U)
    topo = build(t, res(INSTANCE, "i1", {"id": U, "availabilityZone": "us-east-1b"}),
                 res(TGA, "t1", {"targetGroupArn": U, "targetId": U},
                     {"targetGroupArn": [(TG, "shop-tg")], "targetId": [(INSTANCE, "i1")]}))
    assert capacity(topo, t) == (1, None, ["us-east-1b"])


def test_an_instance_whose_zone_is_unknown_adds_no_zone():
    t = tg("shop-tg")
    topo = build(t, res(INSTANCE, "i1", {"id": "i-1", "availabilityZone": "us-east-1a"}),
                 res(INSTANCE, "i2", {"id": "i-2", "availabilityZone": U}),
                 res(TGA, "t1", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "i-1"}),
                 res(TGA, "t2", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "i-2"}))
    # i-2 may well be in us-east-1a: one zone is all that is known
    assert capacity(topo, t) == (2, None, ["us-east-1a"])


def test_registered_targets_keep_the_rate_of_the_groups_behind_the_same_target_group():
    t = tg("shop-tg")
    topo = build(t, asg("shop", min_size=2, rps=90, tgs=[tg_arn("shop-tg")]),
                 res(TGA, "t1", {"targetGroupArn": tg_arn("shop-tg"), "targetId": "i-1"}),
                 default_rps_per_instance=10.0)
    assert capacity(topo, t)[:2] == (3, 90.0)


# ---------------------------------------------------------------- peak


def lb(name: str, peak=None, type_: str = LB) -> Res:
    return res(type_, name, {"name": name, "tags": {topology.TAG_PEAK: peak} if peak is not None else {}})


PROFILE = {"version": 1, "peakRequestsPerSecond": 900, "classes": [{"name": "all", "weight": 1}]}


@pytest.mark.parametrize("resources, kw, expected", [
    ([lb("web", "400")], {}, 400.0),
    ([lb("web", "400")], {"peak_rps": 250.0}, 250.0),
    ([lb("web", "400", LB_ALB)], {}, 400.0),
    ([lb("web", "lots")], {}, None),
    ([lb("web")], {}, None),
    ([lb("a", "100"), lb("b", "300")], {}, 300.0),
    ([lb("a", "100"), lb("b")], {}, 100.0),
    ([lb("web")], {"profile": PROFILE}, 900.0),
    ([lb("web", "400")], {"profile": PROFILE}, 400.0),
    ([], {"profile": PROFILE, "peak_rps": 10.0}, 10.0),
    ([], {"profile": {**PROFILE, "peakRequestsPerSecond": None}}, None),
])
def test_the_peak_is_explicit_else_the_load_balancers_tag_else_the_profiles(resources, kw, expected):
    assert topology.build(resources, **kw).peak_rps == expected


# ---------------------------------------------------------------- listeners and forwards


def test_a_listeners_default_forward_to_one_target_group():
    t = tg("blue-tg")
    lst = listener("web-routing-https", [simple_fwd(tg_arn("blue-tg"))], port="443")
    topo = build(t, lst)
    node = topo.listeners[lst.urn]
    assert (node.urn, node.name, node.arn, node.port, node.protocol, node.load_balancer, node.key) == (
        lst.urn, "web-routing-https", listener_arn("web-routing-https"), 443, "HTTPS",
        f"{ELB}:loadbalancer/app/web/50dc6c495c0c9188", "https")
    assert node.default_actions == [{"Type": "forward", "TargetGroupArn": tg_arn("blue-tg")}]
    [f] = topo.forwards
    assert (f.id, f.listener_urn, f.rule_urn, f.priority, f.conditions, f.weights, f.resource_urn) == (
        "web-routing-https/default", lst.urn, None, None, [], {tg_arn("blue-tg"): 1.0}, lst.urn)
    assert f.traffic_fraction == 1.0 and f.reach == traffic.Reach(1.0, "default") and f.share_known
    assert f.route() == traffic.Route("web-routing-https/default", {tg_arn("blue-tg"): 1.0}, 1.0)


@pytest.mark.parametrize("targets, weights", [
    ([("blue", 50), ("green", 50)], {"blue": 50.0, "green": 50.0}),
    ([("blue", "3"), ("green", 1)], {"blue": 3.0, "green": 1.0}),
    ([("blue", None), ("green", 2)], {"blue": 1.0, "green": 2.0}),  # no weight: ALB's default 1
    ([("blue", 0), ("green", 1)], {"blue": 0.0, "green": 1.0}),
    ([("blue", 2), ("blue", 3)], {"blue": 5.0}),  # one group named twice: its weights add
])
def test_a_weighted_forward_splits_by_weight(targets, weights):
    action = {"type": "forward", "forward": {"targetGroups": [
        {"arn": tg_arn(f"{n}-tg"), **({"weight": w} if w is not None else {})} for n, w in targets]}}
    topo = build(tg("blue-tg"), tg("green-tg"), listener("https", [action]))
    [f] = topo.forwards
    assert f.weights == {tg_arn(f"{k}-tg"): v for k, v in weights.items()}


def test_a_forward_with_an_empty_weighted_list_falls_back_to_its_target_group_arn():
    action = {"type": "forward", "targetGroupArn": tg_arn("blue-tg"), "forward": {"targetGroups": []}}
    [f] = build(tg("blue-tg"), listener("https", [action])).forwards
    assert f.weights == {tg_arn("blue-tg"): 1.0}


def test_actions_that_do_not_forward_make_no_forward_but_a_later_forward_does():
    redirect = {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    auth = {"type": "authenticate-oidc", "order": 1, "authenticateOidc": {"issuer": "https://idp"}}
    topo = build(tg("blue-tg"), listener("http", [redirect], port=80, protocol="HTTP"),
                 listener("https", [auth, simple_fwd(tg_arn("blue-tg"))]))
    assert [f.id for f in topo.forwards] == ["https/default"]
    node = topo.listeners[urn(LISTENER, "http")]
    assert node.default_actions == [{"Type": "redirect", "RedirectConfig": {
        "StatusCode": "HTTP_301", "Protocol": "HTTPS", "Port": "443"}}]
    # an action type this model cannot write in the API shape: no default actions rather than a crash
    assert topo.listeners[urn(LISTENER, "https")].default_actions == []


def test_a_forward_whose_target_group_cannot_be_resolved_is_left_out_and_reported():
    a, b = tg("a-tg", arn=U), tg("b-tg", arn=U)
    lst = listener("https", [fwd_action((U, 1), (U, 1)), simple_fwd(tg_arn("c-tg"))],
                   deps={"defaultActions": [(TG, "a-tg"), (TG, "b-tg")]})
    topo = build(a, b, tg("c-tg"), lst)
    assert topo.forwards == []  # nothing of this listener's forwarding is evaluated once one part is unknown
    assert topo.unresolved == [(lst.urn, "defaultActions names target groups that cannot be resolved")]


def test_a_forward_to_a_target_group_outside_the_program_is_left_out_and_reported():
    lst = listener("https", [fwd_action((tg_arn("blue-tg"), 1), (tg_arn("imported-tg"), 1))])
    topo = build(tg("blue-tg"), lst)
    assert topo.forwards == []
    assert topo.unresolved == [(lst.urn, "defaultActions names target groups that cannot be resolved")]


def test_in_a_preview_a_forward_to_one_target_group_resolves_through_its_dependency():
    t = tg("blue-tg", arn=U)
    lst = listener("https", [fwd_action((U, 1))], arn=U, deps={"defaultActions": [(TG, "blue-tg")]})
    topo = build(t, lst)
    [f] = topo.forwards
    assert f.weights == {t.urn: 1.0} and topo.unresolved == []
    assert topo.listeners[lst.urn].arn is None


@pytest.mark.parametrize("port, expected", [(80, 80), ("8080", 8080), (None, None), (U, None), (0, None)])
def test_a_listeners_port_is_a_number_or_none(port, expected):
    topo = build(listener("https", [], port=port))
    assert topo.listeners[urn(LISTENER, "https")].port == expected


def test_a_listener_written_with_the_alb_module_is_a_listener():
    r = res(LISTENER_ALB, "web-routing-http", {"port": 80, "protocol": "HTTP",
                                               "defaultActions": [simple_fwd(tg_arn("blue-tg"))]})
    topo = build(tg("blue-tg"), r)
    assert topo.listeners[r.urn].key == "http" and [f.id for f in topo.forwards] == ["web-routing-http/default"]


# ---------------------------------------------------------------- rules


def test_a_rule_forwards_with_its_priority_and_api_shaped_conditions():
    lst = listener("web-routing-https", [simple_fwd(tg_arn("blue-tg"))])
    rule = path_rule("web-routing-rule-api", listener_arn("web-routing-https"), "10", ["/api/*"],
                     [simple_fwd(tg_arn("api-tg"))])
    topo = build(tg("blue-tg"), tg("api-tg"), lst, rule)
    assert topo.listeners[lst.urn].rules == [rule]
    f = next(f for f in topo.forwards if f.rule_urn)
    assert (f.id, f.listener_urn, f.rule_urn, f.priority, f.resource_urn, f.weights) == (
        "web-routing-https/web-routing-rule-api", lst.urn, rule.urn, 10, rule.urn, {tg_arn("api-tg"): 1.0})
    assert f.conditions == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}]
    assert topo.route_label(lst.urn, rule) == "rule api"
    assert topo.route_label(lst.urn, None) == "default action of https"
    assert topo.route_label("urn:elsewhere", None) == "default action of urn:elsewhere"
    assert topology.rule_key(rule) == "api"
    assert topology.rule_key(res(RULE, "catch-all", {})) == "catch-all"
    assert topology.rule_key(res(RULE_ALB, "web-routing-rule-api", {})) == "api"


def test_a_rule_finds_its_listener_by_arn_else_by_its_one_dependency_else_is_unresolved():
    lst = listener("https", [], arn=U)
    by_dep = path_rule("r-dep", U, 10, ["/a/*"], [simple_fwd(tg_arn("t"))], deps={"listenerArn": [(LISTENER, "https")]})
    two = path_rule("r-two", U, 20, ["/b/*"], [simple_fwd(tg_arn("t"))],
                    deps={"listenerArn": [(LISTENER, "https"), (LISTENER, "http")]})
    elsewhere = path_rule("r-else", listener_arn("elsewhere"), 30, ["/c/*"], [simple_fwd(tg_arn("t"))])
    topo = build(tg("t"), lst, listener("http", [], arn=U), by_dep, two, elsewhere)
    assert topo.listeners[lst.urn].rules == [by_dep]
    assert [f.id for f in topo.forwards] == ["https/r-dep"]
    why = "listenerArn names a listener that cannot be resolved"
    assert topo.unresolved == [(two.urn, why), (elsewhere.urn, why)]


def test_rules_of_the_alb_module_attach_to_listeners_of_the_lb_module():
    lst = listener("https", [])
    rule = res(RULE_ALB, "api", {"listenerArn": listener_arn("https"), "priority": 5,
                                 "conditions": [{"pathPattern": {"values": ["/api/*"]}}],
                                 "actions": [simple_fwd(tg_arn("t"))]})
    topo = build(tg("t"), lst, rule)
    assert [f.id for f in topo.forwards] == ["https/api"]


def test_a_rule_with_conditions_this_model_cannot_read_forwards_without_conditions_and_reports_its_listener():
    lst = listener("https", [])
    rule = res(RULE, "odd", {"listenerArn": listener_arn("https"), "priority": 5, "conditions": [{"mystery": {}}],
                             "actions": [simple_fwd(tg_arn("t"))]})
    topo = build(tg("t"), lst, rule)
    [f] = topo.forwards
    assert f.conditions == [] and f.reach is None
    assert topo.unresolved == [(rule.urn, "its priority or conditions are not known, so no rule's share of "
                                          "listener https can be computed")]


def test_a_rule_whose_priority_is_unknown_leaves_its_listeners_shares_uncomputed():
    lst = listener("https", [simple_fwd(tg_arn("t"))])
    known = path_rule("api", listener_arn("https"), 10, ["/api/*"], [simple_fwd(tg_arn("t"))], fraction=0.3)
    unknown = path_rule("new", listener_arn("https"), U, ["/new/*"], [simple_fwd(tg_arn("t"))])
    topo = build(tg("t"), lst, known, unknown)
    assert topo.listeners[lst.urn].reach == {}
    by_id = {f.id: f for f in topo.forwards}
    # without a reach each forward keeps what its own resource says: the declared fraction, else all
    assert [(k, by_id[k].traffic_fraction, by_id[k].reach, by_id[k].priority) for k in sorted(by_id)] == [
        ("https/api", 0.3, None, 10), ("https/default", 1.0, None, None), ("https/new", 1.0, None, 0)]
    assert all(f.share_known for f in topo.forwards)
    assert topo.unresolved == [(unknown.urn, "its priority or conditions are not known, so no rule's share of "
                                             "listener https can be computed")]


def test_a_listener_whose_shares_cannot_be_computed_leaves_the_other_listeners_computed():
    broken = listener("http", [simple_fwd(tg_arn("t"))], port=80, protocol="HTTP")
    unknown = path_rule("new", listener_arn("http"), U, ["/new/*"], [simple_fwd(tg_arn("t"))])
    fine = listener("https", [simple_fwd(tg_arn("t"))])
    topo = build(tg("t"), broken, fine, unknown)
    assert topo.listeners[broken.urn].reach == {}
    assert topo.listeners[fine.urn].reach == {"https/default": traffic.Reach(1.0, "default")}


def test_a_rule_whose_condition_values_are_unknown_leaves_its_listeners_shares_uncomputed():
    lst = listener("https", [])
    rule = path_rule("api", listener_arn("https"), 10, [U], [simple_fwd(tg_arn("t"))])
    topo = build(tg("t"), lst, rule)
    assert topo.listeners[lst.urn].reach == {}
    assert [u for u, _ in topo.unresolved] == [rule.urn]


# ---------------------------------------------------------------- reach


def test_without_a_profile_a_catch_all_rule_takes_everything_and_the_default_gets_nothing():
    lst = listener("shop-http", [simple_fwd(tg_arn("t"))], port=80, protocol="HTTP")
    rule = path_rule("catch-all", listener_arn("shop-http"), 1, ["/*"], [simple_fwd(tg_arn("t"))])
    topo = build(tg("t"), lst, rule, profile=None)
    node = topo.listeners[lst.urn]
    assert node.reach == {"shop-http/catch-all": traffic.Reach(1.0, "catch-all"),
                          "shop-http/default": traffic.Reach(0.0, "shadowed", ("shop-http/catch-all",))}
    by_id = {f.id: f for f in topo.forwards}
    assert by_id["shop-http/catch-all"].traffic_fraction == 1.0
    assert by_id["shop-http/default"].traffic_fraction == 0.0
    assert by_id["shop-http/default"].reach.dead


def test_without_a_profile_a_declared_share_is_taken_and_a_narrow_rule_is_unknown():
    lst = listener("https", [simple_fwd(tg_arn("t"))])
    api = path_rule("api", listener_arn("https"), 10, ["/api/*"], [simple_fwd(tg_arn("t"))], fraction="0.3")
    img = path_rule("img", listener_arn("https"), 20, ["/img/*"], [simple_fwd(tg_arn("t"))])
    redirect = path_rule("old", listener_arn("https"), 30, ["/old/*"],
                         [{"type": "redirect", "redirect": {"path": "/new", "statusCode": "HTTP_301"}}], fraction=0.1)
    topo = build(tg("t"), lst, api, img, redirect)
    node = topo.listeners[lst.urn]
    # a redirect rule has a reach (it takes requests) but no forward
    assert node.reach == {"https/api": traffic.Reach(0.3, "declared"), "https/img": traffic.Reach(0.7, "unknown"),
                          "https/old": traffic.Reach(0.1, "declared"), "https/default": traffic.Reach(0.6, "default")}
    by_id = {f.id: f for f in topo.forwards}
    assert sorted(by_id) == ["https/api", "https/default", "https/img"]
    assert [by_id[k].traffic_fraction for k in ("https/api", "https/img", "https/default")] == [0.3, 0.7, 0.6]
    assert [by_id[k].share_known for k in ("https/api", "https/img", "https/default")] == [True, False, True]
    assert by_id["https/api"].route() == traffic.Route("https/api", {tg_arn("t"): 1.0}, 0.3)


def test_rules_are_evaluated_by_priority_not_by_position():
    lst = listener("https", [])
    late = path_rule("late", listener_arn("https"), "20", ["/*"], [simple_fwd(tg_arn("t"))])
    early = path_rule("early", listener_arn("https"), "10", ["/*"], [simple_fwd(tg_arn("t"))])
    node = build(tg("t"), lst, late, early).listeners[lst.urn]
    assert node.reach["https/early"] == traffic.Reach(1.0, "catch-all")
    assert node.reach["https/late"].shadowed_by == ("https/early",)


def test_with_a_profile_each_rule_gets_the_weight_of_the_classes_it_wins_on_its_port():
    profile = {"version": 1, "classes": [
        {"name": "api", "weight": 3, "path": "/api/v1"},
        {"name": "home", "weight": 1, "path": "/"},
        {"name": "plain-http", "weight": 6, "path": "/api/x", "port": 80},
    ]}
    lst = listener("https", [simple_fwd(tg_arn("t"))], port=443)
    rule = path_rule("api", listener_arn("https"), 10, ["/api/*"], [simple_fwd(tg_arn("t"))], fraction=0.9)
    topo = build(tg("t"), lst, rule, profile=profile)
    node = topo.listeners[lst.urn]
    assert node.reach == {"https/api": traffic.Reach(0.75, "profile", (), ("api",)),
                          "https/default": traffic.Reach(0.25, "profile", (), ("home",))}
    assert {f.id: f.traffic_fraction for f in topo.forwards} == {"https/api": 0.75, "https/default": 0.25}
    assert topo.profile == parse_profile(profile)


def test_a_host_rule_covering_every_name_of_the_listeners_certificate_is_a_catch_all():
    cert = res(topology.CERTIFICATE_TYPE, "cert", {"arn": "arn:aws:acm:us-east-1:123456789012:certificate/c1",
                                                   "domainName": "shop.example.com"})
    lst = listener("https", [simple_fwd(tg_arn("t"))], certificateArn="arn:aws:acm:us-east-1:123456789012:certificate/c1")
    rule = res(RULE, "shop", {"listenerArn": listener_arn("https"), "priority": 1,
                              "conditions": [{"hostHeader": {"values": ["shop.example.com"]}}],
                              "actions": [simple_fwd(tg_arn("t"))]})
    node = build(tg("t"), cert, lst, rule).listeners[lst.urn]
    assert node.reach["https/shop"] == traffic.Reach(1.0, "catch-all")
    assert node.reach["https/default"].shadowed_by == ("https/shop",)


# ---------------------------------------------------------------- the traffic profile


def stack_res(outputs: dict) -> Res:
    return res(topology.STACK_TYPE, "web-tier-prod", outputs)


@pytest.mark.parametrize("outputs, found", [
    ({"trafficProfile": PROFILE}, True),
    ({"trafficProfile": json.dumps(PROFILE)}, True),
    ({"trafficProfile": U}, False),
    ({"trafficProfile": {**PROFILE, "classes": [{"name": "all", "weight": U}]}}, False),
    ({}, False),
    (None, False),
])
def test_by_default_the_profile_is_the_stacks_traffic_profile_output_when_known(outputs, found):
    topo = build(lb("web"), stack_res(outputs))
    assert topo.profile == (parse_profile(PROFILE) if found else None)
    assert topo.peak_rps == (900.0 if found else None)


def test_an_explicit_profile_wins_over_the_stacks_and_none_means_no_profile():
    other = {**PROFILE, "peakRequestsPerSecond": 5}
    assert build(stack_res({"trafficProfile": PROFILE}), profile=other).profile == parse_profile(other)
    assert build(stack_res({"trafficProfile": PROFILE}), profile=None).profile is None
    parsed = parse_profile(other)
    assert build(profile=parsed).profile is parsed


def test_a_malformed_profile_is_one_clear_error_naming_the_output():
    with pytest.raises(LbguardError, match=r"^trafficProfile: not valid JSON \(Expecting value\)$"):
        build(profile="not json")
    with pytest.raises(LbguardError, match=r"^trafficProfile: classes"):
        build(stack_res({"trafficProfile": {"version": 1, "classes": []}}))
