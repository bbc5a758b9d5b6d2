"""docs/settings.md and docs/stack-settings.schema.json are generated from the settings model
(tools/settings_doc.py) and fail here when stale; the schema accepts every stack file."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from components.settings import WebTierSettings
from tests.conftest import ROOT

TOOL = ROOT / "tools" / "settings_doc.py"


@pytest.fixture(scope="module")
def gen():
    return runpy.run_path(str(TOOL))


def test_generated_files_are_current():
    result = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_doc(gen, tmp_path, monkeypatch):
    stale = tmp_path / "settings.md"
    stale.write_text(gen["render_markdown"]().replace("azCount", "azcount"))
    monkeypatch.setitem(gen["main"].__globals__, "DOC", stale)
    assert gen["main"](["--check"]) == 1


def _fields(model: type[BaseModel], seen: set) -> set[tuple[str, str]]:
    """(model name, alias) of every field reachable from ``model``."""
    out = set()
    if model in seen:
        return out
    seen.add(model)
    for name, field in model.model_fields.items():
        out.add((model.__name__, field.alias or name))
        stack = [field.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                out |= _fields(t, seen)
            stack += list(getattr(t, "__args__", ()))
    return out


def test_every_key_of_the_model_is_documented_with_its_type():
    doc = (ROOT / "docs" / "settings.md").read_text()
    fields = _fields(WebTierSettings, set()) - {("WebTierSettings", "project"), ("WebTierSettings", "stack")}
    assert len(fields) > 60
    for model, key in fields:
        row = f"| `web-tier:{key}` |" if model == "WebTierSettings" else f"| `{key}` |"
        section = doc if model == "WebTierSettings" else doc.split(f"\n## {model}\n", 1)[1].split("\n## ", 1)[0]
        assert row in section, (model, key)
    assert "| `azCount` | integer | `2` | >= 2, <= 3 |" in doc
    assert "| `web-tier:peakRequestsPerSecond` | number | *required* | > 0, <= 10000000 |" in doc


def test_schema_accepts_every_stack_file_and_refuses_a_bad_one():
    schema = json.loads((ROOT / "docs" / "stack-settings.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert len(files) >= 3
    for path in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path.name, errors)
    bad = yaml.safe_load(files[0].read_text())
    bad["config"]["web-tier:network"] = {"azCount": 7}
    assert any("7 is greater than the maximum of 3" in e.message for e in validator.iter_errors(bad))
    bad["config"]["web-tier:network"] = {"azcount": 2}
    assert any("azcount" in e.message for e in validator.iter_errors(bad))
