"""Stack config as the Pulumi CLI hands it to the program."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lbguard.offline.emulator import load_stack_config
from lbguard.core.stackconfig import SECRET_PLACEHOLDER, load_stack_config as load_with_secrets
from lbguard.core.model import LbguardError
from tests.offline.emulator.conftest import PROGRAMS


def test_web_program_config():
    name, cfg = load_stack_config(PROGRAMS / "web", "dev")
    assert name == "emu-web"
    assert cfg == {
        "emu-web:blueWeight": "30",  # {type, default} declaration
        "emu-web:greenWeight": "70",  # `key: value` declaration
        "emu-web:owner": "team-web",  # declared without default, set by the stack
        "aws:region": "us-east-1",  # namespaced keys keep their namespace
        "emu-web:pools": json.dumps({"blue": {"port": 8080}, "green": {"port": 8081}}),  # objects as JSON
        "emu-web:dbPassword": SECRET_PLACEHOLDER,
    }
    assert load_with_secrets(PROGRAMS / "web", "dev")[2] == ["emu-web:dbPassword"]


def test_stack_file_beside_pulumi_yaml_without_stack_config_dir():
    assert load_stack_config(PROGRAMS / "services", "test") == ("emu-services", {"aws:region": "eu-west-1"})


def _project(tmp_path: Path, project: dict, stack: dict | None) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "p", "runtime": "python", **project}))
    if stack is not None:
        (tmp_path / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": stack}))
    return tmp_path


def test_scalars_become_strings_and_stack_overrides_defaults(tmp_path):
    p = _project(tmp_path, {"config": {"flag": {"type": "boolean", "default": False}, "n": 3, "aws:region": {
        "value": "eu-west-1"}}}, {"p:flag": True, "list": [1, "a"], "ratio": 0.5})
    assert load_stack_config(p, "s")[1] == {"p:flag": "true", "p:n": "3", "aws:region": "eu-west-1",
                                            "p:list": '[1, "a"]', "p:ratio": "0.5"}


def test_missing_stack_file(tmp_path):
    p = _project(tmp_path, {"stackConfigDir": "stacks"}, None)
    with pytest.raises(LbguardError) as err:
        load_stack_config(p, "prod")
    assert str(err.value) == f"stack 'prod' not found: {p / 'stacks' / 'Pulumi.prod.yaml'} does not exist"


def test_declared_type_is_checked(tmp_path):
    p = _project(tmp_path, {"config": {"peak": {"type": "integer"}}}, {"p:peak": "lots"})
    with pytest.raises(LbguardError) as err:
        load_stack_config(p, "s")
    assert str(err.value) == "Pulumi.s.yaml: p:peak: must be of type integer as declared in Pulumi.yaml (got 'lots')"


def test_declared_value_without_default_is_required(tmp_path):
    p = _project(tmp_path, {"config": {"peak": {"type": "integer"}}}, {})
    with pytest.raises(LbguardError, match=r"^Pulumi.s.yaml: missing configuration value p:peak "):
        load_stack_config(p, "s")


def test_bad_yaml_is_one_line(tmp_path):
    p = _project(tmp_path, {}, None)
    (p / "Pulumi.s.yaml").write_text("config:\n  a: [1,\n")
    with pytest.raises(LbguardError) as err:
        load_stack_config(p, "s")
    assert "\n" not in str(err.value) and "not valid YAML" in str(err.value)
