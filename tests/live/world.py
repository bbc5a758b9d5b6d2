"""Load balancers built straight through boto3 in a moto server, with their snapshots
recorded as a deploy and `lbguard promote` would: for the fault tests and
benchmarks/bench_rollback.py.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import boto3

from lbguard.live import reader, state
from lbguard.live.operation import Target, snapshot_from_live

PROJECT = "web-tier"
REGION = "us-east-1"


def fwd(tgs: list[str], weights: list[int]) -> list[dict]:
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": t, "Weight": w} for t, w in zip(tgs, weights)], "TargetGroupStickinessConfig": {"Enabled": False}}}]


def path(p: str) -> list[dict]:
    return [{"Field": "path-pattern", "PathPatternConfig": {"Values": [p]}}]


@dataclass
class World:
    stack: str
    lb: str
    listener: str
    tgs: dict[str, str]  # pool -> arn
    vpc: str
    snapshot: dict
    target: Target

    def elbv2(self, endpoint: str | None = None):
        return reader.client(region=REGION, endpoint_url=endpoint)

    def record(self, endpoint: str | None = None, *, current: dict | None = None, known_good: dict | None = None):
        ssm = boto3.client("ssm", region_name=REGION, endpoint_url=endpoint)
        for name, doc in ((state.ssm_name(PROJECT, self.stack, "current"), current or self.snapshot),
                          (state.ssm_name(PROJECT, self.stack, "known-good"), known_good or self.snapshot)):
            value, tier = state.encode_snapshot(doc)
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier=tier)


def build(stack: str, *, rules: int = 2, instances: int = 2, endpoint: str | None = None) -> World:
    """A load balancer with an HTTP listener (default 50/50 over pools blue and green, each
    with ``instances`` healthy instances) and ``rules`` path rules at priorities 10, 20, ...
    forwarding 50/50; its snapshot, recorded as current and known-good."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=endpoint)
    # The region's default VPC and IP targets: no EC2 instances to launch (moto reports a
    # registered target healthy either way), which keeps a world to a handful of calls.
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][:2]
    vpc = subnets[0]["VpcId"]
    lb = elbv2.create_load_balancer(Name=stack, Subnets=[s["SubnetId"] for s in subnets])["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {}
    for n, pool in enumerate(("blue", "green")):
        arn = elbv2.create_target_group(Name=f"{stack}-{pool}", Protocol="HTTP", Port=80, VpcId=vpc,
                                        TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": f"172.31.{n}.{i + 10}"} for i in range(instances)])
        tgs[pool] = arn
    both = list(tgs.values())
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                     DefaultActions=fwd(both, [50, 50]))["Listeners"][0]["ListenerArn"]
    for i in range(rules):
        elbv2.create_rule(ListenerArn=listener, Priority=10 * (i + 1), Conditions=path(f"/svc{i}/*"),
                          Actions=fwd(both, [50, 50]))
    account = lb.split(":")[4]
    target = Target(PROJECT, stack, REGION, account, lb)
    snapshot = snapshot_from_live(reader.read(reader.client(region=REGION, endpoint_url=endpoint), lb), target)
    snapshot["listeners"][0]["key"] = "http"
    for i, r in enumerate(snapshot["listeners"][0]["rules"]):
        r["key"] = f"svc{i}"
    snapshot["targetGroups"] = {p: {"arn": a, "name": f"{stack}-{p}"} for p, a in tgs.items()}
    world = World(stack, lb, listener, tgs, vpc, snapshot, target)
    world.record(endpoint)
    return world


def june_1(world: World, endpoint: str | None = None) -> str:
    """The June 1 change: blue left with one instance, and a new catch-all rule at priority 1
    sending everything to it. Returns the rule's ARN."""
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=endpoint)
    blue = world.tgs["blue"]
    targets = elbv2.describe_target_health(TargetGroupArn=blue)["TargetHealthDescriptions"]
    if len(targets) > 1:
        elbv2.deregister_targets(TargetGroupArn=blue, Targets=[{"Id": t["Target"]["Id"], "Port": t["Target"]["Port"]}
                                                               for t in targets[1:]])
    return elbv2.create_rule(ListenerArn=world.listener, Priority=1, Conditions=path("/*"),
                             Actions=fwd([blue], [1]))["Rules"][0]["RuleArn"]


def drift_all(world: World, endpoint: str | None = None) -> None:
    """Skew the default and every rule to 100/0, and reverse the rules' priorities."""
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=endpoint)
    both = list(world.tgs.values())
    elbv2.modify_listener(ListenerArn=world.listener, DefaultActions=fwd(both, [100, 0]))
    rules = world.snapshot["listeners"][0]["rules"]
    for r in rules:
        elbv2.modify_rule(RuleArn=r["arn"], Actions=fwd(both, [100, 0]))
    n = len(rules)
    if n > 1:
        elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": r["arn"], "Priority": 40000 + i} for i, r in enumerate(rules)])
        elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": r["arn"], "Priority": 10 * (n - i)}
                                                  for i, r in enumerate(rules)])


def routing_now(world: World, endpoint: str | None = None) -> list:
    """The whole live routing, ARN-independent (lbguard.core.freeze.routing of a fresh read)."""
    from lbguard.core import freeze

    live = reader.read(reader.client(region=REGION, endpoint_url=endpoint), world.lb)
    return freeze.routing(snapshot_from_live(live, world.target))


def freeze_routing(snapshot: dict) -> list:
    from lbguard.core import freeze

    return freeze.routing(snapshot)


def clone(doc: dict) -> dict:
    return json.loads(json.dumps(copy.deepcopy(doc)))
