"""The request mix a rehearsal sends: the traffic profile's, or one derived from the routing.

With a profile (``lbguard.core.profile``), its classes for the rehearsed listener's port are
sent in their normalised proportions. Without one, one request is synthesised per rule
that some request can reach (wildcards filled in, the first value of every condition)
plus one for the default action, taken from base and head alike so that both runs get
the same traffic, in equal proportions; a request is kept only if
``lbguard.core.matching.first_match`` sends it to the rule it was made for.
"""

from __future__ import annotations

import ipaddress

from lbguard.core import matching
from lbguard.core.model import LbguardError
from lbguard.core.profile import Profile
from lbguard.offline.rehearse.plan import Plan
from lbguard.offline.rehearse.wrk import LoadClass

HOST = "www.example.com"


def _fill(pattern: str, word: str = "rehearse") -> str:
    return pattern.replace("*", word).replace("?", "a")


def _request_for(conditions: list[dict]) -> matching.Request:
    host, path, method, headers, query, source = HOST, "/", "GET", {}, {}, None
    for c in conditions:
        field = c["Field"]
        cfg = next(v for k, v in c.items() if k != "Field")
        values = cfg.get("Values") or []
        if field == "host-header":
            host = _fill(values[0], "www")
        elif field == "path-pattern":
            path = _fill(values[0])
            path = path if path.startswith("/") else "/" + path
        elif field == "http-request-method":
            method = values[0]
        elif field == "http-header":
            headers[cfg["HttpHeaderName"]] = _fill(values[0])
        elif field == "query-string":
            pair = values[0]
            query[_fill(pair.get("Key") or "q")] = _fill(pair["Value"])
        elif field == "source-ip":
            net = ipaddress.ip_network(values[0], strict=False)
            source = str(net.network_address + (1 if net.num_addresses > 2 else 0))
    return matching.Request(host=host, path=path, method=method, headers=headers, query=query, source_ip=source)


def derived(plans: list[Plan]) -> list[LoadClass]:
    found: dict[str, tuple[str, matching.Request]] = {}  # repr -> (rule, request): Request holds dicts
    for plan in plans:
        listener = plan.primary()
        candidates = [(r["name"], _request_for(r["conditions"])) for r in listener.rule_views]
        candidates.append(("default", matching.Request(host=HOST, path="/")))
        for name, req in candidates:
            hit = matching.first_match(listener.rule_views, req)
            if (hit["name"] if hit else "default") == name and repr(req) not in found:
                found[repr(req)] = (name, req)
    if not found:
        raise LbguardError("no request reaches any rule or the default action: pass --profile FILE")
    return [LoadClass(name, req, 1.0 / len(found)) for name, req in found.values()]


def from_profile(profile: Profile, port: int, where: str) -> list[LoadClass]:
    chosen = profile.for_port(port)
    if not chosen:
        raise LbguardError(f"{where}: no request class reaches the rehearsed listener on port {port} "
                           f"(set 'port: {port}' on a class or leave 'port' out)")
    return [LoadClass(c.name, c.request, share) for c, share in chosen]
