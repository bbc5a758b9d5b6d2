"""`lbguard profile --from-logs`: a traffic profile from ALB access logs (a directory or S3)."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.offline import alb_logs
from lbguard.cli.commands.common import console, project_dir_option, resolve_project_dir, table, write_json
from lbguard.core.model import LbguardError


def stack_replay(project_dir: Path, stack: str) -> alb_logs.Replay:
    """The stack's routing, offline: (listener port, request) -> the priority ALB would match (0 = default).

    Runs the program in the in-process emulator (nothing live) and reads its listeners' rules
    through the topology, as ``lbguard route`` does.
    """
    from lbguard.core import topology
    from lbguard.offline.route import rule_view as _rule_view
    from lbguard.offline.emulator import emulated_aws, load_stack_config, run_program

    _, config = load_stack_config(project_dir, stack)
    with emulated_aws(config.get("aws:region", "us-east-1")):
        run = run_program(project_dir, stack)
    topo = topology.from_run(run, profile=None)
    by_port: dict[int, list[dict]] = {}
    for lst in topo.listeners.values():
        if lst.port is not None:
            by_port.setdefault(int(lst.port), []).extend(_rule_view(r) for r in lst.rules)
    return replay_rules(by_port)


def replay_rules(by_port: dict[int, list[dict]]) -> alb_logs.Replay:
    """(listener port, request) -> the priority ALB would match among ``by_port[port]`` (0 = default);
    None for a port with no listener. Rules are ``{"priority", "conditions"}`` (API-shaped)."""
    from lbguard.core import matching

    def replay(port: int, request) -> int | None:
        rules = by_port.get(port)
        if rules is None:
            return None  # no such listener in the stack
        hit = matching.first_match(rules, request)
        return 0 if hit is None else int(hit["priority"])

    return replay


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@click.command()
@click.option("--from-logs", "source", required=True, metavar="PATH|s3://BUCKET/PREFIX",
              help="ALB access logs: a directory (searched recursively), a file, or an S3 prefix")
@click.option("--since", default=None, metavar="DURATION", help="only requests newer than this (90s, 15m, 2h, 7d)")
@click.option("--stack", "-s", default=None, help="check every class replays to its logged rule in this stack "
                                                  "(runs the program offline, nothing live)")
@project_dir_option
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="profile file to write (.yaml, or .json by suffix), e.g. stacks/traffic.<stack>.yaml")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
def profile(source: str, since: str | None, stack: str | None, cwd: Path | None, output: str,
            json_path: str | None) -> int:
    """Build a traffic profile from ALB access logs.

    Classes are (listener port, host, method, matched rule, first path segment) with their
    counts and shares; `observed` holds the peak requests/s (busiest minute), the share of
    each target and target group, each rule's share per port, and the lines skipped.
    """
    from lbguard.core.profile import dump_profile

    window = alb_logs.parse_duration(since) if since is not None else None
    out_path = Path(output)
    if out_path.parent and not out_path.parent.is_dir():
        raise LbguardError(f"-o {output}: directory {out_path.parent} does not exist")
    replay = stack_replay(resolve_project_dir(cwd), stack) if stack else None
    prof, agg, mismatches = alb_logs.profile_from_logs(source, since=window, replay=replay)
    try:
        dump_profile(prof, out_path)
    except OSError as err:
        raise LbguardError(f"-o {output}: cannot write: {err.strerror}") from None
    obs = prof.observed or {}
    if json_path:
        write_json(json_path, {"output": str(out_path), "profile": prof.to_json(), "replayMismatches": mismatches})
    if len(obs.get("loadBalancers") or []) > 1:
        click.echo(f"lbguard: warning: the logs hold {len(obs['loadBalancers'])} load balancers "
                   f"({', '.join(obs['loadBalancers'])}); narrow the prefix to one", err=True)
    for m in mismatches:
        click.echo(f"lbguard: warning: {m['requests']} request(s) {m['method']} {m['host']}{m['path']} on port "
                   f"{m['port']} matched priority {m['loggedPriority']} in the logs but {m['stackPriority']} in "
                   f"stack {stack} (a header condition, or routing changed since)", err=True)
    if json_path != "-":
        c = console()
        c.print(table(f"{len(prof.classes)} request classes -> {out_path}", ["class", "requests", "share"],
                      [[k.name, k.count, _pct(k.weight)] for k in prof.classes[:25]]))
        if len(prof.classes) > 25:
            c.print(f"... and {len(prof.classes) - 25} more classes")
        rows = [[port, "default" if p == "0" else p, _pct(s)] for port, rules in obs["ruleShares"].items()
                for p, s in rules.items()]
        c.print(table("matched rule per listener port (from the logs)", ["port", "priority", "share"], rows))
        targets = list(obs["targets"].items())
        c.print(table("per-target share of forwarded requests", ["target", "share"],
                      [[t, _pct(s)] for t, s in targets[:10]]))
        c.print(f"{obs['requests']} requests from {obs['files']} file(s) under {source}, {obs['lines']} lines "
                f"({obs['malformedLines']} malformed, {obs['withoutRequestLine']} without a request line, "
                f"{obs['beforeSince']} before --since); {obs['timeRange']['from']} .. {obs['timeRange']['to']}; "
                f"peak {obs['peakRequestsPerSecond']:.2f} requests/s ({obs['peakMinute']})", markup=False,
                **({"overflow": "fold"} if c.is_terminal else {"soft_wrap": True}))
    return 0
