"""ELBv2: load balancers, target groups, listeners, rules, attachments (and ACM stand-ins)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lbguard.core import provider_facts, shapes
from lbguard.core.aws_facts import ELB_LOG_ACCOUNTS as ELB_ACCOUNTS, partition
from lbguard.offline.emulator.core import (AwsEmulator, Prior, _auto_name, _bool, _drop_none, _int, _tags_list, creates,
                                   deletes, invoke, update_tags, updates)

@invoke("aws:elb/getServiceAccount:getServiceAccount", "aws:lb/getServiceAccount:getServiceAccount")
def _get_elb_service_account(em: AwsEmulator, a: dict) -> dict:
    r = a.get("region") or em.region
    acct = ELB_ACCOUNTS.get(r)
    if acct is None:
        raise ValueError(f"no ELB service account for region {r}: use the log-delivery service principal")
    return {"id": acct, "arn": f"arn:{partition(r)}:iam::{acct}:root", "region": r}



_LB_ATTRS = {  # pulumi input -> (attribute key, kind)
    "enableDeletionProtection": ("deletion_protection.enabled", "bool"),
    "dropInvalidHeaderFields": ("routing.http.drop_invalid_header_fields.enabled", "bool"),
    "desyncMitigationMode": ("routing.http.desync_mitigation_mode", "str"),
    "idleTimeout": ("idle_timeout.timeout_seconds", "int"),
    "enableHttp2": ("routing.http2.enabled", "bool"),
    "enableCrossZoneLoadBalancing": ("load_balancing.cross_zone.enabled", "bool"),
    "preserveHostHeader": ("routing.http.preserve_host_header.enabled", "bool"),
    "xffHeaderProcessingMode": ("routing.http.xff_header_processing.mode", "str"),
    "enableWafFailOpen": ("waf.fail_open.enabled", "bool"),
    "enableTlsVersionAndCipherSuiteHeaders": ("routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "bool"),
    "enableXffClientPort": ("routing.http.xff_client_port.enabled", "bool"),
    "clientKeepAlive": ("client_keep_alive.seconds", "int"),
}
_LOG_ATTRS = {"accessLogs": "access_logs.s3", "connectionLogs": "connection_logs.s3"}


def _attr_str(value: Any, kind: str) -> str:
    if kind == "bool":
        return "true" if _bool(value) else "false"
    return str(int(value)) if kind == "int" else str(value)


def _attr_value(value: str, kind: str) -> Any:
    return value == "true" if kind == "bool" else int(value) if kind == "int" else value


def _lb_attributes(i) -> list[dict]:
    attrs = [{"Key": key, "Value": _attr_str(i[p], kind)} for p, (key, kind) in _LB_ATTRS.items() if p in i]
    for p, prefix in _LOG_ATTRS.items():
        logs = i.get(p)
        if logs:
            attrs += [{"Key": f"{prefix}.enabled", "Value": _attr_str(logs.get("enabled", False), "bool")},
                      {"Key": f"{prefix}.bucket", "Value": logs.get("bucket", "")},
                      {"Key": f"{prefix}.prefix", "Value": logs.get("prefix") or ""}]
    return attrs


def _lb_outputs(elbv2, arn: str) -> dict:
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    held = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    out = {"id": arn, "arn": arn, "arnSuffix": arn.split(":loadbalancer/", 1)[1], "name": lb["LoadBalancerName"],
           "dnsName": lb["DNSName"], "zoneId": lb.get("CanonicalHostedZoneId"), "vpcId": lb.get("VpcId"),
           "internal": lb["Scheme"] == "internal", "loadBalancerType": lb["Type"],
           "securityGroups": lb.get("SecurityGroups", []),
           "subnets": [z["SubnetId"] for z in lb.get("AvailabilityZones", [])]}
    for p, (key, kind) in _LB_ATTRS.items():
        if key in held:
            out[p] = _attr_value(held[key], kind)
    for p, prefix in _LOG_ATTRS.items():
        if f"{prefix}.bucket" in held:
            out[p] = {"bucket": held[f"{prefix}.bucket"], "prefix": held.get(f"{prefix}.prefix", ""),
                      "enabled": held.get(f"{prefix}.enabled") == "true"}
    return out


@creates("aws:lb/loadBalancer:LoadBalancer")
def _load_balancer(em, args, i):
    elbv2 = em.client("elbv2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 32)
    kw = _drop_none({"Name": name, "Subnets": i.get("subnets"), "SecurityGroups": i.get("securityGroups"),
                     "Scheme": "internal" if _bool(i.get("internal")) else "internet-facing",
                     "Type": i.get("loadBalancerType", "application"), "IpAddressType": i.get("ipAddressType"),
                     "Tags": _tags_list(i.get("tags"))})
    arn = elbv2.create_load_balancer(**kw)["LoadBalancers"][0]["LoadBalancerArn"]
    attrs = _lb_attributes(i)
    if attrs:
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attrs)
    return arn, _lb_outputs(elbv2, arn)


@updates("aws:lb/loadBalancer:LoadBalancer")
def _update_load_balancer(em, args, i, old: Prior, diffs: set):
    """The provider's update: SetSecurityGroups, SetSubnets, SetIpAddressType, attributes, tags."""
    elbv2, arn = em.client("elbv2"), old.id
    if "securityGroups" in diffs:
        elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=list(i.get("securityGroups") or []))
    if "subnets" in diffs:
        elbv2.set_subnets(LoadBalancerArn=arn, Subnets=list(i.get("subnets") or []))
    if "ipAddressType" in diffs and i.get("ipAddressType"):
        elbv2.set_ip_address_type(LoadBalancerArn=arn, IpAddressType=i["ipAddressType"])
    if diffs & (set(_LB_ATTRS) | set(_LOG_ATTRS)):
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=_lb_attributes(i))
    _update_tags(elbv2, arn, old, i, diffs)
    return _lb_outputs(elbv2, arn)


@deletes("aws:lb/loadBalancer:LoadBalancer")
def _delete_load_balancer(em, old: Prior):
    elbv2 = em.client("elbv2")
    held = {a["Key"]: a["Value"] for a in
            elbv2.describe_load_balancer_attributes(LoadBalancerArn=old.id)["Attributes"]}
    if held.get("deletion_protection.enabled") == "true":
        # AWS refuses (moto does not simulate deletion protection): ELBv2 API reference, DeleteLoadBalancer.
        raise ClientError({"Error": {"Code": "OperationNotPermitted", "Message":
                           f"Load balancer '{old.id}' cannot be deleted because deletion protection is enabled"}},
                          "DeleteLoadBalancer")
    elbv2.delete_load_balancer(LoadBalancerArn=old.id)


def _update_tags(elbv2, arn: str, old: Prior, i, diffs: set) -> None:
    update_tags(old, i, diffs, untag=lambda keys: elbv2.remove_tags(ResourceArns=[arn], TagKeys=keys),
                tag=lambda add: elbv2.add_tags(ResourceArns=[arn], Tags=_tags_list(add)))


_TG_ATTRS = {
    "deregistrationDelay": ("deregistration_delay.timeout_seconds", "int"),
    "slowStart": ("slow_start.duration_seconds", "int"),
    "loadBalancingAlgorithmType": ("load_balancing.algorithm.type", "str"),
    "loadBalancingAnomalyMitigation": ("load_balancing.algorithm.anomaly_mitigation", "str"),
    "loadBalancingCrossZoneEnabled": ("load_balancing.cross_zone.enabled", "str"),
}
_HC_FIELDS = {  # healthCheck input -> (ModifyTargetGroup/CreateTargetGroup parameter, converter)
    "enabled": ("HealthCheckEnabled", _bool), "protocol": ("HealthCheckProtocol", str),
    "port": ("HealthCheckPort", str), "path": ("HealthCheckPath", str),
    "interval": ("HealthCheckIntervalSeconds", int), "timeout": ("HealthCheckTimeoutSeconds", int),
    "healthyThreshold": ("HealthyThresholdCount", int), "unhealthyThreshold": ("UnhealthyThresholdCount", int),
    "matcher": ("Matcher", lambda v: {"HttpCode": v}),
}


def _health_check(hc) -> dict:
    return {param: conv(hc[k]) for k, (param, conv) in _HC_FIELDS.items() if hc.get(k) not in (None, "")}


def _tg_attributes(i) -> list[dict]:
    attrs = [{"Key": key, "Value": _attr_str(i[p], kind)} for p, (key, kind) in _TG_ATTRS.items() if p in i]
    st = i.get("stickiness")
    if st:
        attrs.append({"Key": "stickiness.enabled", "Value": _attr_str(st.get("enabled", True), "bool")})
        if st.get("type"):
            attrs.append({"Key": "stickiness.type", "Value": st["type"]})
        if st.get("cookieDuration") is not None:
            attrs.append({"Key": "stickiness.lb_cookie.duration_seconds", "Value": str(int(st["cookieDuration"]))})
    return attrs


def _tg_outputs(elbv2, arn: str) -> dict:
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    held = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    out = {"id": arn, "arn": arn, "arnSuffix": arn.split(":", 5)[5], "name": tg["TargetGroupName"],
           "port": tg.get("Port"), "protocol": tg.get("Protocol"), "vpcId": tg.get("VpcId"),
           "targetType": tg.get("TargetType"),
           "healthCheck": {"enabled": tg.get("HealthCheckEnabled"), "path": tg.get("HealthCheckPath"),
                           "port": tg.get("HealthCheckPort"), "protocol": tg.get("HealthCheckProtocol"),
                           "interval": tg.get("HealthCheckIntervalSeconds"),
                           "timeout": tg.get("HealthCheckTimeoutSeconds"),
                           "healthyThreshold": tg.get("HealthyThresholdCount"),
                           "unhealthyThreshold": tg.get("UnhealthyThresholdCount"),
                           "matcher": (tg.get("Matcher") or {}).get("HttpCode")}}
    for p, (key, kind) in _TG_ATTRS.items():
        if key in held:
            out[p] = _attr_value(held[key], kind)
    if "stickiness.enabled" in held:
        out["stickiness"] = {"enabled": held["stickiness.enabled"] == "true", "type": held.get("stickiness.type"),
                             "cookieDuration": int(held.get("stickiness.lb_cookie.duration_seconds", 86400))}
    return out


@creates("aws:lb/targetGroup:TargetGroup")
def _target_group(em, args, i):
    elbv2 = em.client("elbv2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 32)
    kw = _drop_none({
        "Name": name, "Protocol": i.get("protocol"), "ProtocolVersion": i.get("protocolVersion"),
        "Port": _int(i.get("port")), "VpcId": i.get("vpcId"), "TargetType": i.get("targetType", "instance"),
        **_health_check(i.get("healthCheck") or {}), "Tags": _tags_list(i.get("tags"))})
    arn = elbv2.create_target_group(**kw)["TargetGroups"][0]["TargetGroupArn"]
    attrs = _tg_attributes(i)
    if attrs:
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=attrs)
    return arn, _tg_outputs(elbv2, arn)


TG_TOKEN = "aws:lb/targetGroup:TargetGroup"


def _checked_health_check(i, old: Prior) -> dict:
    """The health-check block as the provider's Update sees it (``d.Get``): the program's value,
    else the schema default (target_group.go: enabled, thresholds, interval, port, protocol),
    else, for the Optional+Computed fields (matcher, path, timeout), the prior state's value."""
    block = {k[len("healthCheck."):]: v for k, v in provider_facts.schema_defaults(TG_TOKEN).items()
             if k.startswith("healthCheck.")}
    prior = (old.outputs.get("healthCheck") or {}) if isinstance(old.outputs.get("healthCheck"), dict) else {}
    for key in ("matcher", "path", "timeout"):
        if prior.get(key) not in (None, ""):
            block[key] = prior[key]
    block.update({k: v for k, v in (i.get("healthCheck") or {}).items() if v is not None})
    return block


def _modify_health_check(i, old: Prior, arn: str) -> dict:
    """terraform-provider-aws v6, internal/service/elbv2/target_group.go, resourceTargetGroupUpdate:
    on any health_check change, one ModifyTargetGroup with the whole block: enabled, interval and
    both thresholds always, timeout when non-zero, matcher (GrpcCode for protocol_version GRPC)
    and path unless the check is TCP, port and protocol unless the targets are Lambda."""
    hc = _checked_health_check(i, old)
    kw: dict[str, Any] = {"TargetGroupArn": arn, "HealthCheckEnabled": _bool(hc["enabled"]),
                          "HealthCheckIntervalSeconds": int(hc["interval"]),
                          "HealthyThresholdCount": int(hc["healthyThreshold"]),
                          "UnhealthyThresholdCount": int(hc["unhealthyThreshold"])}
    if hc.get("timeout"):
        kw["HealthCheckTimeoutSeconds"] = int(hc["timeout"])
    protocol = str(hc["protocol"]).upper()
    if protocol != "TCP":
        if hc.get("matcher") not in (None, ""):
            code = "GrpcCode" if (i.get("protocolVersion") or "").upper() == "GRPC" else "HttpCode"
            kw["Matcher"] = {code: str(hc["matcher"])}
        if hc.get("path") not in (None, ""):
            kw["HealthCheckPath"] = hc["path"]
    if i.get("targetType", "instance") != "lambda":
        kw["HealthCheckPort"], kw["HealthCheckProtocol"] = str(hc["port"]), protocol
    return kw


def _tg_attributes_changed(i, diffs: set) -> list[dict]:
    """resourceTargetGroupUpdate's attributes: stickiness when it changed (its removal sends
    ``stickiness.enabled=false``), and each other attribute only when it changed
    (``targetGroupAttributeMap.expand`` with update=true: an unset one goes back to its schema
    default)."""
    defaults = provider_facts.schema_defaults(TG_TOKEN)
    attrs: list[dict] = []
    if "stickiness" in diffs:
        st = i.get("stickiness")
        if st:
            protocol = str(i.get("protocol") or "").upper()
            attrs += [{"Key": "stickiness.enabled", "Value": _attr_str(st.get("enabled", True), "bool")},
                      {"Key": "stickiness.type", "Value": st.get("type") or ""}]
            duration = str(int(st.get("cookieDuration") or defaults["stickiness.cookieDuration"]))
            if protocol in ("HTTP", "HTTPS") and st.get("type") == "lb_cookie":
                attrs.append({"Key": "stickiness.lb_cookie.duration_seconds", "Value": duration})
            elif protocol in ("HTTP", "HTTPS") and st.get("type") == "app_cookie":
                attrs += [{"Key": "stickiness.app_cookie.cookie_name", "Value": st.get("cookieName") or ""},
                          {"Key": "stickiness.app_cookie.duration_seconds", "Value": duration}]
        else:
            attrs.append({"Key": "stickiness.enabled", "Value": "false"})
    for p, (key, kind) in _TG_ATTRS.items():
        if p not in diffs:
            continue
        value = i.get(p, defaults.get(p))
        if value is not None:
            attrs.append({"Key": key, "Value": _attr_str(value, kind)})
    return attrs


@updates(TG_TOKEN)
def _update_target_group(em, args, i, old: Prior, diffs: set):
    """ModifyTargetGroup with the whole health check, then ModifyTargetGroupAttributes with only
    what changed (resourceTargetGroupUpdate), then tags."""
    elbv2, arn = em.client("elbv2"), old.id
    i.consume("protocolVersion", "targetType")
    if "healthCheck" in diffs:
        elbv2.modify_target_group(**_modify_health_check(i, old, arn))
    attrs = _tg_attributes_changed(i, diffs)
    if attrs:
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=attrs)
    _update_tags(elbv2, arn, old, i, diffs)
    return _tg_outputs(elbv2, arn)


@deletes(TG_TOKEN)
def _delete_target_group(em, old: Prior):
    """DeleteTargetGroup. The provider (resourceTargetGroupDelete) retries ResourceInUse "is
    currently in use by a listener or a rule" for 2 minutes; the emulator applies one step at a
    time, so nothing can release the group while it waits: the error stands, named as such."""
    try:
        em.client("elbv2").delete_target_group(TargetGroupArn=old.id)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceInUse":
            raise
        raise ClientError({"Error": {"Code": "ResourceInUse", "Message": err.response["Error"].get("Message", "")
                                     + " (still in use after the provider's 2-minute retry)"}},
                          "DeleteTargetGroup") from err


_SELF_SIGNED: tuple[bytes, bytes] | None = None


def _self_signed() -> tuple[bytes, bytes]:
    """One self-signed certificate per process. Its key is ECDSA P-256, which ACM imports and
    ALB listeners serve (AWS: "Importing certificates into ACM", key algorithms): generating
    it takes about a millisecond, where an RSA-2048 key took 50-150 ms of every run."""
    global _SELF_SIGNED
    if _SELF_SIGNED is None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbguard.offline.emulator.invalid")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
        _SELF_SIGNED = (cert.public_bytes(serialization.Encoding.PEM),
                        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return _SELF_SIGNED


def _acm_certificate(em: AwsEmulator, arn: str) -> str:
    """An ACM certificate ARN the emulator holds, standing in for ``arn``.

    A stack names a real certificate, which cannot exist in the emulator under that
    ARN. If it is not there, a self-signed certificate is imported through the ACM
    API and used instead; the substitution is recorded in ``em.certificates``.
    """
    if arn in em.certificates:
        return em.certificates[arn]
    acm = em.client("acm")
    try:
        acm.describe_certificate(CertificateArn=arn)
        em.certificates[arn] = arn
    except ClientError:
        cert, key = _self_signed()
        em.certificates[arn] = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    return em.certificates[arn]


def _listener_kwargs(em, i) -> dict:
    return _drop_none({
        "Port": _int(i.get("port")), "Protocol": i.get("protocol"), "SslPolicy": i.get("sslPolicy"),
        "Certificates": [{"CertificateArn": _acm_certificate(em, i["certificateArn"])}] if i.get("certificateArn") else None,
        "AlpnPolicy": [i["alpnPolicy"]] if i.get("alpnPolicy") else None,
        "DefaultActions": [shapes.action_to_api(a) for a in i.get("defaultActions") or []]})


def _listener_outputs(em, arn: str) -> dict:
    held = em.client("elbv2").describe_listeners(ListenerArns=[arn])["Listeners"][0]
    certs = held.get("Certificates") or []
    stand_ins = {v: k for k, v in em.certificates.items()}  # report the ARN the program named
    return {"id": arn, "arn": arn, "port": held.get("Port"), "protocol": held.get("Protocol"),
            "sslPolicy": held.get("SslPolicy"), "loadBalancerArn": held["LoadBalancerArn"],
            "certificateArn": stand_ins.get(certs[0]["CertificateArn"], certs[0]["CertificateArn"]) if certs else None,
            "defaultActions": [shapes.action_from_api(a) for a in held["DefaultActions"]]}


@creates("aws:lb/listener:Listener")
def _listener(em, args, i):
    kw = {"LoadBalancerArn": i["loadBalancerArn"], **_listener_kwargs(em, i)}
    if i.get("tags"):
        kw["Tags"] = _tags_list(i["tags"])
    arn = em.client("elbv2").create_listener(**kw)["Listeners"][0]["ListenerArn"]
    return arn, _listener_outputs(em, arn)


@updates("aws:lb/listener:Listener")
def _update_listener(em, args, i, old: Prior, diffs: set):
    """One ModifyListener with the listener's whole configuration, as the provider sends it."""
    elbv2 = em.client("elbv2")
    if diffs - {"tags"}:
        elbv2.modify_listener(ListenerArn=old.id, **_listener_kwargs(em, i))
    _update_tags(elbv2, old.id, old, i, diffs)
    return _listener_outputs(em, old.id)


@deletes("aws:lb/listener:Listener")
def _delete_listener(em, old: Prior):
    em.client("elbv2").delete_listener(ListenerArn=old.id)


def _rule_outputs(em, arn: str, listener_arn: str) -> dict:
    held = em.client("elbv2").describe_rules(RuleArns=[arn])["Rules"][0]
    return {"id": arn, "arn": arn, "listenerArn": listener_arn, "priority": int(held["Priority"]),
            "conditions": [shapes.condition_from_api(c) for c in held["Conditions"]],
            "actions": [shapes.action_from_api(a) for a in held["Actions"]]}


@creates("aws:lb/listenerRule:ListenerRule")
def _listener_rule(em, args, i):
    kw = _drop_none({
        "ListenerArn": i["listenerArn"], "Priority": _int(i.get("priority")),
        "Conditions": [shapes.condition_to_api(c) for c in i.get("conditions") or []],
        "Actions": [shapes.action_to_api(a) for a in i.get("actions") or []],
        "Tags": _tags_list(i.get("tags"))})
    arn = em.client("elbv2").create_rule(**kw)["Rules"][0]["RuleArn"]
    return arn, _rule_outputs(em, arn, i["listenerArn"])


@updates("aws:lb/listenerRule:ListenerRule")
def _update_listener_rule(em, args, i, old: Prior, diffs: set):
    """The provider's update (resourceListenerRuleUpdate): SetRulePriorities for this one rule
    when the priority changed, then ModifyRule when conditions or actions changed."""
    elbv2 = em.client("elbv2")
    if "priority" in diffs:
        elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": old.id, "Priority": int(i["priority"])}])
    if diffs & {"conditions", "actions"}:
        elbv2.modify_rule(RuleArn=old.id, Conditions=[shapes.condition_to_api(c) for c in i.get("conditions") or []],
                          Actions=[shapes.action_to_api(a) for a in i.get("actions") or []])
    _update_tags(elbv2, old.id, old, i, diffs)
    return _rule_outputs(em, old.id, i["listenerArn"])


@deletes("aws:lb/listenerRule:ListenerRule")
def _delete_listener_rule(em, old: Prior):
    em.client("elbv2").delete_rule(RuleArn=old.id)


@creates("aws:lb/targetGroupAttachment:TargetGroupAttachment")
def _tg_attachment(em, args, i):
    target = _drop_none({"Id": i["targetId"], "Port": _int(i.get("port")), "AvailabilityZone": i.get("availabilityZone")})
    em.client("elbv2").register_targets(TargetGroupArn=i["targetGroupArn"], Targets=[target])
    return f"{i['targetGroupArn']}-{i['targetId']}", {}


@deletes("aws:lb/targetGroupAttachment:TargetGroupAttachment")
def _delete_tg_attachment(em, old: Prior):
    i = old.inputs
    target = _drop_none({"Id": i["targetId"], "Port": _int(i.get("port")), "AvailabilityZone": i.get("availabilityZone")})
    em.client("elbv2").deregister_targets(TargetGroupArn=i["targetGroupArn"], Targets=[target])
