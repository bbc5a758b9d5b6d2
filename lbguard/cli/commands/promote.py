"""`lbguard promote`: record the live routing as known-good, after checking it."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.live import promote as service
from lbguard.cli.commands.common import project_dir_option, stack_option
from lbguard.cli.commands.ops import announce, aws_errors, context, echo, emit, endpoint_option


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
    doc = service.promote(ctx.client("elbv2"), ctx.client("ssm"), ctx.current(), target, before_write=lambda name: announce(
        json_path, f"promote: writing SSM {name} (account {target.account}) at {ctx.short()}"))
    emit(json_path, doc)
    if doc["unchanged"]:
        echo(json_path, f"{ctx.project}/{stack} routing is known-good already: {doc['parameter']} version "
                        f"{doc['version']}; nothing written")
    else:
        echo(json_path, f"promoted {ctx.project}/{stack} routing to known-good: {doc['parameter']} version "
                        f"{doc['version']}")
    return 0
