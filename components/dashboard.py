"""The stack's CloudWatch dashboard: where a skew, a sick pool or a slow pool shows first."""

from __future__ import annotations

import json
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from .alarms import NAMESPACE, skew_forwards
from .settings import WebTierSettings
from lbguard.core import traffic


def dashboard_body(settings: WebTierSettings, lb: str, tgs: Mapping[str, str], region: str,
                   alarm_arns: Sequence[str] = ()) -> dict:
    """Alarms; observed vs intended share (and alarm band) per forward; healthy hosts, 5XX,
    p99 latency and requests per target per pool. ``lb``/``tgs`` are ARN suffixes."""
    o = settings.observability
    widgets: list[dict] = []

    def widget(title: str, metrics: list, annotations: list | None = None, stat: str = "Sum") -> None:
        props = {"title": title, "region": region, "period": o.alarm_period_seconds, "stat": stat,
                 "view": "timeSeries", "metrics": metrics}
        if annotations:
            props["annotations"] = {"horizontal": annotations}
        widgets.append({"type": "metric", "width": 12, "height": 6, "properties": props})

    if alarm_arns:
        widgets.append({"type": "alarm", "width": 24, "height": 4,
                        "properties": {"title": "alarms", "alarms": list(alarm_arns), "sortBy": "stateUpdatedTimestamp"}})
    for where, weights in skew_forwards(settings).items():
        keys = list(weights)
        metrics = [[NAMESPACE, "RequestCount", "LoadBalancer", lb, "TargetGroup", tgs[k], {"id": f"m{i}", "visible": False}]
                   for i, k in enumerate(keys)]
        total = " + ".join(f"FILL(m{i}, 0)" for i in range(len(keys)))
        metrics += [[{"expression": f"100 * FILL(m{i}, 0) / ({total})", "label": f"{k} observed %", "id": f"s{i}"}]
                    for i, k in enumerate(keys)]
        intended = traffic.shares(weights)
        bands = traffic.skew_bounds(weights, o.share_skew_max_deviation)
        widget(f"{where}: observed vs intended share", metrics,
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


class Dashboard(pulumi.ComponentResource):
    """One dashboard per stack, named ``<project>-<stack>``, over the real LB and target groups."""

    def __init__(self, name: str, *, settings: WebTierSettings, lb_suffix: pulumi.Input[str],
                 tg_suffixes: Mapping[str, pulumi.Input[str]], alarm_arns: pulumi.Input[Sequence[str]],
                 aliases: Sequence[pulumi.Alias] = (), opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:dashboard:Dashboard", name, None, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        body = pulumi.Output.all(lb=lb_suffix, tgs=pulumi.Output.all(**tg_suffixes), region=region,
                                 alarms=alarm_arns).apply(
            lambda v: json.dumps(dashboard_body(settings, v["lb"], v["tgs"], v["region"], v["alarms"])))
        self.dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=f"{settings.project}-{settings.stack}",
                                                  dashboard_body=body,
                                                  opts=pulumi.ResourceOptions(parent=self, aliases=list(aliases)))
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs({"dashboardName": self.dashboard_name})
