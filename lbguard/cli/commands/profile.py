"""`lbguard profile`: a traffic profile from ALB access logs: DuckDB (default), the streaming parser, or Athena."""

from __future__ import annotations

from datetime import datetime, timezone
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


ENGINES = ("duckdb", "stream")


@click.command()
@click.option("--from-logs", "source", default=None, metavar="PATH|s3://BUCKET/PREFIX",
              help="ALB access logs: a directory (searched recursively), a file, or an S3 prefix; with --athena "
                   "--create-table, the prefix the table reads (.../AWSLogs/ACCOUNT/elasticloadbalancing/REGION)")
@click.option("--since", default=None, metavar="DURATION", help="only requests newer than this (90s, 15m, 2h, 7d)")
@click.option("--stack", "-s", default=None, help="check every class replays to its logged rule in this stack "
                                                  "(runs the program offline, nothing live)")
@project_dir_option
@click.option("-o", "--output", "output", required=True, type=click.Path(),
              help="profile file to write (.yaml, or .json by suffix), e.g. stacks/traffic.<stack>.yaml; "
                   "with --fleet a directory (one traffic.<load-balancer>.yaml each)")
@click.option("--load-balancer", "load_balancer", default=None, metavar="NAME",
              help="only this load balancer's requests (its name, or the log's app/NAME/ID)")
@click.option("--fleet", is_flag=True, help="one profile per load balancer in the logs, and a summary table")
@click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True,
              help="duckdb: embedded, every core; stream: the streaming parser (the reference, one core)")
@click.option("--athena", is_flag=True, help="run the query on Athena over the S3 logs (for a fleet)")
@click.option("--database", default=None, help="--athena: Glue database of the access-log table")
@click.option("--table", "table_name", default=None, help="--athena: the access-log table")
@click.option("--workgroup", default="primary", show_default=True, help="--athena: workgroup to run in")
@click.option("--athena-output", "athena_output", default=None, metavar="s3://BUCKET/PREFIX",
              help="--athena: where Athena writes the query result (default: the workgroup's setting)")
@click.option("--create-table", is_flag=True, help="--athena: create the table (AWS's ALB access-log table, partition "
                                                   "projection by day) over --from-logs if it is missing")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
def profile(source: str | None, since: str | None, stack: str | None, cwd: Path | None, output: str,
            load_balancer: str | None, fleet: bool, engine: str, athena: bool, database: str | None,
            table_name: str | None, workgroup: str, athena_output: str | None, create_table: bool,
            json_path: str | None) -> int:
    """Build a traffic profile from ALB access logs.

    Classes are (listener port, host, method, matched rule, first path segment) with their
    counts and shares; `observed` holds the peak requests/s (busiest minute), the share of
    each target and target group, each rule's share per port, funnels (a target above half of
    its group's requests) and the lines skipped. DuckDB reads a directory or S3 on every core;
    --athena runs the same query on Athena for a fleet's S3 logs (docs/profiles.md).
    """
    from lbguard.core.profile import dump_profile
    from lbguard.cli.commands.common import check_json_target

    window = alb_logs.parse_duration(since) if since is not None else None
    out_path = Path(output)
    _check_options(source, out_path, fleet, engine, athena, database, table_name, athena_output, create_table,
                   load_balancer, stack)
    check_json_target(json_path)
    replay = stack_replay(resolve_project_dir(cwd), stack) if stack else None
    cutoff = alb_logs.iso(datetime.now(timezone.utc) - window) if window else None
    extra: dict = {}
    if athena:
        aggs, extra = _athena(source, database, table_name, workgroup, athena_output, create_table, cutoff,
                              load_balancer, fleet, json_path)
    elif engine == "stream":
        files = alb_logs.open_source(source)
        aggs = {None: alb_logs.Aggregate(since=cutoff).read(files)}
        extra = {"engine": "stream"}
    else:
        from lbguard.offline import logduck

        run = logduck.run(source, since=cutoff, load_balancer=load_balancer, per_lb=fleet,
                          progress=False if json_path == "-" else None)
        aggs = run.aggregates
        extra = {"engine": "duckdb", "seconds": round(run.seconds, 3)}
    if fleet:
        return _write_fleet(aggs, source or f"athena:{database}.{table_name}", replay, out_path, json_path, extra)
    agg = aggs.get(None) or alb_logs.Aggregate(since=cutoff)
    prof, mismatches = alb_logs.build_profile(agg, source or f"athena:{database}.{table_name}", replay)
    prof.observed.update(extra)
    try:
        dump_profile(prof, out_path)
    except OSError as err:
        raise LbguardError(f"-o {output}: cannot write: {err.strerror}") from None
    obs = prof.observed or {}
    if json_path:
        write_json(json_path, {"output": str(out_path), "profile": prof.to_json(), "replayMismatches": mismatches})
    if len(obs.get("loadBalancers") or []) > 1:
        click.echo(f"lbguard: warning: the logs hold {len(obs['loadBalancers'])} load balancers "
                   f"({', '.join(obs['loadBalancers'])}); narrow them with --load-balancer NAME, or --fleet", err=True)
    for m in mismatches:
        click.echo(f"lbguard: warning: {m['requests']} request(s) {m['method']} {m['host']}{m['path']} on port "
                   f"{m['port']} matched priority {m['loggedPriority']} in the logs but {m['stackPriority']} in "
                   f"stack {stack} (a header condition, or routing changed since)", err=True)
    if json_path != "-":
        _print_profile(prof, out_path, source or f"athena:{database}.{table_name}")
    return 0


def _check_options(source, out_path: Path, fleet, engine, athena, database, table_name, athena_output, create_table,
                   load_balancer, stack) -> None:
    """Every contradiction or missing value, before anything is read or written."""
    if athena:
        for flag, value in (("--database", database), ("--table", table_name)):
            if not value:
                raise LbguardError(f"--athena needs {flag} (the Glue database and table of the access logs)")
        if engine != "duckdb":
            raise LbguardError("--athena runs the query on Athena: leave out --engine")
        if create_table and not source:
            raise LbguardError("--create-table needs --from-logs s3://BUCKET/PREFIX/AWSLogs/ACCOUNT/"
                               "elasticloadbalancing/REGION (where the table reads)")
        if source and not source.startswith("s3://"):
            raise LbguardError(f"--from-logs {source}: Athena reads S3: give the s3:// log prefix")
        if athena_output and not athena_output.startswith("s3://"):
            raise LbguardError(f"--athena-output {athena_output}: an s3://BUCKET/PREFIX location")
    else:
        if not source:
            raise LbguardError("--from-logs is required (a directory, a file or s3://BUCKET/PREFIX), or use --athena")
        for flag, value in (("--database", database), ("--table", table_name), ("--athena-output", athena_output),
                            ("--create-table", create_table)):
            if value:
                raise LbguardError(f"{flag} is for --athena only")
    if engine == "stream" and (fleet or load_balancer):
        raise LbguardError(f"{'--fleet' if fleet else '--load-balancer'} needs the SQL engines: leave out --engine stream")
    if fleet and load_balancer:
        raise LbguardError("--fleet writes every load balancer's profile: leave out --load-balancer")
    if fleet and stack:
        raise LbguardError("--stack replays one stack's rules: use it with one load balancer (--load-balancer), "
                           "not --fleet")
    if fleet:
        if not out_path.is_dir():
            raise LbguardError(f"-o {out_path}: with --fleet, -o is an existing directory (one file per load balancer)")
    else:
        if out_path.is_dir():
            raise LbguardError(f"-o {out_path}: is a directory; give the profile file (e.g. stacks/traffic.dev.yaml)")
        if out_path.parent and not out_path.parent.is_dir():
            raise LbguardError(f"-o {out_path}: directory {out_path.parent} does not exist")


def _athena(source, database, table_name, workgroup, athena_output, create_table, cutoff, load_balancer, fleet,
            json_path):
    import boto3

    from lbguard.offline import logathena

    session = boto3.session.Session()
    region = session.region_name
    if not region:
        raise LbguardError("--athena: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)")
    say = (lambda s: click.echo(f"lbguard: {s}", err=True))
    say(f"Athena in {region}: workgroup {workgroup}, table {database}.{table_name}; query results to "
        f"{athena_output or 'the workgroup result location'}"
        + (f"; may create the table over {source}" if create_table else ""))
    target = logathena.Target(database, table_name, workgroup, athena_output)
    aggs, result = logathena.run(source or "", target, since=cutoff, load_balancer=load_balancer, per_lb=fleet,
                                 create_table=create_table, session=session, say=say)
    say(f"Athena query {result.query_id}: {result.scanned_bytes:,} bytes scanned "
        f"({result.scanned_bytes / 2**30:.3f} GiB), about ${result.cost:.4f} at ${logathena.PRICE_PER_TB:.2f}/TB "
        f"(10 MB minimum)")
    return aggs, {"engine": "athena", "queryId": result.query_id, "scannedBytes": result.scanned_bytes,
                  "costUsd": round(result.cost, 6)}


def _lb_name(elb: str) -> str:
    parts = elb.split("/")
    return parts[1] if len(parts) >= 2 else elb


def _write_fleet(aggs, source: str, replay, out_dir: Path, json_path: str | None, extra: dict) -> int:
    from lbguard.core.profile import dump_profile

    lbs = sorted(k for k in aggs if k is not None)
    if not lbs:
        raise LbguardError(f"--from-logs {source}: no requests from any load balancer (--fleet)")
    rows, docs = [], {}
    for elb in lbs:
        prof, _ = alb_logs.build_profile(aggs[elb], source, replay)
        prof.observed.update(extra)
        name = _lb_name(elb)
        path = out_dir / f"traffic.{name}.yaml"
        try:
            dump_profile(prof, path)
        except OSError as err:
            raise LbguardError(f"-o {out_dir}: cannot write {path.name}: {err.strerror}") from None
        obs = prof.observed
        top = ", ".join(f"{c.name} {_pct(c.weight)}" for c in prof.classes[:3])
        funnels = "; ".join(f"{f['target']} {_pct(f['share'])} of {f['targetGroup'] or 'no group'}"
                            for f in obs["funnels"]) or "-"
        rows.append([name, obs["requests"], f"{obs['peakRequestsPerSecond']:.2f}", top, funnels])
        docs[elb] = {"output": str(path), "requests": obs["requests"],
                     "peakRequestsPerSecond": obs["peakRequestsPerSecond"],
                     "topClasses": [{"name": c.name, "share": c.weight} for c in prof.classes[:3]],
                     "funnels": obs["funnels"]}
    stray = aggs.get(None)
    if json_path:
        write_json(json_path, {"fleet": docs, "malformedLines": stray.malformed if stray else 0, **extra})
    if json_path != "-":
        c = console()
        c.print(table(f"{len(lbs)} load balancers -> {out_dir}", ["load balancer", "requests", "peak rps",
                                                                    "top classes", "funnels (>50% of group)"], rows))
        if stray and stray.malformed:
            c.print(f"{stray.malformed} malformed line(s) belong to no load balancer", markup=False)
    return 0


def _print_profile(prof, out_path: Path, source: str) -> None:
    obs = prof.observed or {}
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
    for f in obs.get("funnels", []):
        c.print(f"funnel: {f['target']} took {_pct(f['share'])} of {f['targetGroup'] or 'its group'}'s requests "
                f"({f['requests']} of them; {f['groupTargets']} target(s) seen in the group)", markup=False)
    files = obs.get("files")
    c.print(f"{obs['requests']} requests from {files if files is not None else '?'} file(s) under {source}, "
            f"{obs['lines']} lines ({obs['malformedLines']} malformed, {obs['withoutRequestLine']} without a request "
            f"line, {obs['beforeSince']} before --since); {obs['timeRange']['from']} .. {obs['timeRange']['to']}; "
            f"peak {obs['peakRequestsPerSecond']:.2f} requests/s ({obs['peakMinute']}); engine {obs.get('engine')}",
            markup=False, **({"overflow": "fold"} if c.is_terminal else {"soft_wrap": True}))
