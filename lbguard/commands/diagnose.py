"""`lbguard diagnose`: live shares per pool and per healthy instance, and what is wrong."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard import diagnose as dg
from lbguard.commands.common import console, project_dir_option, stack_option, table
from lbguard.commands.ops import aws_errors, context, emit
from lbguard.model import LbguardError


@click.command()
@stack_option
@project_dir_option
@click.option("--load-balancer", "lb_name", default=None, help="diagnose this load balancer (name) instead")
@click.option("--max-instance-share", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="a healthy instance above this share of a listener's traffic is a funnel")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@aws_errors
def diagnose(stack: str, cwd: Path | None, lb_name: str | None, max_instance_share: float, json_path: str | None) -> int:
    """Exit 1 when an outage-class finding exists (funnel, forward to a pool with no healthy target)."""
    ctx = context(stack, cwd)
    elbv2 = ctx.client("elbv2")
    current = known_good = None
    if lb_name:
        lbs = elbv2.describe_load_balancers(Names=[lb_name])["LoadBalancers"]
        lb_arn = lbs[0]["LoadBalancerArn"]
    else:
        current, known_good = ctx.current(), ctx.known_good()
        if current is None:
            raise LbguardError(f"no current snapshot for {ctx.project}/{stack}: pass --load-balancer NAME")
        lb_arn = current["loadBalancer"]["arn"]
    live = dg.read(elbv2, lb_arn)
    findings = dg.diagnose(live, max_instance_share=max_instance_share, current=current, known_good=known_good)
    rows = dg.shares_table(live)
    emit(json_path, {"loadBalancerArn": lb_arn, "shares": rows, "findings": findings})
    if json_path != "-":
        out = console()
        out.print(table(f"traffic shares on {lb_arn.split(':loadbalancer/')[-1]}",
                        ["listener / rule", "pool", "share", "healthy", "per healthy instance"],
                        [[r["forward"], r["pool"], f"{r['share']:.0%}", r["healthy"], f"{r['perInstance']:.0%}"]
                         for r in rows]))
        if findings:
            out.print(table("findings", ["severity", "kind", "where", "message"],
                            [[f["severity"], f["kind"], (f["ruleArn"] or f["listenerArn"] or "").rsplit("/", 1)[-1],
                              f["message"]] for f in findings]))
        else:
            out.print("no findings")
    return 1 if dg.is_outage(findings) else 0
