"""`lbguard diff BASE.json HEAD.json`: what a change does to traffic, as a PR comment."""

from __future__ import annotations

import click

from lbguard import impact
from lbguard.commands.common import read_json, write_json


@click.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("head", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--output", "-o", default="-", help="write to FILE instead of stdout")
def diff(base: str, head: str, fmt: str, output: str) -> int:
    """Traffic-share and capacity impact between two `lbguard preflight --json` results."""
    b = impact.check_document(read_json(base, "BASE"), f"BASE {base}")
    h = impact.check_document(read_json(head, "HEAD"), f"HEAD {head}")
    d = impact.diff(b, h)
    if fmt == "json":
        write_json(output, d)
    else:
        text = impact.markdown(b, h, d)
        if output == "-":
            click.echo(text)
        else:
            from pathlib import Path

            Path(output).write_text(text)
    return 0
