"""The alarm topic and the alarms: abnormal traffic distribution and server load, seen in minutes.

ALB publishes its CloudWatch metrics once a minute, so the period is 60 s (the fastest
ALB allows) and an alarm fires on ``alarmDatapoints`` breaching periods out of
``alarmEvaluationPeriods`` (defaults 2 of 3); docs/observability.md works out the
worst-case detection time. Intended shares and skew bands come from
:mod:`lbguard.core.traffic`, the one traffic-share model.

ALB reports a metric only for a minute in which it is non-zero: a target group that
receives nothing has no RequestCount at all (exactly the other pools on June 1). Every
count that feeds a ratio is therefore wrapped in ``FILL(m, 0)``; without it the ratio
would be missing, treated as not breaching, and a funnel would never alarm.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .settings import WebTierSettings
from lbguard.core import traffic

NAMESPACE = "AWS/ApplicationELB"
# PutMetricAlarm: at most 10 metric queries and 10 expressions per alarm.
MAX_ALARM_METRICS = 10
MAX_ALARM_EXPRESSIONS = 10

ALARM_KINDS = ("unhealthyHosts", "healthyBelowMin", "target5xxRate", "latencyP99", "shareSkew", "loadImbalance",
               "elb5xx")


def _num(x: float) -> str:
    """A number as metric math reads it: 0.35, 0.333333, 1."""
    return f"{x:.6g}"


def metric_query(qid: str, metric: str, dims: Mapping[str, str], period: int, stat: str = "Sum") -> dict:
    return {"id": qid, "return_data": False, "metric": {
        "namespace": NAMESPACE, "metric_name": metric, "period": period, "stat": stat, "dimensions": dict(dims)}}


def share_skew_queries(tg_suffixes: Mapping[str, str], lb_suffix: str, weights: Mapping[str, int],
                       max_deviation: float, min_requests: int, period: int) -> list[dict]:
    """Metric math for one forward: how far the worst target group's share is outside its band.

    Target group i's share is its RequestCount over the forward's target groups' total;
    its band ``lo..hi`` is :func:`lbguard.core.traffic.skew_bounds` (intended share +/-
    ``max_deviation``, clipped to 0..1). ``o_i = ABS(share_i - mid_i) - half_i`` (mid and
    half-width of the band) is negative inside the band and positive outside it; the
    alarm watches ``max_i o_i``. Minutes with fewer than ``min_requests`` requests are
    not judged (value 0: not breaching). Arrays hold only query ids, as CloudWatch's
    array syntax documents, and 5 target groups need 7 expressions (limit 10).
    """
    bounds = traffic.skew_bounds(weights, max_deviation)
    keys = list(weights)
    queries = [metric_query(f"m{i}", "RequestCount", {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffixes[k]},
                            period) for i, k in enumerate(keys)]
    queries.append({"id": "total", "label": "requests", "return_data": False,
                    "expression": " + ".join(f"FILL(m{i}, 0)" for i in range(len(keys)))})
    for i, k in enumerate(keys):
        lo, hi = bounds[k]
        queries.append({"id": f"o{i}", "label": f"{k}: share outside {lo:.0%}..{hi:.0%}", "return_data": False,
                        "expression": f"ABS(IF(total > 0, FILL(m{i}, 0) / total, 0) - {_num((lo + hi) / 2)}) - "
                                      f"{_num((hi - lo) / 2)}"})
    ids = ", ".join(f"o{i}" for i in range(len(keys)))
    queries.append({"id": "skew", "label": "share outside its band", "return_data": True,
                    "expression": f"IF(total >= {min_requests}, MAX([{ids}]), 0)"})
    return queries


def target_5xx_rate_queries(dims: Mapping[str, str], period: int) -> list[dict]:
    return [metric_query("errors", "HTTPCode_Target_5XX_Count", dims, period),
            metric_query("requests", "RequestCount", dims, period),
            {"id": "rate", "label": "target 5XX %", "return_data": True,
             "expression": "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"}]


def load_imbalance_queries(tg_suffixes: Mapping[str, str], lb_suffix: str, period: int) -> list[dict]:
    """Busiest pool's RequestCountPerTarget over the mean across pools (1 = even)."""
    keys = list(tg_suffixes)
    queries = [metric_query(f"r{i}", "RequestCountPerTarget", {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffixes[k]},
                            period) for i, k in enumerate(keys)]
    queries += [{"id": f"f{i}", "label": f"{k} requests per target", "return_data": False,
                 "expression": f"FILL(r{i}, 0)"} for i, k in enumerate(keys)]
    ids = ", ".join(f"f{i}" for i in range(len(keys)))
    queries.append({"id": "imbalance", "label": "busiest / mean requests per target", "return_data": True,
                    "expression": f"IF(AVG([{ids}]) > 0, MAX([{ids}]) / AVG([{ids}]), 0)"})
    return queries


def skew_forwards(settings: WebTierSettings) -> dict[str, dict[str, int]]:
    """Forwards that get a share-skew alarm, by where they are ("https/default", "https/api")."""
    listener = "http" if settings.listeners.insecure_http_only else "https"
    out = {}
    for route, fwd in settings.routing.forwards().items():
        if sum(1 for w in fwd.weights.values() if w > 0) < 2:
            continue
        out[f"{listener}/{'default' if route == 'default' else route.split(':', 1)[1]}"] = dict(fwd.weights)
    return out


def receiving_pools(settings: WebTierSettings) -> list[str]:
    """Pools with a positive weight in some forward, in pool order."""
    live = {k for fwd in settings.routing.forwards().values() for k, w in fwd.weights.items() if w > 0}
    return [k for k in settings.pools if k in live]


def polluted_skew_alarms(settings: WebTierSettings) -> dict[str, list[str]]:
    """Share-skew alarm -> the other forwards whose requests land in its target groups in
    other proportions. ALB counts requests per target group, not per rule, so their
    traffic moves the observed shares (a funnel rule is seen that way, on purpose)."""
    forwards = {("default" if r == "default" else r.split(":", 1)[1]): f.weights
                for r, f in settings.routing.forwards().items()}
    out: dict[str, list[str]] = {}
    for where, weights in skew_forwards(settings).items():
        mine = traffic.shares(weights)
        for other, other_weights in forwards.items():
            if other == where.split("/", 1)[1]:
                continue
            common = {k: other_weights.get(k, 0) for k in weights}
            if sum(common.values()) <= 0:
                continue
            theirs = traffic.shares(common)
            if any(abs(theirs[k] - mine[k]) > 1e-9 for k in weights):
                out.setdefault(where, []).append(other)
    return out


class Alarms(pulumi.ComponentResource):
    """The stack's alarm topic (+ subscriptions) and its per-pool, per-forward and per-LB alarms.

    ``alarm_names`` maps each kind (:data:`ALARM_KINDS`) to the alarm names created;
    ``alarm_arns`` lists every alarm's ARN (the dashboard's alarm widget shows them).
    """

    def __init__(self, name: str, *, settings: WebTierSettings, lb_suffix: pulumi.Input[str],
                 tg_suffixes: Mapping[str, pulumi.Input[str]], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:alarms:Alarms", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        s, o = settings, settings.observability
        self._settings, self._prefix = s, f"{s.project}-{s.stack}"
        self.topic = aws.sns.Topic(f"{name}-topic", name=f"{self._prefix}-alarms",
                                   tags={"project": s.project, "stack": s.stack, **s.tags}, opts=self._child)
        for i, sub in enumerate(o.alarm_subscriptions):
            aws.sns.TopicSubscription(f"{name}-sub-{i}", topic=self.topic.arn, protocol=sub.protocol,
                                      endpoint=sub.endpoint, opts=self._child)
        self.alarm_names: dict[str, list[str]] = {kind: [] for kind in ALARM_KINDS}
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        self._pool_alarms(lb_suffix, tg_suffixes)
        self._skew_alarms(lb_suffix, tg_suffixes)
        self._load_balancer_alarms(lb_suffix, tg_suffixes)
        self.alarm_arns = pulumi.Output.all(*[a.arn for a in self.alarms])
        self.register_outputs({"topicArn": self.topic.arn, "alarmNames": self.alarm_names})

    def _alarm(self, kind: str, suffix: str, description: str, **kw) -> None:
        o = self._settings.observability
        alarm_name = f"{self._prefix}-{suffix}"
        self.alarm_names[kind].append(alarm_name)
        if "metric_queries" not in kw:  # metric math carries the period on each query
            kw["period"] = o.alarm_period_seconds
        self.alarms.append(aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}", name=alarm_name, alarm_description=description,
            evaluation_periods=o.alarm_evaluation_periods, datapoints_to_alarm=o.alarm_datapoints,
            treat_missing_data="notBreaching", actions_enabled=True,
            alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn], opts=self._child, **kw))

    def _pool_alarms(self, lb_suffix: pulumi.Input[str], tg_suffixes: Mapping[str, pulumi.Input[str]]) -> None:
        """Per pool: unhealthy hosts, healthy below its minimum, target 5XX rate, p99 latency."""
        o, period = self._settings.observability, self._settings.observability.alarm_period_seconds
        for key, pool in self._settings.pools.items():
            dims = {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffixes[key]}
            self._alarm("unhealthyHosts", f"{key}-unhealthy-hosts",
                        f"Pool {key}: at least one target is failing its health checks.",
                        namespace=NAMESPACE, metric_name="UnHealthyHostCount", statistic="Maximum", dimensions=dims,
                        comparison_operator="GreaterThanThreshold", threshold=0)
            if pool.min_size > 0:
                self._alarm("healthyBelowMin", f"{key}-healthy-below-min",
                            f"Pool {key}: fewer healthy targets than its minimum size ({pool.min_size}).",
                            namespace=NAMESPACE, metric_name="HealthyHostCount", statistic="Minimum",
                            dimensions=dims, comparison_operator="LessThanThreshold", threshold=pool.min_size)
            self._alarm("target5xxRate", f"{key}-target-5xx-rate",
                        f"Pool {key}: more than {o.target_5xx_rate_percent:g}% of its responses are 5XX.",
                        comparison_operator="GreaterThanThreshold", threshold=o.target_5xx_rate_percent,
                        metric_queries=pulumi.Output.all(**dims).apply(lambda d: target_5xx_rate_queries(d, period)))
            self._alarm("latencyP99", f"{key}-latency-p99",
                        f"Pool {key}: p99 target response time above {o.p99_latency_seconds:g} s.",
                        namespace=NAMESPACE, metric_name="TargetResponseTime", extended_statistic="p99",
                        dimensions=dims, comparison_operator="GreaterThanThreshold", threshold=o.p99_latency_seconds)

    def _skew_alarms(self, lb_suffix: pulumi.Input[str], tg_suffixes: Mapping[str, pulumi.Input[str]]) -> None:
        """Per forward with 2+ pools: a pool's share of requests outside its band."""
        s, o, prefix = self._settings, self._settings.observability, self._prefix
        period = o.alarm_period_seconds
        polluted = polluted_skew_alarms(s)
        for where, weights in skew_forwards(s).items():
            listener, route = where.split("/", 1)
            bands = traffic.skew_bounds(weights, o.share_skew_max_deviation)
            queries = pulumi.Output.all(lb=lb_suffix, tgs=pulumi.Output.all(**{k: tg_suffixes[k] for k in weights})) \
                .apply(lambda v, w=weights: share_skew_queries(v["tgs"], v["lb"], w, o.share_skew_max_deviation,
                                                               o.share_skew_min_requests, period))
            band_text = ", ".join(f"{k} {lo:.0%}..{hi:.0%}" for k, (lo, hi) in bands.items())
            self._alarm("shareSkew", f"share-skew-{listener}-{route}",
                        f"{listener} {route}: a pool's share of requests left its band ({band_text}; weights "
                        f"{', '.join(f'{k}={w}' for k, w in weights.items())}).",
                        comparison_operator="GreaterThanThreshold", threshold=0, metric_queries=queries)
            blind = [k for k in traffic.blind_funnels(weights, o.share_skew_max_deviation) if weights[k] > 0]
            if blind:
                pulumi.log.warn(f"share-skew alarm {prefix}-share-skew-{listener}-{route} cannot see all traffic "
                                f"going to {', '.join(blind)} (inside its band at shareSkewMaxDeviation "
                                f"{o.share_skew_max_deviation:g}); the load-imbalance alarm still can", self)
            if where in polluted:
                pulumi.log.warn(f"share-skew alarm {prefix}-share-skew-{listener}-{route}: forwards "
                                f"{', '.join(polluted[where])} also send requests to its target groups in other "
                                f"proportions; their traffic moves the observed shares", self)

    def _load_balancer_alarms(self, lb_suffix: pulumi.Input[str],
                              tg_suffixes: Mapping[str, pulumi.Input[str]]) -> None:
        """Per load balancer: per-target load imbalance across pools, and its own 5XX."""
        o = self._settings.observability
        period = o.alarm_period_seconds
        live = receiving_pools(self._settings)
        if len(live) > MAX_ALARM_EXPRESSIONS - 1:
            pulumi.log.warn(f"no load-imbalance alarm: {len(live)} pools receive traffic, a CloudWatch alarm reads "
                            f"at most {MAX_ALARM_EXPRESSIONS - 1} here", self)
        elif len(live) >= 2:
            self._alarm("loadImbalance", "load-imbalance",
                        f"The busiest pool's requests per target exceed {o.imbalance_ratio:g}x the mean over "
                        f"{', '.join(live)}.",
                        comparison_operator="GreaterThanThreshold", threshold=o.imbalance_ratio,
                        metric_queries=pulumi.Output.all(lb=lb_suffix,
                                                         tgs=pulumi.Output.all(**{k: tg_suffixes[k] for k in live}))
                        .apply(lambda v: load_imbalance_queries(v["tgs"], v["lb"], period)))
        self._alarm("elb5xx", "elb-5xx",
                    f"The load balancer itself returned more than {o.elb_5xx_count} 5XX responses in {period} s.",
                    namespace=NAMESPACE, metric_name="HTTPCode_ELB_5XX_Count", statistic="Sum",
                    dimensions={"LoadBalancer": lb_suffix}, comparison_operator="GreaterThanThreshold",
                    threshold=o.elb_5xx_count)
