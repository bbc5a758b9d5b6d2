"""README's command table is the one tools/command_table.py generates from the click definitions."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def _tool():
    spec = importlib.util.spec_from_file_location("command_table", ROOT / "tools" / "command_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_command_table_is_current():
    tool = _tool()
    readme = (ROOT / "README.md").read_text()
    assert tool.render(readme) == readme, "README.md's command table is stale: run .venv/bin/python tools/command_table.py"


def test_every_command_has_a_row_and_a_stale_table_is_caught():
    tool = _tool()
    table = tool.table()
    from lbguard.cli.app import main

    for name in main.commands:
        assert f"`lbguard {name}" in table
    readme = (ROOT / "README.md").read_text()
    stale = readme.replace("| `lbguard route", "| `lbguard rout", 1)
    assert tool.render(stale) != stale
