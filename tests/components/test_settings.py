"""Stack settings: every bad value gives exit 2 and one line naming the key."""

from __future__ import annotations

import copy

import pytest
from click.testing import CliRunner

from components.settings import SettingsError, parse_settings
from lbguard.cli.app import main
from tests.conftest import load_stack

P = "web-tier:"


def _set(cfg: dict, path: str, value) -> None:
    """Set ``web-tier:pools.blue.minSize``-style paths in a stack config dict."""
    top, _, rest = path.partition(".")
    if not rest:
        cfg[top] = value
        return
    node = cfg.setdefault(top, {})
    keys = rest.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is _DELETE:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value


_DELETE = object()

# (id, edits {path: value}, text the one-line error must contain)
BAD = [
    ("min-above-desired", {P + "pools.blue.minSize": 4}, "pools.blue"),
    ("timeout-not-below-interval", {P + "pools.blue.healthCheck.timeoutSeconds": 15}, "pools.blue.healthCheck"),
    ("weight-over-999", {P + "routing.default.forward.weights.blue": 1000}, "routing.default.forward.weights"),
    ("weights-sum-zero", {P + "routing.default.forward.weights": {"blue": 0, "green": 0}}, "routing.default.forward.weights"),
    ("six-pools-in-forward", {P + "routing.default.forward.weights": {f"p{i}": 1 for i in range(6)}}, "routing.default.forward.weights"),
    ("unknown-pool-in-rule", {P + "routing.rules.api.forward.weights": {"purple": 1}}, "purple"),
    ("duplicate-priorities", {P + "routing.rules.maintenance.priority": 10}, "priority 10"),
    ("unknown-top-level-key", {P + "poolz": {}}, "web-tier:poolz"),
    ("typo-in-pool-field", {P + "pools.blue.instanceTyp": "t3.small"}, "pools.blue.instanceTyp"),
    ("bad-ami", {P + "pools.blue.ami": "ubuntu-22"}, "pools.blue.ami"),
    ("slow-start-too-short", {P + "pools.blue.slowStartSeconds": 10}, "pools.blue.slowStartSeconds"),
    ("healthy-threshold-11", {P + "pools.blue.healthCheck.healthyThreshold": 11}, "pools.blue.healthCheck.healthyThreshold"),
    ("bad-matcher", {P + "pools.blue.healthCheck.matcher": "ok"}, "pools.blue.healthCheck.matcher"),
    ("https-without-cert", {P + "listeners.certificateArn": _DELETE}, "listeners"),
    ("tls-1.0-policy", {P + "listeners.sslPolicy": "ELBSecurityPolicy-2016-08"}, "listeners.sslPolicy"),
    ("four-azs", {P + "network.azCount": 4}, "network.azCount"),
    ("cidr-too-big", {P + "network.cidr": "10.0.0.0/8"}, "network.cidr"),
    ("rule-without-conditions", {P + "routing.rules.api.conditions": {}}, "routing.rules.api.conditions"),
    ("idle-timeout-zero", {P + "loadBalancer.idleTimeoutSeconds": 0}, "loadBalancer.idleTimeoutSeconds"),
    ("negative-peak", {P + "peakRequestsPerSecond": -5}, "peakRequestsPerSecond"),
    ("deregistration-too-long", {P + "pools.green.deregistrationDelaySeconds": 4000}, "pools.green.deregistrationDelaySeconds"),
    ("zero-capacity", {P + "pools.green.capacityRps": 0}, "pools.green.capacityRps"),
    ("uppercase-pool-key", {P + "pools.Blue": {"ami": "ami-0c7217cdde317cfec", "capacityRps": 10}}, "pools"),
    ("anomaly-without-weighted-random", {P + "pools.blue.anomalyMitigation": True}, "pools.blue"),
    ("forward-and-fixed-response", {P + "routing.default.fixedResponse": {"statusCode": 404}}, "routing.default"),
    ("priority-zero", {P + "routing.rules.api.priority": 0}, "routing.rules.api.priority"),
    ("datapoints-above-periods", {P + "observability.alarmDatapoints": 5}, "observability"),
    ("bad-email-subscription", {P + "observability.alarmSubscriptions": [{"protocol": "email", "endpoint": "ops"}]}, "observability.alarmSubscriptions.0"),
    ("skew-deviation-above-1", {P + "observability.shareSkewMaxDeviation": 1.5}, "observability.shareSkewMaxDeviation"),
    ("alarm-period-30", {P + "observability.alarmPeriodSeconds": 30}, "observability.alarmPeriodSeconds"),
    ("retention-zero", {P + "observability.logRetentionDays": 0}, "observability.logRetentionDays"),
    ("bad-log-bucket-name", {P + "observability.logBucket": "My_Bucket"}, "observability.logBucket"),
    ("vpc-without-subnets", {P + "network.vpcId": "vpc-0123456789abcdef0"}, "network"),
    ("no-pools", {P + "pools": {}}, "pools"),
    ("weight-not-integer", {P + "routing.default.forward.weights.blue": "half"}, "routing.default.forward.weights.blue"),
    ("method-lowercase", {P + "routing.rules.api.conditions.methods": ["get"]}, "routing.rules.api.conditions.methods.0"),
]


@pytest.mark.parametrize("case,edits,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_setting_is_one_line_exit_2(scratch, case, edits, needle):
    cfg = scratch.config("dev")
    for path, value in edits.items():
        _set(cfg, path, value)
    scratch.write("dev", cfg)
    result = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--cwd", str(scratch.path), "--no-policy"])
    assert result.exit_code == 2, result.output
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert "stacks/Pulumi.dev.yaml" in lines[0]


def _raw(stack: str) -> dict:
    cfg = load_stack(stack)["config"]
    return {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("web-tier:")}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_real_stacks_parse(stack):
    s = parse_settings(_raw(stack), stack=stack)
    assert s.stack == stack
    for key in s.pools:
        assert len(s.target_group_name(key)) <= 32


def test_prod_shape():
    s = parse_settings(_raw("prod"), stack="prod")
    assert s.network.az_count == 3
    assert s.load_balancer.deletion_protection is True
    assert not s.listeners.insecure_http_only and s.listeners.certificate_arn
    assert len(s.pools) >= 2


def test_error_names_value_received():
    raw = _raw("dev")
    raw["pools"]["blue"]["healthCheck"]["healthyThreshold"] = 11
    with pytest.raises(SettingsError) as err:
        parse_settings(raw, stack="dev", stack_file="stacks/Pulumi.dev.yaml")
    assert str(err.value) == (
        "stacks/Pulumi.dev.yaml: web-tier:pools.blue.healthCheck.healthyThreshold: "
        "Input should be less than or equal to 10 (got 11)"
    )


def test_target_group_names_stay_within_32_and_stable():
    raw = _raw("dev")
    long_key = "a-very-long-poolname"  # 20 chars, the longest key allowed
    raw["pools"][long_key] = copy.deepcopy(raw["pools"]["blue"])
    s = parse_settings(raw, stack="a-rather-long-stack-name-for-testing")
    name = s.target_group_name(long_key)
    assert len(name) <= 32
    # Weight and health-check edits keep the name; a port change (forces replacement) changes it.
    raw["routing"]["default"]["forward"]["weights"] = {"blue": 10, "green": 90}
    raw["pools"][long_key]["healthCheck"]["intervalSeconds"] = 30
    s2 = parse_settings(raw, stack="a-rather-long-stack-name-for-testing")
    assert s2.target_group_name(long_key) == name
    raw["pools"][long_key]["port"] = 8080
    s3 = parse_settings(raw, stack="a-rather-long-stack-name-for-testing")
    assert s3.target_group_name(long_key) != name
