"""Rollback wall time and write calls against a moto server, for 1, 10 and 50 rules.

    .venv/bin/python benchmarks/bench_rollback.py [--rules 1 10 50] [--runs 3]

For each size: a load balancer with an HTTPS-like listener, two target groups with a
healthy target each and N weighted rules; every rule's weights and the default forward
are then skewed, and `lbguard.rollback.rollback` restores the snapshot. A second
rollback must make 0 write calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from lbguard import rollback as rb  # noqa: E402
from lbguard.commands.sandbox import free_port, start_moto_server  # noqa: E402


def fwd(tgs, weights):
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": t, "Weight": w} for t, w in zip(tgs, weights)], "TargetGroupStickinessConfig": {"Enabled": False}}}]


def build(n_rules: int, tag: str) -> dict:
    ec2, elbv2 = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    lb = elbv2.create_load_balancer(Name=f"bench-{tag}", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0]["InstanceId"]
    tgs = []
    for k in "ab":
        arn = elbv2.create_target_group(Name=f"bench-{tag}-{k}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
        tgs.append(arn)
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                     DefaultActions=fwd(tgs, [50, 50]))["Listeners"][0]["ListenerArn"]
    rules = []
    for i in range(n_rules):
        cond = [{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/svc{i}/*"]}}]
        arn = elbv2.create_rule(ListenerArn=listener, Priority=i + 1, Conditions=cond,
                                Actions=fwd(tgs, [50, 50]))["Rules"][0]["RuleArn"]
        rules.append({"key": f"r{i}", "arn": arn, "priority": i + 1, "conditions": cond, "actions": fwd(tgs, [50, 50])})
    return {"schemaVersion": 1, "project": "bench", "stack": tag, "loadBalancer": {"arn": lb, "name": f"bench-{tag}"},
            "targetGroups": {k: {"arn": a, "name": k} for k, a in zip("ab", tgs)},
            "listeners": [{"key": "http", "arn": listener, "port": 80, "protocol": "HTTP",
                           "defaultActions": fwd(tgs, [50, 50]), "rules": rules}]}, tgs


def skew(snapshot: dict, tgs: list[str]) -> None:
    elbv2 = boto3.client("elbv2")
    lst = snapshot["listeners"][0]
    elbv2.modify_listener(ListenerArn=lst["arn"], DefaultActions=fwd(tgs, [100, 0]))
    for r in lst["rules"]:
        elbv2.modify_rule(RuleArn=r["arn"], Actions=fwd(tgs, [100, 0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    server = start_moto_server(port, Path("/tmp") / f"bench-moto-{port}.log")
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    try:
        for n in args.rules:
            snapshot, tgs = build(n, f"r{n}")
            times, calls = [], []
            for _ in range(args.runs):
                skew(snapshot, tgs)
                start = time.perf_counter()
                result = rb.rollback(rb.client(region="us-east-1"), snapshot)
                times.append(time.perf_counter() - start)
                calls.append(len(result.applied))
                assert result.verified
            again = rb.rollback(rb.client(region="us-east-1"), snapshot)
            print(f"{n:3d} rules: rollback median {statistics.median(times):.3f} s (min {min(times):.3f}, n={args.runs}), "
                  f"{calls[0]} write calls; second run {len(again.applied)} write calls")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
