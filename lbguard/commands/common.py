"""Helpers shared by the commands: project location, output, JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from lbguard.model import LbguardError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def default_project_dir() -> Path:
    """This project: the checkout lbguard runs from, else the current directory."""
    if (PACKAGE_ROOT / "Pulumi.yaml").is_file():
        return PACKAGE_ROOT
    return Path.cwd()


def project_dir_option(f):
    return click.option("--cwd", "cwd", type=click.Path(path_type=Path), default=None,
                        help="Pulumi project directory (default: this project)")(f)


def stack_option(f):
    return click.option("--stack", "-s", default="dev", show_default=True, help="stack name")(f)


def resolve_project_dir(cwd: Path | None) -> Path:
    path = (cwd or default_project_dir()).resolve()
    if not (path / "Pulumi.yaml").is_file():
        raise LbguardError(f"--cwd {path}: no Pulumi.yaml there (not a Pulumi project)")
    return path


def console() -> Console:
    return Console(width=160, soft_wrap=False, highlight=False)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def write_json(path: str, doc: Any) -> None:
    data = json.dumps(doc, indent=2, sort_keys=False, default=str)
    if path == "-":
        click.echo(data)
        return
    try:
        Path(path).write_text(data + "\n")
    except OSError as err:
        raise LbguardError(f"--json {path}: cannot write: {err.strerror}") from None


def read_json(path: str | Path, what: str) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise LbguardError(f"{what} {path}: cannot read: {err.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise LbguardError(f"{what} {path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
