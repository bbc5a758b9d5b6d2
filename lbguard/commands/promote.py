"""`lbguard promote`: record the live routing as known-good, after checking it."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard import rollback as rb
from lbguard import state
from lbguard.commands.common import project_dir_option, stack_option
from lbguard.commands.ops import aws_errors, context, echo, emit
from lbguard.model import LbguardError
from lbguard.snapshot import validate_snapshot


@click.command()
@stack_option
@project_dir_option
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@aws_errors
def promote(stack: str, cwd: Path | None, json_path: str | None) -> int:
    """Check live routing equals the deployed snapshot and every forwarded pool has a
    healthy target, then record it as known-good (SSM versions keep the history)."""
    ctx = context(stack, cwd)
    current = ctx.current()
    if current is None:
        raise LbguardError(f"no current snapshot for {ctx.project}/{stack} "
                           f"(SSM {state.current_param(ctx.project, stack)}): deploy the stack first")
    validate_snapshot(current, "current snapshot")
    elbv2 = ctx.client("elbv2")
    live = rb.read_live(elbv2, current)
    rb.check_snapshot(elbv2, current, live)  # every listener/rule/target group there, healthy targets
    diffs = rb.differences(current, live)
    if diffs:
        raise LbguardError(f"live routing differs from the deployed snapshot ({len(diffs)} difference(s), first: "
                           f"{diffs[0]}); not promoting")
    name = state.known_good_param(ctx.project, stack)
    value, tier = state.encode_snapshot(current)
    version = ctx.client("ssm").put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier=tier)["Version"]
    emit(json_path, {"parameter": name, "version": version, "promoted": True})
    echo(json_path, f"promoted {ctx.project}/{stack} routing to known-good: {name} version {version}")
    return 0
