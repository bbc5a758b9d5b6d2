"""Property paths: the one differ of this project (``a.b[0].c`` -> old, new) and the engine's
``ignoreChanges`` paths.

Values are plain JSON-like data as the engine holds them; a secret is the wire-format
wrapper ``{SIG_KEY: SECRET_SIG, "value": ...}`` (lbguard.core.model.is_secret): compared by
its value, never shown.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable, NamedTuple

from lbguard.core.model import SECRET_SIG, SIG_KEY, is_secret

MASK = "[secret]"


class Change(NamedTuple):
    """One leaf that differs. ``old``/``new`` are ``None`` when absent, :data:`MASK` when secret."""

    path: str
    old: Any
    new: Any
    secret: bool = False


def unwrap(value: Any) -> Any:
    """The value with every secret wrapper removed (what the provider compares)."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", key):
        return f"{path}.{key}" if path else key
    quoted = key.replace('"', '\\"')
    return f'{path}["{quoted}"]'


def changes(old: Any, new: Any, path: str = "", *, secret: bool = False) -> list[Change]:
    """Every leaf whose value differs, keys in sorted order. Lists of equal length are compared
    item by item; a list that grew or shrank is one change at its own path. A secret leaf is
    reported with both values masked."""
    if is_secret(old) or is_secret(new):
        return changes(old.get("value") if is_secret(old) else old,
                       new.get("value") if is_secret(new) else new, path, secret=True)
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for k in sorted(set(old) | set(new)):
            out += changes(old.get(k), new.get(k), _join(path, k), secret=secret)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for n, (a, b) in enumerate(zip(old, new)):
            out += changes(a, b, f"{path}[{n}]", secret=secret)
        return out
    if unwrap(old) == unwrap(new):
        return []
    if secret:
        return [Change(path, MASK if old is not None else None, MASK if new is not None else None, True)]
    return [Change(path, old, new)]


def changed_paths(old: Any, new: Any) -> list[str]:
    """The paths of :func:`changes`."""
    return [c.path for c in changes(old, new)]


def top_level(paths: Iterable[str]) -> set[str]:
    """``healthCheck.port`` -> ``healthCheck`` (the bridge's DiffResponse.Diffs keys)."""
    return {re.split(r"[.\[]", p, maxsplit=1)[0] for p in paths}


# ------------------------------------------------------------------ parsing


def parse(path: str) -> list[str | int]:
    """A property path as the engine parses it: names, ``[n]`` indices, ``["key"]`` and ``[*]``/``*``.

    pulumi/pulumi sdk/go/common/resource/properties_path.go ``parsePropertyPath`` (read at
    commit 1b5949891b3c, v3.259): a leading '.' is an error; '.' before '[' is tolerated.
    """
    if path.startswith("."):
        raise ValueError(f"property path {path!r}: starts with '.'")
    out: list[str | int] = []
    i = 0
    while i < len(path):
        c = path[i]
        if c == ".":
            i += 1
            if i == len(path):
                raise ValueError(f"property path {path!r}: ends with '.'")
        elif c == "[":
            if path[i + 1:i + 2] == '"':
                j, key = i + 2, []
                while True:
                    if j >= len(path):
                        raise ValueError(f"property path {path!r}: missing closing quote")
                    if path[j] == '"':
                        j += 1
                        break
                    if path[j] == "\\" and path[j + 1:j + 2] == '"':
                        key.append('"')
                        j += 2
                    else:
                        key.append(path[j])
                        j += 1
                if path[j:j + 1] != "]":
                    raise ValueError(f"property path {path!r}: missing closing bracket")
                out.append("".join(key))
                i = j + 1
            else:
                end = path.find("]", i)
                if end < 0:
                    raise ValueError(f"property path {path!r}: missing closing bracket")
                segment = path[i + 1:end]
                out.append("*" if segment == "*" else int(segment))
                i = end + 1
        else:
            j = i
            while j < len(path) and path[j] not in ".[":
                j += 1
            out.append(path[i:j])
            i = j
    return out


# ------------------------------------------------------------------ ignoreChanges


def _reset(p: list, old: Any, new: Any, holder: Any, slot: Any) -> bool:
    """``PropertyPath.reset`` (pulumi/pulumi sdk/go/common/resource/properties_path.go, v3.259):
    set ``new`` at ``p`` to ``old``'s value there, or delete it when ``old`` has none. Returns
    False on a path error (added or removed list items cannot be ignored)."""
    if not p:
        return False
    old_u = old.get("value") if is_secret(old) else old
    new_u = new.get("value") if is_secret(new) else new
    key, rest = p[0], p[1:]
    if isinstance(key, int):
        if key < 0:
            return False
        if not rest:
            if not isinstance(old_u, list) and not isinstance(new_u, list):
                return True
            if not isinstance(old_u, list) or not isinstance(new_u, list):
                return False
            if key >= len(old_u) and key >= len(new_u):
                return True
            if key >= len(old_u) or key >= len(new_u):
                return False
            new_u[key] = copy.deepcopy(old_u[key])
            return True
        if not isinstance(old_u, list) or not isinstance(new_u, list):
            return not isinstance(old_u, list) and not isinstance(new_u, list)
        if key >= len(old_u) or key >= len(new_u):
            return False
        return _reset(rest, old_u[key], new_u[key], new_u, key)
    if key == "*":
        if not rest:
            if isinstance(new_u, dict):
                if isinstance(old_u, dict):
                    for k in list(new_u):
                        if k not in old_u:
                            del new_u[k]
                    new_u.update(copy.deepcopy(old_u))
                return True
            if isinstance(new_u, list):
                if isinstance(old_u, list):
                    for n in range(min(len(old_u), len(new_u))):
                        new_u[n] = copy.deepcopy(old_u[n])
                    return len(old_u) == len(new_u)
                return True
            return False
        if isinstance(old_u, dict) and isinstance(new_u, dict):
            return all(k in new_u and _reset(rest, old_u[k], new_u[k], new_u, k) for k in old_u)
        if isinstance(old_u, list) and isinstance(new_u, list):
            ok = all(_reset(rest, a, b, new_u, n) for n, (a, b) in enumerate(zip(old_u, new_u)))
            return ok and len(old_u) == len(new_u)
        return False
    if not rest:
        if isinstance(old_u, dict) and key in old_u:
            if not isinstance(new_u, dict):
                return False
            new_u[key] = copy.deepcopy(old_u[key])
        elif isinstance(new_u, dict):
            new_u.pop(key, None)
        return True
    if not isinstance(old_u, dict) or not isinstance(new_u, dict):
        return not isinstance(old_u, dict) and not isinstance(new_u, dict)
    if key in old_u and key not in new_u:
        return False
    if key not in old_u and key not in new_u:
        return True
    return _reset(rest, old_u.get(key), new_u[key], new_u, key)


def apply_ignore_changes(old: dict, new: dict, paths: Iterable[str]) -> tuple[dict, list[str]]:
    """New inputs with every ``ignoreChanges`` path reset to its old value (engine
    ``processIgnoreChanges``, pulumi/pulumi pkg/resource/deploy/step_generator.go, v3.259).
    Returns the inputs and the paths that could not be applied (added/removed list items),
    which the engine reports and otherwise skips."""
    paths = list(paths)
    if not paths:
        return new, []
    out = copy.deepcopy(new)
    invalid = []
    for text in paths:
        try:
            parsed = parse(text)
        except ValueError:
            continue
        if not _reset(parsed, old, out, None, None):
            invalid.append(text)
    return out, invalid


def get(value: Any, path: str | list) -> Any:
    """The value at ``path`` (None when absent); wildcards are not expanded."""
    parts = parse(path) if isinstance(path, str) else path
    for key in parts:
        value = unwrap(value) if is_secret(value) else value
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and key < len(value) else None
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def secret(value: Any) -> dict:
    return {SIG_KEY: SECRET_SIG, "value": value}
