"""Logs, alarms and dashboard as AWS holds them (dev stack, read back from moto)."""

from __future__ import annotations

import json

import boto3
import pytest

from components.alarms import share_skew_queries
from lbguard.emulator import emulated_aws, run_program
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dev():
    with emulated_aws("us-east-1"):
        run = run_program(ROOT, "dev")
        yield run, {s: boto3.client(s, "us-east-1") for s in ("s3", "elbv2", "cloudwatch", "sns")}


def suffixes(run):
    lb = run.outputs["loadBalancerArn"].split(":loadbalancer/")[1]
    tgs = {k: v.split(":", 5)[5] for k, v in run.outputs["targetGroupArns"].items()}
    return lb, tgs


def test_log_bucket_is_encrypted_private_tls_only_and_expiring(dev):
    run, c = dev
    s3, bucket = c["s3"], run.outputs["logBucket"]
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert lifecycle["Expiration"]["Days"] == 90 and lifecycle["Status"] == "Enabled"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    allow, deny = policy["Statement"]
    assert allow["Effect"] == "Allow" and allow["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == [f"arn:aws:s3:::{bucket}/dev/AWSLogs/123456789012/*",
                                 f"arn:aws:s3:::{bucket}/dev-connections/AWSLogs/123456789012/*"]
    assert deny == {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_load_balancer_logs_point_at_the_bucket(dev):
    run, c = dev
    attrs = {a["Key"]: a["Value"] for a in c["elbv2"].describe_load_balancer_attributes(
        LoadBalancerArn=run.outputs["loadBalancerArn"])["Attributes"]}
    assert attrs["access_logs.s3.enabled"] == "true"
    assert attrs["access_logs.s3.bucket"] == run.outputs["logBucket"]
    assert attrs["access_logs.s3.prefix"] == "dev"
    assert attrs["connection_logs.s3.enabled"] == "true"
    assert attrs["connection_logs.s3.prefix"] == "dev-connections"


def _alarm(c, name):
    return c["cloudwatch"].describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_per_pool_alarms(dev):
    run, c = dev
    lb, tgs = suffixes(run)
    topic = run.outputs["alarmTopicArn"]
    assert c["sns"].get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
    for key in ("blue", "green"):
        dims = [{"Name": "LoadBalancer", "Value": lb}, {"Name": "TargetGroup", "Value": tgs[key]}]
        a = _alarm(c, f"web-tier-dev-{key}-unhealthy-hosts")
        assert (a["Namespace"], a["MetricName"], a["Statistic"], a["Period"]) == (
            "AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", 60)
        assert sorted(a["Dimensions"], key=lambda d: d["Name"]) == dims
        assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 0.0)
        assert (a["EvaluationPeriods"], a["DatapointsToAlarm"]) == (3, 2)
        assert a["AlarmActions"] == [topic] and a["OKActions"] == [topic]
        low = _alarm(c, f"web-tier-dev-{key}-healthy-below-min")
        assert (low["MetricName"], low["Statistic"], low["ComparisonOperator"], low["Threshold"]) == (
            "HealthyHostCount", "Minimum", "LessThanThreshold", 2.0)
        p99 = _alarm(c, f"web-tier-dev-{key}-latency-p99")
        assert (p99["MetricName"], p99["ExtendedStatistic"], p99["Threshold"]) == ("TargetResponseTime", "p99", 2.0)
        rate = _alarm(c, f"web-tier-dev-{key}-target-5xx-rate")
        metrics = {m["Id"]: m for m in rate["Metrics"]}
        assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "HTTPCode_Target_5XX_Count"
        assert metrics["rate"]["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
        assert rate["Threshold"] == 5.0 and rate["AlarmActions"] == [topic]


def test_share_skew_alarm_math(dev):
    run, c = dev
    lb, tgs = suffixes(run)
    for where in ("default", "api"):
        a = _alarm(c, f"web-tier-dev-share-skew-https-{where}")
        metrics = {m["Id"]: m for m in a["Metrics"]}
        assert {metrics[f"m{i}"]["MetricStat"]["Metric"]["MetricName"] for i in (0, 1)} == {"RequestCount"}
        dims = [sorted((d["Name"], d["Value"]) for d in metrics[f"m{i}"]["MetricStat"]["Metric"]["Dimensions"])
                for i in (0, 1)]
        assert dims == [[("LoadBalancer", lb), ("TargetGroup", tgs["blue"])],
                        [("LoadBalancer", lb), ("TargetGroup", tgs["green"])]]
        assert metrics["total"]["Expression"] == "SUM([m0, m1])"
        assert metrics["skew"]["Expression"] == "IF(total >= 60, MAX([ABS(m0 / total - 0.5), ABS(m1 / total - 0.5)]), 0)"
        assert metrics["skew"]["ReturnData"] is True
        assert (a["Threshold"], a["ComparisonOperator"]) == (0.15, "GreaterThanThreshold")
        assert a["AlarmActions"] == [run.outputs["alarmTopicArn"]]


def test_load_balancer_alarms(dev):
    run, c = dev
    lb, tgs = suffixes(run)
    imb = _alarm(c, "web-tier-dev-load-imbalance")
    metrics = {m["Id"]: m for m in imb["Metrics"]}
    assert metrics["imbalance"]["Expression"] == "IF(AVG([r0, r1]) > 0, MAX([r0, r1]) / AVG([r0, r1]), 0)"
    assert metrics["r0"]["MetricStat"]["Metric"]["MetricName"] == "RequestCountPerTarget"
    assert imb["Threshold"] == 2.0
    elb = _alarm(c, "web-tier-dev-elb-5xx")
    assert elb["MetricName"] == "HTTPCode_ELB_5XX_Count" and elb["Dimensions"] == [{"Name": "LoadBalancer", "Value": lb}]
    assert set(run.outputs["alarms"]["shareSkew"]) == {"web-tier-dev-share-skew-https-default",
                                                      "web-tier-dev-share-skew-https-api"}


def test_dashboard_references_real_resources(dev):
    run, c = dev
    lb, tgs = suffixes(run)
    body = json.loads(c["cloudwatch"].get_dashboard(DashboardName=run.outputs["dashboardName"])["DashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles[:2] == ["https/default: observed vs intended share", "https/api: observed vs intended share"]
    share = body["widgets"][0]["properties"]
    assert share["annotations"]["horizontal"] == [
        {"label": "blue intended", "value": 50.0}, {"label": "green intended", "value": 50.0},
        [{"label": "blue alarm band", "value": 35.0}, {"value": 65.0}],
        [{"label": "green alarm band", "value": 35.0}, {"value": 65.0}]]
    text = json.dumps(body)
    assert lb in text and all(t in text for t in tgs.values())
    assert {"healthy hosts", "5XX", "p99 latency (s)", "requests per target"} <= set(titles)


def test_share_skew_expression_hand_worked():
    q = share_skew_queries({"a": "targetgroup/a/1", "b": "targetgroup/b/2"}, "app/lb/1", {"a": 1, "b": 3}, 100, 60)
    assert q[-1]["expression"] == "IF(total >= 100, MAX([ABS(m0 / total - 0.25), ABS(m1 / total - 0.75)]), 0)"
    q = share_skew_queries({"a": "x", "b": "y", "c": "z"}, "lb", {"a": 1, "b": 1, "c": 1}, 0, 60)
    assert "ABS(m2 / total - 0.333333)" in q[-1]["expression"]
