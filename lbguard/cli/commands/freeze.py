"""`lbguard freeze` / `lbguard unfreeze`: the deploy freeze a rollback records.

``lbguard freeze --stack S --json FILE`` exports the record from SSM for the offline
checks (``lbguard preflight --stack S --freeze FILE``); ``lbguard unfreeze --stack S``
lifts it once the rollback is understood.
"""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.core import freeze as fz
from lbguard.live import operation, state
from lbguard.cli.commands.common import project_dir_option, stack_option
from lbguard.cli.commands.ops import announce, aws_errors, context, echo, emit, endpoint_option
from lbguard.core.model import LbguardError


@click.command()
@stack_option
@project_dir_option
@click.option("--json", "json_path", default=None,
              help="write the export (for `lbguard preflight --freeze FILE`) to FILE ('-' for stdout)")
@endpoint_option
@aws_errors
def freeze(stack: str, cwd: Path | None, json_path: str | None, endpoint_url: str | None) -> int:
    """Show the stack's deploy freeze (read-only) and export it for offline checks."""
    ctx = context("freeze", stack, cwd, json_path, endpoint_url)
    echo(json_path, f"freeze: reading SSM {state.ssm_name(ctx.project, stack, 'freeze')}")
    record = operation.read_freeze(ctx.client("ssm"), ctx.project, stack)
    emit(json_path, fz.export_document(ctx.project, stack, record))
    if record:
        echo(json_path, f"{ctx.project}/{stack} is frozen since {record.get('at')} by {record.get('by')}: "
                        f"{record.get('summary')}")
        for entry in record.get("rolledBackFrom", []):
            echo(json_path, f"  refused: {entry.get('what')} {entry.get('fingerprint')}")
    else:
        echo(json_path, f"{ctx.project}/{stack}: no deploy freeze")
    return 0


@click.command()
@stack_option
@project_dir_option
@click.option("--json", "json_path", default=None, help="write what was lifted as JSON to FILE ('-' for stdout)")
@endpoint_option
@aws_errors
def unfreeze(stack: str, cwd: Path | None, json_path: str | None, endpoint_url: str | None) -> int:
    """Lift the stack's deploy freeze (deletes its SSM record)."""
    ctx = context("unfreeze", stack, cwd, json_path, endpoint_url)
    name = state.ssm_name(ctx.project, stack, "freeze")
    announce(json_path, f"unfreeze: deleting SSM {name} at {ctx.short()}")
    ssm = ctx.client("ssm")
    try:
        record = operation.read_freeze(ssm, ctx.project, stack)
    except LbguardError:
        record = {"unreadable": True}  # a corrupted record must still be removable
    if record is not None:
        try:
            ssm.delete_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            pass  # lifted meanwhile: the outcome is the same
    emit(json_path, {"stack": stack, "lifted": record, "by": state.who()})
    echo(json_path, f"{ctx.project}/{stack}: deploy freeze lifted" if record else f"{ctx.project}/{stack}: was not frozen")
    return 0

