"""`lbguard diagnose`: each listener's shares per rule and pool, what is wrong, what to run next."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.live import diagnose as dg
from lbguard.live import state
from lbguard.cli.commands.common import console, project_dir_option, stack_option, table
from lbguard.cli.commands.ops import Context, announce, aws_errors, context, emit, endpoint_option
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import arn_region_account


def _drill_record(ctx: Context, lb_arn: str) -> str | None:
    path = state.drill_file(ctx.project_dir, ctx.stack)
    record = state.load_state_file(path)
    return str(path) if record and record.get("loadBalancerArn") in (None, lb_arn) else None


def _pct(value: float | None, known: bool = True) -> str:
    if value is None:
        return ""
    return f"{value:.0%}" if known else f"<={value:.0%}"


def _rows(rows: list[dict]) -> list[list]:
    out = []
    for r in rows:
        what = f"rule {r['rule']} ({r['priority']})" if r["rule"] else "default action"
        reach = _pct(r["reach"], r["shareKnown"]) + (f" (shadowed by rule {', '.join(r['shadowedBy'])})"
                                                      if r["shadowedBy"] else "")
        pool = f"pool {r['pool']}" if r["pool"] else r["action"]
        out.append([f"listener {r['listener']}", what, reach, pool, r["weight"], _pct(r["share"], r["shareKnown"]),
                    r["healthy"], _pct(r["perInstance"], r["shareKnown"])])
    return out


@click.command()
@stack_option
@project_dir_option
@click.option("--load-balancer", "lb_name", default=None, help="diagnose this load balancer (name) instead")
@click.option("--max-instance-share", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="a healthy instance above this share of a listener's traffic is a funnel")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@endpoint_option
@aws_errors
def diagnose(stack: str, cwd: Path | None, lb_name: str | None, max_instance_share: float, json_path: str | None,
             endpoint_url: str | None) -> int:
    """Exit 1 when an outage-class finding exists (funnel, forward to a pool with no healthy target);
    the last line says what to run next."""
    ctx = context("diagnose", stack, cwd, json_path, endpoint_url)
    elbv2 = ctx.client("elbv2")
    current = known_good = facts = None
    if lb_name:
        lbs = elbv2.describe_load_balancers(Names=[lb_name])["LoadBalancers"]
        lb_arn = lbs[0]["LoadBalancerArn"]
    else:
        current, known_good = ctx.current(), ctx.known_good()
        if current is None:
            raise LbguardError(f"no current snapshot for {ctx.project}/{stack} at {ctx.short()}: deploy the stack (or "
                               f"`lbguard sandbox --stack {stack}`), or pass --load-balancer NAME")
        lb_arn = current["loadBalancer"]["arn"]
        facts = dg.stack_facts(ctx.project_dir, stack)
    announce(json_path, f"diagnose: reading load balancer {lb_arn} (account {arn_region_account(lb_arn)[1]})")
    result = dg.run(elbv2, ctx.client("autoscaling"), lb_arn, stack=stack, facts=facts, current=current,
                    known_good=known_good, max_instance_share=max_instance_share,
                    drill_record=_drill_record(ctx, lb_arn))
    emit(json_path, result.to_json())
    if json_path != "-":
        out = console()
        out.print(table(f"shares of each listener's requests on {lb_arn.split(':loadbalancer/')[-1]}, in ALB order "
                        f"(from {result.basis})",
                        ["listener", "rule / default", "reaches", "goes to", "weight", "share", "healthy",
                         "per healthy instance"], _rows(result.shares)))
        if result.findings:
            out.print(table("findings, most severe first", ["severity", "kind", "where", "message"],
                            [[f["severity"], f["kind"], f["where"], f["message"]] for f in result.findings]))
        else:
            out.print("no findings")
        for note in result.notes:
            out.print(f"note: {note}", markup=False, soft_wrap=True)
        step = result.next
        out.print(f"next: {step['command']} ({step['reason']})" if step["command"] else f"next: {step['reason']}",
                  markup=False, soft_wrap=True)
    return 1 if dg.is_outage(result.findings) else 0
