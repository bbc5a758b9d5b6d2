"""June 1, 2024, replayed: a new catch-all rule forwards 100% of traffic to a target
group with a single instance, while ten healthy instances sit behind the other group.

Raw pulumi_aws resources on purpose: the policy pack must catch this without the
project's components (which would refuse such settings).
"""

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
elb = aws.alb if config.get("module") == "alb" else aws.lb

vpc = aws.ec2.Vpc("vpc", cidr_block="10.50.0.0/16")
subnets = [
    aws.ec2.Subnet(f"public-{i}", vpc_id=vpc.id, cidr_block=f"10.50.{i}.0/24", availability_zone=az)
    for i, az in enumerate(["us-east-1a", "us-east-1b"])
]
sg = aws.ec2.SecurityGroup("alb-sg", vpc_id=vpc.id, description="alb")

alb = elb.LoadBalancer("web", load_balancer_type="application", security_groups=[sg.id],
                       subnets=[s.id for s in subnets], tags={"lbguard:peak-rps": "800"})
health = {"enabled": True, "path": "/health", "matcher": "200", "interval": 15, "timeout": 5,
          "healthy_threshold": 3, "unhealthy_threshold": 3}
web = elb.TargetGroup("web", port=80, protocol="HTTP", vpc_id=vpc.id, health_check=health)
legacy = elb.TargetGroup("legacy", port=80, protocol="HTTP", vpc_id=vpc.id, health_check=health)

# The web pool: ten instances in an Auto Scaling group.
template = aws.ec2.LaunchTemplate("web", image_id="ami-0c7217cdde317cfec", instance_type="t3.small",
                                  metadata_options={"http_tokens": "required", "http_endpoint": "enabled"})
aws.autoscaling.Group("web", min_size=10, max_size=20, desired_capacity=10,
                      vpc_zone_identifiers=[s.id for s in subnets], target_group_arns=[web.arn],
                      health_check_type="ELB", launch_template={"id": template.id, "version": "$Latest"},
                      tags=[{"key": "lbguard:rps-per-instance", "value": "200", "propagate_at_launch": False}])

# The "performance" server: one instance, registered by hand.
server = aws.ec2.Instance("perf-server", ami="ami-0c7217cdde317cfec", instance_type="c5.large",
                          subnet_id=subnets[0].id, metadata_options={"http_tokens": "required"})
elb.TargetGroupAttachment("perf-server", target_group_arn=legacy.arn, target_id=server.id, port=80)

listener = elb.Listener("http", load_balancer_arn=alb.arn, port=80, protocol="HTTP",
                        default_actions=[{"type": "forward", "target_group_arn": web.arn}])

# The change: "a new routing rule intended to improve performance".
rule = elb.ListenerRule("performance", listener_arn=listener.arn, priority=1,
                        conditions=[{"path_pattern": {"values": ["/*"]}}],
                        actions=[{"type": "forward", "forward": {"target_groups": [
                            {"arn": legacy.arn, "weight": 100}, {"arn": web.arn, "weight": 0}]}}])

pulumi.export("loadBalancerArn", alb.arn)
pulumi.export("dnsName", alb.dns_name)
