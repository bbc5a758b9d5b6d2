"""ALB routing as an HAProxy 2.6 configuration (Debian's ``haproxy`` package).

Layout of the generated config, per ALB concept:

* listener -> ``frontend`` on a loopback port. Rules are decided once, in the order
  ``lbguard.core.matching.first_match`` uses (ascending priority, ties in rule order): one
  ``http-request set-var(txn.rule)`` per rule, guarded by "no rule chosen yet" and the
  rule's conditions (one ACL per condition: values OR, conditions AND), then the
  default. The chosen rule is returned in ``X-Lbguard-Rule`` and logged.
* condition kinds -> :data:`CONDITIONS`, one entry per ALB field (the only place that
  knows how an ALB condition reads in HAProxy).
* fixed-response -> ``http-request return``; redirect -> ``http-request redirect``.
* weighted forward -> a backend ``f_*`` whose "servers" are the target groups (internal
  abstract sockets) with the ALB weights, smooth weighted round robin, no health
  check: ALB never fails over between the groups of a forward. Group stickiness is a
  cookie (``AWSALBTG``).
* target group -> a ``listen tg_*`` section: the instances with health checks (path,
  interval, timeout, thresholds, matcher), round robin (least outstanding requests ->
  ``leastconn``), instance stickiness as a cookie (``AWSALB``). Each instance is also
  listed as a ``backup`` without checks: when every instance is down HAProxy uses them
  all, which is ALB's fail-open.

Health-check timers are divided by ``hc_speedup`` (default 20) so that a rehearsal of
seconds shows an instance taken out; thresholds are kept. Source-IP conditions see the
client address, which on loopback is set from ``X-Lbguard-Source-Ip`` by the load
generator (the header is removed before forwarding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from lbguard.offline.rehearse.plan import Listener, Plan, TargetGroup

HC_SPEEDUP = 20.0
SOURCE_HEADER = "X-Lbguard-Source-Ip"
RULE_HEADER = "X-Lbguard-Rule"
DEFAULT_RULE = "default"


def q(text: str) -> str:
    """HAProxy single-quoted word (no escapes inside; a quote is closed, escaped, reopened)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def glob_regex(pattern: str, star: str = ".*", one: str = ".") -> str:
    """ALB wildcard (``*`` any run, ``?`` one character) as an anchored PCRE."""
    body = "".join(star if c == "*" else one if c == "?" else re.escape(c) for c in pattern)
    return f"^{body}$"


@dataclass(frozen=True)
class Kind:
    """How one ALB condition kind reads in HAProxy: sample fetch, match method, patterns."""

    fetch: Callable[[dict], str]
    match: str
    patterns: Callable[[dict], list[str]]


def _query_patterns(cfg: dict) -> list[str]:
    # One key=value pair of the raw query string; '*'/'?' never cross '&' (or '=' in a key).
    out = []
    for pair in cfg["Values"]:
        key = glob_regex(pair["Key"], "[^&=]*", "[^&=]")[1:-1] if pair.get("Key") is not None else "[^&=]*"
        value = glob_regex(pair["Value"], "[^&]*", "[^&]")[1:-1]
        out.append(f"(^|&){key}={value}(&|$)")
    return out


CONDITIONS: dict[str, Kind] = {
    # Host compares without the port, case-insensitively.
    "host-header": Kind(lambda c: "req.fhdr(host,1),field(1,:)", "-m reg -i",
                        lambda c: [glob_regex(v) for v in c["Values"]]),
    # The path only (never the query string), case-sensitively.
    "path-pattern": Kind(lambda c: "path", "-m reg", lambda c: [glob_regex(v) for v in c["Values"]]),
    "http-request-method": Kind(lambda c: "method", "-m str", lambda c: list(c["Values"])),
    # First occurrence of the header (as lbguard.core.matching reads it), value case-insensitive.
    "http-header": Kind(lambda c: f"req.fhdr({c['HttpHeaderName'].lower()},1)", "-m reg -i",
                        lambda c: [glob_regex(v) for v in c["Values"]]),
    "query-string": Kind(lambda c: "query", "-m reg -i", _query_patterns),
    "source-ip": Kind(lambda c: "src", "-m ip", lambda c: list(c["Values"])),
}

_CONFIG_KEY = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig",
               "http-request-method": "HttpRequestMethodConfig", "http-header": "HttpHeaderConfig",
               "query-string": "QueryStringConfig", "source-ip": "SourceIpConfig"}


def acl(name: str, condition: dict) -> str:
    field = condition["Field"]
    kind = CONDITIONS.get(field)
    if kind is None:
        raise ValueError(f"condition field {field!r} has no HAProxy translation")
    cfg = condition.get(_CONFIG_KEY[field]) or {"Values": condition.get("Values") or []}
    return f"    acl {name} {kind.fetch(cfg)} {kind.match} " + " ".join(q(p) for p in kind.patterns(cfg))


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _redirect(cfg: dict, listener: Listener) -> str:
    proto = (cfg.get("Protocol") or "#{protocol}").replace("#{protocol}", listener.protocol).lower()
    host = (cfg.get("Host") or "#{host}").replace("#{host}", "%[req.fhdr(host,1),field(1,:)]")
    port = (cfg.get("Port") or "#{port}").replace("#{port}", str(listener.port))
    path = (cfg.get("Path") or "/#{path}").replace("#{path}", "%[path,regsub(^/,)]")
    query = (cfg.get("Query") or "#{query}").replace("#{query}", "%[query]")
    code = str(cfg.get("StatusCode", "HTTP_301")).removeprefix("HTTP_")
    return f"http-request redirect location {q(f'{proto}://{host}:{port}{path}?{query}')} code {code}"


def _fixed(cfg: dict) -> str:
    line = f"http-request return status {int(cfg['StatusCode'])}"
    if cfg.get("MessageBody"):
        line += f" content-type {q(cfg.get('ContentType') or 'text/plain')} string {q(cfg['MessageBody'])}"
    return line


def _frontend(listener: Listener, port: int, index: int, forward_backend: Callable[[str, dict], str]) -> list[str]:
    lines = [f"frontend l{index}_{safe(listener.name)}", f"    bind 127.0.0.1:{port}",
             '    log-format "F %[date(0,ms)] %[var(txn.rule)] %ST %Ta"',
             f"    http-request set-src req.hdr({SOURCE_HEADER}) if {{ req.hdr({SOURCE_HEADER}) -m found }}",
             f"    http-request del-header {SOURCE_HEADER}"]
    choices = [(safe(r.name), r.conditions, r.action) for r in listener.rules]
    for i, (name, conditions, _) in enumerate(choices):
        names = []
        for j, cond in enumerate(conditions):
            lines.append(acl(f"r{i}c{j}", cond))
            names.append(f"r{i}c{j}")
        lines.append(f"    http-request set-var(txn.rule) str({name}) if !{{ var(txn.rule) -m found }} {' '.join(names)}")
    lines.append(f"    http-request set-var(txn.rule) str({DEFAULT_RULE}) if !{{ var(txn.rule) -m found }}")
    lines.append(f"    http-after-response set-header {RULE_HEADER} %[var(txn.rule)]")
    dispatch = []  # use_backend lines come after every http-request rule (HAProxy runs those first)
    for name, _, action in choices + [(DEFAULT_RULE, [], listener.default_action)]:
        when = f"if {{ var(txn.rule) -m str {name} }}"
        kind = action["Type"]
        if kind == "fixed-response":
            lines.append(f"    {_fixed(action['FixedResponseConfig'])} {when}")
        elif kind == "redirect":
            lines.append(f"    {_redirect(action['RedirectConfig'], listener)} {when}")
        elif kind == "forward":
            dispatch.append(f"    use_backend {forward_backend(f'l{index}_{name}', action)} {when}")
        else:
            raise ValueError(f"action type {kind!r} has no HAProxy translation")
    return lines + dispatch


def _scaled_weights(weights: list[int]) -> list[int]:
    """ALB weights (0..999) in HAProxy's 0..256, exact whenever a common divisor allows."""
    from math import gcd
    g = 0
    for w in weights:
        g = gcd(g, w)
    out = [w // g for w in weights] if g else weights
    top = max(out, default=0)
    # A weight above 0 keeps at least 1: rounding must never take a group out of rotation.
    return [max(1, round(w * 256 / top)) if w else 0 for w in out] if top > 256 else out


def _forward(name: str, action: dict, token: str, tgs: dict[str, TargetGroup]) -> list[str]:
    cfg = action.get("ForwardConfig") or {"TargetGroups": [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]}
    groups = cfg["TargetGroups"]
    weights = _scaled_weights([int(g.get("Weight", 1)) for g in groups])
    lines = [f"backend f_{name}", "    balance roundrobin"]
    sticky = cfg.get("TargetGroupStickinessConfig") or {}
    if sticky.get("Enabled"):
        lines.append(f"    cookie AWSALBTG insert indirect nocache maxlife {int(sticky.get('DurationSeconds') or 3600)}s")
    for g, w in zip(groups, weights):
        tg = tgs[g["TargetGroupArn"]]
        cookie = f" cookie {safe(tg.pool)}" if sticky.get("Enabled") else ""
        lines.append(f"    server {safe(tg.pool)} abns@{token}-tg-{safe(tg.pool)} weight {w}{cookie}")
    return lines


def matcher_regex(matcher: str) -> str:
    codes: list[str] = []
    for part in matcher.split(","):
        lo, _, hi = part.partition("-")
        codes += [str(c) for c in range(int(lo), int(hi or lo) + 1)]
    return "^(" + "|".join(codes) + ")$"


def _target_group(tg: TargetGroup, token: str, ports: dict[str, int], hc_speedup: float) -> list[str]:
    hc = tg.health
    inter = max(100, round(hc.interval_s * 1000 / hc_speedup))
    timeout = max(50, round(hc.timeout_s * 1000 / hc_speedup))
    balance = {"least_outstanding_requests": "leastconn", "weighted_random": "random"}.get(tg.algorithm, "roundrobin")
    lines = [f"listen tg_{safe(tg.pool)}", f"    bind abns@{token}-tg-{safe(tg.pool)}",
             '    log-format "T %[date(0,ms)] %b %s %ST %Ta"', f"    balance {balance}", "    option allbackups",
             "    option httpchk", f"    http-check send meth GET uri {q(hc.path)} ver HTTP/1.1 hdr Host rehearsal",
             f"    http-check expect rstatus {q(matcher_regex(hc.matcher))}", f"    timeout check {timeout}ms",
             f"    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms "
             f"rise {hc.healthy} fall {hc.unhealthy}"]
    if tg.stickiness_s:
        lines.append(f"    cookie AWSALB insert indirect nocache maxlife {tg.stickiness_s}s")
    for inst in tg.instances:
        cookie = f" cookie {inst.name}" if tg.stickiness_s else ""
        lines.append(f"    server {inst.name} 127.0.0.1:{ports[inst.name]} check{cookie}")
    for inst in tg.instances:  # ALB fails open: all targets unhealthy -> send to all of them
        lines.append(f"    server {inst.name}.open 127.0.0.1:{ports[inst.name]} backup")
    if not tg.instances:
        lines.append("    http-request return status 503")
    return lines


def render(plan: Plan, listener_ports: dict[str, int], instance_ports: dict[str, int], token: str,
           hc_speedup: float = HC_SPEEDUP) -> str:
    """The whole configuration. ``token`` keeps internal socket names unique per run."""
    out = ["global", "    log stdout format raw local0", "    maxconn 8000", "    nbthread 2", "",
           "defaults", "    mode http", "    log global", "    timeout connect 500ms", "    timeout client 30s",
           "    timeout server 10s", "    timeout http-request 10s", "    retries 0", "    http-reuse always",
           "    option dontlognull", ""]
    backends: list[list[str]] = []

    def forward_backend(name: str, action: dict) -> str:
        backends.append(_forward(name, action, token, plan.target_groups))
        return f"f_{name}"

    for i, listener in enumerate(plan.listeners):
        out += _frontend(listener, listener_ports[listener.name], i, forward_backend) + [""]
    for b in backends:
        out += b + [""]
    for tg in plan.target_groups.values():
        out += _target_group(tg, token, instance_ports, hc_speedup) + [""]
    return "\n".join(out) + "\n"
