"""A JSON Schema checker for the keywords lbguard's own schemas use, stdlib only.

The auto-rollback function runs in the Lambda Python runtime, which has boto3 but not
``jsonschema`` (nor its compiled dependency ``rpds-py``, which would have to be built
for the function's platform). ``lbguard.core.snapshot.validate_snapshot`` therefore uses
``jsonschema`` where it is installed (the CLI, the tests) and this checker in the
function. It implements exactly the draft 2020-12 keywords ``lbguard.core.snapshot.SCHEMA``
uses, and refuses a schema with any other keyword, so a schema edit cannot be
silently half-checked; tests/core/test_schema_check.py checks that it agrees with
``jsonschema`` on valid and mutated snapshots.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

SUPPORTED = {"$schema", "type", "required", "properties", "additionalProperties", "items", "minItems",
             "maxItems", "minLength", "pattern", "enum", "const", "minimum", "maximum", "allOf", "anyOf",
             "if", "then"}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this checker does not implement."""


def _is_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":  # 2020-12: a number with a zero fractional part is an integer
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    raise UnsupportedSchema(f"type {kind!r}")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def check_schema(schema: Any) -> None:
    """Raise UnsupportedSchema if ``schema`` uses a keyword outside :data:`SUPPORTED`."""
    if not isinstance(schema, dict):
        return
    extra = set(schema) - SUPPORTED
    if extra:
        raise UnsupportedSchema(f"keywords {sorted(extra)}")
    for key in ("items", "additionalProperties", "if", "then"):
        if key in schema:
            check_schema(schema[key])
    for sub in schema.get("properties", {}).values():
        check_schema(sub)
    for sub in schema.get("allOf", []) + schema.get("anyOf", []):
        check_schema(sub)


def iter_errors(schema: dict, value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, message) for each way ``value`` fails ``schema``."""
    if "type" in schema and not _is_type(value, schema["type"]):
        yield path, f"{value!r} is not of type {schema['type']!r}"
        return
    if "const" in schema and not _equal(value, schema["const"]):
        yield path, f"{schema['const']!r} was expected"
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        yield path, f"{value!r} is not one of {schema['enum']!r}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield path, f"{value!r} is too short"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield path, f"{value!r} does not match {schema['pattern']!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield path, f"{value!r} is less than the minimum of {schema['minimum']!r}"
        if "maximum" in schema and value > schema["maximum"]:
            yield path, f"{value!r} is greater than the maximum of {schema['maximum']!r}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield path, f"{value!r} should be non-empty" if schema["minItems"] == 1 else f"{value!r} is too short"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield path, f"{value!r} is too long"
        if "items" in schema:
            for i, item in enumerate(value):
                yield from iter_errors(schema["items"], item, path + (i,))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield path, f"{key!r} is a required property"
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                yield from iter_errors(props[key], item, path + (key,))
            elif isinstance(schema.get("additionalProperties"), dict):
                yield from iter_errors(schema["additionalProperties"], item, path + (key,))
    for sub in schema.get("allOf", []):
        if "if" in sub:
            if not any(True for _ in iter_errors(sub["if"], value, path)):
                yield from iter_errors(sub.get("then", {}), value, path)
        else:
            yield from iter_errors(sub, value, path)
    if "anyOf" in schema and not any(not any(True for _ in iter_errors(s, value, path)) for s in schema["anyOf"]):
        yield path, f"{value!r} is not valid under any of the given schemas"


def first_error(schema: dict, value: Any) -> tuple[tuple, str] | None:
    """The deepest error (the one that names the most specific field), or None."""
    errors = list(iter_errors(schema, value))
    return max(errors, key=lambda e: len(e[0])) if errors else None
