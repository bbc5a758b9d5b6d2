"""Resources created through boto3 in moto: read back what AWS holds, exactly."""

from __future__ import annotations

import json

from lbguard.core import shapes
from lbguard.offline.emulator import EMULATED_TYPES, HANDLERS

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"


def _attrs(items) -> dict:
    return {a["Key"]: a["Value"] for a in items}


# ------------------------------------------------------------------ load balancing


def test_weighted_forward_with_stickiness(web):
    elbv2 = web.client("elbv2")
    tg = web.out["targetGroupArns"]
    listener = elbv2.describe_listeners(ListenerArns=[web.out["listenerArn"]])["Listeners"][0]
    action = listener["DefaultActions"][0]
    assert action["Type"] == "forward"
    assert {t["TargetGroupArn"]: t["Weight"] for t in action["ForwardConfig"]["TargetGroups"]} == \
        {tg["blue"]: 30, tg["green"]: 70}
    assert action["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 300}
    assert listener["Port"] == 443 and listener["Protocol"] == "HTTPS"
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    # The program names a certificate the emulator cannot hold: a self-signed stand-in is imported into ACM.
    held_cert = listener["Certificates"][0]["CertificateArn"]
    assert web.client("acm").describe_certificate(CertificateArn=held_cert)["Certificate"]["Type"] == "IMPORTED"
    assert web.run.certificate_stand_ins == {CERT: held_cert}
    # Outputs come from the read-back, in pulumi-aws shape, with the ARN the program named.
    out = web.resource("https", "Listener").outputs
    assert out["certificateArn"] == CERT
    assert out["defaultActions"] == [shapes.action_from_api(action)]
    assert out["defaultActions"][0]["forward"]["targetGroups"] == [
        {"arn": tg["blue"], "weight": 30}, {"arn": tg["green"], "weight": 70}]


def test_redirect_listener_and_rule(web):
    elbv2 = web.client("elbv2")
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=web.out["loadBalancerArn"])["Listeners"]}
    assert set(listeners) == {80, 443}
    redirect = listeners[80]["DefaultActions"][0]["RedirectConfig"]
    assert (redirect["Port"], redirect["Protocol"], redirect["StatusCode"]) == ("443", "HTTPS", "HTTP_301")
    rule = elbv2.describe_rules(RuleArns=[web.out["ruleArn"]])["Rules"][0]
    assert rule["Priority"] == "10"
    assert shapes.canonical_conditions(rule["Conditions"]) == shapes.canonical_conditions([
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}},
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "POST"]}}])
    assert shapes.forward_weights(rule["Actions"][0]) == {web.out["targetGroupArns"]["green"]: 1}
    out = web.resource("api", "ListenerRule").outputs
    assert out["priority"] == 10 and out["listenerArn"] == web.out["listenerArn"]


def test_load_balancer_attributes_and_outputs(web):
    elbv2 = web.client("elbv2")
    arn = web.out["loadBalancerArn"]
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert lb["LoadBalancerName"] == "emu-web-dev" and lb["Scheme"] == "internet-facing"
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(web.out["subnetIds"])
    assert lb["SecurityGroups"] == [web.out["securityGroups"]["alb"]]
    attrs = _attrs(elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"])
    assert attrs["deletion_protection.enabled"] == "true"
    assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attrs["routing.http.desync_mitigation_mode"] == "strictest"
    assert attrs["idle_timeout.timeout_seconds"] == "45"
    assert attrs["routing.http2.enabled"] == "false"
    assert (attrs["access_logs.s3.enabled"], attrs["access_logs.s3.bucket"], attrs["access_logs.s3.prefix"]) == \
        ("true", "emu-web-dev-logs", "alb")
    out = web.resource("web", "LoadBalancer").outputs
    assert out["arn"] == out["id"] == arn
    assert out["arnSuffix"] == arn.split(":loadbalancer/")[1] and out["arnSuffix"].startswith("app/emu-web-dev/")
    assert out["dnsName"] == lb["DNSName"] == web.out["dnsName"]
    assert out["zoneId"] == lb["CanonicalHostedZoneId"]
    assert out["idleTimeout"] == 45 and out["enableHttp2"] is False and out["desyncMitigationMode"] == "strictest"
    assert out["accessLogs"] == {"bucket": "emu-web-dev-logs", "prefix": "alb", "enabled": True}
    assert (attrs["connection_logs.s3.enabled"], attrs["connection_logs.s3.bucket"]) == ("false", "emu-web-dev-logs")
    assert attrs["routing.http.preserve_host_header.enabled"] == "true"
    assert attrs["routing.http.xff_header_processing.mode"] == "preserve"
    assert out["connectionLogs"]["enabled"] is False and out["preserveHostHeader"] is True


def test_target_group_health_checks_every_field(web):
    elbv2 = web.client("elbv2")
    tgs = {t["TargetGroupName"]: t for t in elbv2.describe_target_groups(
        TargetGroupArns=list(web.out["targetGroupArns"].values()))["TargetGroups"]}
    blue, green = tgs["emu-web-dev-blue"], tgs["emu-web-dev-green"]
    assert (blue["Port"], blue["Protocol"], blue["TargetType"]) == (8080, "HTTP", "instance")
    assert {k: blue[k] for k in ("HealthCheckEnabled", "HealthCheckPath", "HealthCheckPort", "HealthCheckProtocol",
                                 "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
                                 "UnhealthyThresholdCount", "Matcher")} == {
        "HealthCheckEnabled": True, "HealthCheckPath": "/healthz", "HealthCheckPort": "traffic-port",
        "HealthCheckProtocol": "HTTP", "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 3, "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200-299"}}
    assert (green["HealthCheckPath"], green["HealthCheckPort"], green["HealthCheckIntervalSeconds"],
            green["HealthCheckTimeoutSeconds"], green["HealthyThresholdCount"], green["UnhealthyThresholdCount"],
            green["Matcher"]["HttpCode"]) == ("/ready", "8081", 30, 10, 5, 4, "200")
    out = web.resource("green", "TargetGroup").outputs
    assert out["healthCheck"] == {"enabled": True, "path": "/ready", "port": "8081", "protocol": "HTTP",
                                  "interval": 30, "timeout": 10, "healthyThreshold": 5, "unhealthyThreshold": 4,
                                  "matcher": "200"}
    assert out["arnSuffix"] == green["TargetGroupArn"].split(":")[-1]


def test_target_group_attributes(web):
    elbv2 = web.client("elbv2")
    tg = web.out["targetGroupArns"]
    blue = _attrs(elbv2.describe_target_group_attributes(TargetGroupArn=tg["blue"])["Attributes"])
    assert blue["deregistration_delay.timeout_seconds"] == "30"
    assert blue["slow_start.duration_seconds"] == "60"
    assert blue["load_balancing.algorithm.type"] == "weighted_random"
    assert blue["load_balancing.algorithm.anomaly_mitigation"] == "on"
    green = _attrs(elbv2.describe_target_group_attributes(TargetGroupArn=tg["green"])["Attributes"])
    assert green["deregistration_delay.timeout_seconds"] == "120"
    assert (green["stickiness.enabled"], green["stickiness.type"], green["stickiness.lb_cookie.duration_seconds"]) == \
        ("true", "lb_cookie", "600")
    out = web.resource("green", "TargetGroup").outputs
    assert out["stickiness"] == {"enabled": True, "type": "lb_cookie", "cookieDuration": 600}
    assert out["deregistrationDelay"] == 120


def test_both_lb_token_families_are_emulated(web):
    green, blue = web.resource("green", "TargetGroup"), web.resource("blue", "TargetGroup")
    assert green.type == "aws:alb/targetGroup:TargetGroup" and blue.type == "aws:lb/targetGroup:TargetGroup"
    assert green.emulated and blue.emulated
    for kind in ("loadBalancer:LoadBalancer", "listener:Listener", "listenerRule:ListenerRule",
                 "targetGroupAttachment:TargetGroupAttachment"):
        assert f"aws:lb/{kind}" in EMULATED_TYPES and f"aws:alb/{kind}" in EMULATED_TYPES


# ------------------------------------------------------------------ network


def test_security_groups_exact_rules_default_egress_revoked(web):
    ec2 = web.client("ec2")
    sgs = web.out["securityGroups"]
    alb = ec2.describe_security_groups(GroupIds=[sgs["alb"]])["SecurityGroups"][0]
    app = ec2.describe_security_groups(GroupIds=[sgs["app"]])["SecurityGroups"][0]
    assert alb["IpPermissions"] == [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [],
                                     "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
                                     "Ipv6Ranges": [], "PrefixListIds": []}]
    # AWS's default allow-all egress is gone; only the declared rule to the app group remains.
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]], p["IpRanges"])
            for p in alb["IpPermissionsEgress"]] == [("tcp", 8080, 8081, [sgs["app"]], [])]
    assert app["IpPermissionsEgress"] == []
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]])
            for p in app["IpPermissions"]] == [("tcp", 8080, 8081, [sgs["alb"]])]
    rule = web.resource("app-from-alb").outputs
    held = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule["securityGroupRuleId"]])["SecurityGroupRules"]
    assert held[0]["GroupId"] == sgs["app"] and held[0]["IsEgress"] is False
    assert rule["arn"].endswith(f":security-group-rule/{rule['securityGroupRuleId']}")


def test_vpc_subnets_routes(web):
    ec2 = web.client("ec2")
    subnets = ec2.describe_subnets(SubnetIds=web.out["subnetIds"])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.20.0.0/24", "10.20.1.0/24"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2  # from getAvailabilityZones
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    rt = ec2.describe_route_tables(RouteTableIds=[web.resource("public", "RouteTable").id])["RouteTables"][0]
    igw = web.resource("igw").id
    assert {r.get("DestinationCidrBlock"): r.get("GatewayId") for r in rt["Routes"]} == \
        {"10.20.0.0/16": "local", "0.0.0.0/0": igw}
    assert sorted(a["SubnetId"] for a in rt["Associations"]) == sorted(web.out["subnetIds"])
    assert web.resource("public", "RouteTable").outputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": igw}]


# ------------------------------------------------------------------ compute


def test_launch_template_data(web):
    ec2 = web.client("ec2")
    version = ec2.describe_launch_template_versions(LaunchTemplateId=web.out["launchTemplateId"])[
        "LaunchTemplateVersions"][0]
    data = version["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpEndpoint": "enabled", "HttpTokens": "required",
                                       "HttpPutResponseHopLimit": 1}
    assert data["ImageId"] == "ami-12c6146b" and data["InstanceType"] == "t3.small"
    assert data["SecurityGroupIds"] == [web.out["securityGroups"]["app"]]
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "Encrypted": True, "VolumeSize": 20, "VolumeType": "gp3"}}]
    assert data["Monitoring"] == {"Enabled": True}
    assert data["TagSpecifications"] == [{"ResourceType": "instance", "Tags": [{"Key": "Pool", "Value": "app"}]}]
    assert version["LaunchTemplateName"].startswith("emu-web-app-")
    out = web.resource("app", "LaunchTemplate").outputs
    assert (out["latestVersion"], out["defaultVersion"]) == (1, 1)
    assert out["arn"].endswith(f":launch-template/{web.out['launchTemplateId']}")


def test_auto_scaling_groups_and_policies(web):
    asc = web.client("autoscaling")
    groups = {g["AutoScalingGroupName"]: g for g in asc.describe_auto_scaling_groups(
        AutoScalingGroupNames=web.out["groupNames"])["AutoScalingGroups"]}
    tg = web.out["targetGroupArns"]
    for key in ("blue", "green"):
        g = groups[f"emu-web-dev-{key}"]
        # blue also carries the extra group through an aws.autoscaling.Attachment
        assert g["TargetGroupARNs"] == [tg[key]] + ([web.out["extraTargetGroup"]] if key == "blue" else [])
        assert sorted(g["VPCZoneIdentifier"].split(",")) == sorted(web.out["subnetIds"])
        assert (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]) == (2, 4, 2)
        assert (g["HealthCheckType"], g["HealthCheckGracePeriod"]) == ("ELB", 90)
        assert g["LaunchTemplate"]["LaunchTemplateId"] == web.out["launchTemplateId"]
        assert g["LaunchTemplate"]["Version"] == "1"
        assert [(t["Key"], t["Value"], t["PropagateAtLaunch"]) for t in g["Tags"]] == [("Pool", key, True)]
        policy = asc.describe_policies(AutoScalingGroupName=g["AutoScalingGroupName"])["ScalingPolicies"]
        assert len(policy) == 1 and policy[0]["PolicyType"] == "TargetTrackingScaling"
        cfg = policy[0]["TargetTrackingConfiguration"]
        assert cfg["TargetValue"] == 250.0
        lb_suffix = web.out["loadBalancerArn"].split(":loadbalancer/")[1]
        assert cfg["PredefinedMetricSpecification"] == {
            "PredefinedMetricType": "ALBRequestCountPerTarget",
            "ResourceLabel": f"{lb_suffix}/{tg[key].split(':')[-1]}"}
    # instanceRefresh is Pulumi-only (no AWS API holds it): echoed from the inputs.
    assert web.resource("blue", "Group").outputs["instanceRefresh"]["strategy"] == "Rolling"


# ------------------------------------------------------------------ observability


def test_alarm_metric_math(web):
    cw = web.client("cloudwatch")
    alarm = cw.describe_alarms(AlarmNames=["emu-web-dev-blue-share"])["MetricAlarms"][0]
    topic = web.resource("alarms", "Topic").outputs["arn"]
    assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"],
            alarm["TreatMissingData"]) == ("GreaterThanThreshold", 0.5, 3, 2, "notBreaching")
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    assert metrics["share"]["Expression"] == "blue / (blue + green)" and metrics["share"]["ReturnData"] is True
    lb_suffix = web.out["loadBalancerArn"].split(":loadbalancer/")[1]
    stat = metrics["blue"]["MetricStat"]
    assert (stat["Metric"]["MetricName"], stat["Period"], stat["Stat"]) == ("RequestCount", 60, "Sum")
    assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
        "LoadBalancer": lb_suffix, "TargetGroup": web.out["targetGroupArns"]["blue"].split(":")[-1]}
    simple = cw.describe_alarms(AlarmNames=["emu-web-dev-5xx"])["MetricAlarms"][0]
    assert simple["Dimensions"] == [{"Name": "LoadBalancer", "Value": lb_suffix}]
    assert (simple["MetricName"], simple["Statistic"], simple["Period"]) == ("HTTPCode_ELB_5XX_Count", "Sum", 60)


def test_log_bucket_policy_from_invokes(web):
    policy = json.loads(web.client("s3").get_bucket_policy(Bucket="emu-web-dev-logs")["Policy"])
    statement = policy["Statement"][0]
    # getServiceAccount (us-east-1) and getCallerIdentity fed getPolicyDocument.
    assert statement["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == "arn:aws:s3:::emu-web-dev-logs/alb/AWSLogs/123456789012/*"
    assert web.out["accountId"] == "123456789012"


def test_unknown_type_is_echoed_not_emulated(web):
    queue = web.resource("not-emulated")
    assert queue.type == "aws:sqs/queue:Queue" and "aws:sqs/queue:Queue" not in HANDLERS
    assert queue.emulated is False and queue.id and queue.outputs["name"] == "emu-web-dev-queue"
    assert [r.name for r in web.run.not_emulated] == ["not-emulated"]
    assert web.client("sqs").list_queues().get("QueueUrls", []) == []


def test_target_group_attachment_and_instance_from_launch_template(web):
    health = web.client("elbv2").describe_target_health(TargetGroupArn=web.out["extraTargetGroup"])
    targets = {d["Target"]["Id"]: d["Target"]["Port"] for d in health["TargetHealthDescriptions"]}
    assert targets.pop(web.out["canary"]) == 9001
    # The rest are the blue ASG's two instances, registered through the ASG attachment.
    blue = web.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["emu-web-dev-blue"])
    assert targets == {i["InstanceId"]: 9000 for i in blue["AutoScalingGroups"][0]["Instances"]} and len(targets) == 2
    inst = web.client("ec2").describe_instances(InstanceIds=[web.out["canary"]])["Reservations"][0]["Instances"][0]
    assert inst["ImageId"] == "ami-12c6146b" and inst["InstanceType"] == "t3.small"  # from the template
    assert inst["SubnetId"] == web.out["subnetIds"][0]
