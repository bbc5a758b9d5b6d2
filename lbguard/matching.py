"""How ALB matches a request against listener rules, and when a rule can never match.

Conditions are ELBv2 API shaped (see ``lbguard.shapes``). ALB semantics:

* Rules are evaluated in ascending priority; the first whose conditions all match
  wins; otherwise the listener's default action applies.
* Within one condition, values are alternatives (OR); conditions combine with AND.
* ``host-header``, ``http-header`` (name and values) and ``query-string`` compare
  case-insensitively; ``path-pattern`` and ``http-request-method`` are case-sensitive.
  ``*`` matches any run of characters, ``?`` exactly one. ``source-ip`` is CIDR.
* Path patterns apply to the path only, never the query string.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from lbguard import shapes


@dataclass(frozen=True)
class Request:
    host: str = ""
    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    source_ip: str | None = None


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    # fnmatch would treat [] as classes; ALB only knows * and ?.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _any_glob(patterns: Iterable[str], value: str | None, ignore_case: bool) -> bool:
    return value is not None and any(_glob(p, ignore_case).match(value) for p in patterns)


def _values(cond: Mapping[str, Any]) -> tuple[str, list]:
    c = shapes.canonical_condition(cond)
    field_ = c["Field"]
    cfg = next(v for k, v in c.items() if k != "Field")
    return field_, cfg


def condition_matches(cond: Mapping[str, Any], req: Request) -> bool:
    field_, cfg = _values(cond)
    if field_ == "host-header":
        return _any_glob(cfg["Values"], req.host.split(":")[0], True)
    if field_ == "path-pattern":
        return _any_glob(cfg["Values"], req.path.split("?")[0], False)
    if field_ == "http-request-method":
        return req.method in cfg["Values"]
    if field_ == "http-header":
        name = cfg["HttpHeaderName"].lower()
        value = next((v for k, v in req.headers.items() if k.lower() == name), None)
        return _any_glob(cfg["Values"], value, True)
    if field_ == "query-string":
        for pair in cfg["Values"]:
            for k, v in req.query.items():
                key_ok = pair.get("Key") is None or _glob(pair["Key"], True).match(k)
                if key_ok and _glob(pair["Value"], True).match(v):
                    return True
        return False
    if field_ == "source-ip":
        if req.source_ip is None:
            return False
        ip = ipaddress.ip_address(req.source_ip)
        return any(ip in ipaddress.ip_network(c, strict=False) for c in cfg["Values"])
    raise ValueError(f"unknown condition field {field_!r}")


def rule_matches(conditions: Sequence[Mapping[str, Any]], req: Request) -> bool:
    return all(condition_matches(c, req) for c in conditions)


def first_match(rules: Sequence[Mapping[str, Any]], req: Request) -> Mapping[str, Any] | None:
    """The winning rule (dicts with ``priority`` and ``conditions``), or None for the default."""
    for rule in sorted(rules, key=lambda r: int(r["priority"])):
        if rule_matches(rule["conditions"], req):
            return rule
    return None


# ---------------------------------------------------------------- shadowing


def _tokens(pattern: str, ignore_case: bool) -> list[str]:
    return list(pattern.lower() if ignore_case else pattern)


def glob_covers(high: str, low: str, ignore_case: bool = False) -> bool:
    """True if every string matching ``low`` also matches ``high`` (sound, not complete).

    Treats ``low``'s wildcards as symbols: its ``*`` can only be absorbed by a ``*`` in
    ``high``, its ``?`` by ``?`` or ``*``. It never claims a cover that does not hold.
    """
    h, l = _tokens(high, ignore_case), _tokens(low, ignore_case)

    @lru_cache(maxsize=None)
    def go(i: int, j: int) -> bool:
        if i == len(h):
            return j == len(l)
        if h[i] == "*":
            # '*' absorbs zero or more of low's tokens (any kind).
            return go(i + 1, j) or (j < len(l) and go(i, j + 1))
        if j == len(l):
            return False
        if h[i] == "?":
            return l[j] != "*" and go(i + 1, j + 1)
        return l[j] == h[i] and go(i + 1, j + 1)

    return go(0, 0)


def _cidr_covers(high: str, low: str) -> bool:
    try:
        a, b = ipaddress.ip_network(high, strict=False), ipaddress.ip_network(low, strict=False)
    except ValueError:
        return False
    return a.version == b.version and b.subnet_of(a)


def _condition_covers(high: Mapping[str, Any], low: Mapping[str, Any]) -> bool:
    """Every request satisfying ``low`` satisfies ``high`` (same field only)."""
    hf, hc = _values(high)
    lf, lc = _values(low)
    if hf != lf:
        return False
    if hf == "http-header" and hc["HttpHeaderName"].lower() != lc["HttpHeaderName"].lower():
        return False
    if hf == "http-request-method":
        return set(lc["Values"]) <= set(hc["Values"])
    if hf == "source-ip":
        return all(any(_cidr_covers(h, l) for h in hc["Values"]) for l in lc["Values"])
    if hf == "query-string":
        def pair_cov(hp, lp):
            key_ok = hp.get("Key") is None or (lp.get("Key") is not None and glob_covers(hp["Key"], lp["Key"], True))
            return key_ok and glob_covers(hp["Value"], lp["Value"], True)
        return all(any(pair_cov(hp, lp) for hp in hc["Values"]) for lp in lc["Values"])
    ignore_case = hf in ("host-header", "http-header")
    return all(any(glob_covers(h, l, ignore_case) for h in hc["Values"]) for l in lc["Values"])


def covers(high: Sequence[Mapping[str, Any]], low: Sequence[Mapping[str, Any]]) -> bool:
    """True if a rule with conditions ``high`` matches every request ``low`` matches.

    Each of ``high``'s conditions must be implied by one of ``low``'s (AND semantics);
    a rule with no conditions matches everything.
    """
    return all(any(_condition_covers(hc, lc) for lc in low) for hc in high)


def is_catch_all(conditions: Sequence[Mapping[str, Any]]) -> bool:
    """Conditions that every request satisfies (e.g. path-pattern ``*`` or ``/*``)."""
    everything = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    return covers(conditions, everything)


def shadowed_rules(rules: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(shadowed, by) pairs: rules a higher-priority rule on the same listener always pre-empts."""
    ordered = sorted(rules, key=lambda r: int(r["priority"]))
    out = []
    for i, low in enumerate(ordered):
        for high in ordered[:i]:
            if covers(high["conditions"], low["conditions"]):
                out.append((low, high))
                break
    return out


def duplicate_priorities(rules: Sequence[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    seen: dict[int, list] = {}
    for r in rules:
        seen.setdefault(int(r["priority"]), []).append(r)
    return {p: rs for p, rs in seen.items() if len(rs) > 1}
