"""`lbguard rollback`: restore routing to known-good (or a snapshot file), verified."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard import rollback as rb
from lbguard.commands.common import project_dir_option, read_json, stack_option
from lbguard.commands.ops import aws_errors, context, echo, emit
from lbguard.model import LbguardError


@click.command()
@stack_option
@project_dir_option
@click.option("--to", "target", type=click.Choice(["known-good", "current"]), default="known-good", show_default=True,
              help="which recorded snapshot to restore")
@click.option("--snapshot", "snapshot_file", type=click.Path(dir_okay=False), default=None,
              help="restore this snapshot file instead (a `rollback` stack output)")
@click.option("--dry-run", is_flag=True, help="show the calls, make none")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@aws_errors
def rollback(stack: str, cwd: Path | None, target: str, snapshot_file: str | None, dry_run: bool,
             json_path: str | None) -> int:
    """Restore every listener's default action and every rule of the stack's load balancer."""
    ctx = context(stack, cwd)
    if snapshot_file:
        snapshot, source = read_json(snapshot_file, "--snapshot"), f"snapshot {snapshot_file}"
    else:
        snapshot = ctx.known_good() if target == "known-good" else ctx.current()
        source = f"{target} snapshot of {ctx.project}/{stack}"
        if snapshot is None:
            hint = " (run `lbguard promote` first)" if target == "known-good" else ""
            raise LbguardError(f"no {target} snapshot recorded for {ctx.project}/{stack}{hint}")
    result = rb.rollback(ctx.client("elbv2"), snapshot, dry_run=dry_run, source=source)
    doc = result.to_json()
    if dry_run:
        doc["plan"] = [c.to_json() for c in result.calls]
    emit(json_path, doc)
    if dry_run:
        echo(json_path, f"dry run: {len(result.calls)} call(s) would be made")
        for c in result.calls:
            echo(json_path, f"  {c.op}: {c.description}")
        return 0
    for c in result.applied:
        echo(json_path, f"applied {c.op}: {c.description}")
    if result.failed:
        echo(json_path, f"FAILED {result.failed.op}: {result.failed.description}: {result.error}")
        for c in result.not_applied[1:]:
            echo(json_path, f"not applied {c.op}: {c.description}")
        echo(json_path, "re-run `lbguard rollback` to converge (every call sets state absolutely)")
        return 1
    echo(json_path, f"{len(result.applied)} write call(s); verified: {'yes' if result.verified else 'NO'}")
    for d in result.differences:
        echo(json_path, f"  still differs: {d}")
    return 0 if result.verified else 1
