"""Alarms, their topic and the dashboard: abnormal traffic distribution seen in minutes.

ALB publishes its CloudWatch metrics once a minute, so every alarm uses a 60 s period
and fires on ``alarmDatapoints`` breaching minutes out of ``alarmEvaluationPeriods``
(defaults 2 of 3). Intended shares come from :mod:`lbguard.traffic`, the one model.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.settings import ObservabilitySettings, WebTierSettings
from lbguard import traffic

NAMESPACE = "AWS/ApplicationELB"


def share_skew_queries(tg_suffixes: dict[str, str], lb_suffix: str, weights: dict[str, int],
                       min_requests: int, period: int) -> list[dict]:
    """Metric-math queries: the largest gap between a pool's observed and intended share.

    Each target group's RequestCount over the total gives its observed share; the
    alarm's value is ``max_i |observed_i - intended_i|``, 0 while traffic is below
    ``min_requests`` a period (too few requests to judge).
    """
    intended = traffic.shares(weights)
    keys = [k for k in weights]
    queries = []
    for i, key in enumerate(keys):
        queries.append({"id": f"m{i}", "return_data": False, "metric": {
            "namespace": NAMESPACE, "metric_name": "RequestCount", "period": period, "stat": "Sum",
            "dimensions": {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffixes[key]}}})
    total = f"SUM([{', '.join(f'm{i}' for i in range(len(keys)))}])"
    queries.append({"id": "total", "expression": total, "label": "requests", "return_data": False})
    gaps = ", ".join(f"ABS(m{i} / total - {intended[k]:.6g})" for i, k in enumerate(keys))
    queries.append({"id": "skew", "label": "largest share deviation",
                    "expression": f"IF(total >= {min_requests}, MAX([{gaps}]), 0)", "return_data": True})
    return queries


class Alarms(pulumi.ComponentResource):
    """Topic, per-pool / per-forward / per-load-balancer alarms, and the stack's dashboard."""

    def __init__(self, name: str, *, settings: WebTierSettings, lb_suffix: pulumi.Input[str],
                 tg_suffixes: dict[str, pulumi.Input[str]], region: str | None = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:alarms:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s, o = settings, settings.observability
        prefix = f"{s.project}-{s.stack}"
        self.topic = aws.sns.Topic(f"{name}-topic", name=f"{prefix}-alarms", opts=child)
        for i, sub in enumerate(o.alarm_subscriptions):
            aws.sns.TopicSubscription(f"{name}-sub-{i}", topic=self.topic.arn, protocol=sub.protocol,
                                      endpoint=sub.endpoint, opts=child)
        self.alarm_names: dict[str, list[str]] = {"unhealthyHosts": [], "healthyBelowMin": [], "target5xxRate": [],
                                                  "latencyP99": [], "shareSkew": [], "loadImbalance": [], "elb5xx": []}
        common = {"period": o.alarm_period_seconds, "evaluation_periods": o.alarm_evaluation_periods,
                  "datapoints_to_alarm": o.alarm_datapoints}

        def alarm(kind: str, alarm_name: str, description: str, **kw) -> aws.cloudwatch.MetricAlarm:
            self.alarm_names[kind].append(alarm_name)
            args = {**common, **kw}
            if "metric_queries" in args:  # metric math: the period lives on each query
                args.pop("period")
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm_name[len(prefix) + 1:]}", name=alarm_name, alarm_description=description,
                alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn], opts=child, **args)

        for key, pool in s.pools.items():
            dims = {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffixes[key]}
            alarm("unhealthyHosts", f"{prefix}-{key}-unhealthy-hosts",
                  f"Pool {key}: at least one target is failing health checks.",
                  namespace=NAMESPACE, metric_name="UnHealthyHostCount", statistic="Maximum", dimensions=dims,
                  comparison_operator="GreaterThanThreshold", threshold=0, treat_missing_data="notBreaching")
            if pool.min_size > 0:
                alarm("healthyBelowMin", f"{prefix}-{key}-healthy-below-min",
                      f"Pool {key}: fewer healthy targets than its minimum size ({pool.min_size}).",
                      namespace=NAMESPACE, metric_name="HealthyHostCount", statistic="Minimum", dimensions=dims,
                      comparison_operator="LessThanThreshold", threshold=pool.min_size, treat_missing_data="notBreaching")
            alarm("target5xxRate", f"{prefix}-{key}-target-5xx-rate",
                  f"Pool {key}: more than {o.target_5xx_rate_percent:g}% of responses are 5XX from targets.",
                  comparison_operator="GreaterThanThreshold", threshold=o.target_5xx_rate_percent,
                  treat_missing_data="notBreaching", metric_queries=[
                      {"id": "errors", "return_data": False, "metric": {
                          "namespace": NAMESPACE, "metric_name": "HTTPCode_Target_5XX_Count",
                          "period": o.alarm_period_seconds, "stat": "Sum", "dimensions": dims}},
                      {"id": "requests", "return_data": False, "metric": {
                          "namespace": NAMESPACE, "metric_name": "RequestCount",
                          "period": o.alarm_period_seconds, "stat": "Sum", "dimensions": dims}},
                      {"id": "rate", "label": "target 5XX %", "return_data": True,
                       "expression": "IF(requests > 0, 100 * errors / requests, 0)"}])
            alarm("latencyP99", f"{prefix}-{key}-latency-p99",
                  f"Pool {key}: p99 target response time above {o.p99_latency_seconds:g}s.",
                  namespace=NAMESPACE, metric_name="TargetResponseTime", extended_statistic="p99", dimensions=dims,
                  comparison_operator="GreaterThanThreshold", threshold=o.p99_latency_seconds,
                  treat_missing_data="notBreaching")

        listener = "http" if s.listeners.insecure_http_only else "https"
        self.skew_routes: dict[str, dict[str, int]] = {}
        for route, fwd in s.routing.forwards().items():
            live = {k: w for k, w in fwd.weights.items() if w > 0}
            if len(live) < 2:
                continue
            where = "default" if route == "default" else route.split(":", 1)[1]
            self.skew_routes[f"{listener}/{where}"] = dict(fwd.weights)
            queries = pulumi.Output.all(lb=lb_suffix, tgs=pulumi.Output.all(**{k: tg_suffixes[k] for k in fwd.weights})) \
                .apply(lambda v, w=dict(fwd.weights): share_skew_queries(v["tgs"], v["lb"], w, o.share_skew_min_requests,
                                                                         o.alarm_period_seconds))
            intended = ", ".join(f"{k} {v:.0%}" for k, v in traffic.shares(fwd.weights).items())
            alarm("shareSkew", f"{prefix}-share-skew-{listener}-{where}",
                  f"{listener} {where}: a pool's share of requests is more than {o.share_skew_max_deviation:.0%} "
                  f"away from its weight ({intended}).",
                  comparison_operator="GreaterThanThreshold", threshold=o.share_skew_max_deviation,
                  treat_missing_data="notBreaching", metric_queries=queries)

        per_target = [{"id": f"r{i}", "return_data": False, "metric": {
            "namespace": NAMESPACE, "metric_name": "RequestCountPerTarget", "period": o.alarm_period_seconds,
            "stat": "Sum", "dimensions": {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffixes[k]}}}
            for i, k in enumerate(s.pools)]
        ids = ", ".join(q["id"] for q in per_target)
        if len(per_target) >= 2:
            alarm("loadImbalance", f"{prefix}-load-imbalance",
                  f"The busiest pool's requests per target exceed {o.imbalance_ratio:g}x the mean across pools.",
                  comparison_operator="GreaterThanThreshold", threshold=o.imbalance_ratio,
                  treat_missing_data="notBreaching", metric_queries=per_target + [
                      {"id": "imbalance", "label": "busiest / mean requests per target", "return_data": True,
                       "expression": f"IF(AVG([{ids}]) > 0, MAX([{ids}]) / AVG([{ids}]), 0)"}])
        alarm("elb5xx", f"{prefix}-elb-5xx",
              f"The load balancer itself returned more than {o.elb_5xx_count} 5XX responses a minute.",
              namespace=NAMESPACE, metric_name="HTTPCode_ELB_5XX_Count", statistic="Sum",
              dimensions={"LoadBalancer": lb_suffix}, comparison_operator="GreaterThanThreshold",
              threshold=o.elb_5xx_count, treat_missing_data="notBreaching")

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=prefix,
            dashboard_body=pulumi.Output.all(lb=lb_suffix, tgs=pulumi.Output.all(**tg_suffixes)).apply(
                lambda v: json.dumps(dashboard_body(settings, v["lb"], v["tgs"], self.skew_routes,
                                                    region or "us-east-1"))),
            opts=child)
        self.register_outputs({"topicArn": self.topic.arn, "dashboardName": self.dashboard.dashboard_name})


def dashboard_body(settings: WebTierSettings, lb: str, tgs: dict[str, str], skew_routes: dict[str, dict[str, int]],
                   region: str) -> dict:
    max_deviation = settings.observability.share_skew_max_deviation
    """Intended vs observed share per forward, healthy hosts, 5XX, latency, requests per target."""
    widgets = []

    def widget(title: str, metrics: list, annotations: list | None = None, stat: str = "Sum") -> None:
        props = {"title": title, "region": region, "period": 60, "stat": stat, "view": "timeSeries",
                 "metrics": metrics}
        if annotations:
            props["annotations"] = {"horizontal": annotations}
        widgets.append({"type": "metric", "width": 12, "height": 6, "properties": props})

    for route, weights in skew_routes.items():
        keys = list(weights)
        metrics = [[NAMESPACE, "RequestCount", "LoadBalancer", lb, "TargetGroup", tgs[k], {"id": f"m{i}", "visible": False}]
                   for i, k in enumerate(keys)]
        total = " + ".join(f"m{i}" for i in range(len(keys)))
        metrics += [[{"expression": f"100 * m{i} / ({total})", "label": f"{k} observed %", "id": f"s{i}"}]
                    for i, k in enumerate(keys)]
        intended = traffic.shares(weights)
        # The band each pool's observed share may move in before the share-skew alarm fires.
        bands = traffic.skew_bounds(weights, max_deviation)
        widget(f"{route}: observed vs intended share", metrics,
               [{"label": f"{k} intended", "value": round(100 * intended[k], 2)} for k in keys]
               + [[{"label": f"{k} alarm band", "value": round(100 * bands[k][0], 2)}, {"value": round(100 * bands[k][1], 2)}]
                  for k in keys])
    widget("healthy hosts", [[NAMESPACE, "HealthyHostCount", "LoadBalancer", lb, "TargetGroup", tgs[k], {"label": k}]
                             for k in tgs], stat="Minimum")
    widget("5XX", [[NAMESPACE, "HTTPCode_Target_5XX_Count", "LoadBalancer", lb, "TargetGroup", tgs[k], {"label": k}]
                   for k in tgs] + [[NAMESPACE, "HTTPCode_ELB_5XX_Count", "LoadBalancer", lb, {"label": "load balancer"}]])
    widget("p99 latency (s)", [[NAMESPACE, "TargetResponseTime", "LoadBalancer", lb, "TargetGroup", tgs[k], {"label": k}]
                               for k in tgs], stat="p99")
    widget("requests per target", [[NAMESPACE, "RequestCountPerTarget", "LoadBalancer", lb, "TargetGroup", tgs[k],
                                    {"label": k}] for k in tgs])
    return {"widgets": widgets}
