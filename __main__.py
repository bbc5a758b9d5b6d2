"""web-tier: load the stack's settings, build the web tier, export what operators need."""

import pulumi

from components.settings import load_settings, load_traffic_profile
from components.web_tier import WebTier

settings = load_settings()
# The traffic profile the shares are computed from (stacks/traffic.<stack>.yaml), exported
# where the policy pack and lbguard read it; absent: shares come from catch-all rules and
# expectedShare only, and a narrow rule's share is "unknown".
traffic_profile = load_traffic_profile(pulumi.get_stack())
tier = WebTier("web", settings)

pulumi.export("dnsName", tier.dns_name)
pulumi.export("loadBalancerArn", tier.load_balancer.arn)
# The ALB's canonical hosted zone: a Route 53 alias record to dnsName needs it.
pulumi.export("zoneId", tier.load_balancer.alb.zone_id)
pulumi.export("securityGroupIds", {"loadBalancer": tier.load_balancer.security_group.id,
                                   "pools": {key: pool.security_group.id for key, pool in tier.pools.items()}})
pulumi.export("listenerArns", {key: listener.arn for key, listener in tier.routing.listeners.items()})
pulumi.export("ruleArns", {key: rule.arn for key, rule in tier.routing.rules.items()})
pulumi.export("targetGroupArns", {key: pool.target_group.arn for key, pool in tier.pools.items()})
pulumi.export("autoScalingGroupNames", {key: pool.asg.name for key, pool in tier.pools.items()})
pulumi.export("logBucket", tier.logs.bucket_name if tier.logs else None)
pulumi.export("alarmTopicArn", tier.alarms.topic.arn)
pulumi.export("dashboardName", tier.dashboard.dashboard_name)
pulumi.export("alarms", tier.alarms.alarm_names)
pulumi.export("rollback", tier.rollback)
if traffic_profile is not None:
    pulumi.export("trafficProfile", traffic_profile)
