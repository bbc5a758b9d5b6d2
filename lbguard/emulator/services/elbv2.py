"""ELBv2: load balancers, target groups, listeners, rules, attachments (and ACM stand-ins)."""

from __future__ import annotations

from typing import Any


from botocore.exceptions import ClientError

from lbguard import shapes
from lbguard.aws_facts import ELB_LOG_ACCOUNTS as ELB_ACCOUNTS, partition
from lbguard.emulator.core import (AwsEmulator, _auto_name, _bool, _drop_none,
                                   _int, _tags_list, handles, invoke)

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


@handles("aws:lb/loadBalancer:LoadBalancer")
def _load_balancer(em, args, i):
    elbv2 = em.client("elbv2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 32)
    kw = _drop_none({"Name": name, "Subnets": i.get("subnets"), "SecurityGroups": i.get("securityGroups"),
                     "Scheme": "internal" if _bool(i.get("internal")) else "internet-facing",
                     "Type": i.get("loadBalancerType", "application"), "IpAddressType": i.get("ipAddressType"),
                     "Tags": _tags_list(i.get("tags"))})
    lb = elbv2.create_load_balancer(**kw)["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    attrs = [{"Key": key, "Value": _attr_str(i[p], kind)} for p, (key, kind) in _LB_ATTRS.items() if p in i]
    for p, prefix in _LOG_ATTRS.items():
        logs = i.get(p)
        if logs:
            attrs += [{"Key": f"{prefix}.enabled", "Value": _attr_str(logs.get("enabled", False), "bool")},
                      {"Key": f"{prefix}.bucket", "Value": logs.get("bucket", "")},
                      {"Key": f"{prefix}.prefix", "Value": logs.get("prefix") or ""}]
    if attrs:
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attrs)
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
    return arn, out


_TG_ATTRS = {
    "deregistrationDelay": ("deregistration_delay.timeout_seconds", "int"),
    "slowStart": ("slow_start.duration_seconds", "int"),
    "loadBalancingAlgorithmType": ("load_balancing.algorithm.type", "str"),
    "loadBalancingAnomalyMitigation": ("load_balancing.algorithm.anomaly_mitigation", "str"),
    "loadBalancingCrossZoneEnabled": ("load_balancing.cross_zone.enabled", "str"),
}


@handles("aws:lb/targetGroup:TargetGroup")
def _target_group(em, args, i):
    elbv2 = em.client("elbv2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 32)
    hc = i.get("healthCheck") or {}
    kw = _drop_none({
        "Name": name, "Protocol": i.get("protocol"), "ProtocolVersion": i.get("protocolVersion"),
        "Port": _int(i.get("port")), "VpcId": i.get("vpcId"), "TargetType": i.get("targetType", "instance"),
        "HealthCheckEnabled": _bool(hc["enabled"]) if "enabled" in hc else None,
        "HealthCheckProtocol": hc.get("protocol"), "HealthCheckPort": hc.get("port"), "HealthCheckPath": hc.get("path"),
        "HealthCheckIntervalSeconds": _int(hc.get("interval")), "HealthCheckTimeoutSeconds": _int(hc.get("timeout")),
        "HealthyThresholdCount": _int(hc.get("healthyThreshold")),
        "UnhealthyThresholdCount": _int(hc.get("unhealthyThreshold")),
        "Matcher": {"HttpCode": hc["matcher"]} if hc.get("matcher") else None,
        "Tags": _tags_list(i.get("tags"))})
    tg = elbv2.create_target_group(**kw)["TargetGroups"][0]
    arn = tg["TargetGroupArn"]
    attrs = [{"Key": key, "Value": _attr_str(i[p], kind)} for p, (key, kind) in _TG_ATTRS.items() if p in i]
    st = i.get("stickiness")
    if st:
        attrs.append({"Key": "stickiness.enabled", "Value": _attr_str(st.get("enabled", True), "bool")})
        if st.get("type"):
            attrs.append({"Key": "stickiness.type", "Value": st["type"]})
        if st.get("cookieDuration") is not None:
            attrs.append({"Key": "stickiness.lb_cookie.duration_seconds", "Value": str(int(st["cookieDuration"]))})
    if attrs:
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=attrs)
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
    return arn, out


_SELF_SIGNED: tuple[bytes, bytes] | None = None


def _self_signed() -> tuple[bytes, bytes]:
    """One self-signed certificate per process (key generation is the slow part)."""
    global _SELF_SIGNED
    if _SELF_SIGNED is None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbguard.emulator.invalid")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
        _SELF_SIGNED = (cert.public_bytes(serialization.Encoding.PEM),
                        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
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


@handles("aws:lb/listener:Listener")
def _listener(em, args, i):
    elbv2 = em.client("elbv2")
    kw = _drop_none({
        "LoadBalancerArn": i["loadBalancerArn"], "Port": _int(i.get("port")), "Protocol": i.get("protocol"),
        "SslPolicy": i.get("sslPolicy"),
        "Certificates": [{"CertificateArn": _acm_certificate(em, i["certificateArn"])}] if i.get("certificateArn") else None,
        "AlpnPolicy": [i["alpnPolicy"]] if i.get("alpnPolicy") else None,
        "DefaultActions": [shapes.action_to_api(a) for a in i.get("defaultActions") or []],
        "Tags": _tags_list(i.get("tags"))})
    lst = elbv2.create_listener(**kw)["Listeners"][0]
    arn = lst["ListenerArn"]
    held = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    certs = held.get("Certificates") or []
    stand_ins = {v: k for k, v in em.certificates.items()}  # report the ARN the program named
    return arn, {"id": arn, "arn": arn, "port": held.get("Port"), "protocol": held.get("Protocol"),
                 "sslPolicy": held.get("SslPolicy"), "loadBalancerArn": held["LoadBalancerArn"],
                 "certificateArn": stand_ins.get(certs[0]["CertificateArn"], certs[0]["CertificateArn"]) if certs else None,
                 "defaultActions": [shapes.action_from_api(a) for a in held["DefaultActions"]]}


@handles("aws:lb/listenerRule:ListenerRule")
def _listener_rule(em, args, i):
    elbv2 = em.client("elbv2")
    kw = _drop_none({
        "ListenerArn": i["listenerArn"], "Priority": _int(i.get("priority")),
        "Conditions": [shapes.condition_to_api(c) for c in i.get("conditions") or []],
        "Actions": [shapes.action_to_api(a) for a in i.get("actions") or []],
        "Tags": _tags_list(i.get("tags"))})
    rule = elbv2.create_rule(**kw)["Rules"][0]
    arn = rule["RuleArn"]
    held = elbv2.describe_rules(RuleArns=[arn])["Rules"][0]
    return arn, {"id": arn, "arn": arn, "listenerArn": i["listenerArn"], "priority": int(held["Priority"]),
                 "conditions": [shapes.condition_from_api(c) for c in held["Conditions"]],
                 "actions": [shapes.action_from_api(a) for a in held["Actions"]]}


@handles("aws:lb/targetGroupAttachment:TargetGroupAttachment")
def _tg_attachment(em, args, i):
    target = _drop_none({"Id": i["targetId"], "Port": _int(i.get("port")), "AvailabilityZone": i.get("availabilityZone")})
    em.client("elbv2").register_targets(TargetGroupArn=i["targetGroupArn"], Targets=[target])
    return f"{i['targetGroupArn']}-{i['targetId']}", {}


