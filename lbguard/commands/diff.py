"""`lbguard diff BASE.json HEAD.json`: what a change does to traffic, as a PR comment."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lbguard import impact
from lbguard.commands.common import read_json
from lbguard.model import LbguardError


@click.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("head", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--output", "-o", default="-", help="write to FILE instead of stdout")
def diff(base: str, head: str, fmt: str, output: str) -> int:
    """Traffic-share and capacity impact between two `lbguard preflight --json` results.

    Per listener and rule: each pool's and each instance's share before -> after;
    capacity headroom per failure scenario; policy verdicts that changed; resources
    added, changed and removed; a Mermaid diagram of routing after the change.
    """
    b = impact.check_document(read_json(base, "BASE"), f"BASE {base}")
    h = impact.check_document(read_json(head, "HEAD"), f"HEAD {head}")
    d = impact.diff(b, h)
    text = json.dumps(d, indent=2, default=str) if fmt == "json" else impact.markdown(b, h, d)
    if output == "-":
        click.echo(text)
    else:
        try:
            Path(output).write_text(text + "\n")
        except OSError as err:
            raise LbguardError(f"--output {output}: cannot write: {err.strerror}") from None
    return 0
