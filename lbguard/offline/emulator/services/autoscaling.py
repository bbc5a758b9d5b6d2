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


# Inputs whose change does not go through UpdateAutoScalingGroup (resourceGroupUpdate's
# HasChangesExcept list, in pulumi-aws names).
_NOT_IN_UPDATE = {"enabledMetrics", "loadBalancers", "suspendedProcesses", "tags", "targetGroupArns", "trafficSources",
                  "warmPool"}
# The inputs whose change makes the provider wait for capacity (shouldWaitForCapacity).
_CAPACITY = {"desiredCapacity", "desiredCapacityType", "minSize"}
# ... and start an instance refresh (shouldRefreshInstances) when instance_refresh is set.
_REFRESH = {"launchConfiguration", "launchTemplate", "mixedInstancesPolicy"}


def _trigger_input(trigger: str) -> str:
    """An ``instance_refresh.triggers`` entry (a Terraform attribute name) as the pulumi input it
    names: ``tag`` is ``tags`` in pulumi-aws (resource_overrides.go aws_autoscaling_group)."""
    if trigger == "tag":
        return "tags"
    head, *rest = trigger.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


@updates("aws:autoscaling/group:Group")
def _update_asg(em, args, i, old: Prior, diffs: set):
    """terraform-provider-aws v6, internal/service/autoscaling/group.go, resourceGroupUpdate, in its
    order: one UpdateAutoScalingGroup with NewInstancesProtectedFromScaleIn and only the changed
    fields; tags; target groups detached (the old ones, each batch waited for) before the new ones
    are attached; an instance refresh when the launch template changed or a ``triggers`` input
    did; a wait for capacity only when min size or desired capacity changed; metrics."""
    asc, name = em.client("autoscaling"), old.id
    i.consume("waitForCapacityTimeout", "forceDelete", "forceDeleteWarmPool", "waitForElbCapacity", "minElbCapacity",
              "ignoreFailedScalingActivities")
    if diffs - _NOT_IN_UPDATE:
        kw: dict[str, Any] = {"NewInstancesProtectedFromScaleIn": _bool(i.get("protectFromScaleIn"))}
        kw.update({param: conv(i[k]) for k, (param, conv) in _GROUP_FIELDS.items()
                   if k in diffs and i.get(k) is not None})
        if "healthCheckType" in diffs:  # the provider sends the grace period with the type
            kw["HealthCheckGracePeriod"] = int(i.get("healthCheckGracePeriod", 300))
        if "capacityRebalance" in diffs:
            kw["CapacityRebalance"] = _bool(i.get("capacityRebalance"))
        if "terminationPolicies" in diffs:
            kw["TerminationPolicies"] = list(i.get("terminationPolicies") or ["Default"])
        if "launchTemplate" in diffs and _launch_template(i):
            kw["LaunchTemplate"] = _launch_template(i)
        asc.update_auto_scaling_group(AutoScalingGroupName=name, **kw)
    if "tags" in diffs:
        new = _tags(name, i.get("tags"))
        keys = {t["Key"] for t in new}
        gone = [t for t in _tags(name, old.inputs.get("tags")) if t["Key"] not in keys]
        if gone:
            asc.delete_tags(Tags=gone)
        if new:
            asc.create_or_update_tags(Tags=new)
    if "targetGroupArns" in diffs:
        before, after = set(old.inputs.get("targetGroupArns") or []), set(i.get("targetGroupArns") or [])
        for chunk in _chunks(sorted(before - after), 10):  # the API takes at most 10 per call
            asc.detach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=chunk)
            asc.describe_load_balancer_target_groups(AutoScalingGroupName=name)  # waitLoadBalancerTargetGroupsRemoved
        for chunk in _chunks(sorted(after - before), 10):
            asc.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=chunk)
            asc.describe_load_balancer_target_groups(AutoScalingGroupName=name)  # waitLoadBalancerTargetGroupsAdded
    refresh = i.get("instanceRefresh")
    if refresh:
        triggers = {_trigger_input(t) for t in refresh.get("triggers") or [] if t}
        if diffs & _REFRESH or diffs & triggers:
            _start_instance_refresh(asc, name, refresh)
        i.consume("instanceRefresh")
    if diffs & _CAPACITY and str(i.get("waitForCapacityTimeout", "")) not in ("0", "0s", "0m"):
        _wait_for_capacity(em, name, i)
    if "enabledMetrics" in diffs:
        before, after = set(old.inputs.get("enabledMetrics") or []), set(i.get("enabledMetrics") or [])
        if before - after:
            asc.disable_metrics_collection(AutoScalingGroupName=name, Metrics=sorted(before - after))
        if after - before:
            asc.enable_metrics_collection(AutoScalingGroupName=name, Metrics=sorted(after - before),
                                          Granularity=i.get("metricsGranularity", "1Minute"))
    return _group_outputs(asc, name)


def _chunks(items: list, size: int) -> list[list]:
    return [items[n:n + size] for n in range(0, len(items), size)]


def _wait_for_capacity(em, name: str, i) -> None:
    """One poll of the provider's capacity wait (statusGroupCapacity, update targets): the
    healthy InService instances must equal max(min size, desired capacity), and each must be
    healthy in every attached target group. moto launches at once and reports every target
    healthy, so one poll decides; a shortfall is reported as the timeout the provider would hit."""
    asc = em.client("autoscaling")
    if not _bool(i.get("ignoreFailedScalingActivities")):
        asc.describe_scaling_activities(AutoScalingGroupName=name)
    group = asc.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    states = {}
    for tg in group.get("TargetGroupARNs", []):
        for t in em.client("elbv2").describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            states.setdefault(t["Target"]["Id"], set()).add(t["TargetHealth"]["State"])
    healthy = [x for x in group.get("Instances", []) if x.get("HealthStatus") == "Healthy"
               and x.get("LifecycleState") == "InService" and states.get(x["InstanceId"], {"healthy"}) == {"healthy"}]
    want = max(int(i.get("minSize") or 0), int(i.get("desiredCapacity") or 0))
    if len(healthy) != want:
        raise RuntimeError(f"waiting for Auto Scaling Group ({name}) capacity satisfied: want exactly {want} healthy "
                           f"instance(s) in Auto Scaling Group, have {len(healthy)}")


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
