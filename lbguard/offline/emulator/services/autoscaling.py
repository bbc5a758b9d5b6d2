"""Auto Scaling: groups, scaling policies, target-group attachments."""

from __future__ import annotations

import secrets
from typing import Any

from lbguard.offline.emulator.core import Prior, _auto_name, _bool, _drop_none, _int, creates, deletes, updates

# group input -> (UpdateAutoScalingGroup / CreateAutoScalingGroup parameter, converter)
_GROUP_FIELDS = {
    "minSize": ("MinSize", int), "maxSize": ("MaxSize", int), "desiredCapacity": ("DesiredCapacity", int),
    "healthCheckType": ("HealthCheckType", str), "healthCheckGracePeriod": ("HealthCheckGracePeriod", int),
    "defaultInstanceWarmup": ("DefaultInstanceWarmup", int), "defaultCooldown": ("DefaultCooldown", int),
    "capacityRebalance": ("CapacityRebalance", _bool), "maxInstanceLifetime": ("MaxInstanceLifetime", int),
    "protectFromScaleIn": ("NewInstancesProtectedFromScaleIn", _bool),
    "terminationPolicies": ("TerminationPolicies", list),
    "vpcZoneIdentifiers": ("VPCZoneIdentifier", lambda v: ",".join(v)),
    "availabilityZones": ("AvailabilityZones", list),
}


def _launch_template(i) -> dict | None:
    lt = i.get("launchTemplate") or {}
    return _drop_none({"LaunchTemplateId": lt.get("id"), "LaunchTemplateName": lt.get("name"),
                       "Version": str(lt["version"]) if lt.get("version") is not None else None}) or None


def _tags(name: str, tags: list | None) -> list[dict]:
    return [_drop_none({"Key": t["key"], "Value": t["value"], "PropagateAtLaunch": _bool(t.get("propagateAtLaunch")),
                        "ResourceId": name, "ResourceType": "auto-scaling-group"}) for t in tags or []]


def _group_outputs(asc, name: str) -> dict:
    held = asc.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {"id": name, "name": name, "arn": held.get("AutoScalingGroupARN"),
            "minSize": held["MinSize"], "maxSize": held["MaxSize"], "desiredCapacity": held["DesiredCapacity"],
            "targetGroupArns": held.get("TargetGroupARNs", []),
            "vpcZoneIdentifiers": [s for s in (held.get("VPCZoneIdentifier") or "").split(",") if s],
            "availabilityZones": held.get("AvailabilityZones", []),
            "healthCheckType": held.get("HealthCheckType"),
            "healthCheckGracePeriod": held.get("HealthCheckGracePeriod")}


@creates("aws:autoscaling/group:Group")
def _asg(em, args, i):
    asc = em.client("autoscaling")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name)
    kw = _drop_none({"AutoScalingGroupName": name, "LaunchTemplate": _launch_template(i),
                     "TargetGroupARNs": i.get("targetGroupArns"), "Tags": _tags(name, i.get("tags")),
                     **{param: conv(i[k]) for k, (param, conv) in _GROUP_FIELDS.items() if i.get(k) is not None}})
    asc.create_auto_scaling_group(**kw)
    # Read by the provider itself, not sent on create: instance refresh starts on a later
    # launch-template change; the waits poll capacity.
    i.consume("instanceRefresh", "waitForCapacityTimeout", "forceDelete", "waitForElbCapacity", "minElbCapacity")
    return name, _group_outputs(asc, name)


@updates("aws:autoscaling/group:Group")
def _update_asg(em, args, i, old: Prior, diffs: set):
    """The provider's update: one UpdateAutoScalingGroup with only the changed fields (so a
    desired capacity that did not change in the inputs is not sent), target groups attached
    and detached, tags created or deleted."""
    asc, name = em.client("autoscaling"), old.id
    kw: dict[str, Any] = {param: conv(i[k]) for k, (param, conv) in _GROUP_FIELDS.items()
                          if k in diffs and i.get(k) is not None}
    if "launchTemplate" in diffs and _launch_template(i):
        kw["LaunchTemplate"] = _launch_template(i)
    if kw:
        asc.update_auto_scaling_group(AutoScalingGroupName=name, **kw)
    if "launchTemplate" in diffs and i.get("instanceRefresh"):
        _start_instance_refresh(asc, name, i["instanceRefresh"])
    if "targetGroupArns" in diffs:
        before, after = set(old.inputs.get("targetGroupArns") or []), set(i.get("targetGroupArns") or [])
        if after - before:
            asc.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=sorted(after - before))
        if before - after:
            asc.detach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=sorted(before - after))
    if "tags" in diffs:
        new = _tags(name, i.get("tags"))
        keys = {t["Key"] for t in new}
        gone = [t for t in _tags(name, old.inputs.get("tags")) if t["Key"] not in keys]
        if gone:
            asc.delete_tags(Tags=gone)
        if new:
            asc.create_or_update_tags(Tags=new)
    return _group_outputs(asc, name)


def _start_instance_refresh(asc, name: str, refresh) -> None:
    prefs = refresh.get("preferences") or {}
    kw = _drop_none({"Strategy": refresh.get("strategy", "Rolling"), "Preferences": _drop_none({
        "MinHealthyPercentage": _int(prefs.get("minHealthyPercentage")),
        "InstanceWarmup": _int(prefs.get("instanceWarmup")),
        "AutoRollback": _bool(prefs["autoRollback"]) if "autoRollback" in prefs else None})})
    try:
        asc.start_instance_refresh(AutoScalingGroupName=name, **kw)
    except NotImplementedError:  # moto does not implement instance refresh (DESIGN.md)
        pass
    refresh.consume("triggers")


@deletes("aws:autoscaling/group:Group")
def _delete_asg(em, old: Prior):
    em.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=old.id, ForceDelete=True)


@creates("aws:autoscaling/policy:Policy", put=True)
def _scaling_policy(em, args, i):
    """PutScalingPolicy: the same call creates and updates (the provider's update calls it too)."""
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


@deletes("aws:autoscaling/policy:Policy")
def _delete_scaling_policy(em, old: Prior):
    em.client("autoscaling").delete_policy(AutoScalingGroupName=old.inputs["autoscalingGroupName"], PolicyName=old.id)


@creates("aws:autoscaling/attachment:Attachment")
def _asg_attachment(em, args, i):
    asc = em.client("autoscaling")
    if i.get("lbTargetGroupArn"):
        asc.attach_load_balancer_target_groups(AutoScalingGroupName=i["autoscalingGroupName"],
                                               TargetGroupARNs=[i["lbTargetGroupArn"]])
    return f"{i['autoscalingGroupName']}-{secrets.token_hex(4)}", {}


@deletes("aws:autoscaling/attachment:Attachment")
def _delete_asg_attachment(em, old: Prior):
    if old.inputs.get("lbTargetGroupArn"):
        em.client("autoscaling").detach_load_balancer_target_groups(
            AutoScalingGroupName=old.inputs["autoscalingGroupName"], TargetGroupARNs=[old.inputs["lbTargetGroupArn"]])
