"""Policy-pack evaluation through the offline runner: per-resource cost at scale.

    .venv/bin/python benchmarks/bench_policy_pack.py [--sizes 100 1000 5000] [--runs 3]

Synthetic stacks of N resources shaped like the web tier (load balancers with a
listener, two weighted rules, target groups with health checks, Auto Scaling groups,
security-group rules) go through the real pack process over gRPC: Configure, one
Analyze per resource (pipelined on one channel), one AnalyzeStack. Pack start-up is
timed separately. The per-resource cost at 5,000 must stay within 1.5x of that at 100:
the stack policies index resources once (by URN/ARN) and never compare all pairs.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

from google.protobuf import empty_pb2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lbguard.core.model import ProgramRun, RecordedResource  # noqa: E402
from lbguard.offline.policy_runner import PackProcess, analyze, reconcile_config  # noqa: E402

UNIT = 12  # custom resources per load-balancer unit


def unit(i: int) -> list[RecordedResource]:
    p = "urn:pulumi:bench::web-tier::"
    lb_arn = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb{i}/{i:016x}"
    tg = [f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg{i}-{k}/{i:016x}" for k in "ab"]
    lst = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb{i}/{i:016x}/1"
    sg = f"sg-{i:08x}"

    def res(typ, name, props):
        return RecordedResource(urn=f"{p}{typ}::{name}", type=typ, name=name, custom=True, inputs=props, outputs=props)

    fwd = {"type": "forward", "forward": {"targetGroups": [{"arn": tg[0], "weight": 50}, {"arn": tg[1], "weight": 50}]}}
    hc = {"enabled": True, "path": "/health", "matcher": "200", "interval": 10, "timeout": 5,
          "healthyThreshold": 3, "unhealthyThreshold": 3}
    out = [
        res("aws:lb/loadBalancer:LoadBalancer", f"lb{i}", {
            "arn": lb_arn, "loadBalancerType": "application", "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": [sg], "dropInvalidHeaderFields": True, "enableDeletionProtection": True,
            "accessLogs": {"bucket": "logs", "enabled": True}, "tags": {"lbguard:peak-rps": "100"}}),
        res("aws:lb/listener:Listener", f"listener{i}", {
            "arn": lst, "loadBalancerArn": lb_arn, "port": 443, "protocol": "HTTPS",
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "defaultActions": [fwd]}),
    ]
    for k, path in enumerate(["/api/*", "/static/*"]):
        out.append(res("aws:lb/listenerRule:ListenerRule", f"rule{i}-{k}", {
            "arn": f"{lst}/rule{k}", "listenerArn": lst, "priority": 10 + k,
            "conditions": [{"pathPattern": {"values": [path]}}], "actions": [fwd]}))
    for k, arn in enumerate(tg):
        out.append(res("aws:lb/targetGroup:TargetGroup", f"tg{i}-{k}", {
            "arn": arn, "port": 80, "protocol": "HTTP", "healthCheck": hc, "tags": {"lbguard:pool": f"p{k}"}}))
        out.append(res("aws:autoscaling/group:Group", f"asg{i}-{k}", {
            "minSize": 4, "maxSize": 8, "targetGroupArns": [arn], "healthCheckType": "ELB",
            "vpcZoneIdentifiers": ["subnet-a", "subnet-b"],
            "tags": [{"key": "lbguard:rps-per-instance", "value": "100", "propagateAtLaunch": False}]}))
    out.append(res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", f"in{i}", {
        "securityGroupId": sg, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}))
    # Alarms as components/alarms.py makes them, so alarm-coverage has real work to do.
    topic = "arn:aws:sns:us-east-1:123456789012:alarms"
    lb_dim = lb_arn.split(":loadbalancer/")[1]
    for k, arn in enumerate(tg):
        out.append(res("aws:cloudwatch/metricAlarm:MetricAlarm", f"unhealthy{i}-{k}", {
            "metricName": "UnHealthyHostCount", "namespace": "AWS/ApplicationELB", "alarmActions": [topic],
            "dimensions": {"LoadBalancer": lb_dim, "TargetGroup": arn.split(":", 5)[5]}}))
    out.append(res("aws:cloudwatch/metricAlarm:MetricAlarm", f"skew{i}", {
        "alarmActions": [topic], "metricQueries": [
            {"id": f"m{k}", "metric": {"metricName": "RequestCount", "namespace": "AWS/ApplicationELB",
                                       "dimensions": {"LoadBalancer": lb_dim, "TargetGroup": arn.split(":", 5)[5]}}}
            for k, arn in enumerate(tg)] + [{"id": "skew", "expression": "ABS(m0 / (m0 + m1) - 0.5)"}]}))
    return out


def stack(n: int) -> ProgramRun:
    resources = [RecordedResource(urn="urn:pulumi:bench::web-tier::pulumi:pulumi:Stack::web-tier-bench",
                                  type="pulumi:pulumi:Stack", name="web-tier-bench", custom=False)]
    for i in range(n // UNIT):
        resources += unit(i)
    return ProgramRun(project="web-tier", stack="bench", resources=resources, outputs={})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with PackProcess(ROOT / "policies", project="web-tier", stack="bench") as pack:
        info = pack.call("GetAnalyzerInfo", empty_pb2.Empty())
        print(f"pack start-up + GetAnalyzerInfo: {time.perf_counter() - t0:.2f} s")
        config = reconcile_config(info, {"rollback-output-required": "disabled"})
        per_resource = {}
        for n in args.sizes:
            run = stack(n)
            custom = sum(r.custom for r in run.resources)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                violations = analyze(pack, run.resources, run.outputs, config=config)
                times.append(time.perf_counter() - start)
            med = statistics.median(times)
            per_resource[n] = med / custom * 1000
            print(f"{custom:6d} resources: median {med:7.3f} s, {per_resource[n]:.3f} ms/resource, "
                  f"{len(violations)} violations (n={args.runs})")
        counts = collections.Counter((v.policy, v.enforcement_level) for v in violations)
        print("violations at the largest size:", ", ".join(f"{p} ({lvl}) x{c}" for (p, lvl), c in sorted(counts.items())))
    smallest, largest = min(per_resource), max(per_resource)
    print(f"per-resource cost at {largest} vs {smallest}: {per_resource[largest] / per_resource[smallest]:.2f}x")


if __name__ == "__main__":
    main()
