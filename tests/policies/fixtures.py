"""Hand-built stacks as the engine sees them: RecordedResource/ProgramRun objects with
realistic pulumi-aws camelCase inputs and outputs, ARNs resolved (an `up`-like run) or
unknown (a preview of a new stack). No emulator and no components are involved."""

from __future__ import annotations

import copy
import json
import zlib
from typing import Any, Callable

from lbguard.core import snapshot
from lbguard.core.model import ProgramRun, RecordedResource

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ACCOUNT, REGION = "123456789012", "us-east-1"
ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:web-alarms"
STACK_TYPE = "pulumi:pulumi:Stack"


class Stack:
    """A ProgramRun under construction: ``add`` resources, then ``run()``."""

    def __init__(self, stack: str = "prod", project: str = "web-tier"):
        self.project, self.stack = project, stack
        self.root = RecordedResource(urn=f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}",
                                     type=STACK_TYPE, name=f"{project}-{stack}", custom=False)
        self.resources: list[RecordedResource] = [self.root]
        self.by_name: dict[str, RecordedResource] = {}

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def add(self, type_: str, name: str, inputs: dict, computed: dict | None = None,
            deps: dict[str, list[str]] | None = None) -> RecordedResource:
        """``deps``: property -> logical names of the resources it uses."""
        pdeps = {k: [self.by_name[n].urn for n in v] for k, v in (deps or {}).items()}
        r = RecordedResource(urn=self.urn(type_, name), type=type_, name=name, custom=True, parent=self.root.urn,
                             dependencies=sorted({u for v in pdeps.values() for u in v}),
                             property_dependencies=pdeps, inputs=copy.deepcopy(inputs),
                             outputs={**copy.deepcopy(inputs), **(computed or {})},
                             id=(computed or {}).get("id"))
        self.resources.append(r)
        self.by_name[name] = r
        return r

    def run(self, outputs: dict | None = None) -> ProgramRun:
        return ProgramRun(project=self.project, stack=self.stack, resources=self.resources, outputs=outputs or {})


# ------------------------------------------------------------------ building blocks


def tg_arn(name: str) -> str:
    return f"{ELB}:targetgroup/{name}/{zlib.crc32(name.encode()):016x}"


def forward(*pairs: tuple[str, int], stickiness: bool = False) -> dict:
    return {"type": "forward", "order": 1, "forward": {
        "targetGroups": [{"arn": arn, "weight": w} for arn, w in pairs],
        "stickiness": {"enabled": stickiness, "duration": 3600 if stickiness else 1}}}


def health_check(**over) -> dict:
    return {"enabled": True, "path": "/health", "matcher": "200", "protocol": "HTTP", "port": "traffic-port",
            "interval": 10, "timeout": 5, "healthyThreshold": 3, "unhealthyThreshold": 2, **over}


def subnets(s: Stack, zones=("a", "b")) -> list[str]:
    ids = []
    for z in zones:
        sid = f"subnet-0{z * 8}"
        s.add("aws:ec2/subnet:Subnet", f"web-subnet-{z}",
              {"vpcId": "vpc-0123456789abcdef0", "cidrBlock": f"10.0.{ord(z) - 96}.0/24",
               "availabilityZone": f"{REGION}{z}"},
              {"id": sid, "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{sid}"})
        ids.append(sid)
    return ids


def target_group(s: Stack, pool: str, **over) -> str:
    name = f"web-{pool}"
    arn = tg_arn(name)
    s.add("aws:lb/targetGroup:TargetGroup", f"web-pool-{pool}-tg",
          {"name": name, "port": 8080, "protocol": "HTTP", "targetType": "instance", "vpcId": "vpc-0123456789abcdef0",
           "deregistrationDelay": 30, "healthCheck": health_check(), "tags": {"lbguard:pool": pool}, **over},
          {"arn": arn, "arnSuffix": arn.split(":", 5)[5], "id": arn})
    return arn


def asg(s: Stack, pool: str, tg: str, *, min_size: int, rps: float | None, zones=("a", "b"), **over) -> None:
    tags = [{"key": "Name", "value": f"web-{pool}", "propagateAtLaunch": True}]
    if rps is not None:
        tags.append({"key": "lbguard:rps-per-instance", "value": f"{rps:g}", "propagateAtLaunch": False})
    subnet_ids = [s.by_name[f"web-subnet-{z}"].outputs["id"] for z in zones]
    s.add("aws:autoscaling/group:Group", f"web-pool-{pool}-asg",
          {"name": f"web-{pool}", "minSize": min_size, "maxSize": min_size * 3, "desiredCapacity": min_size,
           "vpcZoneIdentifiers": subnet_ids, "targetGroupArns": [tg], "healthCheckType": "ELB",
           "healthCheckGracePeriod": 120, "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "$Latest"},
           "tags": tags, **over},
          {"id": f"web-{pool}", "arn": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:x:autoScalingGroupName/web-{pool}"},
          deps={"targetGroupArns": [f"web-pool-{pool}-tg"], "vpcZoneIdentifiers": [f"web-subnet-{z}" for z in zones],
                "launchTemplate": ["web-pool-lt"]})


def listener_props(r: RecordedResource) -> dict:
    return r.outputs


def refresh_rollback(run: ProgramRun) -> ProgramRun:
    """Rebuild the `rollback` output from the run's listeners and rules (as the components do)."""
    lbs = [r for r in run.resources if r.type.endswith("loadBalancer:LoadBalancer")]
    listeners = []
    for lst in (r for r in run.resources if r.type.endswith("listener:Listener")):
        rules = [r for r in run.resources if r.type.endswith("listenerRule:ListenerRule")
                 and r.outputs.get("listenerArn") == lst.outputs["arn"]]
        listeners.append({"key": lst.name, "arn": lst.outputs["arn"], "port": lst.outputs["port"],
                          "protocol": lst.outputs["protocol"], "defaultActions": lst.outputs["defaultActions"],
                          "rules": [{"key": r.name, "arn": r.outputs["arn"], "priority": r.outputs["priority"],
                                     "conditions": r.outputs["conditions"], "actions": r.outputs["actions"]}
                                    for r in rules]})
    tgs = {r.outputs.get("tags", {}).get("lbguard:pool", r.name): {"arn": r.outputs["arn"], "name": r.outputs["name"]}
           for r in run.resources if r.type.endswith("targetGroup:TargetGroup")}
    run.outputs["rollback"] = snapshot.build_snapshot(
        project=run.project, stack=run.stack,
        load_balancer={"arn": lbs[0].outputs["arn"], "name": lbs[0].outputs["name"]},
        target_groups=tgs, listeners=listeners)
    return run


# ------------------------------------------------------------------ the compliant web tier


def web_tier(stack: str = "prod") -> ProgramRun:
    """An ALB with HTTP->HTTPS redirect, a 50/50 blue/green default forward, an /api/* rule to
    its own pool, four instances per pool over two AZs, alarms, a private TLS-only log bucket.
    Compliant with config/prod.json (every policy mandatory, funnel limit 25%)."""
    s = Stack(stack)
    subnet_ids = subnets(s)
    s.add("aws:ec2/securityGroup:SecurityGroup", "web-lb-sg",
          {"name": "web-lb", "description": "ALB: 80/443 from anywhere", "vpcId": "vpc-0123456789abcdef0"},
          {"id": "sg-0aaaaaaaaaaaaaaaa"})
    s.add("aws:ec2/securityGroup:SecurityGroup", "web-app-sg",
          {"name": "web-app", "description": "instances: from the ALB only", "vpcId": "vpc-0123456789abcdef0"},
          {"id": "sg-0bbbbbbbbbbbbbbbb"})
    for port in (80, 443):
        for family, cidr in (("ipv4", {"cidrIpv4": "0.0.0.0/0"}), ("ipv6", {"cidrIpv6": "::/0"})):
            s.add("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", f"web-lb-in-{port}-{family}",
                  {"securityGroupId": "sg-0aaaaaaaaaaaaaaaa", "ipProtocol": "tcp", "fromPort": port, "toPort": port,
                   **cidr}, {"id": f"sgr-{port}{family}"}, deps={"securityGroupId": ["web-lb-sg"]})
    s.add("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "web-app-from-lb",
          {"securityGroupId": "sg-0bbbbbbbbbbbbbbbb", "ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080,
           "referencedSecurityGroupId": "sg-0aaaaaaaaaaaaaaaa"}, {"id": "sgr-app"},
          deps={"securityGroupId": ["web-app-sg"], "referencedSecurityGroupId": ["web-lb-sg"]})
    # The load balancer sends requests and health checks to the instances' port (a group written
    # with pulumi_aws has no egress until one is declared).
    s.add("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "web-lb-out-app",
          {"securityGroupId": "sg-0aaaaaaaaaaaaaaaa", "ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080,
           "referencedSecurityGroupId": "sg-0bbbbbbbbbbbbbbbb"}, {"id": "sgr-lb-out"},
          deps={"securityGroupId": ["web-lb-sg"], "referencedSecurityGroupId": ["web-app-sg"]})
    bucket = "web-tier-prod-lb-logs"
    s.add("aws:s3/bucket:Bucket", "web-logs-bucket", {"bucket": bucket, "forceDestroy": False},
          {"id": bucket, "arn": f"arn:aws:s3:::{bucket}"})
    s.add("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "web-logs-public-access",
          {"bucket": bucket, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
           "restrictPublicBuckets": True}, {"id": bucket}, deps={"bucket": ["web-logs-bucket"]})
    s.add("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "web-logs-sse",
          {"bucket": bucket, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
          {"id": bucket}, deps={"bucket": ["web-logs-bucket"]})
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "ElbLogDelivery", "Effect": "Allow", "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{ACCOUNT}/*"}]}
    s.add("aws:s3/bucketPolicy:BucketPolicy", "web-logs-policy", {"bucket": bucket, "policy": json.dumps(policy)},
          {"id": bucket}, deps={"bucket": ["web-logs-bucket"]})
    lb_arn = f"{ELB}:loadbalancer/app/web-prod/50dc6c495c0c9188"
    s.add("aws:lb/loadBalancer:LoadBalancer", "web-lb-alb",
          {"name": "web-prod", "loadBalancerType": "application", "internal": False, "subnets": subnet_ids,
           "securityGroups": ["sg-0aaaaaaaaaaaaaaaa"], "dropInvalidHeaderFields": True,
           "enableDeletionProtection": True, "desyncMitigationMode": "defensive", "idleTimeout": 60,
           "accessLogs": {"bucket": bucket, "enabled": True, "prefix": "access"},
           "tags": {"lbguard:peak-rps": "400"}},
          {"arn": lb_arn, "arnSuffix": lb_arn.split("loadbalancer/", 1)[1], "id": lb_arn,
           "dnsName": "web-prod-1234567890.us-east-1.elb.amazonaws.com", "zoneId": "Z35SXDOTRQ7X7K"},
          deps={"subnets": ["web-subnet-a", "web-subnet-b"], "securityGroups": ["web-lb-sg"],
                "accessLogs": ["web-logs-bucket"]})
    s.add("aws:ec2/launchTemplate:LaunchTemplate", "web-pool-lt",
          {"namePrefix": "web-", "imageId": "ami-0123456789abcdef0", "instanceType": "t3.small",
           "vpcSecurityGroupIds": ["sg-0bbbbbbbbbbbbbbbb"],
           "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}},
          {"id": "lt-0123456789abcdef0", "latestVersion": 1}, deps={"vpcSecurityGroupIds": ["web-app-sg"]})
    arns = {pool: target_group(s, pool) for pool in ("blue", "green", "api")}
    for pool in ("blue", "green"):
        asg(s, pool, arns[pool], min_size=4, rps=150)
    asg(s, "api", arns["api"], min_size=4, rps=250)
    http_arn = f"{ELB}:listener/app/web-prod/50dc6c495c0c9188/0000000000000080"
    https_arn = f"{ELB}:listener/app/web-prod/50dc6c495c0c9188/0000000000000443"
    s.add("aws:lb/listener:Listener", "web-routing-http",
          {"loadBalancerArn": lb_arn, "port": 80, "protocol": "HTTP",
           "defaultActions": [{"type": "redirect", "order": 1, "redirect": {
               "protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]},
          {"arn": http_arn, "id": http_arn}, deps={"loadBalancerArn": ["web-lb-alb"]})
    s.add("aws:lb/listener:Listener", "web-routing-https",
          {"loadBalancerArn": lb_arn, "port": 443, "protocol": "HTTPS",
           "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
           "certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/8c9e1f5a-0000-4000-8000-000000000000",
           "defaultActions": [forward((arns["blue"], 50), (arns["green"], 50))]},
          {"arn": https_arn, "id": https_arn},
          deps={"loadBalancerArn": ["web-lb-alb"], "defaultActions": ["web-pool-blue-tg", "web-pool-green-tg"]})
    s.add("aws:lb/listenerRule:ListenerRule", "web-routing-rule-api",
          {"listenerArn": https_arn, "priority": 10,
           "conditions": [{"pathPattern": {"values": ["/api/*"]}}],
           "actions": [forward((arns["api"], 1))], "tags": {"lbguard:traffic-fraction": "0.3"}},
          {"arn": f"{https_arn.replace(':listener/', ':listener-rule/')}/00000000000000a1"},
          deps={"listenerArn": ["web-routing-https"], "actions": ["web-pool-api-tg"]})
    for pool in ("blue", "green", "api"):
        suffix = arns[pool].split(":", 5)[5]
        s.add("aws:cloudwatch/metricAlarm:MetricAlarm", f"web-alarms-{pool}-unhealthy-hosts",
              {"comparisonOperator": "GreaterThanOrEqualToThreshold", "evaluationPeriods": 1, "threshold": 1,
               "metricName": "UnHealthyHostCount", "namespace": "AWS/ApplicationELB", "period": 60,
               "statistic": "Maximum", "dimensions": {"TargetGroup": suffix, "LoadBalancer": "app/web-prod/50dc6c495c0c9188"},
               "alarmActions": [TOPIC], "okActions": [TOPIC]},
              {"arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:web-{pool}-unhealthy"},
              deps={"dimensions": [f"web-pool-{pool}-tg", "web-lb-alb"]})
    pools = ("blue", "green")
    s.add("aws:cloudwatch/metricAlarm:MetricAlarm", "web-alarms-https-share-skew",
          {"comparisonOperator": "GreaterThanUpperThreshold", "evaluationPeriods": 2, "threshold": 0.15,
           "alarmActions": [TOPIC], "metricQueries": [
               *({"id": pool, "metric": {"metricName": "RequestCount", "namespace": "AWS/ApplicationELB", "period": 60,
                                         "stat": "Sum", "dimensions": {"TargetGroup": arns[pool].split(":", 5)[5],
                                                                       "LoadBalancer": "app/web-prod/50dc6c495c0c9188"}}}
                 for pool in pools),
               {"id": "skew", "expression": "ABS(blue / (blue + green) - 0.5)", "returnData": True}]},
          {"arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:web-https-skew"},
          deps={"metricQueries": [f"web-pool-{pool}-tg" for pool in pools]})
    return refresh_rollback(s.run({"loadBalancerDns": "web-prod-1234567890.us-east-1.elb.amazonaws.com",
                                   "targetGroupArns": arns}))


# ------------------------------------------------------------------ June 1, as raw pulumi_aws resources


def june_1(*, instances: int = 1, pools: int = 1, unknown: bool = False) -> ProgramRun:
    """A raw program (no lbguard tags, no components): an ALB whose catch-all rule forwards
    100% to ``pools`` evenly weighted target groups, each with ``instances`` registered
    EC2 instances (aws.lb.TargetGroupAttachment). ``unknown``: a preview of a new stack,
    every ARN and id unknown, links only through propertyDependencies."""
    s = Stack("dev")
    subnet_ids = subnets(s)
    lb_arn = f"{ELB}:loadbalancer/app/shop/1111111111111111"
    s.add("aws:lb/loadBalancer:LoadBalancer", "shop-lb",
          {"name": "shop", "loadBalancerType": "application", "subnets": subnet_ids},
          {"arn": lb_arn, "id": lb_arn}, deps={"subnets": ["web-subnet-a", "web-subnet-b"]})
    tgs = []
    for p in range(pools):
        arn = tg_arn(f"shop-{p}")
        s.add("aws:lb/targetGroup:TargetGroup", f"shop-tg-{p}",
              {"name": f"shop-{p}", "port": 80, "protocol": "HTTP", "vpcId": "vpc-0123456789abcdef0",
               "healthCheck": health_check()}, {"arn": arn, "id": arn})
        tgs.append(arn)
        for i in range(instances):
            zone = "ab"[i % 2]
            iid = f"i-0{p}{i:015d}"
            s.add("aws:ec2/instance:Instance", f"shop-server-{p}-{i}",
                  {"ami": "ami-0123456789abcdef0", "instanceType": "t3.small",
                   "subnetId": s.by_name[f"web-subnet-{zone}"].outputs["id"]},
                  {"id": iid, "availabilityZone": f"{REGION}{zone}", "privateIp": f"10.0.{p}.{i + 10}"},
                  deps={"subnetId": [f"web-subnet-{zone}"]})
            s.add("aws:lb/targetGroupAttachment:TargetGroupAttachment", f"shop-attach-{p}-{i}",
                  {"targetGroupArn": arn, "targetId": iid, "port": 80}, {"id": f"{arn}-{iid}"},
                  deps={"targetGroupArn": [f"shop-tg-{p}"], "targetId": [f"shop-server-{p}-{i}"]})
    listener_arn = f"{ELB}:listener/app/shop/1111111111111111/2222222222222222"
    s.add("aws:lb/listener:Listener", "shop-http",
          {"loadBalancerArn": lb_arn, "port": 80, "protocol": "HTTP",
           "defaultActions": [{"type": "fixed-response", "fixedResponse": {"contentType": "text/plain",
                                                                           "statusCode": "404"}}]},
          {"arn": listener_arn, "id": listener_arn}, deps={"loadBalancerArn": ["shop-lb"]})
    action = forward(*[(arn, 1) for arn in tgs]) if pools > 1 else {"type": "forward", "targetGroupArn": tgs[0]}
    s.add("aws:lb/listenerRule:ListenerRule", "shop-catch-all",
          {"listenerArn": listener_arn, "priority": 1, "conditions": [{"pathPattern": {"values": ["/*"]}}],
           "actions": [action]},
          {"arn": f"{ELB}:listener-rule/app/shop/1111111111111111/2222222222222222/3333333333333333"},
          deps={"listenerArn": ["shop-http"], "actions": [f"shop-tg-{p}" for p in range(pools)]})
    run = s.run()
    return preview(run) if unknown else run


def preview(run: ProgramRun) -> ProgramRun:
    """The run as a preview of a brand-new stack: every ARN and id unknown, wherever it appears."""
    run = copy.deepcopy(run)
    computed = set()
    for r in run.resources:
        for key in ("arn", "id", "arnSuffix", "privateIp"):
            if isinstance(r.outputs.get(key), str):
                computed.add(r.outputs[key])
        if r.type == "aws:ec2/instance:Instance":
            r.outputs["availabilityZone"] = UNKNOWN

    def blank(v: Any) -> Any:
        if isinstance(v, str) and v in computed:
            return UNKNOWN
        if isinstance(v, dict):
            return {k: blank(x) for k, x in v.items()}
        if isinstance(v, list):
            return [blank(x) for x in v]
        return v

    for r in run.resources:
        r.inputs, r.outputs = blank(r.inputs), blank(r.outputs)
    run.outputs = blank(run.outputs)
    return run


# ------------------------------------------------------------------ mutations


def by_name(run: ProgramRun, name: str) -> RecordedResource:
    return next(r for r in run.resources if r.name == name)


def mutate(run: ProgramRun, name: str, fn: Callable[[dict], Any]) -> ProgramRun:
    """A copy of ``run`` with ``fn`` applied to resource ``name``'s inputs and outputs."""
    run = copy.deepcopy(run)
    r = by_name(run, name)
    fn(r.inputs)
    fn(r.outputs)
    return run


def setter(path: list, value: Any) -> Callable[[dict], None]:
    def fn(props: dict) -> None:
        node = props
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = copy.deepcopy(value)
    return fn


def alb_tokens(run: ProgramRun) -> ProgramRun:
    """The same program written with the aws.alb module: every aws:lb/ token (and URN) becomes aws:alb/."""
    run = copy.deepcopy(run)
    renamed = {}
    for r in run.resources:
        if r.type.startswith("aws:lb/"):
            new_type = "aws:alb/" + r.type[len("aws:lb/"):]
            renamed[r.urn] = r.urn.replace(f"::{r.type}::", f"::{new_type}::")
            r.type = new_type
    for r in run.resources:
        r.urn = renamed.get(r.urn, r.urn)
        r.dependencies = [renamed.get(u, u) for u in r.dependencies]
        r.property_dependencies = {k: [renamed.get(u, u) for u in v] for k, v in r.property_dependencies.items()}
    return run


def add_resource(run: ProgramRun, type_: str, name: str, inputs: dict, computed: dict | None = None,
                 deps: dict[str, list[str]] | None = None) -> ProgramRun:
    """A copy of ``run`` with one more resource."""
    run = copy.deepcopy(run)
    s = Stack(run.stack, run.project)
    s.resources, s.by_name = run.resources, {r.name: r for r in run.resources}
    s.root = run.resources[0]
    s.add(type_, name, inputs, computed, deps)
    return run
