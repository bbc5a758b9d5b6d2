"""The routing snapshot: everything needed to restore a load balancer's routing.

It is the stack output ``rollback``, the known-good record in SSM and the "before" of a
rollback journal. Every action and condition is stored in ELBv2 API shape, so restoring
needs boto3 alone: ``modify_listener(ListenerArn=l["arn"], DefaultActions=l["defaultActions"])``,
``modify_rule(RuleArn=r["arn"], Conditions=r["conditions"], Actions=r["actions"])``,
``set_rule_priorities`` and, for a rule that is gone, ``create_rule`` from the same fields.

Schema version 2 (``SCHEMA``, checked on every load with jsonschema, or in the Lambda runtime
with ``lbguard.core.schema_check``)::

    {"schemaVersion": 2, "project": str, "stack": str, "region": str, "account": str,
     "loadBalancer": {"arn": str, "name": str},
     "targetGroups": {pool_key: {"arn": str, "name": str}},
     "listeners": [{"key": str, "arn": str, "port": int, "protocol": str,
                    ["sslPolicy": str, "certificates": [str]],   # lets a gone listener be re-created
                    "defaultActions": [Action], "rules": [
                        {"key": str, "arn": str, "priority": int,
                         "conditions": [Condition], "actions": [Action]}]}]}

Version 2 added the ownership fields (project, stack, region, account, load-balancer
ARN): rollback, promote and the auto-rollback function refuse a snapshot that belongs
to another target (``check_owner``). A version 1 snapshot is refused with a hint to
record a new one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from lbguard.core import shapes
from lbguard.core.model import LbguardError

SCHEMA_VERSION = 2

_ARN = {"type": "string", "pattern": "^arn:aws[a-z-]*:elasticloadbalancing:"}
_VALUES = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
_CONFIG_WITH_VALUES = {"type": "object", "required": ["Values"], "properties": {"Values": _VALUES}}
_CONDITION_CONFIG = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig",
                     "http-request-method": "HttpRequestMethodConfig", "source-ip": "SourceIpConfig",
                     "http-header": "HttpHeaderConfig", "query-string": "QueryStringConfig"}

CONDITION = {
    "type": "object", "required": ["Field"],
    "properties": {
        "Field": {"enum": sorted(_CONDITION_CONFIG)},
        **{cfg: _CONFIG_WITH_VALUES for f, cfg in _CONDITION_CONFIG.items() if f not in ("http-header", "query-string")},
        "HttpHeaderConfig": {"type": "object", "required": ["HttpHeaderName", "Values"],
                             "properties": {"HttpHeaderName": {"type": "string", "minLength": 1}, "Values": _VALUES}},
        "QueryStringConfig": {"type": "object", "required": ["Values"], "properties": {"Values": {
            "type": "array", "minItems": 1, "items": {"type": "object", "required": ["Value"], "properties": {
                "Key": {"type": "string"}, "Value": {"type": "string", "minLength": 1}}}}}},
    },
    # A condition must carry the config of its own field: {"Field": "path-pattern"} alone
    # (no values) is what AWS would be sent otherwise.
    "allOf": [{"if": {"properties": {"Field": {"const": f}}, "required": ["Field"]}, "then": {"required": [cfg]}}
              for f, cfg in _CONDITION_CONFIG.items()],
}

ACTION = {
    "type": "object", "required": ["Type"],
    "properties": {
        "Type": {"enum": ["forward", "redirect", "fixed-response"]},
        "Order": {"type": "integer", "minimum": 1, "maximum": 50000},
        "TargetGroupArn": _ARN,
        "ForwardConfig": {"type": "object", "required": ["TargetGroups"], "properties": {
            "TargetGroups": {"type": "array", "minItems": 1, "maxItems": 5, "items": {
                "type": "object", "required": ["TargetGroupArn"], "properties": {
                    # No maximum: ALB's 0..999 is the even-target-weights policy's finding, and AWS
                    # itself refuses the write (reported as that step's error).
                    "TargetGroupArn": _ARN, "Weight": {"type": "integer", "minimum": 0}}}},
            "TargetGroupStickinessConfig": {"type": "object", "properties": {
                "Enabled": {"type": "boolean"}, "DurationSeconds": {"type": "integer", "minimum": 1, "maximum": 604800}}}}},
        "RedirectConfig": {"type": "object", "required": ["StatusCode"],
                           "properties": {"StatusCode": {"enum": ["HTTP_301", "HTTP_302"]}}},
        "FixedResponseConfig": {"type": "object", "required": ["StatusCode"],
                                "properties": {"StatusCode": {"type": "string", "pattern": "^[2-5][0-9][0-9]$"}}},
    },
    "allOf": [
        {"if": {"properties": {"Type": {"const": "forward"}}, "required": ["Type"]},
         "then": {"anyOf": [{"required": ["ForwardConfig"]}, {"required": ["TargetGroupArn"]}]}},
        {"if": {"properties": {"Type": {"const": "redirect"}}, "required": ["Type"]}, "then": {"required": ["RedirectConfig"]}},
        {"if": {"properties": {"Type": {"const": "fixed-response"}}, "required": ["Type"]},
         "then": {"required": ["FixedResponseConfig"]}},
    ],
}

_ACTIONS = {"type": "array", "minItems": 1, "items": ACTION}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schemaVersion", "project", "stack", "region", "account", "loadBalancer", "listeners"],
    "properties": {
        "schemaVersion": {"const": SCHEMA_VERSION},
        "project": {"type": "string", "minLength": 1},
        "stack": {"type": "string", "minLength": 1},
        "region": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]+$"},
        "account": {"type": "string", "pattern": "^[0-9]{12}$"},
        "loadBalancer": {"type": "object", "required": ["arn"], "properties": {
            "arn": {"type": "string", "pattern": "^arn:aws[a-z-]*:elasticloadbalancing:[^:]+:[0-9]{12}:loadbalancer/"},
            "name": {"type": "string"}}},
        "targetGroups": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["arn"], "properties": {"arn": _ARN, "name": {"type": "string"}}}},
        "listeners": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["arn", "port", "protocol", "defaultActions"],
            "properties": {
                "key": {"type": "string"}, "arn": _ARN,
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "protocol": {"enum": ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP"]},
                "sslPolicy": {"type": "string"}, "certificates": {"type": "array", "items": {"type": "string"}},
                "defaultActions": _ACTIONS,
                "rules": {"type": "array", "items": {
                    "type": "object", "required": ["arn", "priority", "conditions", "actions"],
                    "properties": {"key": {"type": "string"}, "arn": _ARN,
                                   # The engine's wire format turns 10 into 10.0; draft 2020-12 "integer" accepts both.
                                   "priority": {"type": "integer", "minimum": 1, "maximum": 50000},
                                   "conditions": {"type": "array", "minItems": 1, "maxItems": 5, "items": CONDITION},
                                   "actions": _ACTIONS}}}}}},
    },
}


def camelize(value: Any) -> Any:
    """snake_case dict keys (pulumi Python inputs) -> camelCase (engine/provider shape)."""
    if isinstance(value, Mapping):
        return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): camelize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [camelize(v) for v in value]
    return value


def arn_region_account(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN: ``arn:aws:elasticloadbalancing:REGION:ACCOUNT:...``."""
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) > 5 else ("", "")


def build_snapshot(*, project: str, stack: str, load_balancer: Mapping[str, str],
                   target_groups: Mapping[str, Mapping[str, str]], listeners: list[Mapping[str, Any]],
                   region: str | None = None, account: str | None = None) -> dict:
    """Listeners come in pulumi-aws shape (camelCase) with resolved ARNs.

    Region and account default to the load balancer ARN's own fields: that is exactly
    where the load balancer lives, with no extra invoke in the program."""
    arn_region, arn_account = arn_region_account(load_balancer["arn"])
    out_listeners = []
    for lst in listeners:
        out_listeners.append({
            "key": lst["key"],
            "arn": lst["arn"],
            "port": int(lst["port"]),
            "protocol": lst["protocol"],
            **({"sslPolicy": lst["sslPolicy"]} if lst.get("sslPolicy") else {}),
            **({"certificates": [c for c in lst["certificates"] if c]} if lst.get("certificates") else {}),
            "defaultActions": [shapes.action_to_api(a) for a in lst["defaultActions"]],
            "rules": [
                {
                    "key": r["key"],
                    "arn": r["arn"],
                    "priority": int(r["priority"]),
                    "conditions": [shapes.condition_to_api(c) for c in r["conditions"]],
                    "actions": [shapes.action_to_api(a) for a in r["actions"]],
                }
                for r in lst.get("rules", [])
            ],
        })
    return {
        "schemaVersion": SCHEMA_VERSION,
        "project": project,
        "stack": stack,
        "region": region or arn_region,
        "account": account or arn_account,
        "loadBalancer": dict(load_balancer),
        "targetGroups": {k: dict(v) for k, v in target_groups.items()},
        "listeners": out_listeners,
    }


def _where(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top)"


def validate_snapshot(doc: Any, source: str = "snapshot") -> dict:
    """Check ``doc`` against ``SCHEMA``; raise LbguardError naming the first bad field."""
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
        raise LbguardError(f"{source}: schemaVersion 1 predates the ownership fields (project, stack, region, account, "
                           f"load balancer) and is refused: re-deploy the stack or run `lbguard promote` to record a "
                           f"schemaVersion {SCHEMA_VERSION} snapshot")
    if not isinstance(doc, dict):
        raise LbguardError(f"{source}: (top): must be a JSON object, got {type(doc).__name__}")
    try:
        import jsonschema
    except ImportError:  # the Lambda runtime: lbguard.core.schema_check implements the keywords SCHEMA uses
        from lbguard.core import schema_check

        found = schema_check.first_error(SCHEMA, doc)
        if found is not None:
            raise LbguardError(f"{source}: {_where(found[0])}: {found[1]}")
    else:
        validator = jsonschema.Draft202012Validator(SCHEMA)
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if error is not None:
            raise LbguardError(f"{source}: {_where(error.absolute_path)}: {error.message}")
    for i, lst in enumerate(doc["listeners"]):
        seen: set[int] = set()
        for j, rule in enumerate(lst.get("rules", [])):
            if int(rule["priority"]) in seen:
                raise LbguardError(f"{source}: listeners[{i}].rules[{j}].priority: duplicate priority {rule['priority']}")
            seen.add(int(rule["priority"]))
    return doc


def load_snapshot_file(path: str | Path, what: str = "--snapshot") -> dict:
    """Read, decode, parse and validate a snapshot file: every failure is one line."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise LbguardError(f"{what} {path}: cannot read: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LbguardError(f"{what} {path}: not UTF-8 text (byte {err.start}): pass a snapshot JSON file") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise LbguardError(f"{what} {path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    return validate_snapshot(doc, f"{what} {path}")


def check_owner(doc: Mapping[str, Any], *, project: str, stack: str, region: str, account: str,
                load_balancer_arn: str, source: str = "snapshot") -> None:
    """Refuse a snapshot that belongs to another project, stack, region, account or load
    balancer, and one naming a listener or rule of another load balancer."""
    want = {"project": project, "stack": stack, "region": region, "account": account,
            "load balancer": load_balancer_arn}
    held = {"project": doc.get("project"), "stack": doc.get("stack"), "region": doc.get("region"),
            "account": doc.get("account"), "load balancer": (doc.get("loadBalancer") or {}).get("arn")}
    wrong = [k for k in want if held[k] != want[k]]
    if wrong:
        k = wrong[0]
        raise LbguardError(f"{source} belongs to {held['project']}/{held['stack']} ({k} {held[k]}), not to the target "
                           f"{project}/{stack} ({k} {want[k]}); refusing it, nothing was changed")
    lb_id = load_balancer_arn.split(":loadbalancer/", 1)[-1]
    for lst in doc["listeners"]:
        for arn in [lst["arn"]] + [r["arn"] for r in lst.get("rules", [])]:
            if f"/{lb_id}/" not in arn:
                raise LbguardError(f"{source} names {arn}, which is not on load balancer {load_balancer_arn}; "
                                   f"refusing it, nothing was changed")


def tg_name(arn: str) -> str:
    """``...:targetgroup/NAME/ID`` -> NAME (target-group names are unique per region and account)."""
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def forwarded_target_groups(doc: Mapping[str, Any]) -> set[str]:
    """Every target-group ARN a snapshot forwards to with a positive weight."""
    arns: set[str] = set()
    for lst in doc["listeners"]:
        actions = list(lst["defaultActions"])
        for rule in lst.get("rules", []):
            actions.extend(rule["actions"])
        for a in actions:
            weights = shapes.forward_weights(a) or {}
            arns.update(arn for arn, w in weights.items() if w > 0)
    return arns
