"""Every alarm as CloudWatch holds it (dev and prod stacks, read back from moto)."""

from __future__ import annotations

import pytest

from tests.components.observability.conftest import dims
from tests.components.observability.metricmath import evaluate

KINDS = {
    "unhealthy-hosts": ("UnHealthyHostCount", "Maximum", "GreaterThanThreshold", 0.0),
    "healthy-below-min": ("HealthyHostCount", "Minimum", "LessThanThreshold", 3.0),  # dev's minSize
    "latency-p99": ("TargetResponseTime", None, "GreaterThanThreshold", 2.0),
}


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(dev):
    alarms = dev.c["cloudwatch"].describe_alarms(AlarmNamePrefix="web-tier-dev-")["MetricAlarms"]
    names = sorted(a["AlarmName"] for a in alarms)
    assert names == sorted(n for kind in dev.outputs["alarms"].values() for n in kind)
    assert len(names) == 12
    for a in alarms:
        assert a["ActionsEnabled"] is True
        assert a["AlarmActions"] == [dev.topic] and a["OKActions"] == [dev.topic], a["AlarmName"]
        assert (a["EvaluationPeriods"], a["DatapointsToAlarm"], a["TreatMissingData"]) == (3, 2, "notBreaching")
    assert dev.c["sns"].get_topic_attributes(TopicArn=dev.topic)["Attributes"]["TopicArn"] == dev.topic
    assert dev.topic.endswith(":web-tier-dev-alarms")


def test_alarm_names_by_kind(dev):
    assert dev.outputs["alarms"] == {
        "unhealthyHosts": ["web-tier-dev-blue-unhealthy-hosts", "web-tier-dev-green-unhealthy-hosts"],
        "healthyBelowMin": ["web-tier-dev-blue-healthy-below-min", "web-tier-dev-green-healthy-below-min"],
        "target5xxRate": ["web-tier-dev-blue-target-5xx-rate", "web-tier-dev-green-target-5xx-rate"],
        "latencyP99": ["web-tier-dev-blue-latency-p99", "web-tier-dev-green-latency-p99"],
        "shareSkew": ["web-tier-dev-share-skew-https-default", "web-tier-dev-share-skew-https-api"],
        "loadImbalance": ["web-tier-dev-load-imbalance"],
        "elb5xx": ["web-tier-dev-elb-5xx"],
    }


@pytest.mark.parametrize("pool", ["blue", "green"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_per_pool_metric_alarm(dev, pool, kind):
    metric, stat, op, threshold = KINDS[kind]
    a = dev.alarm(f"web-tier-dev-{pool}-{kind}")
    assert (a["Namespace"], a["MetricName"], a["Period"]) == ("AWS/ApplicationELB", metric, 60)
    if stat:
        assert a["Statistic"] == stat and "ExtendedStatistic" not in a
    else:
        assert a["ExtendedStatistic"] == "p99" and "Statistic" not in a
    assert dims(a["Dimensions"]) == {"LoadBalancer": dev.lb, "TargetGroup": dev.tgs[pool]}
    assert dev.lb.startswith("app/web-tier-dev/") and dev.tgs[pool].startswith(f"targetgroup/dev-{pool}-")
    assert (a["ComparisonOperator"], a["Threshold"]) == (op, threshold)


@pytest.mark.parametrize("pool", ["blue", "green"])
def test_target_5xx_rate_is_metric_math_over_the_pools_counts(dev, pool):
    a = dev.alarm(f"web-tier-dev-{pool}-target-5xx-rate")
    assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 5.0)
    q = dev.queries(f"web-tier-dev-{pool}-target-5xx-rate")
    for qid, metric in (("errors", "HTTPCode_Target_5XX_Count"), ("requests", "RequestCount")):
        stat = q[qid]["MetricStat"]
        assert (stat["Metric"]["MetricName"], stat["Stat"], stat["Period"]) == (metric, "Sum", 60)
        assert dims(stat["Metric"]["Dimensions"]) == {"LoadBalancer": dev.lb, "TargetGroup": dev.tgs[pool]}
        assert q[qid]["ReturnData"] is False
    assert q["rate"]["ReturnData"] is True
    metrics = a["Metrics"]
    assert evaluate(metrics, {"errors": 6, "requests": 100}) == 6.0  # 6% > 5%: breaching
    assert evaluate(metrics, {"errors": None, "requests": 100}) == 0.0  # no 5XX published: 0%
    assert evaluate(metrics, {"errors": None, "requests": None}) is None  # no traffic: missing, not breaching


def test_share_skew_alarm_per_forward_reads_each_target_groups_request_count(dev):
    for where in ("default", "api"):
        name = f"web-tier-dev-share-skew-https-{where}"
        a = dev.alarm(name)
        assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 0.0)
        assert "blue 35%..65%, green 35%..65%" in a["AlarmDescription"]
        q = dev.queries(name)
        for i, pool in enumerate(("blue", "green")):
            stat = q[f"m{i}"]["MetricStat"]
            assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"], stat["Period"]) == (
                "AWS/ApplicationELB", "RequestCount", "Sum", 60)
            assert dims(stat["Metric"]["Dimensions"]) == {"LoadBalancer": dev.lb, "TargetGroup": dev.tgs[pool]}
        assert q["total"]["Expression"] == "FILL(m0, 0) + FILL(m1, 0)"
        # 50/50 with shareSkewMaxDeviation 0.15: each band is 0.35..0.65 (traffic.skew_bounds),
        # i.e. mid 0.5, half-width 0.15.
        assert q["o0"]["Expression"] == "ABS(IF(total > 0, FILL(m0, 0) / total, 0) - 0.5) - 0.15"
        assert q["o1"]["Expression"] == "ABS(IF(total > 0, FILL(m1, 0) / total, 0) - 0.5) - 0.15"
        assert (q["o0"]["Label"], q["o1"]["Label"]) == ("blue: share outside 35%..65%", "green: share outside 35%..65%")
        assert q["skew"]["Expression"] == "IF(total >= 60, MAX([o0, o1]), 0)"
        assert [m["Id"] for m in a["Metrics"] if m["ReturnData"]] == ["skew"]


@pytest.mark.parametrize("blue,green,fires", [
    (500, 500, False),   # as intended
    (640, 360, False),   # 64%: inside 35..65
    (660, 340, True),    # 66%: outside
    (1000, None, True),  # June 1: everything on blue, green publishes no RequestCount at all
    (None, 1000, True),
    (40, None, False),   # 40 requests in the minute: too few to judge (shareSkewMinRequests 60)
    (None, None, False),  # no traffic
])
def test_share_skew_alarm_value_on_sample_minutes(dev, blue, green, fires):
    value = evaluate(dev.alarm("web-tier-dev-share-skew-https-default")["Metrics"], {"m0": blue, "m1": green})
    assert value is not None  # never "missing": missing would be treated as not breaching
    assert (value > 0) is fires


def test_load_imbalance_compares_busiest_pool_with_the_mean(dev, prod):
    a = dev.alarm("web-tier-dev-load-imbalance")
    assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 2.0)
    q = dev.queries("web-tier-dev-load-imbalance")
    for i, pool in enumerate(("blue", "green")):
        stat = q[f"r{i}"]["MetricStat"]
        assert (stat["Metric"]["MetricName"], stat["Stat"], stat["Period"]) == ("RequestCountPerTarget", "Sum", 60)
        assert dims(stat["Metric"]["Dimensions"]) == {"LoadBalancer": dev.lb, "TargetGroup": dev.tgs[pool]}
    assert q["imbalance"]["Expression"] == "IF(AVG([f0, f1]) > 0, MAX([f0, f1]) / AVG([f0, f1]), 0)"
    p = prod.alarm("web-tier-prod-load-imbalance")["Metrics"]
    assert [dims(m["MetricStat"]["Metric"]["Dimensions"])["TargetGroup"] for m in p if "MetricStat" in m] == [
        prod.tgs["blue"], prod.tgs["green"], prod.tgs["api"]]
    assert evaluate(p, {"r0": 100, "r1": 100, "r2": 130}) == pytest.approx(130 / 110)
    # Blue serves everything: green and api publish nothing, filled as 0 -> 3x the mean.
    assert evaluate(p, {"r0": 300, "r1": None, "r2": None}) == pytest.approx(3.0)


def test_elb_5xx(dev):
    a = dev.alarm("web-tier-dev-elb-5xx")
    assert (a["MetricName"], a["Statistic"], a["Period"]) == ("HTTPCode_ELB_5XX_Count", "Sum", 60)
    assert dims(a["Dimensions"]) == {"LoadBalancer": dev.lb}
    assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 10.0)


def test_prod_skew_alarms_only_where_a_forward_splits(prod):
    """prod: the default action splits blue/green; the api rule sends everything to api."""
    assert prod.outputs["alarms"]["shareSkew"] == ["web-tier-prod-share-skew-https-default"]
    assert prod.outputs["alarms"]["healthyBelowMin"] == [
        "web-tier-prod-blue-healthy-below-min", "web-tier-prod-green-healthy-below-min",
        "web-tier-prod-api-healthy-below-min"]
    assert prod.alarm("web-tier-prod-api-healthy-below-min")["Threshold"] == 6.0
    q = prod.queries("web-tier-prod-share-skew-https-default")
    assert [dims(q[f"m{i}"]["MetricStat"]["Metric"]["Dimensions"])["TargetGroup"] for i in (0, 1)] == [
        prod.tgs["blue"], prod.tgs["green"]]
