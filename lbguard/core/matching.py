"""How ALB matches a request against listener rules, and when a rule can never match.

Conditions are ELBv2 API shaped (see ``lbguard.core.shapes``). ALB semantics:

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
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from lbguard.core import shapes


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


@lru_cache(maxsize=65536)
def glob_covers(high: str, low: str, ignore_case: bool = False) -> bool:
    """True if every string matching ``low`` also matches ``high`` (sound, not complete).

    Treats ``low``'s wildcards as symbols: its ``*`` can only be absorbed by a ``*`` in
    ``high``, its ``?`` by ``?`` or ``*``. It never claims a cover that does not hold.
    (A pure function of three values: cached, as the pack asks the same pairs for every
    policy that reads the topology.)
    """
    h, l = _tokens(high, ignore_case), _tokens(low, ignore_case)
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        known_ = memo.get((i, j))
        if known_ is not None:
            return known_
        if i == len(h):
            result = j == len(l)
        elif h[i] == "*":
            # '*' absorbs zero or more of low's tokens (any kind).
            result = go(i + 1, j) or (j < len(l) and go(i, j + 1))
        elif j == len(l):
            result = False
        elif h[i] == "?":
            result = l[j] != "*" and go(i + 1, j + 1)
        else:
            result = l[j] == h[i] and go(i + 1, j + 1)
        memo[(i, j)] = result
        return result

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


def _always_true(cond: Mapping[str, Any]) -> bool:
    """A condition every request satisfies, whatever its other fields: a path pattern that
    covers ``/*`` (every path starts with ``/``), a host pattern ``*``, or source IPs
    covering all of IPv4 and IPv6. Such a condition is implied by any rule's conditions,
    across fields (a ``/*`` path rule above a host-only rule pre-empts it)."""
    f, cfg = _values(cond)
    values = cfg.get("Values") or []
    if f == "path-pattern":
        return any(glob_covers(v, "/*", False) for v in values)
    if f == "host-header":
        return any(glob_covers(v, "*", True) for v in values)
    if f == "source-ip":
        return any(_cidr_covers(v, "0.0.0.0/0") for v in values) and any(_cidr_covers(v, "::/0") for v in values)
    return False


def covers(high: Sequence[Mapping[str, Any]], low: Sequence[Mapping[str, Any]]) -> bool:
    """True if a rule with conditions ``high`` matches every request ``low`` matches.

    Each of ``high``'s conditions must be always true or implied by one of ``low``'s (AND
    semantics); a rule with no conditions matches everything.
    """
    return all(_always_true(hc) or any(_condition_covers(hc, lc) for lc in low) for hc in high)


MAX_DISJUNCTS = 256


def _split(cond: Mapping[str, Any]) -> list[dict]:
    """A condition with several values (OR) as single-value conditions."""
    c = shapes.canonical_condition(cond)
    key = next(k for k in c if k != "Field")
    values = c[key].get("Values") or []
    if len(values) <= 1:
        return [c]
    return [{**c, key: {**c[key], "Values": [v]}} for v in values]


def union_cover(earlier: Sequence[Mapping[str, Any]], low: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """Earlier rules that together match every request ``low`` matches, each covering some of
    its alternatives (``low``'s multi-valued conditions expanded: /a/x OR /b/y), or None."""
    conds = list(low["conditions"])
    if not conds:
        return None
    parts = list(itertools.islice(itertools.product(*[_split(c) for c in conds]), MAX_DISJUNCTS + 1))
    if len(parts) < 2 or len(parts) > MAX_DISJUNCTS:
        return None
    by: list[Mapping[str, Any]] = []
    for part in parts:
        high = next((h for h in earlier if covers(h["conditions"], list(part))), None)
        if high is None:
            return None
        if not any(high is b for b in by):
            by.append(high)
    return by


def is_catch_all(conditions: Sequence[Mapping[str, Any]], hosts: Sequence[str] | None = None) -> bool:
    """Conditions that every request satisfies (e.g. path-pattern ``*`` or ``/*``).

    ``hosts``: every name the listener serves (its certificates' names, wildcards included), or
    None when not known. A host condition whose values cover each of them takes every request the
    listener's TLS names admit, so it is a catch-all for that listener (``*.example.com`` plus
    ``example.com`` on a listener whose certificate is for exactly those)."""
    everything = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    if covers(conditions, everything):
        return True
    if not hosts or not conditions:
        return False
    for cond in conditions:
        if _always_true(cond):
            continue
        field_, cfg = _values(cond)
        if field_ != "host-header":
            return False
        if not all(any(glob_covers(v, h, True) for v in cfg["Values"]) for h in hosts):
            return False
    return True


_SHADOWED: dict[tuple, list[tuple[int, tuple[int, ...]]]] = {}  # rules' content -> (shadowed, by) positions
_SHADOWED_LIMIT = 256


def _rules_key(ordered: Sequence[Mapping[str, Any]]) -> tuple | None:
    """The rules' priorities and conditions as a hashable value, or None if a condition
    holds something JSON cannot spell (then nothing is cached)."""
    try:
        return tuple((int(r["priority"]), json.dumps(list(r["conditions"]), sort_keys=True)) for r in ordered)
    except (TypeError, ValueError):
        return None


def shadowed_rules(rules: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], tuple[Mapping[str, Any], ...]]]:
    """(shadowed, by) pairs: rules that higher-priority rules on the same listener always
    pre-empt; ``by`` is the one earlier rule that covers it, else the earlier rules that
    together do (sound, not complete: a cover it reports always holds).

    Quadratic in the rules, and asked for the same listener by every policy that reads
    the topology: the answer is cached by the rules' content, as positions in priority
    order, and given back in terms of the caller's own rule objects."""
    ordered = sorted(rules, key=lambda r: int(r["priority"]))
    key = _rules_key(ordered)
    found = _SHADOWED.get(key) if key is not None else None
    if found is None:
        found = _shadowed_positions(ordered)
        if key is not None:
            if len(_SHADOWED) >= _SHADOWED_LIMIT:
                _SHADOWED.clear()
            _SHADOWED[key] = found
    return [(ordered[i], tuple(ordered[j] for j in by)) for i, by in found]


def _shadowed_positions(ordered: Sequence[Mapping[str, Any]]) -> list[tuple[int, tuple[int, ...]]]:
    out = []
    for i, low in enumerate(ordered):
        earlier = ordered[:i]
        single = next((k for k, h in enumerate(earlier) if covers(h["conditions"], low["conditions"])), None)
        if single is not None:
            out.append((i, (single,)))
            continue
        union = union_cover(earlier, low)
        if union:
            out.append((i, tuple(next(k for k, h in enumerate(earlier) if h is u) for u in union)))
    return out


def duplicate_priorities(rules: Sequence[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    seen: dict[int, list] = {}
    for r in rules:
        seen.setdefault(int(r["priority"]), []).append(r)
    return {p: rs for p, rs in seen.items() if len(rs) > 1}
