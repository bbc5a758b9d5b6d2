"""CloudWatch: alarms, dashboards, log groups."""

from __future__ import annotations

import json
from typing import Any



from lbguard.offline.emulator.core import (Prior, _arn, _auto_name, _bool, _drop_none, _int, _tags_list,
                                   deletes, handles, update_tags, updates)

def _metric_queries(queries: list) -> list[dict]:
    out = []
    for q in queries or []:
        m: dict[str, Any] = _drop_none({"Id": q["id"], "Expression": q.get("expression"), "Label": q.get("label"),
                                        "ReturnData": _bool(q["returnData"]) if "returnData" in q else None,
                                        "Period": _int(q.get("period")) if q.get("expression") else None})
        if q.get("metric"):
            mm = q["metric"]
            m["MetricStat"] = _drop_none({
                "Metric": _drop_none({"Namespace": mm.get("namespace"), "MetricName": mm["metricName"],
                                      "Dimensions": [{"Name": k, "Value": v} for k, v in (mm.get("dimensions") or {}).items()]}),
                "Period": _int(mm.get("period")), "Stat": mm.get("stat"), "Unit": mm.get("unit")})
        out.append(m)
    return out


@handles("aws:cloudwatch/metricAlarm:MetricAlarm", put=True)
def _alarm(em, args, i):
    name = i.get("name") or _auto_name(args.name)
    kw = _drop_none({
        "AlarmName": name, "AlarmDescription": i.get("alarmDescription"),
        "ActionsEnabled": _bool(i.get("actionsEnabled", True)),
        "AlarmActions": i.get("alarmActions"), "OKActions": i.get("okActions"),
        "InsufficientDataActions": i.get("insufficientDataActions"),
        "MetricName": i.get("metricName"), "Namespace": i.get("namespace"),
        "Statistic": i.get("statistic"), "ExtendedStatistic": i.get("extendedStatistic"),
        "Dimensions": [{"Name": k, "Value": v} for k, v in (i.get("dimensions") or {}).items()],
        "Period": _int(i.get("period")), "Unit": i.get("unit"),
        "EvaluationPeriods": _int(i.get("evaluationPeriods")), "DatapointsToAlarm": _int(i.get("datapointsToAlarm")),
        "Threshold": float(i["threshold"]) if i.get("threshold") is not None else None,
        "ComparisonOperator": i.get("comparisonOperator"), "TreatMissingData": i.get("treatMissingData"),
        "ThresholdMetricId": i.get("thresholdMetricId"),
        "Metrics": _metric_queries(i.get("metricQueries")), "Tags": _tags_list(i.get("tags"))})
    cw = em.client("cloudwatch")
    cw.put_metric_alarm(**kw)
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    return name, {"id": name, "name": name, "arn": arn}


@handles("aws:cloudwatch/dashboard:Dashboard", put=True)
def _dashboard(em, args, i):
    body = i["dashboardBody"] if isinstance(i["dashboardBody"], str) else json.dumps(i["dashboardBody"])
    cw = em.client("cloudwatch")
    cw.put_dashboard(DashboardName=i["dashboardName"], DashboardBody=body)
    arn = cw.get_dashboard(DashboardName=i["dashboardName"])["DashboardArn"]
    return i["dashboardName"], {"id": i["dashboardName"], "dashboardArn": arn}


@handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(em, args, i):
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 512)
    logs = em.client("logs")
    logs.create_log_group(**_drop_none({"logGroupName": name, "kmsKeyId": i.get("kmsKeyId"), "tags": i.get("tags")}))
    if i.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(i["retentionInDays"]))
    return name, {"id": name, "name": name, "arn": _arn("logs", f"log-group:{name}", em.region)}




@deletes("aws:cloudwatch/metricAlarm:MetricAlarm")
def _delete_alarm(em, old: Prior):
    em.client("cloudwatch").delete_alarms(AlarmNames=[old.id])


@deletes("aws:cloudwatch/dashboard:Dashboard")
def _delete_dashboard(em, old: Prior):
    em.client("cloudwatch").delete_dashboards(DashboardNames=[old.id])


@updates("aws:cloudwatch/logGroup:LogGroup")
def _update_log_group(em, args, i, old: Prior, diffs: set):
    logs = em.client("logs")
    if "retentionInDays" in diffs:
        if i.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=old.id, retentionInDays=int(i["retentionInDays"]))
        else:
            logs.delete_retention_policy(logGroupName=old.id)
    arn = _arn("logs", f"log-group:{old.id}", em.region)
    update_tags(old, i, diffs, untag=lambda keys: logs.untag_resource(resourceArn=arn, tagKeys=keys),
                tag=lambda add: logs.tag_resource(resourceArn=arn, tags=add))
    return {}


@deletes("aws:cloudwatch/logGroup:LogGroup")
def _delete_log_group(em, old: Prior):
    em.client("logs").delete_log_group(logGroupName=old.id)
