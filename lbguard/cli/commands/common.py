"""Helpers shared by the commands: project location, the first line, output, JSON files."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lbguard.core.model import LbguardError

PACKAGE_ROOT = Path(__file__).resolve().parents[3]
OFFLINE = "offline (in-process emulator; AWS_ENDPOINT_URL and credentials unused)"


def find_project_dir(start: Path | None = None) -> Path:
    """The Pulumi project the user is in: the nearest directory holding ``Pulumi.yaml``,
    walking up from ``start`` (the current directory), as the Pulumi CLI finds it."""
    here = (start or Path.cwd()).resolve()
    for path in (here, *here.parents):
        if (path / "Pulumi.yaml").is_file():
            return path
    raise LbguardError(f"no Pulumi.yaml in {here} or any directory above it: run lbguard inside a Pulumi "
                       f"project or pass --cwd DIR")


def project_dir_option(f):
    return click.option("--cwd", "cwd", type=click.Path(path_type=Path), default=None, callback=_cwd_given,
                        help="Pulumi project directory (default: the nearest directory with Pulumi.yaml, "
                             "from the current one up)")(f)


def stack_option(f):
    return click.option("--stack", "-s", default="dev", show_default=True, callback=_stack_given,
                        help="stack name")(f)


def project_stacks(project_dir: Path) -> list[str]:
    """The stacks a project has: its ``<stackConfigDir>/Pulumi.<stack>.yaml`` files."""
    from lbguard.core.stackconfig import load_project

    folder = project_dir / load_project(project_dir).get("stackConfigDir", ".")
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def check_stack(project_dir: Path, stack: str) -> None:
    """An unknown stack is one line listing the stacks that exist (a stack with a sandbox
    record passes: its sandbox can still be used and stopped)."""
    from lbguard.live import state

    if state.sandbox_file(project_dir, stack).is_file():  # (also checks the name's characters)
        return
    stacks = project_stacks(project_dir)
    if stack in stacks:
        return
    import difflib

    close = difflib.get_close_matches(stack, stacks, n=1)
    known = f"the stacks here are {', '.join(stacks)}" if stacks else "this project has no stack files"
    raise LbguardError(f"stack '{stack}' not found in {project_dir}: {known}"
                       + (f" (did you mean --stack {close[0]}?)" if close else ""))


# --stack and --cwd are checked together once both are known (click processes options in
# command-line order, then the rest): whichever callback runs second checks the stack.
def _stack_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and "cwd" in ctx.params:
        _check_stack_in(ctx.params["cwd"], value)
    return value


def _cwd_given(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if ctx.params.get("stack") is not None:
        _check_stack_in(value, ctx.params["stack"])
    return value


def _check_stack_in(cwd: Path | None, stack: str) -> None:
    try:
        project_dir = resolve_project_dir(cwd)
    except LbguardError:
        return  # no project: the command says so itself
    check_stack(project_dir, stack)


def json_option(what: str = "the result"):
    return click.option("--json", "json_path", default=None, metavar="FILE",
                        help=f"write {what} as JSON to FILE ('-' for stdout)")


def resolve_project_dir(cwd: Path | None) -> Path:
    if cwd is None:
        return find_project_dir()
    path = cwd.resolve()
    if not (path / "Pulumi.yaml").is_file():
        raise LbguardError(f"--cwd {path}: no Pulumi.yaml there (not a Pulumi project)")
    return path


def check_json_target(json_path: str | None) -> None:
    """A --json FILE that cannot be written fails now, not after the run."""
    if not json_path or json_path == "-":
        return
    path = Path(json_path)
    if path.is_dir():
        raise LbguardError(f"--json {path}: is a directory (give a file name)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise LbguardError(f"--json {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise LbguardError(f"--json {path}: not writable")


PIPED_WIDTH = 160  # columns for tables when the output is not a terminal and COLUMNS is unset


def console(*, stderr: bool = False) -> Console:
    """Rich console at the terminal's width (COLUMNS wins), colour only on a terminal and
    never with NO_COLOR (rich reads both), lines wrapped to the width, never cut."""
    out = Console(stderr=stderr, soft_wrap=False, highlight=False)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPED_WIDTH  # piped or captured (CI logs, files): tables not squeezed to 80 columns
    return out


def say(text: str, *, err: bool = False, style: str | None = None) -> None:
    """One message (no markup: paths and brackets print as they are): folded to the width on
    a terminal; piped or captured, one line whatever its length (logs and CI grep it)."""
    out = console(stderr=err)
    # (rich crops a soft-wrapped line when an overflow is given: only fold on a terminal)
    out.print(text, markup=False, style=style, **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))


def header(command: str, project_dir: Path, stack: str, target: str, *, json_path: str | None = None,
           project: str | None = None) -> None:
    """Every command's first line: which project (directory and name), which stack, and
    where it reads or writes. On stdout, or stderr when stdout carries the JSON (--json -)."""
    if project is None:
        with contextlib.suppress(LbguardError, OSError):
            from lbguard.core.stackconfig import load_project

            project = load_project(project_dir)["name"]
    # Piped or captured: one line whatever its length (soft wrap). On a terminal: folded to
    # its width, so no line is wider than the terminal.
    out = console(stderr=json_path == "-")
    out.print(f"lbguard {command}: {project or '?'}/{stack} in {project_dir}; target: {target}", markup=False,
              style="bold", **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))


@contextlib.contextmanager
def progress(text: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs; nothing when stderr is not a terminal."""
    err = console(stderr=True)
    if not err.is_terminal:
        yield
        return
    with err.status(text, spinner="dots"):
        yield


def table(title: str, columns: list[str], rows: list[list[Any]], *, styles: list[str | None] | None = None) -> Table:
    t = Table(title=title or None, title_justify="left", show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for i, r in enumerate(rows):
        t.add_row(*(Text("" if v is None else str(v)) for v in r), style=(styles[i] if styles else None))
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
