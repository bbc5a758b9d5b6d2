"""Share-skew thresholds come from the one traffic model; worked by hand here."""

from __future__ import annotations

import pytest

from components.alarms import polluted_skew_alarms, share_skew_queries, skew_forwards
from components.settings import parse_settings
from lbguard import traffic
from tests.conftest import load_stack
from tests.observability.metricmath import evaluate


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
    assert q({"a": 1, "b": 3})[-1]["expression"] == "IF(total >= 60, MAX([0.1 - s0, s0 - 0.4, 0.6 - s1, s1 - 0.9]), 0)"
    thirds = q({"a": 1, "b": 1, "c": 1}, 0.2, 0)[-1]["expression"]
    assert thirds == ("IF(total >= 0, MAX([0.133333 - s0, s0 - 0.533333, 0.133333 - s1, s1 - 0.533333, "
                      "0.133333 - s2, s2 - 0.533333]), 0)")
    metric_queries = [x for x in q({"a": 1, "b": 3}) if "metric" in x]
    assert [(x["id"], x["metric"]["dimensions"]["TargetGroup"]) for x in metric_queries] == [
        ("m0", "targetgroup/a/1"), ("m1", "targetgroup/b/1")]


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
