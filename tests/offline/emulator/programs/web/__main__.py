"""A raw pulumi_aws web tier: network, ALB with weighted forward, two pools, alarms, logs."""

import pulumi
import pulumi_aws as aws

cfg = pulumi.Config()
pools = cfg.require_object("pools")
weights = {"blue": cfg.require_int("blueWeight"), "green": cfg.require_int("greenWeight")}
tags = {"Owner": cfg.require("owner")}

azs = aws.get_availability_zones_output(state="available")
account = aws.get_caller_identity_output().account_id
elb_account = aws.elb.get_service_account_output()

vpc = aws.ec2.Vpc("vpc", cidr_block="10.20.0.0/16", enable_dns_hostnames=True, tags=tags)
igw = aws.ec2.InternetGateway("igw", vpc_id=vpc.id)
public_rt = aws.ec2.RouteTable("public", vpc_id=vpc.id,
                               routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}])
subnets = []
for n in range(2):
    sn = aws.ec2.Subnet(f"public-{n}", vpc_id=vpc.id, cidr_block=f"10.20.{n}.0/24",
                        availability_zone=azs.names[n], map_public_ip_on_launch=True)
    aws.ec2.RouteTableAssociation(f"public-{n}", route_table_id=public_rt.id, subnet_id=sn.id)
    subnets.append(sn)

alb_sg = aws.ec2.SecurityGroup("alb", vpc_id=vpc.id, description="ALB",
                               ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443,
                                         "cidr_blocks": ["0.0.0.0/0"], "description": "https"}])
app_sg = aws.ec2.SecurityGroup("app", vpc_id=vpc.id, description="app servers")
aws.vpc.SecurityGroupIngressRule("app-from-alb", security_group_id=app_sg.id, ip_protocol="tcp",
                                 from_port=8080, to_port=8081, referenced_security_group_id=alb_sg.id)
aws.vpc.SecurityGroupEgressRule("alb-to-app", security_group_id=alb_sg.id, ip_protocol="tcp",
                                from_port=8080, to_port=8081, referenced_security_group_id=app_sg.id)

logs = aws.s3.Bucket("logs", bucket="emu-web-dev-logs", force_destroy=True)
policy = aws.iam.get_policy_document_output(statements=[{
    "effect": "Allow", "actions": ["s3:PutObject"],
    "principals": [{"type": "AWS", "identifiers": [elb_account.arn]}],
    "resources": [pulumi.Output.concat(logs.arn, "/alb/AWSLogs/", account, "/*")]}])
bucket_policy = aws.s3.BucketPolicy("logs", bucket=logs.id, policy=policy.json)

lb = aws.lb.LoadBalancer(
    "web", name="emu-web-dev", load_balancer_type="application", subnets=[s.id for s in subnets],
    security_groups=[alb_sg.id], drop_invalid_header_fields=True, desync_mitigation_mode="strictest",
    idle_timeout=45, enable_deletion_protection=True, enable_http2=False,
    access_logs={"bucket": logs.bucket, "prefix": "alb", "enabled": True},
    connection_logs={"bucket": logs.bucket, "prefix": "conn"},  # enabled defaults to false, as in the provider
    preserve_host_header=True, xff_header_processing_mode="preserve",
    opts=pulumi.ResourceOptions(depends_on=[bucket_policy]))

health = {
    "blue": {"enabled": True, "path": "/healthz", "port": "traffic-port", "protocol": "HTTP", "interval": 15,
             "timeout": 5, "healthy_threshold": 3, "unhealthy_threshold": 2, "matcher": "200-299"},
    "green": {"enabled": True, "path": "/ready", "port": "8081", "protocol": "HTTP", "interval": 30,
              "timeout": 10, "healthy_threshold": 5, "unhealthy_threshold": 4, "matcher": "200"},
}
tgs = {}
tgs["blue"] = aws.lb.TargetGroup(
    "blue", name="emu-web-dev-blue", port=pools["blue"]["port"], protocol="HTTP", vpc_id=vpc.id,
    target_type="instance", health_check=health["blue"], deregistration_delay=30, slow_start=60,
    load_balancing_algorithm_type="weighted_random", load_balancing_anomaly_mitigation="on")
# The other token family (aws:alb/...) must be emulated the same way.
tgs["green"] = aws.alb.TargetGroup(
    "green", name="emu-web-dev-green", port=pools["green"]["port"], protocol="HTTP", vpc_id=vpc.id,
    health_check=health["green"], deregistration_delay=120,
    stickiness={"enabled": True, "type": "lb_cookie", "cookie_duration": 600})

https = aws.lb.Listener(
    "https", load_balancer_arn=lb.arn, port=443, protocol="HTTPS",
    ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
    certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    default_actions=[{"type": "forward", "forward": {
        "target_groups": [{"arn": tgs[k].arn, "weight": w} for k, w in weights.items()],
        "stickiness": {"enabled": True, "duration": 300}}}])
aws.lb.Listener("http", load_balancer_arn=lb.arn, port=80, protocol="HTTP",
                default_actions=[{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS",
                                                                   "status_code": "HTTP_301"}}])
api_rule = aws.lb.ListenerRule(
    "api", listener_arn=https.arn, priority=10,
    conditions=[{"path_pattern": {"values": ["/api/*"]}}, {"http_request_method": {"values": ["GET", "POST"]}}],
    actions=[{"type": "forward", "target_group_arn": tgs["green"].arn}])

lt = aws.ec2.LaunchTemplate(
    "app", name_prefix="emu-web-app-", image_id="ami-12c6146b", instance_type="t3.small",
    vpc_security_group_ids=[app_sg.id],
    metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
    block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"volume_size": 20, "volume_type": "gp3",
                                                               "encrypted": "true"}}],
    monitoring={"enabled": True},
    tag_specifications=[{"resource_type": "instance", "tags": {"Pool": "app"}}])
groups = {}
for key in ("blue", "green"):
    groups[key] = aws.autoscaling.Group(
        key, name=f"emu-web-dev-{key}", min_size=2, max_size=4, desired_capacity=2,
        vpc_zone_identifiers=[s.id for s in subnets], target_group_arns=[tgs[key].arn],
        health_check_type="ELB", health_check_grace_period=90,
        launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
        instance_refresh={"strategy": "Rolling", "preferences": {"min_healthy_percentage": 90}},
        tags=[{"key": "Pool", "value": key, "propagate_at_launch": True}])
    aws.autoscaling.Policy(
        f"{key}-requests", autoscaling_group_name=groups[key].name, policy_type="TargetTrackingScaling",
        target_tracking_configuration={
            "predefined_metric_specification": {
                "predefined_metric_type": "ALBRequestCountPerTarget",
                "resource_label": pulumi.Output.concat(lb.arn_suffix, "/", tgs[key].arn_suffix)},
            "target_value": 250})

# A third target group outside the listener: an ASG attachment and a single instance.
extra = aws.lb.TargetGroup("extra", name="emu-web-dev-extra", port=9000, protocol="HTTP", vpc_id=vpc.id)
aws.autoscaling.Attachment("blue-extra", autoscaling_group_name=groups["blue"].name, lb_target_group_arn=extra.arn)
canary = aws.ec2.Instance("canary", launch_template={"id": lt.id, "version": "$Latest"}, subnet_id=subnets[0].id)
aws.lb.TargetGroupAttachment("canary", target_group_arn=extra.arn, target_id=canary.id, port=9001)

topic = aws.sns.Topic("alarms", name="emu-web-dev-alarms")
aws.cloudwatch.MetricAlarm(
    "blue-share", name="emu-web-dev-blue-share", comparison_operator="GreaterThanThreshold",
    evaluation_periods=3, datapoints_to_alarm=2, threshold=0.5, treat_missing_data="notBreaching",
    alarm_actions=[topic.arn], ok_actions=[topic.arn],
    metric_queries=[
        {"id": "share", "expression": "blue / (blue + green)", "label": "blue share", "return_data": True},
        {"id": "blue", "metric": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "period": 60,
                                  "stat": "Sum", "dimensions": {"LoadBalancer": lb.arn_suffix,
                                                                "TargetGroup": tgs["blue"].arn_suffix}}},
        {"id": "green", "metric": {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount", "period": 60,
                                   "stat": "Sum", "dimensions": {"LoadBalancer": lb.arn_suffix,
                                                                 "TargetGroup": tgs["green"].arn_suffix}}},
    ])
aws.cloudwatch.MetricAlarm(
    "lb-5xx", name="emu-web-dev-5xx", comparison_operator="GreaterThanOrEqualToThreshold", evaluation_periods=1,
    metric_name="HTTPCode_ELB_5XX_Count", namespace="AWS/ApplicationELB", period=60, statistic="Sum", threshold=10,
    dimensions={"LoadBalancer": lb.arn_suffix}, alarm_actions=[topic.arn])

queue = aws.sqs.Queue("not-emulated", name="emu-web-dev-queue")

pulumi.export("loadBalancerArn", lb.arn)
pulumi.export("dnsName", lb.dns_name)
pulumi.export("targetGroupArns", {k: tg.arn for k, tg in tgs.items()})
pulumi.export("listenerArn", https.arn)
pulumi.export("ruleArn", api_rule.arn)
pulumi.export("groupNames", [g.name for g in groups.values()])
pulumi.export("securityGroups", {"alb": alb_sg.id, "app": app_sg.id})
pulumi.export("subnetIds", [s.id for s in subnets])
pulumi.export("launchTemplateId", lt.id)
pulumi.export("extraTargetGroup", extra.arn)
pulumi.export("canary", canary.id)
pulumi.export("weights", weights)
pulumi.export("dbPassword", cfg.require_secret("dbPassword"))
pulumi.export("accountId", account)
