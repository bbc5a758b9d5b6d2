"""Provider facts: what the Terraform AWS provider and pulumi-aws decide about a change.

One data file, ``replacements.json`` (beside this module), read by hand from the sources
of the version the lock runs (pulumi-aws 7.51.1, bridging terraform-provider-aws v6; the
file says how that was determined). Every entry names its source: repository, file,
function and commit. This module only reads it: pure, no Pulumi, no boto3.

Property paths are pulumi-aws camelCase input names joined by ``.`` (``healthCheck.port``);
list positions are dropped (``blockDeviceMappings[0].ebs`` and ``blockDeviceMappings.ebs``
are the same path). ``aws:alb/...`` tokens are the ``aws:lb/...`` resources.

API (used by the preview's plan):

``forces_replacement(type, path, *, old=, new=, inputs=None, old_state=None) -> bool | None``
    True: the change forces replacement (the schema's ``ForceNew``/``RequiresReplace``, or a
    ``CustomizeDiff``/``ModifyPlan`` predicate that holds on the values given). False: the
    property updates in place (or the predicate does not hold). None: not classified.
    ``old``/``new`` are the property's prior and new values, ``inputs`` the resource's new
    (checked) inputs, ``old_state`` its prior state. Values not given are unknown, and an
    unknown value counts as "may replace" (True).
``resource_delete_before_replace(type) -> bool``
    pulumi-aws's own ``ResourceInfo.DeleteBeforeReplace`` for the type.
``auto_name_property(type) -> str | None`` / ``auto_name_max_length(type) -> int | None``
    The input pulumi-aws fills with ``<name>-<random>`` when the program leaves it unset.
``unique_name_fields(type) -> tuple[str, ...]``
    ``ResourceInfo.UniqueNameFields`` (none in pulumi-aws today).
``framework(type) -> "sdkv2" | "pf"``
    terraform-plugin-sdk or plugin-framework: the bridge applies the auto-name
    delete-before-replace rule only to SDKv2 resources.
``schema_defaults(type) -> dict[str, Any]``
    camelCase path -> the default the bridge's Check fills in for an unset input.
``source(type) -> dict | None`` / ``provenance(type, path=None) -> dict | None``
    Where the type's facts (or one property's, when it has its own) were read.
``physical_name_property``, ``replacement_properties``, ``in_use_hazard``: as before.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Callable

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


# ------------------------------------------------------------------ predicates
#
# Each conditional fact in the data file names one of these. A predicate sees the property's
# old and new values (``_UNSET`` when not given), the new inputs and the prior state (None
# when not given), and returns whether the provider forces replacement.


def _known(*values: Any) -> bool:
    return all(v is not _UNSET for v in values)


def _members(value: Any) -> set[str]:
    """A TF set (list of scalars or of blocks) as comparable members."""
    return {json.dumps(v, sort_keys=True) for v in (value or [])}


def _lb_type(inputs: dict | None, old_state: dict | None) -> str | None:
    """The load balancer's type: new inputs first, then prior state; the schema default when
    the inputs leave it unset (load_balancer.go: Default application)."""
    if inputs is not None:
        return inputs.get("loadBalancerType") or "application"
    if old_state is not None:
        return old_state.get("loadBalancerType") or "application"
    return None


def _nlb_subnets(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    # terraform-provider-aws internal/service/elbv2/load_balancer.go customizeDiffLoadBalancerNLB:
    # "In-place increase in number of subnets only" (deltaN <= 0 -> ForceNew), network only.
    kind = _lb_type(inputs, old_state)
    if kind not in (None, "network"):
        return False
    if not _known(old, new):
        return True
    return len(_members(new)) - len(_members(old)) <= 0


def _nlb_security_groups(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    # load_balancer.go customizeDiffLoadBalancerNLB: ForceNew when security groups are added
    # where none exist, or all are removed; network only.
    kind = _lb_type(inputs, old_state)
    if kind not in (None, "network"):
        return False
    if not _known(old, new):
        return True
    return (len(_members(old)) == 0) != (len(_members(new)) == 0)


def _lb_subnet_mappings(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    # load_balancer.go customizeDiffLoadBalancerALB / customizeDiffLoadBalancerNLB (subnet_mapping):
    # ALB: same count but changed, removal that changes a remaining mapping, or addition that
    # changes a previous one -> ForceNew. NLB: same count or fewer -> ForceNew; addition that
    # changes a previous one -> ForceNew. Gateway: in place.
    kind = _lb_type(inputs, old_state)
    if kind == "gateway":
        return False
    if not _known(old, new):
        return True
    before, after = _members(old), _members(new)
    if before == after:
        return False
    delta = len(after) - len(before)
    if kind in ("network", None) and delta <= 0:  # type unknown: the network rule may apply
        return True
    if delta > 0:
        return not before <= after
    if delta < 0:
        return not after <= before
    return True


def _ssm_tier(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    # internal/service/ssm/parameter.go resourceParameter: customdiff.ForceNewIfChange("tier",
    # old == Advanced && new == Standard); the tier's DiffSuppressFunc hides a new
    # Intelligent-Tiering over a set tier (no diff at all).
    if not _known(old, new):
        return True
    return old == "Advanced" and new == "Standard"


_SG_RULE_SOURCES = ("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId")


def _rule_source_kind(values: dict) -> str | None:
    kinds = [k for k in _SG_RULE_SOURCES if values.get(k) not in (None, "")]
    return kinds[0] if len(kinds) == 1 else None


def _sg_rule_source_kind(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    # internal/service/ec2/vpc_security_group_ingress_rule.go securityGroupRuleResource.ModifyPlan:
    # "When you modify a rule, you cannot change the rule's source type" -> RequiresReplace
    # when sourceAttributeName() differs between state and plan (shared by the egress rule).
    if old_state is not None and inputs is not None:
        before, after = _rule_source_kind(old_state), _rule_source_kind(inputs)
        if before and after:
            return before != after
    if not _known(old, new):
        return True
    # Exactly one source is set: this property set on one side only means the kind changed.
    return (old in (None, "")) != (new in (None, ""))


def _vpc_tenancy(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    # internal/service/ec2/vpc_.go resourceVPC CustomizeDiff: instance_tenancy ForceNew unless
    # dedicated -> default.
    if not _known(old, new):
        return True
    return not (old == "dedicated" and new == "default")


def _changed(old: Any, new: Any, inputs: dict | None, old_state: dict | None) -> bool:
    return not _known(old, new) or old != new


PREDICATES: dict[str, Callable[[Any, Any, dict | None, dict | None], bool]] = {
    "nlb_subnets_not_only_added": _nlb_subnets,
    "nlb_security_groups_emptied_or_first": _nlb_security_groups,
    "lb_subnet_mappings_changed": _lb_subnet_mappings,
    "ssm_tier_advanced_to_standard": _ssm_tier,
    "sg_rule_source_kind_changed": _sg_rule_source_kind,
    "vpc_tenancy_not_dedicated_to_default": _vpc_tenancy,
    "changed": _changed,
}


# ------------------------------------------------------------------ replacement


def forces_replacement(type_token: str, property_path: str, *, old: Any = _UNSET, new: Any = _UNSET,
                       inputs: dict | None = None, old_state: dict | None = None) -> bool | None:
    """Whether changing ``property_path`` of a ``type_token`` resource forces replacement.

    True: replace (for a conditional fact: its predicate holds on ``old`` -> ``new``, the new
    ``inputs`` and the prior ``old_state``; values not given count as "may replace").
    False: update in place. None: the type or the property is not classified.
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
            return PREDICATES[when[prefix]["predicate"]](old, new, inputs, old_state)
        if prefix in update:
            # A nested ForceNew inside an in-place block was matched above (more specific first).
            return False
    return None


def unconditional(type_token: str, property_path: str) -> bool:
    """Whether ``property_path`` (or a block holding it) forces replacement whatever its values:
    a ``ForceNew`` property, not a conditional (CustomizeDiff / ModifyPlan) one."""
    entry = type_facts(type_token) or {}
    return any(prefix in set(entry.get("replace", ())) for prefix in _prefixes(normalize_path(property_path)))


def replacement_properties(type_token: str) -> list[str]:
    """Every property path that forces replacement, unconditionally or under a condition."""
    entry = type_facts(type_token) or {"replace": []}
    return sorted(set(entry["replace"]) | set(entry.get("replaceWhen", {})))


# ------------------------------------------------------------------ pulumi-aws resource info


def _pulumi(type_token: str) -> dict:
    return (type_facts(type_token) or {}).get("pulumi", {})


def resource_delete_before_replace(type_token: str) -> bool:
    """pulumi-aws's ``ResourceInfo.DeleteBeforeReplace`` for the type (False when unknown)."""
    return bool(_pulumi(type_token).get("deleteBeforeReplace", False))


def _auto_name(type_token: str) -> dict | None:
    own = facts().get("albTokens", {}).get(type_token, {})
    return own["autoName"] if "autoName" in own else _pulumi(type_token).get("autoName")


def auto_name_property(type_token: str) -> str | None:
    """The input pulumi-aws auto-names when the program leaves it unset (``name``, ``bucket``...)."""
    info = _auto_name(type_token)
    return info["property"] if info else None


def auto_name_max_length(type_token: str) -> int | None:
    info = _auto_name(type_token)
    return info["maxLength"] if info else None


def unique_name_fields(type_token: str) -> tuple[str, ...]:
    """``ResourceInfo.UniqueNameFields``: fields whose change makes a set name unique again."""
    return tuple(_pulumi(type_token).get("uniqueNameFields", ()))


def framework(type_token: str) -> str:
    """``"pf"`` for plugin-framework resources, else ``"sdkv2"``."""
    return (type_facts(type_token) or {}).get("framework", "sdkv2")


def schema_defaults(type_token: str) -> dict[str, Any]:
    """camelCase path -> the default the bridge's Check applies when the input is unset."""
    return dict((type_facts(type_token) or {}).get("defaults", {}))


# ------------------------------------------------------------------ provenance and names


def source(type_token: str) -> dict | None:
    """Where the type's facts were read: repository, file, function, commit (or ref)."""
    entry = type_facts(type_token)
    return dict(entry["source"]) if entry else None


def provenance(type_token: str, property_path: str | None = None) -> dict | None:
    """The source of one property's fact: its predicate's source, its own evidence, or the type's."""
    entry = type_facts(type_token)
    if entry is None:
        return None
    if property_path is not None:
        path = normalize_path(property_path)
        for prefix in _prefixes(path):
            if prefix in entry.get("replaceWhen", {}):
                w = entry["replaceWhen"][prefix]
                return {**w["source"], "predicate": w["predicate"], "why": w["why"]}
            if prefix in entry.get("evidence", {}):
                return {"evidence": entry["evidence"][prefix]}
            if prefix in entry["replace"] or prefix in entry["update"]:
                break
    return dict(entry["source"])


def physical_name_property(type_token: str) -> str | None:
    """The input that holds a resource's physical name, if the type has one (``name``, ``bucket``, ...)."""
    entry = type_facts(type_token)
    return (entry or {}).get("physicalName", {}).get("property")


def in_use_hazard(type_token: str) -> str | None:
    """Why a replacement of this type fails while the old one is still in use, if it does."""
    entry = type_facts(type_token)
    return (entry or {}).get("inUse")
