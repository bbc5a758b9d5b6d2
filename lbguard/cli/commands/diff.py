"""`lbguard diff BASE.json HEAD.json`: what a change does to traffic, as a PR comment."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lbguard.offline import impact
from lbguard.cli.commands.common import check_json_target, json_option, read_json, write_json
from lbguard.core.model import LbguardError


@click.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("head", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--output", "-o", default="-", help="write to FILE instead of stdout")
@click.option("--preview", "preview_path", default=None, type=click.Path(dir_okay=False),
              help="an `lbguard preview --json` result: the plan in one line under the verdict, in full folded")
@click.option("--max-bytes", type=click.IntRange(4096, impact.COMMENT_LIMIT), default=impact.COMMENT_LIMIT,
              show_default=True, help="the Markdown's size limit (a share of GitHub's when one comment holds several stacks)")
@json_option("the diff (as --format json gives it)")
def diff(base: str, head: str, fmt: str, output: str, preview_path: str | None, max_bytes: int,
         json_path: str | None) -> int:
    """Traffic-share and capacity impact between two `lbguard preflight --json` results.

    First the verdict: blocked or not, by which policies, and what happens to traffic;
    then (with --preview) the plan in one line. Folded below: per listener and rule each
    pool's and each instance's share before -> after; capacity headroom per failure
    scenario; policy verdicts; the plan; resources added, changed and removed. Last, a
    Mermaid diagram of routing after the change in ALB's evaluation order. At most 65,536
    characters (GitHub's limit; rows are left out with a notice when it is longer).
    """
    check_json_target(json_path)
    if json_path == "-" and output == "-":
        fmt = "json"  # one document on stdout, as every command's `--json -`
    b = impact.check_document(read_json(base, "BASE"), f"BASE {base}")
    h = impact.check_document(read_json(head, "HEAD"), f"HEAD {head}")
    plan = None
    if preview_path:
        from lbguard.offline.preview import check_preview_document

        plan = check_preview_document(read_json(preview_path, "--preview"), f"--preview {preview_path}")
    d = impact.diff(b, h)
    if json_path is not None and not (json_path == "-" and output == "-"):
        write_json(json_path, {**d, "plan": plan} if plan else d)
    if fmt == "json":
        text = json.dumps({**d, "plan": plan} if plan else d, indent=2, default=str)
    else:
        text = impact.markdown(b, h, d, plan=plan, limit=max_bytes)
    if output == "-":
        click.echo(text)
    else:
        try:
            Path(output).write_text(text + "\n")
        except OSError as err:
            raise LbguardError(f"--output {output}: cannot write: {err.strerror}") from None
    return 0

