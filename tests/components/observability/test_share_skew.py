"""Share-skew thresholds come from the one traffic model; worked by hand here."""

from __future__ import annotations

import pytest

from components.alarms import polluted_skew_alarms, share_skew_queries, skew_forwards
from components.settings import parse_settings
from lbguard.core import traffic
from tests.conftest import load_stack
from tests.components.observability.metricmath import evaluate


@pytest.mark.parametrize("weights,deviation,bands", [
    ({"blue": 50, "green": 50}, 0.15, {"blue": (0.35, 0.65), "green": (0.35, 0.65)}),
    # 1:3 -> shares 0.25 / 0.75 -> bands 0.10..0.40 and 0.60..0.90
    ({"a": 1, "b": 3}, 0.15, {"a": (0.10, 0.40), "b": (0.60, 0.90)}),
    # thirds: 0.333.. +/- 0.2
    ({"a": 1, "b": 1, "c": 1}, 0.2, {k: (1 / 3 - 0.2, 1 / 3 + 0.2) for k in "abc"}),
    # 90/10: the band stops at 1.0 and at 0.0
    ({"big": 9, "canary": 1}, 0.15, {"big": (0.75, 1.0), "canary": (0.0, 0.25)}),
    # a weight-0 group may take up to the deviation before it counts as skew
    ({"live": 1, "idle": 0}, 0.1, {"live": (0.9, 1.0), "idle": (0.0, 0.1)}),
])
def test_skew_bounds_hand_worked(weights, deviation, bands):
    got = traffic.skew_bounds(weights, deviation)
    assert got.keys() == bands.keys()
    for k, (lo, hi) in bands.items():
        assert got[k] == pytest.approx((lo, hi))


@pytest.mark.parametrize("weights,deviation,blind", [
    ({"blue": 50, "green": 50}, 0.15, []),   # all onto one: 1.0 > 0.65
    ({"blue": 50, "green": 50}, 0.49, []),   # the largest deviation settings allow still sees it
    ({"big": 9, "canary": 1}, 0.15, ["big"]),  # all onto big: 1.0 is inside 0.75..1.0, canary 0 inside 0..0.25
    ({"a": 1, "b": 3}, 0.3, ["b"]),          # b: 0.45..1.0; a: 0..0.55
    ({"a": 1, "b": 1, "c": 1}, 0.3, []),
])
def test_blind_funnels_hand_worked(weights, deviation, blind):
    assert traffic.blind_funnels(weights, deviation) == blind


def q(weights, deviation=0.15, min_requests=60):
    tgs = {k: f"targetgroup/{k}/1" for k in weights}
    return share_skew_queries(tgs, "app/lb/1", weights, deviation, min_requests, 60)


def test_expression_carries_the_bands_of_traffic_skew_bounds():
    # 1:3 -> bands 0.10..0.40 (mid 0.25) and 0.60..0.90 (mid 0.75), half-width 0.15
    exprs = {x["id"]: x.get("expression") for x in q({"a": 1, "b": 3})}
    assert exprs["o0"] == "ABS(IF(total > 0, FILL(m0, 0) / total, 0) - 0.25) - 0.15"
    assert exprs["o1"] == "ABS(IF(total > 0, FILL(m1, 0) / total, 0) - 0.75) - 0.15"
    assert exprs["skew"] == "IF(total >= 60, MAX([o0, o1]), 0)"
    # 90/10: the bands are clipped (0.75..1.0 and 0..0.25), so mid and half-width follow the clip
    exprs = {x["id"]: x.get("expression") for x in q({"big": 9, "canary": 1})}
    assert exprs["o0"].endswith("- 0.875) - 0.125") and exprs["o1"].endswith("- 0.125) - 0.125")
    thirds = {x["id"]: x.get("expression") for x in q({"a": 1, "b": 1, "c": 1}, 0.2, 0)}
    assert thirds["o2"] == "ABS(IF(total > 0, FILL(m2, 0) / total, 0) - 0.333333) - 0.2"
    assert thirds["skew"] == "IF(total >= 0, MAX([o0, o1, o2]), 0)"
    metric_queries = [x for x in q({"a": 1, "b": 3}) if "metric" in x]
    assert [(x["id"], x["metric"]["dimensions"]["TargetGroup"]) for x in metric_queries] == [
        ("m0", "targetgroup/a/1"), ("m1", "targetgroup/b/1")]


def test_five_target_groups_fit_one_alarm():
    """PutMetricAlarm: at most 10 metrics and 10 expressions."""
    queries = q({k: 1 for k in "abcde"})
    assert sum("metric" in x for x in queries) == 5 and sum("expression" in x for x in queries) == 7


def _aws_shape(queries):
    return [{"Id": x["id"], "Expression": x.get("expression"), "ReturnData": x["return_data"]} for x in queries]


@pytest.mark.parametrize("a,b,fires", [
    (250, 750, False),   # exactly as intended (1:3)
    (390, 610, False),   # a at 39%: inside 10..40
    (410, 590, True),    # a at 41%
    (50, 950, True),     # b at 95%: above 90
    (None, 1000, True),  # all onto b; a publishes nothing
    (1000, None, True),
])
def test_one_to_three_split_on_sample_minutes(a, b, fires):
    value = evaluate(_aws_shape(q({"a": 1, "b": 3})), {"m0": a, "m1": b})
    assert (value > 0) is fires


def test_without_fill_a_funnel_would_be_missing_data_and_never_alarm():
    """Why the expressions FILL: the same math over raw counts yields nothing when a pool
    gets no requests, and missing data is treated as not breaching."""
    naive = [{"Id": "m0"}, {"Id": "m1"}, {"Id": "total", "Expression": "m0 + m1"},
             {"Id": "skew", "ReturnData": True, "Expression": "MAX([ABS(m0 / total - 0.5), ABS(m1 / total - 0.5)])"}]
    assert evaluate(naive, {"m0": 1000, "m1": None}) is None
    assert evaluate(_aws_shape(q({"a": 1, "b": 1})), {"m0": 1000, "m1": None}) == pytest.approx(0.35)


@pytest.mark.parametrize("big,canary,fires", [
    (900, 100, False), (1000, None, False),  # all onto big stays inside 0.75..1.0: a blind funnel
    (700, 300, True), (None, 1000, True),
])
def test_clipped_bands_on_sample_minutes(big, canary, fires):
    value = evaluate(_aws_shape(q({"big": 9, "canary": 1})), {"m0": big, "m1": canary})
    assert (value > 0) is fires


def _settings(stack, routing=None):
    raw = {k.split(":", 1)[1]: v for k, v in load_stack(stack)["config"].items() if k.startswith("web-tier:")}
    if routing:
        raw["routing"] = routing
    return parse_settings(raw, stack=stack)


def test_which_forwards_get_a_skew_alarm():
    assert skew_forwards(_settings("dev")) == {"https/default": {"blue": 50, "green": 50},
                                               "https/api": {"blue": 50, "green": 50}}
    assert skew_forwards(_settings("prod")) == {"https/default": {"blue": 50, "green": 50}}


def test_forwards_sharing_target_groups_in_other_proportions_are_named():
    assert polluted_skew_alarms(_settings("dev")) == {}  # default and api split blue/green alike
    routing = {"default": {"forward": {"weights": {"blue": 50, "green": 50}}},
               "rules": {"pin": {"priority": 5, "conditions": {"path": ["/pin/*"]},
                                 "forward": {"weights": {"blue": 1}}}}}
    assert polluted_skew_alarms(_settings("dev", routing)) == {"https/default": ["pin"]}
