"""The provider facts the plan reads (lbguard.core.provider_facts), with a fallback for each
function the facts data of this checkout may not have yet. The fallbacks are conservative:
no resource-level delete-before-replace, no unique-name fields, no schema defaults, every
type bridged from the SDKv2 (``sdkv2``), the physical-name property as the auto-name."""

from __future__ import annotations

from typing import Any

from lbguard.core import provider_facts as _pf

_UNSET: Any = object()

# Plugin-framework resources among the types this project uses, as listed in pulumi-aws
# provider/resources.go (`aws_vpc_security_group_ingress_rule`/`_egress_rule` are in the
# framework provider of terraform-provider-aws, internal/service/ec2/vpc_security_group_*_rule.go
# `@FrameworkResource`). Used only when provider_facts has no `framework` function.
_PF_TYPES = {"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
             "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"}


def forces_replacement(type_token: str, path: str, *, old: Any = _UNSET, new: Any = _UNSET,
                       inputs: dict | None = None, old_state: dict | None = None) -> bool | None:
    kwargs: dict[str, Any] = {"inputs": inputs}
    if old is not _UNSET:
        kwargs["old"] = old
    if new is not _UNSET:
        kwargs["new"] = new
    try:
        return _pf.forces_replacement(type_token, path, old_state=old_state, **kwargs)
    except TypeError:  # a provider_facts without old_state
        return _pf.forces_replacement(type_token, path, **kwargs)


def resource_delete_before_replace(type_token: str) -> bool:
    fn = getattr(_pf, "resource_delete_before_replace", None)
    return bool(fn(type_token)) if fn else False


def auto_name_property(type_token: str) -> str | None:
    fn = getattr(_pf, "auto_name_property", None)
    return fn(type_token) if fn else _pf.physical_name_property(type_token)


def unique_name_fields(type_token: str) -> tuple[str, ...]:
    fn = getattr(_pf, "unique_name_fields", None)
    return tuple(fn(type_token)) if fn else ()


def framework(type_token: str) -> str:
    fn = getattr(_pf, "framework", None)
    if fn:
        return fn(type_token)
    return "pf" if _pf.canonical_type(type_token) in _PF_TYPES else "sdkv2"


def schema_defaults(type_token: str) -> dict[str, Any]:
    fn = getattr(_pf, "schema_defaults", None)
    return dict(fn(type_token)) if fn else {}


def unconditional(type_token: str, path: str) -> bool:
    """Whether ``path`` (or a block holding it) forces replacement whatever its values: a
    ``ForceNew`` property, not a conditional (CustomizeDiff) one."""
    entry = _pf.type_facts(type_token) or {}
    parts = _pf.normalize_path(path).split(".")
    return any(".".join(parts[:n]) in set(entry.get("replace", ())) for n in range(1, len(parts) + 1))


def classified(type_token: str) -> bool:
    return _pf.type_facts(type_token) is not None


def canonical_type(type_token: str) -> str:
    return _pf.canonical_type(type_token)
