"""Stack config as the Pulumi CLI would hand it to the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lbguard.core.model import LbguardError

SECRET_PLACEHOLDER = "lbguard-offline-secret"


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's parser when PyYAML has it: 0.35 s less per prod run than the
    pure-Python scanner over a run's seven reads) that refuses a mapping key written twice, as the Pulumi CLI does (its
    YAML library, gopkg.in/yaml.v3, fails with 'mapping key "k" already defined at line n');
    PyYAML would silently keep the second value."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: construct_mapping reports it
                break
            if first is not None:
                raise DuplicateKey(key, first, key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: int, line: int):
        super().__init__(f"key {key!r} written twice (line {first} and line {line}): keep one")
        self.key, self.first, self.line = key, first, line


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except OSError as err:
        raise LbguardError(f"{what} {path}: cannot read: {err.strerror}") from None
    except DuplicateKey as err:
        raise LbguardError(f"{what} {path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise LbguardError(f"{what} {path}: not valid YAML{where}") from None


_DECLARATION_FIELDS = {"type", "description", "default", "value", "secret", "items"}
# Types a Pulumi.yaml declaration can give a key, as the CLI checks them.
_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}


def _as_config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def load_project(project_dir: Path) -> dict:
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise LbguardError(f"{project_dir}: no Pulumi.yaml (not a Pulumi project)")
    doc = _read_yaml(path, "project file")
    if not isinstance(doc, dict) or not doc.get("name"):
        raise LbguardError(f"{path}: needs a 'name'")
    return doc


def load_stack_config(project_dir: Path, stack: str) -> tuple[str, dict[str, str], list[str]]:
    """(project name, config "ns:key" -> string value, secret keys).

    Project-level declarations in ``Pulumi.yaml`` supply defaults; the stack file
    (under ``stackConfigDir``) overrides. Bare keys belong to the project namespace.
    ``secure:`` values cannot be decrypted offline: a placeholder is used, marked secret.
    """
    project_dir = Path(project_dir)
    project = load_project(project_dir)
    name = project["name"]

    def full(key: str) -> str:
        return key if ":" in key else f"{name}:{key}"

    config: dict[str, str] = {}
    secrets: list[str] = []
    declared: dict[str, str | None] = {}  # key -> declared type; None: no default, no type
    required: set[str] = set()
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and set(decl) & _DECLARATION_FIELDS:
            declared[full(key)] = decl.get("type")
            if "default" in decl:
                config[full(key)] = _as_config_string(decl["default"])
            elif "value" in decl:
                config[full(key)] = _as_config_string(decl["value"])
            elif decl.get("type"):
                required.add(full(key))
            if decl.get("secret"):
                secrets.append(full(key))
        else:
            config[full(key)] = _as_config_string(decl)

    stack_dir = project_dir / project.get("stackConfigDir", ".")
    stack_file = stack_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise LbguardError(f"stack '{stack}' not found: {stack_file} does not exist")
    doc = _read_yaml(stack_file, "stack file")
    values = (doc or {}).get("config") or {}
    if not isinstance(values, dict):
        raise LbguardError(f"{stack_file}: 'config' must be a mapping")
    try:
        shown = stack_file.relative_to(project_dir)
    except ValueError:
        shown = stack_file
    for key, value in values.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full(key)] = SECRET_PLACEHOLDER
            secrets.append(full(key))
            continue
        kind = declared.get(full(key))
        if kind and not _TYPE_CHECKS.get(kind, lambda v: True)(value):
            raise LbguardError(f"{shown}: {full(key)}: must be of type {kind} as declared in Pulumi.yaml "
                               f"(got {value!r})")
        config[full(key)] = _as_config_string(value)
    missing = sorted(k for k in required if k not in config)
    if missing:
        raise LbguardError(f"{shown}: missing configuration value {missing[0]} (declared in Pulumi.yaml "
                           f"without a default)")
    return name, config, sorted(set(secrets))
