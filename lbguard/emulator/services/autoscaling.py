"""Auto Scaling: groups, scaling policies, target-group attachments."""

from __future__ import annotations

from typing import Any

import secrets


from lbguard.emulator.core import (_auto_name, _bool, _drop_none,
                                   _int, handles)


@handles("aws:autoscaling/group:Group")
def _asg(em, args, i):
    asc = em.client("autoscaling")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name)
    lt = i.get("launchTemplate") or {}
    tags = [_drop_none({"Key": t["key"], "Value": t["value"], "PropagateAtLaunch": _bool(t.get("propagateAtLaunch")),
                        "ResourceId": name, "ResourceType": "auto-scaling-group"}) for t in i.get("tags") or []]
    kw = _drop_none({
        "AutoScalingGroupName": name, "MinSize": _int(i.get("minSize")), "MaxSize": _int(i.get("maxSize")),
        "DesiredCapacity": _int(i.get("desiredCapacity")),
        "LaunchTemplate": _drop_none({"LaunchTemplateId": lt.get("id"), "LaunchTemplateName": lt.get("name"),
                                      "Version": str(lt["version"]) if lt.get("version") is not None else None}) or None,
        "VPCZoneIdentifier": ",".join(i["vpcZoneIdentifiers"]) if i.get("vpcZoneIdentifiers") else None,
        "AvailabilityZones": i.get("availabilityZones"), "TargetGroupARNs": i.get("targetGroupArns"),
        "HealthCheckType": i.get("healthCheckType"), "HealthCheckGracePeriod": _int(i.get("healthCheckGracePeriod")),
        "DefaultInstanceWarmup": _int(i.get("defaultInstanceWarmup")), "Tags": tags})
    asc.create_auto_scaling_group(**kw)
    held = asc.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return name, {"id": name, "name": name, "arn": held.get("AutoScalingGroupARN"),
                  "minSize": held["MinSize"], "maxSize": held["MaxSize"], "desiredCapacity": held["DesiredCapacity"],
                  "targetGroupArns": held.get("TargetGroupARNs", []),
                  "vpcZoneIdentifiers": [s for s in (held.get("VPCZoneIdentifier") or "").split(",") if s],
                  "availabilityZones": held.get("AvailabilityZones", []),
                  "healthCheckType": held.get("HealthCheckType"),
                  "healthCheckGracePeriod": held.get("HealthCheckGracePeriod")}


@handles("aws:autoscaling/policy:Policy")
def _scaling_policy(em, args, i):
    asc = em.client("autoscaling")
    name = i.get("name") or _auto_name(args.name)
    kw: dict[str, Any] = _drop_none({"AutoScalingGroupName": i["autoscalingGroupName"], "PolicyName": name,
                                     "PolicyType": i.get("policyType", "SimpleScaling"),
                                     "AdjustmentType": i.get("adjustmentType"),
                                     "ScalingAdjustment": _int(i.get("scalingAdjustment")),
                                     "EstimatedInstanceWarmup": _int(i.get("estimatedInstanceWarmup"))})
    tt = i.get("targetTrackingConfiguration")
    if tt:
        cfg: dict[str, Any] = {"TargetValue": float(tt["targetValue"])}
        spec = tt.get("predefinedMetricSpecification")
        if spec:
            cfg["PredefinedMetricSpecification"] = _drop_none({"PredefinedMetricType": spec["predefinedMetricType"],
                                                               "ResourceLabel": spec.get("resourceLabel")})
        if "disableScaleIn" in tt:
            cfg["DisableScaleIn"] = _bool(tt["disableScaleIn"])
        kw["TargetTrackingConfiguration"] = cfg
    asc.put_scaling_policy(**kw)
    held = asc.describe_policies(AutoScalingGroupName=kw["AutoScalingGroupName"], PolicyNames=[name])["ScalingPolicies"]
    arn = held[0]["PolicyARN"]
    return name, {"id": name, "name": name, "arn": arn}


@handles("aws:autoscaling/attachment:Attachment")
def _asg_attachment(em, args, i):
    asc = em.client("autoscaling")
    if i.get("lbTargetGroupArn"):
        asc.attach_load_balancer_target_groups(AutoScalingGroupName=i["autoscalingGroupName"],
                                               TargetGroupARNs=[i["lbTargetGroupArn"]])
    return f"{i['autoscalingGroupName']}-{secrets.token_hex(4)}", {}


