"""Bad observability settings: one line naming the key (web-tier:observability.<key>)."""

from __future__ import annotations

import pytest

from components.settings import ObservabilitySettings, SettingsError, parse_settings
from tests.conftest import load_stack


def _raw(observability: dict) -> dict:
    raw = {k.split(":", 1)[1]: v for k, v in load_stack("dev")["config"].items() if k.startswith("web-tier:")}
    raw["observability"] = observability
    return raw


BAD = [
    ({"accessLogs": "sometimes"}, "accessLogs"),
    ({"logBucket": "Logs_Bucket"}, "logBucket"),
    ({"logRetentionDays": 0}, "logRetentionDays"),
    ({"logRetentionDays": 4000}, "logRetentionDays"),
    ({"alarmPeriodSeconds": 10}, "alarmPeriodSeconds"),
    ({"alarmEvaluationPeriods": 0}, "alarmEvaluationPeriods"),
    ({"alarmDatapoints": 4}, "alarmDatapoints"),  # above the 3 evaluation periods
    ({"shareSkewMaxDeviation": 0}, "shareSkewMaxDeviation"),
    ({"shareSkewMaxDeviation": 0.5}, "shareSkewMaxDeviation"),  # an even 2-way funnel would stay in band
    ({"shareSkewMinRequests": -1}, "shareSkewMinRequests"),
    ({"target5xxRatePercent": 0}, "target5xxRatePercent"),
    ({"target5xxRatePercent": 101}, "target5xxRatePercent"),
    ({"elb5xxCount": 0}, "elb5xxCount"),
    ({"p99LatencySeconds": 0}, "p99LatencySeconds"),
    ({"p99LatencySeconds": 61}, "p99LatencySeconds"),
    ({"imbalanceRatio": 1}, "imbalanceRatio"),
    ({"accessLogs": False, "logBucket": "org-logs"}, "logBucket"),
    ({"alarmSubscriptions": [{"protocol": "email", "endpoint": "oncall"}]}, "alarmSubscriptions.0"),
    ({"alarmSubscriptions": [{"protocol": "https", "endpoint": "http://hooks.example.com/x"}]}, "alarmSubscriptions.0"),
    ({"alarmSubscriptions": [{"protocol": "sms", "endpoint": "+15550100"}]}, "alarmSubscriptions.0.protocol"),
    ({"alarmSubscriptions": [{"protocol": "email"}]}, "alarmSubscriptions.0.endpoint"),
    ({"shareSkew": 0.1}, "shareSkew"),  # unknown key
]


@pytest.mark.parametrize("observability,key", BAD, ids=[k + "-" + str(i) for i, (_, k) in enumerate(BAD)])
def test_bad_value_is_one_line_naming_the_key(observability, key):
    with pytest.raises(SettingsError) as err:
        parse_settings(_raw(observability), stack="dev", stack_file="stacks/Pulumi.dev.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"stacks/Pulumi.dev.yaml: web-tier:observability.{key}: "), message


def test_defaults():
    o = ObservabilitySettings()
    assert (o.access_logs, o.log_bucket, o.log_retention_days, o.alarm_subscriptions) == (True, None, 90, [])
    assert (o.alarm_period_seconds, o.alarm_evaluation_periods, o.alarm_datapoints) == (60, 3, 2)
    assert (o.share_skew_max_deviation, o.share_skew_min_requests) == (0.15, 60)
    assert (o.target_5xx_rate_percent, o.elb_5xx_count, o.p99_latency_seconds, o.imbalance_ratio) == (5, 10, 2.0, 2.0)


def test_good_values_parse():
    s = parse_settings(_raw({"alarmSubscriptions": [{"protocol": "email", "endpoint": "oncall@example.com"},
                                                    {"protocol": "https", "endpoint": "https://hooks.example.com/x"}],
                             "alarmDatapoints": 1, "alarmEvaluationPeriods": 1, "shareSkewMaxDeviation": 0.1}),
                       stack="dev")
    assert [x.protocol for x in s.observability.alarm_subscriptions] == ["email", "https"]
