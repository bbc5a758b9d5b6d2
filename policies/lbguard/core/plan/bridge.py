"""The provider side of a plan, as pulumi-terraform-bridge decides it: Check (schema defaults,
auto-names, the ``__defaults`` list) and Diff (prior state against the checked inputs,
``ForceNew`` incl. conditional predicates, delete-before-replace).

Sources, read at pulumi/pulumi-terraform-bridge commit 59de6c661df1 (2026-08-05, after v3.136.0):
``pkg/tfbridge/provider.go`` ``Check`` and ``Diff``, ``pkg/tfbridge/schema.go``
``applyDefaults`` and ``nameRequiresDeleteBeforeReplace``, ``pkg/pf/tfbridge/provider_diff.go``
``DiffWithContext``. Which properties force replacement is lbguard.core.provider_facts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

from lbguard.core.model import is_secret
from lbguard.core import provider_facts as facts
from lbguard.core.plan import paths
from lbguard.core.plan.paths import Change

DEFAULTS = "__defaults"  # reservedkeys.Defaults: the checked inputs' list of defaulted properties
AUTO = "<auto-named>"  # a fresh auto-name: its value is the provider's choice at create time


@dataclass
class Diff:
    """The bridge's DiffResponse, with the detailed paths kept."""

    changes: list[Change]
    replace_paths: list[str]
    delete_before_replace: bool
    name_rule: bool = False  # delete-before-replace came from nameRequiresDeleteBeforeReplace
    invalid_ignore: list[str] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # the checked inputs after ignoreChanges (the new state's)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def replace_keys(self) -> list[str]:
        return sorted(paths.top_level(self.replace_paths))

    @property
    def changed_keys(self) -> list[str]:
        return sorted(paths.top_level(c.path for c in self.changes))


def _set_default(target: dict, key: str, rest: list[str], value: Any) -> None:
    if not rest:
        if key not in target or target[key] is None:
            target[key] = copy.deepcopy(value)
        return
    inner = target.get(key)
    for item in (inner if isinstance(inner, list) else [inner]):
        if isinstance(item, dict):
            _set_default(item, rest[0], rest[1:], value)


def check(type_token: str, news: dict, olds: dict | None = None, *, legacy: bool = False) -> dict:
    """The checked inputs the engine diffs and creates with.

    ``applyDefaults`` (schema.go): an unset property with a default takes it, and its name is
    appended to ``__defaults``; when ``olds`` holds a value for it that was itself a default
    (in the old ``__defaults``, or any value when the old inputs have no such list), the old
    value is kept ("If we already have a default value from a previous version of this
    resource, use that instead"): an auto-name survives updates. A fresh auto-name is
    :data:`AUTO` here (the emulator picks the real one). Nested schema defaults (``a.b``) fill
    blocks the program wrote. ``legacy``: the prior state predates the ``__defaults`` list
    (see :func:`name_requires_delete_before_replace`): the checked inputs carry none either.
    """
    checked = copy.deepcopy(dict(news))
    checked.pop(DEFAULTS, None)
    old_defaults = None if olds is None else olds.get(DEFAULTS)
    reusable = (lambda k: True) if olds is not None and not isinstance(old_defaults, list) \
        else (lambda k: k in (old_defaults or []))
    added: list[str] = []
    auto = facts.auto_name_property(type_token)
    if auto and checked.get(auto) is None:
        checked[auto] = olds[auto] if olds is not None and olds.get(auto) is not None and reusable(auto) else AUTO
        added.append(auto)
    for path, value in sorted(facts.schema_defaults(type_token).items()):
        head, *rest = path.split(".")
        if not rest:
            if checked.get(head) is None:
                use_old = olds is not None and olds.get(head) is not None and reusable(head)
                checked[head] = copy.deepcopy(olds[head] if use_old else value)
                added.append(head)
        else:
            _set_default(checked, head, rest, value)
    if not legacy:
        checked[DEFAULTS] = sorted(set(added))
    return checked


def name_requires_delete_before_replace(type_token: str, news: dict, olds: dict) -> bool:
    """schema.go ``nameRequiresDeleteBeforeReplace`` (the bridge's test vectors:
    schema_test.go ``TestDeleteBeforeReplaceAutoname``).

    No ``__defaults`` list in the checked inputs: False ("This avoids setting
    delete-before-replace for resources that were created before the defaults list
    existed"). With ``UniqueNameFields``: False as soon as one of them changed or was
    auto-named, else True. Otherwise True when the auto-nameable property was set by the
    program (it is not in ``__defaults``).
    """
    defaults = news.get(DEFAULTS)
    if not isinstance(defaults, list):
        return False
    auto = facts.auto_name_property(type_token)
    unique = facts.unique_name_fields(type_token)
    if unique:
        for name in unique:
            if paths.unwrap(olds.get(name)) != paths.unwrap(news.get(name)):
                return False
            if name == auto and name in defaults:
                return False
        return True
    return bool(auto) and auto in news and auto not in defaults


def _same_scalar(a: Any, b: Any) -> bool:
    """Terraform compares typed values: the config ``"30"`` of a TypeInt is 30, ``"true"`` is true."""
    if isinstance(a, (bool, int, float)) and isinstance(b, str) or isinstance(b, (bool, int, float)) and isinstance(a, str):
        text = lambda v: str(v).lower() if isinstance(v, bool) else (f"{v:g}" if isinstance(v, float) else str(v))
        return text(a) == text(b)
    return False


_ABSENT = object()


def _at(value: Any, path: str) -> Any:
    """The value at a differ path, :data:`_ABSENT` when the path does not exist."""
    for key in paths.parse(path):
        value = value.get("value") if is_secret(value) else value
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return _ABSENT
            value = value[key]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return _ABSENT
    return value


def _state_changes(old_inputs: dict, old_state: dict, news: dict) -> list[Change]:
    """Leaves where the checked inputs differ from the prior state. Candidates are the leaves
    where they differ from the old inputs (what the provider was last given: the state holds
    their applied values); a candidate the state already holds (an optional-computed value,
    a default the provider had applied) is no change, and the old value shown is the state's."""
    out = []
    for c in paths.changes(old_inputs, news):
        held = _at(old_state, c.path)
        if held is _ABSENT or held is None:
            out.append(c)
        elif paths.unwrap(held) == paths.unwrap(c.new) or _same_scalar(paths.unwrap(held), paths.unwrap(c.new)):
            continue
        else:
            out.append(c._replace(old=paths.MASK if c.secret else held))
    return out


def _truncate_at_index(path: str) -> str:
    cut = path.find("[")
    return path if cut < 0 else path[:cut]


def diff(type_token: str, old_inputs: dict, old_state: dict, checked: dict,
         ignore_changes: Iterable[str] = ()) -> Diff:
    """``Provider.Diff`` (provider.go) / ``DiffWithContext`` (pf/tfbridge/provider_diff.go).

    The engine first resets every ``ignoreChanges`` path to its old value
    (step_generator.go ``processIgnoreChanges``); the prior state (outputs) is diffed
    against the checked inputs; a changed property that forces replacement (facts, with
    conditional predicates evaluated on old, new, the new inputs and the prior state)
    makes the diff a replacement. ``deleteBeforeReplace := len(replaces) > 0 &&
    (res.Schema.DeleteBeforeReplace || nameRequiresDeleteBeforeReplace(news, olds, ...))``
    (provider.go Diff, sdkv2); plugin-framework resources apply only the resource's own
    flag (provider_diff.go: "TODO[pulumi/pulumi-terraform-bridge#823]
    nameRequiresDeleteBeforeReplace intricacies").
    """
    news, invalid = paths.apply_ignore_changes(old_inputs, checked, ignore_changes)
    before = {k: v for k, v in old_inputs.items() if k != DEFAULTS and v is not None}
    after = {k: v for k, v in news.items() if k != DEFAULTS and v is not None and v != AUTO}
    for k, v in news.items():  # an auto-name kept from the old inputs compares equal; a fresh one is unknown
        if v == AUTO and k in before:
            after[k] = before[k]
    found = [c for c in _state_changes(before, old_state, after) if not _same_scalar(c.old, c.new)]
    plain_news, plain_state = paths.unwrap(news), paths.unwrap(old_state)
    replace = []
    for c in found:
        at = _truncate_at_index(c.path)
        forced = facts.forces_replacement(type_token, c.path, old=paths.get(paths.unwrap(before), at),
                                          new=paths.get(paths.unwrap(after), at), inputs=plain_news,
                                          old_state=plain_state)
        if forced:
            replace.append(c.path)
    own = facts.resource_delete_before_replace(type_token)
    name_rule = bool(replace) and facts.framework(type_token) != "pf" \
        and name_requires_delete_before_replace(type_token, news, old_inputs)
    return Diff(found, replace, bool(replace) and (own or name_rule), name_rule and not own, invalid, news)
