"""Replacement facts from the provider: which input changes make the engine replace a resource.

One data file, ``replacements.json`` (beside this module), read from the Terraform AWS
provider's schemas that pulumi-aws bridges (``ForceNew``, ``RequiresReplace`` and the
``CustomizeDiff`` functions that call ``ForceNew``); it names the provider version and the
source file of every type. This module only reads it: pure, no Pulumi, no boto3.

Property paths are pulumi-aws camelCase input names joined by ``.`` (``healthCheck.port``);
list positions are dropped (``blockDeviceMappings[0].ebs`` and ``blockDeviceMappings.ebs``
are the same path).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

FACTS_FILE = Path(__file__).with_name("replacements.json")
_UNSET: Any = object()


@functools.lru_cache(maxsize=1)
def facts() -> dict:
    """The whole data file (parsed once)."""
    return json.loads(FACTS_FILE.read_text())


def canonical_type(type_token: str) -> str:
    """``aws:alb/...`` tokens are the same resources as ``aws:lb/...`` (pulumi-aws registers both)."""
    return type_token.replace("aws:alb/", "aws:lb/", 1)


def type_facts(type_token: str) -> dict | None:
    return facts()["types"].get(canonical_type(type_token))


def normalize_path(path: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", path).strip(".")


def _prefixes(path: str) -> list[str]:
    """``a.b.c`` -> ``["a.b.c", "a.b", "a"]`` (most specific first)."""
    parts = path.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _condition_holds(cond: dict, old: Any, new: Any, inputs: dict | None) -> bool:
    """A ``replaceWhen`` entry; unknown old/new or inputs count as "may replace"."""
    if "from" in cond or "to" in cond:
        if old is _UNSET or new is _UNSET:
            return True
        return old in cond.get("from", [old]) and new in cond.get("to", [new])
    if "except" in cond:
        if old is _UNSET or new is _UNSET:
            return True
        return not any(old == e["from"] and new == e["to"] for e in cond["except"])
    if "inputs" in cond:
        if inputs is None:
            return True
        return all(inputs.get(k) == v for k, v in cond["inputs"].items())
    return True


def forces_replacement(type_token: str, property_path: str, *, old: Any = _UNSET, new: Any = _UNSET,
                       inputs: dict | None = None) -> bool | None:
    """Whether changing ``property_path`` of a ``type_token`` resource forces replacement.

    True: replace (for a conditional fact: the condition holds for ``old`` -> ``new`` and
    the resource's other ``inputs``, or they were not given). False: update in place.
    None: the type or the property is not classified in the data file.
    """
    entry = type_facts(type_token)
    if entry is None:
        return None
    path = normalize_path(property_path)
    replace, update = set(entry["replace"]), set(entry["update"])
    when = entry.get("replaceWhen", {})
    for prefix in _prefixes(path):
        if prefix in replace:
            return True
        if prefix in when:
            return _condition_holds(when[prefix], old, new, inputs)
        if prefix in update:
            # A nested ForceNew inside an in-place block was matched above (more specific first).
            return False
    return None


def physical_name_property(type_token: str) -> str | None:
    """The input that holds a resource's physical name, if the type has one (``name``, ``bucket``, ...)."""
    entry = type_facts(type_token)
    return (entry or {}).get("physicalName", {}).get("property")


def replacement_properties(type_token: str) -> list[str]:
    """Every property path that forces replacement, unconditionally or under a condition."""
    entry = type_facts(type_token) or {"replace": []}
    return sorted(set(entry["replace"]) | set(entry.get("replaceWhen", {})))


def source(type_token: str) -> str | None:
    """Where the fact was read: the provider's schema file for the type."""
    entry = type_facts(type_token)
    return entry["source"] if entry else None


def in_use_hazard(type_token: str) -> str | None:
    """Why a replacement of this type fails while the old one is still in use, if it does."""
    entry = type_facts(type_token)
    return (entry or {}).get("inUse")
