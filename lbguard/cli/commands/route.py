"""`lbguard route`: which rule a request matches and which pools it reaches."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from lbguard.core import aws_names, matching, topology
from lbguard.cli.commands.common import (OFFLINE, check_json_target, console, header, json_option, progress,
                                     project_dir_option, read_json, resolve_project_dir, stack_option, table,
                                     write_json)
from lbguard.core.model import LbguardError
from lbguard.offline.route import route_request


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise LbguardError(f"{what} {v!r}: expected KEY=VALUE")
        out[key] = val
    return out


@click.command(short_help="Which rule and pools a request reaches, offline.",
               epilog="Example: lbguard route --stack prod --host shop.example.com --path /api/cart --header x-canary=1")
@stack_option
@project_dir_option
@click.option("--host", default="", help="Host header")
@click.option("--path", "path_", default="/", show_default=True, help="request path")
@click.option("--method", default="GET", show_default=True)
@click.option("--header", "headers", multiple=True, metavar="K=V", help="request header (repeatable)")
@click.option("--query", "query", multiple=True, metavar="K=V", help="query-string parameter (repeatable)")
@click.option("--source-ip", default=None, help="client IP address")
@click.option("--from", "from_path", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="route through the stack a preflight JSON holds (lbguard preflight --json FILE) instead of "
                   "running the program: no Pulumi, no emulator")
@json_option()
def route(stack: str, cwd: Path | None, host: str, path_: str, method: str, headers: tuple[str, ...],
          query: tuple[str, ...], source_ip: str | None, from_path: str | None, json_path: str | None) -> int:
    """Replay a request offline: matching rule (ALB order) and pools reached, with probabilities."""
    if not path_.startswith("/"):
        raise LbguardError(f"--path {path_!r}: must start with '/'")
    if source_ip is not None:
        try:
            ipaddress.ip_address(source_ip)
        except ValueError:
            raise LbguardError(f"--source-ip {source_ip!r}: not an IPv4 or IPv6 address") from None
    for name in _pairs(headers, "--header"):
        problem = aws_names.header_name_problem(name)
        if problem:
            raise LbguardError(f"--header {name!r}: {problem}")
    req = matching.Request(host=host, path=path_, method=method, headers=_pairs(headers, "--header"),
                           query=_pairs(query, "--query"), source_ip=source_ip)
    project_dir = resolve_project_dir(cwd)
    doc, target = None, OFFLINE
    if from_path is not None:
        from lbguard.offline.impact import check_document

        doc = check_document(read_json(from_path, "--from"), f"--from {from_path}")
        explicit = click.get_current_context().get_parameter_source("stack") != click.core.ParameterSource.DEFAULT
        if explicit and doc["stack"] != stack:
            raise LbguardError(f"--from {from_path}: a preflight of stack {doc['stack']!r}, not {stack!r}; "
                               f"drop --stack or pass {stack}'s preflight")
        stack, target = doc["stack"], f"offline (the resources in {from_path}; nothing run)"
    header("route", project_dir, stack, target, json_path=json_path)
    check_json_target(json_path)
    if doc is not None:
        topo = topology.from_preflight(doc)
    else:
        from lbguard.offline.preflight import run_preflight

        with progress(f"running {stack}'s program in the emulator"):
            run, _ = run_preflight(project_dir, stack, policy_pack=None, policy_config=None, use_pack=False)
        topo = topology.from_run(run)
    result = route_request(topo, req)
    if json_path:
        write_json(json_path, {"stack": stack, "request": {"host": host, "path": path_, "method": method,
                                                           "headers": req.headers, "query": req.query,
                                                           "sourceIp": source_ip},
                               "listeners": result})
    if json_path != "-":
        out = console()
        for e in result:
            where = f"{e['label']} (priority {e['priority']})" if e["rule"] else "default action"
            out.print(f"listener {e['listenerKey']} ({e['protocol']} {e['port']}): {where} -> {_action_text(e)}",
                      markup=False)
            if e.get("error"):
                out.print(f"  cannot evaluate the forward: {e['error']}", markup=False)
            if e["pools"]:
                out.print(table("", ["pool", "weight", "probability", "instances", "per instance"],
                                [[p["pool"], f"{p['weight']:g}", f"{p['probability']:.1%}", p["instances"],
                                  "fails open (requests fail)" if p["failsOpen"] else f"{p['perInstance']:.1%}"]
                                 for p in e["pools"]]))
    return 0


def _action_text(e: dict) -> str:
    """A rule's action as words: forward, ``redirect 301 (permanent) to https://...``,
    ``fixed response 503 (text/plain): down for maintenance``."""
    if e.get("redirect"):
        code = str(e["redirect"].get("StatusCode", "")).replace("HTTP_", "")
        kind = {"301": "permanent", "302": "temporary"}.get(code, "")
        return f"redirect {code}{f' ({kind})' if kind else ''} to {e['location']}"
    if e.get("fixedResponse"):
        f = e["fixedResponse"]
        body = f.get("MessageBody")
        text = f"fixed response {f.get('StatusCode', '?')}"
        if f.get("ContentType"):
            text += f" ({f['ContentType']})"
        return text + (f": {body if len(body) <= 60 else body[:57] + '...'}" if body else "")
    return str(e["action"] or "none")
