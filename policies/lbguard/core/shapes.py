"""Conversions between the two shapes routing takes.

pulumi-aws describes listener actions and rule conditions in camelCase nested objects
(``{"type": "forward", "forward": {"targetGroups": [{"arn": ..., "weight": 1}]}}``);
the ELBv2 API (boto3) uses ``{"Type": "forward", "ForwardConfig": {"TargetGroups": ...}}``.
The emulator, the ``rollback`` snapshot, rollback and diagnose all go through these
functions, so a routing table means the same thing everywhere.

``canonical_*`` put API-shaped routing in one comparable form: a forward to a single
target group given as ``TargetGroupArn`` becomes a one-entry ``ForwardConfig`` with
weight 1 (that is how ELBv2 itself reports it), absent stickiness becomes
``{"Enabled": False}``, and keys AWS does not hold are dropped.
"""

from __future__ import annotations

from typing import Any, Mapping

# pulumi condition key -> (API field name, API config key)
_CONDITION_FIELDS = {
    "hostHeader": ("host-header", "HostHeaderConfig"),
    "pathPattern": ("path-pattern", "PathPatternConfig"),
    "httpRequestMethod": ("http-request-method", "HttpRequestMethodConfig"),
    "sourceIp": ("source-ip", "SourceIpConfig"),
}
_FIELD_TO_PULUMI = {field: (key, cfg) for key, (field, cfg) in _CONDITION_FIELDS.items()}


def _num(value: Any) -> int:
    """Engine props arrive as floats (50 -> 50.0); AWS wants ints."""
    return int(value)


# ---------------------------------------------------------------- conditions


def condition_to_api(cond: Mapping[str, Any]) -> dict:
    """One pulumi-aws rule condition -> one ELBv2 ``Condition``."""
    for key, (field, cfg) in _CONDITION_FIELDS.items():
        if cond.get(key):
            return {"Field": field, cfg: {"Values": list(cond[key]["values"])}}
    if cond.get("httpHeader"):
        h = cond["httpHeader"]
        return {
            "Field": "http-header",
            "HttpHeaderConfig": {"HttpHeaderName": h["httpHeaderName"], "Values": list(h["values"])},
        }
    if cond.get("queryStrings"):
        return {
            "Field": "query-string",
            "QueryStringConfig": {
                "Values": [
                    {k: v for k, v in (("Key", q.get("key")), ("Value", q["value"])) if v is not None}
                    for q in cond["queryStrings"]
                ]
            },
        }
    raise ValueError(f"listener rule condition has no known field: {sorted(cond)}")


def condition_from_api(cond: Mapping[str, Any]) -> dict:
    """One ELBv2 ``Condition`` -> the pulumi-aws shape."""
    field = cond["Field"]
    if field in _FIELD_TO_PULUMI:
        key, cfg = _FIELD_TO_PULUMI[field]
        values = (cond.get(cfg) or {}).get("Values") or cond.get("Values") or []
        return {key: {"values": list(values)}}
    if field == "http-header":
        h = cond["HttpHeaderConfig"]
        return {"httpHeader": {"httpHeaderName": h["HttpHeaderName"], "values": list(h["Values"])}}
    if field == "query-string":
        return {
            "queryStrings": [
                {k: v for k, v in (("key", q.get("Key")), ("value", q.get("Value"))) if v is not None}
                for q in cond["QueryStringConfig"]["Values"]
            ]
        }
    raise ValueError(f"unknown listener rule condition field {field!r}")


def canonical_condition(cond: Mapping[str, Any]) -> dict:
    """API condition in one comparable form (drops the legacy top-level ``Values``)."""
    return condition_to_api(condition_from_api(cond))


# ---------------------------------------------------------------- actions


def action_to_api(action: Mapping[str, Any]) -> dict:
    """One pulumi-aws listener/rule action -> one ELBv2 ``Action``."""
    kind = action["type"]
    out: dict[str, Any] = {"Type": kind}
    if action.get("order") is not None:
        out["Order"] = _num(action["order"])
    if kind == "forward":
        fwd = action.get("forward")
        if fwd and fwd.get("targetGroups"):
            cfg: dict[str, Any] = {
                "TargetGroups": [
                    {"TargetGroupArn": tg["arn"], "Weight": _num(tg.get("weight", 1) if tg.get("weight") is not None else 1)}
                    for tg in fwd["targetGroups"]
                ]
            }
            st = fwd.get("stickiness")
            if st:
                sc: dict[str, Any] = {"Enabled": bool(st.get("enabled", False))}
                duration = st.get("duration")  # ELBv2 takes a duration only with stickiness on
                if st.get("enabled") and duration is not None:
                    sc["DurationSeconds"] = _num(duration)
                cfg["TargetGroupStickinessConfig"] = sc
            out["ForwardConfig"] = cfg
        else:
            out["TargetGroupArn"] = action["targetGroupArn"]
    elif kind == "redirect":
        r = action["redirect"]
        cfg = {"StatusCode": r["statusCode"]}
        for src, dst in (("protocol", "Protocol"), ("port", "Port"), ("host", "Host"), ("path", "Path"), ("query", "Query")):
            if r.get(src) is not None:
                cfg[dst] = str(r[src])
        out["RedirectConfig"] = cfg
    elif kind == "fixed-response":
        f = action["fixedResponse"]
        cfg = {"StatusCode": str(f["statusCode"]), "ContentType": f["contentType"]}
        if f.get("messageBody") is not None:
            cfg["MessageBody"] = f["messageBody"]
        out["FixedResponseConfig"] = cfg
    else:
        raise ValueError(f"listener action type {kind!r} is not supported")
    return out


def action_from_api(action: Mapping[str, Any]) -> dict:
    """One ELBv2 ``Action`` -> the pulumi-aws shape (as the provider reads it back)."""
    kind = action["Type"]
    out: dict[str, Any] = {"type": kind}
    if action.get("Order") is not None:
        out["order"] = action["Order"]
    if kind == "forward":
        fc = action.get("ForwardConfig")
        tgs = (fc or {}).get("TargetGroups") or []
        if len(tgs) > 1 or (fc and not action.get("TargetGroupArn")):
            fwd: dict[str, Any] = {
                "targetGroups": [{"arn": t["TargetGroupArn"], "weight": t.get("Weight", 1)} for t in tgs]
            }
            st = (fc or {}).get("TargetGroupStickinessConfig")
            if st is not None:
                fwd["stickiness"] = {"enabled": bool(st.get("Enabled")), "duration": st.get("DurationSeconds", 0)}
            out["forward"] = fwd
        else:
            out["targetGroupArn"] = action.get("TargetGroupArn") or tgs[0]["TargetGroupArn"]
    elif kind == "redirect":
        r = action["RedirectConfig"]
        out["redirect"] = {
            dst: r[src]
            for src, dst in (("Protocol", "protocol"), ("Port", "port"), ("Host", "host"), ("Path", "path"),
                             ("Query", "query"), ("StatusCode", "statusCode"))
            if src in r
        }
    elif kind == "fixed-response":
        f = action["FixedResponseConfig"]
        out["fixedResponse"] = {
            dst: f[src]
            for src, dst in (("ContentType", "contentType"), ("MessageBody", "messageBody"), ("StatusCode", "statusCode"))
            if src in f
        }
    return out


def canonical_action(action: Mapping[str, Any]) -> dict:
    """API action in one comparable form; see the module docstring."""
    kind = action["Type"]
    out: dict[str, Any] = {"Type": kind}
    if kind == "forward":
        fc = action.get("ForwardConfig") or {}
        tgs = fc.get("TargetGroups") or [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        st = fc.get("TargetGroupStickinessConfig") or {"Enabled": False}
        sticky: dict[str, Any] = {"Enabled": bool(st.get("Enabled"))}
        if sticky["Enabled"]:
            sticky["DurationSeconds"] = int(st.get("DurationSeconds", 0))
        out["ForwardConfig"] = {
            "TargetGroups": [
                {"TargetGroupArn": t["TargetGroupArn"], "Weight": int(t.get("Weight", 1))} for t in tgs
            ],
            "TargetGroupStickinessConfig": sticky,
        }
    elif kind == "redirect":
        r = dict(action["RedirectConfig"])
        # AWS fills these in when omitted; compare as AWS holds them.
        defaults = {"Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "Port": "#{port}", "Protocol": "#{protocol}"}
        out["RedirectConfig"] = {**defaults, **{k: str(v) for k, v in r.items()}}
    elif kind == "fixed-response":
        out["FixedResponseConfig"] = dict(action["FixedResponseConfig"])
    else:
        out.update({k: v for k, v in action.items() if k not in ("Type", "Order")})
    return out


def canonical_actions(actions: list[Mapping[str, Any]]) -> list[dict]:
    ordered = sorted(actions, key=lambda a: a.get("Order", 0) or 0)
    return [canonical_action(a) for a in ordered]


def canonical_conditions(conds: list[Mapping[str, Any]]) -> list[dict]:
    return sorted((canonical_condition(c) for c in conds), key=lambda c: repr(sorted(c.items())))


def forward_weights(action: Mapping[str, Any]) -> dict[str, int] | None:
    """Target-group ARN -> weight for an API forward action; None for other actions."""
    if action.get("Type") != "forward":
        return None
    c = canonical_action(action)
    return {t["TargetGroupArn"]: t["Weight"] for t in c["ForwardConfig"]["TargetGroups"]}
