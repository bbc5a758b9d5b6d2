"""Every policy through the real gRPC path: the pack runs as its own process, started
as the engine starts it; a compliant stack (prod, emulated) plus one mutation each,
asserting the exact violation (policy, level, resource)."""

from __future__ import annotations

import copy
import json

import pytest
from google.protobuf import empty_pb2

from lbguard.emulator import emulated_aws, run_program
from lbguard.model import LbguardError
from lbguard.policy_runner import PackProcess, analyze, reconcile_config, run_pack
from tests.conftest import ROOT

PACK = ROOT / "policies"
PROD_CONFIG = json.loads((PACK / "config" / "prod.json").read_text())


@pytest.fixture(scope="module")
def prod_run():
    with emulated_aws("us-east-1"):
        return run_program(ROOT, "prod")


@pytest.fixture(scope="module")
def pack(prod_run):
    with PackProcess(PACK, project=prod_run.project, stack=prod_run.stack) as p:
        info = p.call("GetAnalyzerInfo", empty_pb2.Empty())
        yield p, info


def evaluate(pack, run, user=None):
    p, info = pack
    config = reconcile_config(info, PROD_CONFIG if user is None else user)
    return analyze(p, run.resources, run.outputs, config=config)


def by_name(run, name):
    return next(r for r in run.resources if r.name == name)


def mutate(run, name, fn, *, token_prefix=None):
    """A copy of ``run`` with ``fn`` applied to resource ``name``'s inputs and outputs."""
    run = copy.deepcopy(run)
    r = by_name(run, name)
    fn(r.inputs)
    fn(r.outputs)
    if token_prefix:
        for res in run.resources:
            if res.type.startswith("aws:lb/"):
                res.type = res.type.replace("aws:lb/", token_prefix, 1)
    return run


def alb_tokens(run):
    return mutate(run, by_name(run, "web-lb-alb").name, lambda p: None, token_prefix="aws:alb/")


def test_prod_is_compliant(pack, prod_run):
    assert evaluate(pack, prod_run) == []


def _set(path, value):
    def fn(props):
        node = props
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return fn


def _forward(weights_by_pool, run):
    arns = run.outputs["targetGroupArns"]
    return [{"type": "forward", "order": 1, "forward": {
        "targetGroups": [{"arn": arns[k], "weight": w} for k, w in weights_by_pool.items()],
        "stickiness": {"enabled": False, "duration": 1}}}]


# (policy, resource the violation names, mutation(run) -> run)
CASES = {
    "even-target-weights": ("web-routing-https", lambda run: mutate(
        run, "web-routing-https", _set(["defaultActions"], _forward({"blue": 70, "green": 30}, run)))),
    "no-traffic-funnel": ("web-routing-rule-api", lambda run: mutate(
        mutate(run, "web-routing-rule-api", _set(["actions"], _forward({"api": 1}, run))),
        "web-pool-api-asg", _set(["minSize"], 2))),
    "capacity-covers-share": ("web-routing-https", lambda run: mutate(
        run, "web-pool-blue-asg", lambda p: p["tags"].__setitem__(
            next(i for i, t in enumerate(p["tags"]) if t["key"] == "lbguard:rps-per-instance"),
            {"key": "lbguard:rps-per-instance", "value": "100", "propagateAtLaunch": False}))),
    "target-group-health-check": ("web-pool-blue-tg", lambda run: mutate(
        run, "web-pool-blue-tg", _set(["healthCheck", "timeout"], 10))),
    "listener-rule-shadowing": ("web-routing-rule-api", lambda run: _shadowed(run)),
    "alb-https-redirect": ("web-routing-http", lambda run: mutate(
        run, "web-routing-http", _set(["defaultActions"], _forward({"blue": 1, "green": 1}, run)))),
    "alb-tls-policy": ("web-routing-https", lambda run: mutate(
        run, "web-routing-https", _set(["sslPolicy"], "ELBSecurityPolicy-2016-08"))),
    "alb-drop-invalid-headers": ("web-lb-alb", lambda run: mutate(run, "web-lb-alb", _set(["dropInvalidHeaderFields"], False))),
    "alb-access-logs": ("web-lb-alb", lambda run: mutate(run, "web-lb-alb", _set(["accessLogs", "enabled"], False))),
    "alb-deletion-protection": ("web-lb-alb", lambda run: mutate(run, "web-lb-alb", _set(["enableDeletionProtection"], False))),
    "alb-desync-mitigation": ("web-lb-alb", lambda run: mutate(run, "web-lb-alb", _set(["desyncMitigationMode"], "monitor"))),
    "alb-multi-az": ("web-lb-alb", lambda run: mutate(run, "web-lb-alb", lambda p: p.__setitem__("subnets", p["subnets"][:1]))),
    "asg-elb-health-check": ("web-pool-green-asg", lambda run: mutate(run, "web-pool-green-asg", _set(["healthCheckType"], "EC2"))),
    "asg-multi-az": ("web-pool-green-asg", lambda run: mutate(
        run, "web-pool-green-asg", lambda p: p.__setitem__("vpcZoneIdentifiers", p["vpcZoneIdentifiers"][:1]))),
    "launch-template-imdsv2": ("web-pool-api-lt", lambda run: mutate(
        run, "web-pool-api-lt", _set(["metadataOptions", "httpTokens"], "optional"))),
    "alb-ingress-restricted": ("web-lb-in-443-ipv4", lambda run: mutate(
        mutate(run, "web-lb-in-443-ipv4", _set(["fromPort"], 22)), "web-lb-in-443-ipv4", _set(["toPort"], 22))),
    "instance-ingress-from-alb-only": ("web-pool-api-from-alb", lambda run: mutate(
        run, "web-pool-api-from-alb", lambda p: (p.pop("referencedSecurityGroupId"), p.__setitem__("cidrIpv4", "10.0.0.0/8")))),
    "alarm-coverage": ("web-pool-green-tg", lambda run: mutate(
        run, "web-alarms-green-unhealthy-hosts", _set(["alarmActions"], []))),
    "access-log-bucket-secure": ("web-logs-bucket", lambda run: mutate(
        run, "web-logs-public-access", _set(["blockPublicPolicy"], False))),
}


def _shadowed(run):
    # A new catch-all at a higher priority than the api rule shadows it.
    run = mutate(run, "web-routing-rule-api", lambda p: None)
    api = by_name(run, "web-routing-rule-api")
    catch_all = copy.deepcopy(api)
    catch_all.urn = api.urn.replace("web-routing-rule-api", "web-routing-rule-catch-all")
    catch_all.name = "web-routing-rule-catch-all"
    for props in (catch_all.inputs, catch_all.outputs):
        props["priority"] = 5
        props["conditions"] = [{"pathPattern": {"values": ["/*"]}}]
        props["arn"] = props.get("arn", "") + "-catch-all" if props.get("arn") else props.get("arn")
    run.resources.append(catch_all)
    # ...and the snapshot covers it, so only the shadowing policy speaks.
    snap = run.outputs["rollback"]
    https = next(l for l in snap["listeners"] if l["key"] == "https")
    https["rules"].append({"key": "catch-all", "arn": catch_all.outputs["arn"], "priority": 5,
                           "conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
                           "actions": next(r for r in https["rules"] if r["key"] == "api")["actions"]})
    return run


@pytest.mark.parametrize("tokens", ["aws:lb/", "aws:alb/"])
@pytest.mark.parametrize("policy", sorted(CASES))
def test_one_mutation_one_violation(pack, prod_run, policy, tokens):
    resource, make = CASES[policy]
    run = make(prod_run)
    if tokens == "aws:alb/":
        run = alb_tokens(run)
    found = [(v.policy, v.enforcement_level, v.name) for v in evaluate(pack, run)]
    assert (policy, "mandatory", resource) in found, found
    # The mutation trips its own policy; the rollback snapshot check may also speak for routing edits.
    assert {p for p, _, _ in found} <= {policy, "rollback-output-required", "even-target-weights",
                                         "capacity-covers-share"}, found


def test_default_levels_mandatory_and_advisory(pack, prod_run):
    run = CASES["alb-tls-policy"][1](CASES["even-target-weights"][1](prod_run))
    found = {(v.policy, v.enforcement_level) for v in evaluate(pack, run, user={})}
    assert ("even-target-weights", "mandatory") in found
    assert ("alb-tls-policy", "advisory") in found


def test_canary_exemption_allows_a_named_small_share(pack, prod_run):
    run = mutate(prod_run, "web-routing-https", _set(["defaultActions"], _forward({"blue": 95, "green": 5}, prod_run)))
    user = dict(PROD_CONFIG, **{"even-target-weights": {"canaryExemptions": [{"name": "web-routing-https", "maxShare": 0.1}]},
                                "rollback-output-required": "disabled"})
    # 95% on blue is over its capacity (another policy's business), but not uneven under the exemption.
    assert "even-target-weights" not in [v.policy for v in evaluate(pack, run, user)]
    user["even-target-weights"] = {}
    assert "even-target-weights" in [v.policy for v in evaluate(pack, run, user)]
    # Weights out of range violate even with the exemption.
    run = mutate(prod_run, "web-routing-https", _set(["defaultActions"], _forward({"blue": 1000, "green": 5}, prod_run)))
    found = [(v.policy, v.name) for v in evaluate(pack, run, user)]
    assert ("even-target-weights", "web-routing-https") in found


def test_missing_rollback_output(pack, prod_run):
    run = copy.deepcopy(prod_run)
    del run.outputs["rollback"]
    found = [(v.policy, v.enforcement_level, v.type) for v in evaluate(pack, run)]
    assert found == [("rollback-output-required", "mandatory", "pulumi:pulumi:Stack")]


def test_snapshot_with_other_weights_is_caught(pack, prod_run):
    run = copy.deepcopy(prod_run)
    https = next(l for l in run.outputs["rollback"]["listeners"] if l["key"] == "https")
    https["defaultActions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"] = 99
    found = [(v.policy, v.name) for v in evaluate(pack, run)]
    assert found == [("rollback-output-required", "web-routing-https")]


@pytest.mark.parametrize("user,needle", [
    ({"no-such-policy": "mandatory"}, "no-such-policy: no such policy"),
    ({"no-traffic-funnel": {"maxInstanceShare": "half"}}, "no-traffic-funnel.maxInstanceShare"),
    ({"no-traffic-funnel": {"maxInstanceShare": 2}}, "no-traffic-funnel.maxInstanceShare"),
    ({"even-target-weights": "sometimes"}, "even-target-weights.enforcementLevel"),
    ({"all": "loud"}, "all:"),
    ({"capacity-covers-share": {"headrom": 0.2}}, "capacity-covers-share"),
])
def test_bad_pack_config_is_one_line(pack, user, needle):
    _, info = pack
    with pytest.raises(LbguardError) as err:
        reconcile_config(info, user, "policies/config/x.json")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_pack_that_fails_to_start(tmp_path, prod_run):
    (tmp_path / "PulumiPolicy.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('cannot load policies')\n")
    with pytest.raises(LbguardError) as err:
        run_pack(tmp_path, prod_run, timeout=30)
    assert "failed to start" in str(err.value).splitlines()[0]
    assert "cannot load policies" in str(err.value)


def test_policy_that_raises(tmp_path, prod_run):
    (tmp_path / "PulumiPolicy.yaml").write_text("name: raising\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "from pulumi_policy import PolicyPack, ResourceValidationPolicy, EnforcementLevel\n"
        "def boom(args, report):\n    raise ValueError('policy bug')\n"
        "PolicyPack(name='raising', enforcement_level=EnforcementLevel.MANDATORY,\n"
        "           policies=[ResourceValidationPolicy(name='boom', description='d', validate=boom)])\n")
    with pytest.raises(LbguardError) as err:
        run_pack(tmp_path, prod_run, timeout=30)
    assert "Analyze failed" in str(err.value).splitlines()[0]
    assert "policy bug" in str(err.value)


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-string sentinel


def test_unknown_values_in_a_preview_are_reported_not_passed(pack, prod_run):
    """A new stack in a real preview: ARNs are unknown. Stack policies must say they could
    not be evaluated (advisory), never pass silently."""
    run = copy.deepcopy(prod_run)
    for r in run.resources:
        if r.type.startswith("aws:lb/"):
            for props in (r.inputs, r.outputs):
                if "arn" in props:
                    props["arn"] = UNKNOWN
    found = {(v.policy, v.enforcement_level): v.message for v in evaluate(pack, run)}
    for policy in ("no-traffic-funnel", "capacity-covers-share", "rollback-output-required"):
        assert (policy, "mandatory") not in found
        msg = found[(policy, "advisory")]
        assert f"can't run policy '{policy}'" in msg and "during preview" in msg
