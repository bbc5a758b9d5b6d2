"""README's command table, generated from the click definitions of ``lbguard``.

    .venv/bin/python tools/command_table.py          # rewrite the table in README.md
    .venv/bin/python tools/command_table.py --check  # exit 1 when README.md's table is stale

The table sits between ``<!-- commands:begin -->`` and ``<!-- commands:end -->``; one row per
command: its synopsis (arguments and options as ``--help`` shows them) and its short help.
``tests/cli/test_command_table.py`` fails when the README's table differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- commands:begin -->", "<!-- commands:end -->"


def _param(param: click.Parameter) -> str | None:
    if getattr(param, "hidden", False) or param.name in ("help",):
        return None
    if isinstance(param, click.Argument):
        name = param.human_readable_name
        return f"{name}..." if param.nargs == -1 else name
    opt = max(param.opts, key=len)
    if param.is_flag:
        text = opt
    else:
        metavar = (param.metavar or param.type.get_metavar(param, click.get_current_context())
                   or opt.lstrip("-").upper())
        text = f"{opt} {metavar}"
    return text if param.required else f"[{text}]"


def rows() -> list[tuple[str, str]]:
    from lbguard.cli.app import main

    with click.Context(main) as ctx:
        out = []
        for name in main.list_commands(ctx):
            cmd = main.get_command(ctx, name)
            with click.Context(cmd, parent=ctx, info_name=name):
                parts = [p for p in (_param(p) for p in cmd.params) if p]
            synopsis = " ".join([f"lbguard {name}", *parts])
            out.append((synopsis, cmd.get_short_help_str(limit=200)))
    return out


def table() -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `{cell(s)}` | {cell(h)} |" for s, h in rows()]
    return "\n".join(lines)


def render(readme: str) -> str:
    head, sep, rest = readme.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{README}: no {BEGIN} ... {END} markers")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = README.read_text()
    new = render(current)
    if "--check" in argv:
        if new != current:
            print("README.md: the command table is stale; run .venv/bin/python tools/command_table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
