"""lbguard.core.topology, the links the policies read on their own: subnets to zones, Auto Scaling
groups to load balancers, certificates to the names a listener serves; and the two ways in
(``from_run``: a program run's outputs, ``from_preflight``: a preflight document's inputs).

Shapes as pulumi-aws writes them: an ``aws.acm.Certificate``'s ``domainName`` and
``subjectAlternativeNames``; an ``aws.acm.CertificateValidation``'s and an
``aws.lb.ListenerCertificate``'s ``certificateArn``; an ``aws.autoscaling.Attachment``'s and a
``TrafficSourceAttachment``'s ``autoscalingGroupName``.
"""

from __future__ import annotations

import copy

import pytest

from lbguard.core import topology, traffic
from lbguard.core.topology import ListenerNode, Res
from lbguard.offline.preflight import preflight_document
from tests.core.test_topology import (ASG, ATTACH, ELB, INSTANCE, LISTENER, LISTENER_ALB, SUBNET, TG, TSA, U, asg,
                                      listener, listener_arn, res, simple_fwd, subnet, tg, tg_arn, urn)
from tests.policies import fixtures as fx
from tests.policies.golden import load, run_from_json

CERT = topology.CERTIFICATE_TYPE
VALIDATION = topology.CERTIFICATE_VALIDATION_TYPE
LCERT, LCERT_ALB = topology.LISTENER_CERTIFICATE_TYPES


# ---------------------------------------------------------------- subnets and zones


def test_subnets_are_found_by_id_and_by_urn_and_only_with_a_known_zone():
    instance = res(INSTANCE, "i", {"id": "i-1", "availabilityZone": "us-east-1c"})
    a, new, unzoned = subnet("a"), subnet("b", id_=U), subnet("c", az=U)
    assert topology.subnet_zones([instance, a, new, unzoned]) == {
        "subnet-0aaaaaaaa": "us-east-1a", a.urn: "us-east-1a", new.urn: "us-east-1b"}


SUBNET_AZ = {"subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-a2": "us-east-1a",
             urn(SUBNET, "a"): "us-east-1a", urn(SUBNET, "b"): "us-east-1b"}


@pytest.mark.parametrize("ids, deps, expected", [
    (["subnet-a", "subnet-b"], [], ({"us-east-1a", "us-east-1b"}, 0)),
    (["subnet-a", "subnet-a2"], [], ({"us-east-1a"}, 0)),  # zones are counted, not subnets
    (["subnet-a", "subnet-elsewhere"], [], ({"us-east-1a"}, 1)),
    (["subnet-a"], ["b"], ({"us-east-1a"}, 0)),  # every id known: dependencies are not read
    ([U, U], ["a", "b"], ({"us-east-1a", "us-east-1b"}, 0)),
    ([U, U, U], ["a"], ({"us-east-1a"}, 2)),
    ([U], ["a", "b"], ({"us-east-1a", "us-east-1b"}, 0)),
    (["subnet-a", U], ["b"], ({"us-east-1a", "us-east-1b"}, 0)),
    ([U, U], ["not-a-subnet"], (set(), 2)),
    ([], [], (set(), 0)),
])
def test_the_zones_of_a_resources_subnets_and_how_many_are_not_known(ids, deps, expected):
    r = Res("urn:lb", topology.LB_TYPES[0], "lb", {"subnets": ids},
            {"subnets": [urn(SUBNET, d) for d in deps], "securityGroups": [urn(SUBNET, "a")]})
    assert topology.zones_of(r, "subnets", ids, SUBNET_AZ) == expected


# ---------------------------------------------------------------- Auto Scaling groups and load balancers


def test_every_way_a_group_serves_a_load_balancer_is_named():
    both = asg("both", tgs=[tg_arn("t")], loadBalancers=["classic-elb"])
    sources = asg("sources", trafficSources=[{"identifier": tg_arn("t"), "type": "elbv2"}])
    alone, attached, by_source = asg("alone"), asg("attached"), asg("by-source")
    resources = [tg("t"), both, sources, alone, attached, by_source,
                 res(ATTACH, "att", {"autoscalingGroupName": "attached", "lbTargetGroupArn": tg_arn("t")}),
                 res(TSA, "tsa", {"autoscalingGroupName": "by-source", "trafficSource": {"identifier": tg_arn("t")}}),
                 res(ATTACH, "att-2", {"autoscalingGroupName": "attached", "elb": "classic-elb"})]
    wiring, unresolved = topology.asg_load_balancer_wiring(resources)
    assert wiring == {both.urn: ["targetGroupArns", "loadBalancers"], sources.urn: ["trafficSources"], alone.urn: [],
                      attached.urn: ["Attachment att", "Attachment att-2"], by_source.urn: ["TrafficSourceAttachment tsa"]}
    assert unresolved == []


def test_in_a_preview_an_attachment_names_its_group_through_its_one_dependency():
    a, b = asg("a", name=U), asg("b", name=U)
    one = res(ATTACH, "one", {"autoscalingGroupName": U}, {"autoscalingGroupName": [(ASG, "a")]})
    two = res(TSA, "two", {"autoscalingGroupName": U}, {"autoscalingGroupName": [(ASG, "a"), (ASG, "b")]})
    none = res(ATTACH, "none", {"autoscalingGroupName": U}, {"autoscalingGroupName": [(TG, "t")]})
    outside = res(ATTACH, "outside", {"autoscalingGroupName": "a-group-of-another-stack"})
    wiring, unresolved = topology.asg_load_balancer_wiring([tg("t"), a, b, one, two, none, outside])
    assert wiring == {a.urn: ["Attachment one"], b.urn: []}
    why = "autoscalingGroupName names a group that cannot be resolved"
    assert unresolved == [(two.urn, why), (none.urn, why)]


def test_a_group_is_named_by_its_name_when_it_is_known():
    a = asg("a", name="web-a")
    wiring, _ = topology.asg_load_balancer_wiring(
        [a, res(ATTACH, "att", {"autoscalingGroupName": "web-a"}, {"autoscalingGroupName": [(ASG, "b")]})])
    assert wiring == {a.urn: ["Attachment att"]}


# ---------------------------------------------------------------- certificates and served names


CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/"


def cert(name: str, domain, sans=(), *, arn: str | None = "", id_: str | None = None) -> Res:
    props = {"domainName": domain, "subjectAlternativeNames": list(sans), "validationMethod": "DNS"}
    if arn is not None:
        props["arn"] = arn or CERT_ARN + name
    if id_ is not None:
        props["id"] = id_
    return res(CERT, name, props)


def https(name: str, cert_arn, *, protocol="HTTPS", deps=None, arn: str | None = "") -> Res:
    return listener(name, [], protocol=protocol, certificateArn=cert_arn, deps=deps, arn=arn)


def served(*resources) -> dict:
    by_ref = {}
    for r in resources:
        if r.type in topology.LISTENER_TYPES:
            node = ListenerNode(urn=r.urn, name=r.name, arn=r.props.get("arn"), port=443, protocol="HTTPS",
                                load_balancer=None)
            by_ref[r.urn] = node
            if r.props.get("arn") not in (None, U):
                by_ref[r.props["arn"]] = node
    return topology.served_names(list(resources), by_ref)


def test_an_https_listener_serves_its_certificates_domain_and_alternative_names():
    c = cert("shop", "shop.example.com", ["www.shop.example.com", "shop.example.com", "*.shop.example.com"])
    lst = https("https", CERT_ARN + "shop")
    assert served(c, lst) == {lst.urn: ["*.shop.example.com", "shop.example.com", "www.shop.example.com"]}


@pytest.mark.parametrize("protocol, included", [("HTTPS", True), ("https", True), ("HTTP", False), (None, False)])
def test_only_https_listeners_serve_names(protocol, included):
    lst = https("l", CERT_ARN + "shop", protocol=protocol)
    assert served(cert("shop", "shop.example.com"), lst) == ({lst.urn: ["shop.example.com"]} if included else {})


def test_a_certificate_is_named_by_arn_or_id_or_in_a_preview_by_its_one_dependency():
    by_id = cert("by-id", "id.example.com", arn=U, id_=CERT_ARN + "by-id")
    new = cert("new", "new.example.com", arn=U)
    l1 = https("l1", CERT_ARN + "by-id")
    l2 = https("l2", U, deps={"certificateArn": [(CERT, "new")]})
    l3 = https("l3", U, deps={"certificateArn": [(CERT, "new"), (CERT, "by-id")]})  # which one is not known
    assert served(by_id, new, l1, l2, l3) == {l1.urn: ["id.example.com"], l2.urn: ["new.example.com"]}


@pytest.mark.parametrize("domain, sans", [(U, []), ("shop.example.com", [U]), ("", ["www.example.com"]),
                                          (None, [])])
def test_a_certificate_whose_names_are_not_all_known_serves_no_known_names(domain, sans):
    lst, other = https("l", CERT_ARN + "shop"), https("other", CERT_ARN + "other")
    assert served(cert("shop", domain, sans), cert("other", "other.example.com"), lst, other) == {
        other.urn: ["other.example.com"]}


def test_a_listener_may_name_its_certificate_through_a_validation():
    c = cert("shop", "shop.example.com", arn=U)
    v = res(VALIDATION, "shop-validation", {"certificateArn": U}, {"certificateArn": [(CERT, "shop")]})
    v_known = res(VALIDATION, "known-validation", {"certificateArn": CERT_ARN + "api"})
    api = cert("api", "api.example.com")
    orphan = res(VALIDATION, "orphan", {"certificateArn": U})
    l1 = https("l1", U, deps={"certificateArn": [(VALIDATION, "shop-validation")]})
    l2 = https("l2", U, deps={"certificateArn": [(VALIDATION, "known-validation")]})
    l3 = https("l3", U, deps={"certificateArn": [(VALIDATION, "orphan")]})
    assert served(c, v, api, v_known, orphan, l1, l2, l3) == {l1.urn: ["shop.example.com"], l2.urn: ["api.example.com"]}


def test_listener_certificates_add_their_names_to_the_listener():
    main, extra, other = cert("main", "a.example.com"), cert("extra", "b.example.com"), cert("other", "c.example.com")
    lst = https("https", CERT_ARN + "main")
    new = https("new", CERT_ARN + "main", arn=U)
    resources = [main, extra, other, lst, new,
                 res(LCERT, "lc1", {"listenerArn": listener_arn("https"), "certificateArn": CERT_ARN + "extra"}),
                 res(LCERT_ALB, "lc2", {"listenerArn": U, "certificateArn": CERT_ARN + "other"},
                     {"listenerArn": [(LISTENER, "new")]}),
                 res(LCERT, "lc3", {"listenerArn": U, "certificateArn": CERT_ARN + "other"},
                     {"listenerArn": [(LISTENER, "https"), (LISTENER, "new")]}),
                 res(LCERT, "lc4", {"listenerArn": listener_arn("elsewhere"), "certificateArn": CERT_ARN + "other"})]
    expected = {lst.urn: ["a.example.com", "b.example.com"], new.urn: ["a.example.com", "c.example.com"]}
    assert served(*resources) == expected
    assert served(*reversed(resources)) == expected  # registration order does not matter


def test_one_certificate_whose_names_are_not_known_leaves_the_listeners_names_unknown():
    main = cert("main", "a.example.com")
    lst = https("https", CERT_ARN + "main")
    imported = res(LCERT, "lc", {"listenerArn": listener_arn("https"), "certificateArn": CERT_ARN + "imported"})
    assert served(main, lst, imported) == {}
    assert served(main, https("no-cert", None)) == {}


def test_a_listener_of_the_alb_module_serves_names_too():
    lst = res(LISTENER_ALB, "https", {"protocol": "HTTPS", "port": 443, "certificateArn": CERT_ARN + "shop"})
    assert served(lst, cert("shop", "shop.example.com")) == {lst.urn: ["shop.example.com"]}



# ---------------------------------------------------------------- from a program run, from a preflight document


def expected_web_tier(topo: topology.Topology, key, preview: bool = False) -> None:
    """What fixtures.web_tier() is: blue/green 50/50 by default, /api/* (30% declared) to api; four
    instances per pool over two zones at 150 (blue, green) and 250 (api) requests/s; peak 400.
    ``preview``: no ARNs, so the default forward's two target groups cannot be told apart (a
    property dependency does not say which position it fills): reported, not evaluated."""
    https = next(n for n in topo.listeners.values() if n.key == "https")
    assert topo.peak_rps == 400.0 and topo.profile is None
    assert topo.unresolved == ([(https.urn, "defaultActions names target groups that cannot be resolved")]
                               if preview else [])
    pools = {tg.pool_key: tg.pool() for tg in topo.target_groups.values()}
    assert pools == {"blue": traffic.Pool(4, 150.0, 2), "green": traffic.Pool(4, 150.0, 2),
                     "api": traffic.Pool(4, 250.0, 2)}
    by_id = {f.id: f for f in topo.forwards}
    api = by_id.pop("web-routing-https/web-routing-rule-api")
    assert {topo.label(k): w for k, w in api.weights.items()} == {"api": 1.0}
    assert (api.traffic_fraction, api.priority) == (0.3, 10)
    if preview:
        assert by_id == {}
    else:
        default = by_id.pop("web-routing-https/default")
        assert {topo.label(k): w for k, w in default.weights.items()} == {"blue": 50.0, "green": 50.0}
        assert default.traffic_fraction == 0.7 and by_id == {}
    assert all(k == key(topo.target_groups[k]) for f in topo.forwards for k in f.weights)
    assert https.port == 443 and [r.name for r in https.rules] == ["web-routing-rule-api"]
    assert https.reach["web-routing-https/default"] == traffic.Reach(0.7, "default")


def test_a_program_run_is_read_from_its_outputs():
    expected_web_tier(topology.from_run(fx.web_tier()), key=lambda tg: tg.id)


def test_a_preview_of_a_new_stack_links_through_property_dependencies():
    topo = topology.from_run(fx.preview(fx.web_tier()))
    expected_web_tier(topo, key=lambda tg: tg.urn, preview=True)
    assert all(tg.id == tg.urn for tg in topo.target_groups.values())


def test_a_run_may_be_read_from_its_inputs():
    run = fx.web_tier()
    topo = topology.from_run(run, use_outputs=False)  # no ARNs: links through dependencies
    expected_web_tier(topo, key=lambda tg: tg.urn, preview=True)
    assert all(lst.arn is None for lst in topo.listeners.values())


def test_a_resource_with_no_outputs_is_read_from_its_inputs():
    run = fx.web_tier()
    for r in run.resources:
        if r.type == TG:
            r.outputs = {}
    topo = topology.from_run(run)
    assert sorted(tg.pool_key for tg in topo.target_groups.values()) == ["api", "blue", "green"]
    assert all(tg.id == tg.urn for tg in topo.target_groups.values())
    assert sorted(topo.unresolved) == sorted(
        (urn, f"{prop} names target groups that cannot be resolved")
        for urn, prop in ((fx.by_name(run, "web-routing-https").urn, "defaultActions"),))


def test_a_runs_traffic_profile_output_is_its_profile_unless_one_is_given():
    profile = {"version": 1, "peakRequestsPerSecond": 1000, "classes": [{"name": "api", "weight": 1, "path": "/api/x"}]}
    run = fx.web_tier()
    run.outputs["trafficProfile"] = profile
    topo = topology.from_run(run)
    assert topo.profile is not None and topo.peak_rps == 400.0  # the load balancer's tag comes first
    assert {f.id: f.traffic_fraction for f in topo.forwards} == {"web-routing-https/default": 0.0,
                                                                 "web-routing-https/web-routing-rule-api": 1.0}
    assert topology.from_run(run, profile=None).profile is None
    run.outputs = None
    assert topology.from_run(run).profile is None


def test_a_preflight_document_is_read_from_its_inputs_with_arns_and_ids():
    run = fx.web_tier()
    doc = preflight_document(run, [])
    expected_web_tier(topology.from_preflight(doc), key=lambda tg: tg.id)
    doc["outputs"]["trafficProfile"] = {"version": 1, "classes": [{"name": "all", "weight": 1}]}
    topo = topology.from_preflight(doc)
    assert topo.profile is not None and topology.from_preflight(doc, profile=None).profile is None


def test_a_preflight_document_of_a_preview_links_through_property_dependencies():
    doc = preflight_document(fx.preview(fx.web_tier()), [])
    expected_web_tier(topology.from_preflight(doc), key=lambda tg: tg.urn, preview=True)
    doc = copy.deepcopy(doc)
    for r in doc["resources"]:
        r.pop("propertyDependencies")
        r.pop("inputs")
    assert topology.from_preflight({"resources": doc["resources"]}).forwards == []
    assert topology.from_preflight({}).listeners == {}


def test_a_preflight_document_links_subnets_by_the_ids_it_carries():
    doc = {"resources": [
        {"urn": urn(SUBNET, "a"), "type": SUBNET, "name": "a", "id": "subnet-0aaaaaaaa",
         "inputs": {"availabilityZone": "us-east-1a"}},
        {"urn": urn(SUBNET, "b"), "type": SUBNET, "name": "b", "id": "subnet-0bbbbbbbb",
         "inputs": {"availabilityZone": "us-east-1a"}},
        {"urn": urn(TG, "t"), "type": TG, "name": "t", "arn": tg_arn("t"), "inputs": {"port": 80}},
        {"urn": urn(ASG, "g"), "type": ASG, "name": "g", "id": "g",
         "inputs": {"minSize": 2, "targetGroupArns": [tg_arn("t")],
                    "vpcZoneIdentifiers": ["subnet-0aaaaaaaa", "subnet-0bbbbbbbb"]}}]}
    topo = topology.from_preflight(doc)
    # both subnets are in one zone: the group is in one zone, not two
    assert topo.pools() == {tg_arn("t"): traffic.Pool(2, None, 1)}


def test_in_a_preview_an_inline_traffic_source_links_through_its_dependency():
    t = tg("blue-tg", arn=U)
    a = asg("blue", min_size=4, trafficSources=[{"identifier": U, "type": "elbv2"}],
            deps={"trafficSources": [(TG, "blue-tg")]})
    topo = topology.build([t, a])
    assert topo.target_groups[t.urn].instances == 4 and topo.unresolved == []


def test_an_inline_traffic_source_that_cannot_be_linked_is_reported():
    t, other = tg("blue-tg", arn=U), tg("green-tg", arn=U)
    a = asg("blue", min_size=4, trafficSources=[{"identifier": U, "type": "elbv2"}],
            deps={"trafficSources": [(TG, "blue-tg"), (TG, "green-tg")]})
    topo = topology.build([t, other, a])
    assert topo.target_groups[t.urn].instances == 0
    assert topo.unresolved == [(a.urn, "trafficSources names target groups that cannot be resolved")]


# ---------------------------------------------------------------- the policy corpus


def test_a_preview_of_every_corpus_program_keeps_each_forward_or_reports_it():
    """For each of the programs the policy tests evaluate: a preview of it (every ARN and id unknown)
    has the same forwards, with the same weights and shares, or names the resource it could not
    resolve; it never loses one silently."""
    checked = 0
    for case in load():
        run = run_from_json(case["run"])
        up, pv = topology.from_run(run), topology.from_run(fx.preview(run))
        by_arn = {tg.id: tg.urn for tg in up.target_groups.values()}
        unresolved = {u for u, _ in pv.unresolved}
        previewed = {f.id: f for f in pv.forwards}
        for f in up.forwards:
            if f.id not in previewed:
                assert f.resource_urn in unresolved, f.id
                continue
            g = previewed[f.id]
            assert {by_arn[k]: w for k, w in f.weights.items()} == g.weights, f.id
            assert (g.traffic_fraction, g.share_known, g.priority) == (f.traffic_fraction, f.share_known, f.priority)
            checked += 1
    assert checked > 50
