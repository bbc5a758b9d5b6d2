"""The stack's dashboard as CloudWatch holds it: widgets over the real LB, target groups and alarms."""

from __future__ import annotations

import json


def _body(applied) -> dict:
    got = applied.c["cloudwatch"].get_dashboard(DashboardName=applied.outputs["dashboardName"])
    return json.loads(got["DashboardBody"])


def _widget(body, title):
    return next(w["properties"] for w in body["widgets"] if w["properties"].get("title") == title)


def test_dashboard_per_stack(dev, prod):
    assert dev.outputs["dashboardName"] == "web-tier-dev" and prod.outputs["dashboardName"] == "web-tier-prod"
    names = [d["DashboardName"] for d in dev.c["cloudwatch"].list_dashboards()["DashboardEntries"]]
    assert {"web-tier-dev", "web-tier-prod"} <= set(names)


def test_alarm_widget_lists_every_alarm_of_the_stack(dev):
    alarms = next(w for w in _body(dev)["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    arns = {a["AlarmName"]: a["AlarmArn"] for a in dev.c["cloudwatch"].describe_alarms(
        AlarmNamePrefix="web-tier-dev-")["MetricAlarms"]}
    assert sorted(alarms) == sorted(arns.values()) and len(alarms) == 12


def test_observed_vs_intended_share_per_forward(dev):
    body = _body(dev)
    titles = [w["properties"].get("title") for w in body["widgets"]]
    assert titles[1:3] == ["https/default: observed vs intended share", "https/api: observed vs intended share"]
    share = _widget(body, "https/default: observed vs intended share")
    requests = [m for m in share["metrics"] if m[0] == "AWS/ApplicationELB"]
    assert [m[:6] for m in requests] == [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", dev.lb, "TargetGroup", dev.tgs["blue"]],
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", dev.lb, "TargetGroup", dev.tgs["green"]]]
    observed = [m[0] for m in share["metrics"] if isinstance(m[0], dict)]
    assert observed[0] == {"expression": "100 * FILL(m0, 0) / (FILL(m0, 0) + FILL(m1, 0))", "label": "blue observed %",
                           "id": "s0"}
    # Intended 50% each; the band the share-skew alarm allows, from traffic.skew_bounds.
    assert share["annotations"]["horizontal"] == [
        {"label": "blue intended", "value": 50.0}, {"label": "green intended", "value": 50.0},
        [{"label": "blue alarm band", "value": 35.0}, {"value": 65.0}],
        [{"label": "green alarm band", "value": 35.0}, {"value": 65.0}]]
    assert (share["region"], share["period"], share["stat"]) == ("us-east-1", 60, "Sum")


def test_pool_widgets_reference_the_real_target_groups(dev):
    body = _body(dev)
    for title, metric, stat in (("healthy hosts", "HealthyHostCount", "Minimum"),
                                ("p99 latency (s)", "TargetResponseTime", "p99"),
                                ("requests per target", "RequestCountPerTarget", "Sum")):
        w = _widget(body, title)
        assert w["stat"] == stat
        assert [m[:6] for m in w["metrics"]] == [
            ["AWS/ApplicationELB", metric, "LoadBalancer", dev.lb, "TargetGroup", dev.tgs[k]] for k in ("blue", "green")]
    five = _widget(body, "5XX")["metrics"]
    assert five[-1][:4] == ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", dev.lb]
    assert {m[5] for m in five[:-1]} == set(dev.tgs.values())


def test_prod_dashboard_shows_the_api_pool_too(prod):
    body = _body(prod)
    titles = [w["properties"].get("title") for w in body["widgets"]]
    assert "https/api: observed vs intended share" not in titles  # the api rule has one pool: nothing to skew
    healthy = _widget(body, "healthy hosts")["metrics"]
    assert [m[5] for m in healthy] == [prod.tgs["blue"], prod.tgs["green"], prod.tgs["api"]]
