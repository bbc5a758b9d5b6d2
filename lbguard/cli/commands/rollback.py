"""`lbguard rollback`: restore routing to known-good (or a snapshot file, or undo a rollback), verified."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.live import operation
from lbguard.cli.commands.common import project_dir_option, stack_option
from lbguard.cli.commands.ops import announce, aws_errors, context, echo, emit, endpoint_option
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import load_snapshot_file


@click.command()
@stack_option
@project_dir_option
@click.option("--to", "target_name", type=click.Choice(["known-good", "current"]), default="known-good",
              show_default=True, help="which recorded snapshot to restore")
@click.option("--snapshot", "snapshot_file", type=click.Path(dir_okay=False), default=None,
              help="restore this snapshot file instead (a `rollback` stack output)")
@click.option("--undo", "undo_ref", default=None, metavar="JOURNAL",
              help="restore what was live before a rollback: a journal file, a journal id, or 'latest'")
@click.option("--keep-extra", is_flag=True, help="leave listeners and rules the snapshot does not hold (reported, "
                                                 "not verified) instead of deleting them")
@click.option("--wait", type=click.FloatRange(0, 600), default=30.0, show_default=True,
              help="seconds to wait for another rollback's lock")
@click.option("--journal", "journal_path", default=None, help="also write the journal to FILE")
@click.option("--dry-run", is_flag=True, help="show the steps, make no write")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
@endpoint_option
@aws_errors
def rollback(stack: str, cwd: Path | None, target_name: str, snapshot_file: str | None, undo_ref: str | None,
             keep_extra: bool, wait: float, journal_path: str | None, dry_run: bool, json_path: str | None,
             endpoint_url: str | None) -> int:
    """Make the whole routing of the stack's load balancer equal a snapshot; exit 0 verified
    (or a dry run), 1 something left (listed), 2 refused (nothing written). Plans first: with
    nothing to restore it writes nothing at all."""
    if snapshot_file and undo_ref:
        raise LbguardError("--snapshot and --undo are exclusive: pass one")
    snapshot = load_snapshot_file(snapshot_file) if snapshot_file else None
    ctx = context("rollback", stack, cwd, json_path, endpoint_url)
    target = ctx.target()
    elbv2, ssm = ctx.client("elbv2"), ctx.client("ssm")
    common = dict(keep_extra=keep_extra, dry_run=dry_run, wait=wait, journal_path=journal_path)
    writes = "" if dry_run else (f" and SSM /{ctx.project}/{stack}/routing/{{lock,journal/*,freeze}}, if the plan has a "
                                 f"step to run")
    announce(json_path, f"rollback: {'dry run on' if dry_run else 'may write to'} load balancer "
                        f"{target.load_balancer_arn}{writes} ({ctx.project}/{stack}, account {target.account}) at "
                        f"{ctx.short()}")
    if undo_ref:
        run = operation.undo(elbv2, ssm, operation.load_journal(ssm, target, undo_ref), target, **common)
    else:
        source = f"snapshot {snapshot_file}"
        if snapshot is None:
            snapshot = ctx.known_good() if target_name == "known-good" else ctx.current()
            source = f"{target_name} snapshot of {ctx.project}/{stack}"
            if snapshot is None:
                raise LbguardError(_no_snapshot(ctx.project, stack, target_name))
        run = operation.run_rollback(elbv2, ssm, snapshot, target, source=source, deployed=ctx.current(), **common)
    emit(json_path, run.to_json())
    _print(json_path, run, dry_run)
    return 0 if run.result.verified or dry_run else 1


def _no_snapshot(project: str, stack: str, which: str) -> str:
    """Every way out when the snapshot asked for is not recorded."""
    if which == "known-good":
        return (f"no known-good snapshot recorded for {project}/{stack}: during an incident restore the deployed "
                f"routing with `lbguard rollback --stack {stack} --to current`, or a snapshot file with `lbguard "
                f"rollback --stack {stack} --snapshot FILE` (a `rollback` stack output); once live routing is right, "
                f"record it with `lbguard promote --stack {stack}`")
    return (f"no current (deployed) snapshot recorded for {project}/{stack}: restore known-good with `lbguard rollback "
            f"--stack {stack}`, or a snapshot file with `--snapshot FILE` (a `rollback` stack output); a deploy of the "
            f"stack records it")


def _print(json_path: str | None, run: operation.Run, dry_run: bool) -> None:
    r = run.result
    if dry_run or not r.writes:
        what = "would be taken" if dry_run else "to take"
        echo(json_path, f"{'dry run: ' if dry_run else ''}{len(r.steps)} step(s) {what}"
                        + ("" if dry_run or r.steps else "; nothing written"))
        for s in r.steps:
            echo(json_path, f"  {s.op}: {s.description}" + (f"  [blocked: {s.blocked}]" if s.blocked else ""))
        if not dry_run:
            echo(json_path, f"verified: {'yes' if r.verified else 'NO'}")
        return
    for a in r.applied:
        echo(json_path, f"applied {a['call']}: {a['change']} ({a['result']})")
    for n in r.not_applied:
        echo(json_path, f"NOT applied {n['call']}: {n['change']}: {n['reason']}")
    if r.error:
        echo(json_path, f"error: {r.error}")
    echo(json_path, f"{r.write_calls} write call(s); verified: {'yes' if r.verified else 'NO'}")
    if run.journal:
        echo(json_path, f"journal {run.journal.id}: SSM {run.journal.param}"
                        + (f", file {run.journal.path}" if run.journal.path else "")
                        + f" (undo: lbguard rollback --stack {run.target.stack} --undo {run.journal.id})")
        for w in run.journal.warnings:
            echo(json_path, f"warning: {w}")
    if run.freeze and "lifted" in run.freeze:
        echo(json_path, "deploy freeze of the undone rollback lifted")
    elif run.freeze:
        echo(json_path, f"deploy freeze recorded for {run.target.stack}: deploys of the routing rolled back "
                        f"from are refused until `lbguard unfreeze --stack {run.target.stack}`")
    if not r.verified and not dry_run:
        echo(json_path, "re-run `lbguard rollback` to converge what can be; the list above says what is left and why")
