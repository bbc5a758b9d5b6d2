"""`lbguard promote`: record the live routing as known-good, after checking it."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.live import reader, state
from lbguard.live import rollback as rb
from lbguard.cli.commands.common import project_dir_option, stack_option
from lbguard.cli.commands.ops import announce, aws_errors, context, echo, emit, endpoint_option
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import forwarded_target_groups


@click.command()
@stack_option
@project_dir_option
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@endpoint_option
@aws_errors
def promote(stack: str, cwd: Path | None, json_path: str | None, endpoint_url: str | None) -> int:
    """Check the load balancer's whole live routing equals the deployed snapshot (which must
    belong to this stack) and every forwarded pool has a healthy target, then record it as
    known-good (SSM versions keep the history)."""
    ctx = context("promote", stack, cwd, json_path, endpoint_url)
    target = ctx.target()  # the deployed snapshot names this project, stack, region, account
    current = ctx.current()
    elbv2 = ctx.client("elbv2")
    live = reader.read(elbv2, target.load_balancer_arn, current)
    for arn in sorted(forwarded_target_groups(current)):
        reason = rb.unsafe_forward([{"Type": "forward", "TargetGroupArn": arn}], live)
        if reason:
            raise LbguardError(f"not promoting: {reason}")
    diffs = rb.differences(current, live)
    if diffs:
        raise LbguardError(f"live routing differs from the deployed snapshot ({len(diffs)} difference(s), first: "
                           f"{diffs[0]}); not promoting")
    name = state.ssm_name(ctx.project, stack, "known-good")
    announce(json_path, f"promote: writing SSM {name} (account {target.account}) at {ctx.short()}")
    value, tier = state.encode_snapshot(current)
    version = ctx.client("ssm").put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier=tier)["Version"]
    emit(json_path, {"parameter": name, "version": version, "promoted": True, "target": target.to_json()})
    echo(json_path, f"promoted {ctx.project}/{stack} routing to known-good: {name} version {version}")
    return 0
