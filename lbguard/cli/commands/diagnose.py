"""`lbguard diagnose`: live shares per pool and per healthy instance, what is wrong, what to run next."""

from __future__ import annotations

import json
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError

from lbguard.live import diagnose as dg
from lbguard.live import state
from lbguard.cli.commands.common import console, project_dir_option, stack_option, table
from lbguard.cli.commands.ops import Context, announce, aws_errors, context, emit
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import arn_region_account


def _stack_pools(ctx: Context) -> dict:
    """The stack's ``pools`` setting, {} when the project has no file for this stack."""
    from lbguard.core.stackconfig import load_stack_config

    try:
        _, config, _ = load_stack_config(ctx.project_dir, ctx.stack)
        pools = json.loads(config.get(f"{ctx.project}:pools") or "{}")
    except (LbguardError, ValueError):
        return {}
    return pools if isinstance(pools, dict) else {}


def _minimums(ctx: Context, live: dg.LiveRouting, from_settings: bool) -> dict[str, dict]:
    """Each pool's minimum: its Auto Scaling groups' MinSize, else the stack's minSize."""
    found = dg.settings_minimums(_stack_pools(ctx), live.keys) if from_settings else {}
    try:
        found.update(dg.read_minimums(ctx.client("autoscaling"), set(live.target_groups)))
    except (ClientError, BotoCoreError):
        pass  # no Auto Scaling read (permissions, endpoint): the stack's settings are what is known
    return found


def _drill_record(ctx: Context, lb_arn: str) -> str | None:
    path = state.drill_file(ctx.project_dir, ctx.stack)
    record = state.load_state_file(path)
    return str(path) if record and record.get("loadBalancerArn") in (None, lb_arn) else None


@click.command()
@stack_option
@project_dir_option
@click.option("--load-balancer", "lb_name", default=None, help="diagnose this load balancer (name) instead")
@click.option("--max-instance-share", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="a healthy instance above this share of a listener's traffic is a funnel")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@aws_errors
def diagnose(stack: str, cwd: Path | None, lb_name: str | None, max_instance_share: float, json_path: str | None) -> int:
    """Exit 1 when an outage-class finding exists (funnel, forward to a pool with no healthy target);
    the last line says what to run next."""
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
    announce(json_path, f"diagnose: reading load balancer {lb_arn} ({ctx.project}/{stack}, account "
                        f"{arn_region_account(lb_arn)[1]}) at {ctx.describe()}")
    live = dg.read(elbv2, lb_arn)
    live.keys = dg.keys_from_snapshots(current, known_good)
    live.minimums = _minimums(ctx, live, from_settings=not lb_name)
    findings = dg.diagnose(live, max_instance_share=max_instance_share, current=current, known_good=known_good)
    rows = dg.shares_table(live)
    record = _drill_record(ctx, lb_arn)
    step = dg.next_step(findings, stack, drill_record=record)
    emit(json_path, {"loadBalancerArn": lb_arn, "shares": rows, "findings": findings, "drillRecord": record,
                     "next": step})
    if json_path != "-":
        out = console()
        out.print(table(f"traffic shares on {lb_arn.split(':loadbalancer/')[-1]}",
                        ["listener / rule", "pool", "share", "healthy", "per healthy instance"],
                        [[r["forward"], r["pool"], f"{r['share']:.0%}", r["healthy"], f"{r['perInstance']:.0%}"]
                         for r in rows]))
        if findings:
            out.print(table("findings", ["severity", "kind", "where", "message"],
                            [[f["severity"], f["kind"], f["where"], f["message"]] for f in findings]))
        else:
            out.print("no findings")
        out.print(f"next: {step['command']} ({step['reason']})" if step["command"] else f"next: {step['reason']}",
                  markup=False, soft_wrap=True)
    return 1 if dg.is_outage(findings) else 0
