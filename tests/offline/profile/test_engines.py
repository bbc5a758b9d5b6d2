"""One profile query, three ways to run it: the streaming parser (the reference), DuckDB (the
default engine) and the Athena SQL, executed on DuckDB over the rows Hive's RegexSerDe makes of
the same lines with the table's pattern. Logs are generated in AWS's exact format with a known
truth (``alblog_gen``), plus every odd layout the format documents.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner

from lbguard.cli.app import main
from lbguard.offline import alb_logs, logathena, logduck, logsql
from tests.offline.profile import alblog_gen as gen
from tests.offline.profile.test_alb_logs import DOC_HTTP, DOC_REDIRECT, one_line_error

START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
OTHER_ELB = "app/web-api/0a1b2c3d4e5f6789"

# Every layout the entry format documents, beside the generated ones: URLs without a port, with
# an IPv6 host, a case-mixed host, an empty first segment; an IPv6 client; a redirect; -1 and "-"
# priorities; no request line; entries that end at trace_id (before matched_rule_priority
# existed) and entries with fields AWS appended later; escaped quotes and backslashes.
ODD = [DOC_HTTP.replace("http://www.example.com:80/", u) for u in (
    "http://www.example.com:80//x", "http://www.example.com:80/api/", "http://WWW.Example.COM:80/Api/V1",
    "http://www.example.com:80", "http://www.example.com/a/b?x=1&y=", "http://[2001:db8::9]:8080/v6",
    "http://[2001:db8::9]/v6/deep", "http://host:8x/bad-port", "relative/path")]
ODD += [DOC_HTTP.replace("192.168.131.39:2817", "2001:db8::1:2817"), DOC_REDIRECT,
        DOC_HTTP.replace(' 0 2018-07-02T22:22:48', ' -1 2018-07-02T22:22:48'),
        DOC_HTTP.replace(' 0 2018-07-02T22:22:48.364000Z', ' - -'),
        DOC_HTTP.replace('"GET http://www.example.com:80/ HTTP/1.1"', '"- - - "'),
        DOC_HTTP[:DOC_HTTP.index(' "-" "-" 0 ')],
        DOC_HTTP + ' "new-field" 42 "another one"',
        DOC_HTTP.replace('"curl/7.46.0"', '"say \\"hi\\" \\\\"'),
        DOC_HTTP.replace('"GET http://www.example.com:80/ HTTP/1.1"', '"GET http://www.example.com:80/q\\"x HTTP/1.1"'),
        DOC_HTTP.replace(' 0 2018-07-02T22:22:48.364000Z', ' high 2018-07-02T22:22:48.364000Z'),
        DOC_HTTP.replace("2018-07-02T22:22:48.364000Z", "yesterday"),
        DOC_HTTP.replace("http ", "tcp ", 1)]


def odd_file() -> tuple[str, bytes]:
    return "odd/odd-entries.log.gz", gzip.compress(("\n".join(ODD * 3) + "\n").encode())


def corpus(tmp_path: Path, lines: int = 30_000) -> tuple[Path, gen.Truth, int]:
    """Two load balancers under one prefix (dev's mix and a funnel), malformed lines, odd entries."""
    files, truth = gen.generate(gen.dev_mix() + gen.funnel_mix()[:1], lines, start=START, malformed=29, seed=5)
    other, _ = gen.generate(gen.funnel_mix(), lines // 10, start=START, seed=9, elb=OTHER_ELB)
    root = gen.write_dir(tmp_path / "logs", files + other + [odd_file()])
    blank = sum(1 for n in range(29) if not gen.MALFORMED[n % len(gen.MALFORMED)].strip())
    return root, truth, blank


def reference(root: Path, since: str | None = None) -> alb_logs.Aggregate:
    agg = alb_logs.Aggregate(since=since).read(alb_logs.open_source(str(root)))
    agg.flush()
    return agg


def athena_table(con, root: Path, database: str = "albdb", table: str = "alb") -> int:
    """The Athena table's rows, as RegexSerDe makes them (a line the pattern does not match: all
    NULL), with the "$path" pseudo-column and the ``day`` partition (the key's yyyy/mm/dd)."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
    types = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE"}
    names = [n for n, _ in logsql.COLUMNS] + ["$path", "day"]
    spec = {n: types[k] for n, k in logsql.COLUMNS} | {"$path": "VARCHAR", "day": "VARCHAR"}
    rows = root.parent / f"{table}.rows.jsonl"
    count = 0
    with rows.open("w") as out:
        for path in sorted(root.rglob("*.gz")):
            parts = path.relative_to(root).parts
            day = "/".join(parts[-4:-1]) if len(parts) >= 4 else "2026/06/01"
            for line in gzip.decompress(path.read_bytes()).decode().splitlines():
                row = logsql.serde_row(line) or (None,) * len(logsql.COLUMNS)
                out.write(json.dumps(dict(zip(names, row + (str(path), day)))) + "\n")
                count += 1
    columns = "{" + ", ".join(f"'{n}': '{t}'" for n, t in spec.items()) + "}"
    con.execute(f'CREATE OR REPLACE TABLE "{database}"."{table}" AS '
                f"SELECT * FROM read_json('{rows}', format = 'newline_delimited', columns = {columns})")
    return count


def athena_on_duckdb(con, opts: logsql.Options, since_day: str | None = None, per_lb: bool = False):
    """Athena's query text (Trino), parsed by sqlglot as Trino, executed on DuckDB."""
    trino = logsql.athena_sql("albdb", "alb", opts, since_day)
    tree = sqlglot.parse_one(trino, read="trino")
    rows = con.execute(tree.sql(dialect="duckdb")).fetchall()
    aggs = logsql.aggregates_from_rows(rows, since=opts.since, per_lb=per_lb)
    logsql.finish(aggs)
    return aggs, trino


COUNTS = ("requests", "without_request", "before_since", "first", "last", "minutes", "targets", "target_groups",
          "target_pairs", "rules", "elbs")


def assert_same(a: alb_logs.Aggregate, b: alb_logs.Aggregate, *, lines: bool = True) -> None:
    for attr in COUNTS + (("lines", "malformed") if lines else ()):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert {k: g.count for k, g in a.groups.items()} == {k: g.count for k, g in b.groups.items()}


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    root, truth, blank = corpus(tmp_path_factory.mktemp("three"))
    con = duckdb.connect()
    athena_table(con, root)
    athena, trino = athena_on_duckdb(con, logsql.Options())
    return {"root": root, "truth": truth, "blank": blank, "stream": reference(root),
            "duckdb": logduck.run(str(root), threads=2).aggregates[None], "athena": athena[None], "trino": trino,
            "con": con}


def test_streaming_duckdb_and_athena_sql_give_identical_counts_and_shares(three):
    ref, duck, ath, truth = three["stream"], three["duckdb"], three["athena"], three["truth"]
    assert_same(ref, duck)
    assert_same(ref, ath, lines=False)
    # A whitespace-only line is no line to the readers of lines; RegexSerDe makes a NULL row of it.
    assert ath.lines == ref.lines + three["blank"] and ath.malformed == ref.malformed + three["blank"]
    # ... and the counts are the generator's truth, not merely equal to each other.
    dev = {k: n for k, n in ref.elbs.items() if k == gen.ELB}
    assert dev == {gen.ELB: truth.lines}
    assert ref.malformed == truth.malformed + 5 * 3  # the generator's and the odd file's malformed entries
    profiles = [alb_logs.build_profile(a, "x")[0] for a in (ref, duck, ath)]
    shares = [{c.name: (c.count, c.weight) for c in p.classes} for p in profiles]
    assert shares[0] == shares[1] == shares[2]
    for key in ("targets", "targetGroups", "ruleShares", "peakRequestsPerSecond", "funnels"):
        assert profiles[0].observed[key] == profiles[1].observed[key] == profiles[2].observed[key], key


def test_odd_layouts_each_count_where_the_reference_counts_them(three):
    """Each documented layout read alone: the same outcome on all three."""
    for line in ODD:
        one = [alb_logs.Aggregate()]
        one[0].add_line(line)
        one[0].flush()
        con = duckdb.connect()
        rows = con.execute(logsql.profile_sql(
            f"(SELECT * FROM {logduck.fields_sql('$files')})", logsql.Options(raw_line=True)),
            {"files": [_tmp_gz(line)]}).fetchall()
        duck = logsql.aggregates_from_rows(rows)[None]
        assert (duck.malformed, duck.requests, duck.without_request) == \
            (one[0].malformed, one[0].requests, one[0].without_request), line
        assert {k: g.count for k, g in duck.groups.items()} == {k: g.count for k, g in one[0].groups.items()}, line


_TMP: list = []


def _tmp_gz(line: str) -> str:
    import tempfile

    f = tempfile.NamedTemporaryFile(suffix=".log.gz", delete=False)
    f.write(gzip.compress((line + "\n").encode()))
    f.close()
    _TMP.append(f.name)
    return f.name


def test_the_athena_query_is_trino_and_reads_the_documented_columns(three):
    tree = sqlglot.parse_one(three["trino"], read="trino")
    tables = {(t.db, t.name) for t in tree.find_all(sqlglot.exp.Table)}
    assert ("albdb", "alb") in tables and {db for db, _ in tables} == {"albdb", ""}  # the table and the CTEs
    used = {c.name for c in tree.find_all(sqlglot.exp.Column)}
    table_cols = {n for n, _ in logsql.COLUMNS}
    read = {c for c in used if c in table_cols}
    assert {"client_ip", "client_port", "target_ip", "target_port", "request_verb", "request_url", "request_proto",
            "matched_rule_priority", "request_creation_time", "target_group_arn", "elb", "type", "time"} <= read
    assert "REGEXP_LIKE" in three["trino"] and "GROUPING SETS" in three["trino"]


def test_aws_pattern_loses_escaped_quotes_the_table_pattern_reads_them():
    """Why INPUT_REGEX differs from AWS's example: its "([^\\"]*)" user agent drops the entry."""
    import re

    aws = (r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) '
           r'(|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" "([^"]*)" ([A-Z0-9-_]+) '
           r'([A-Za-z0-9.-]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^"]*)" ([-.0-9]*) ([^ ]*) "([^"]*)" "([^"]*)" '
           r'"([^ ]*)" "([^\s]+?)" "([^\s]+)" "([^ ]*)" "([^ ]*)" ?([^ ]*)? ?( .*)?')
    escaped = DOC_HTTP.replace('"curl/7.46.0"', '"say \\"hi\\""')
    assert re.fullmatch(aws, DOC_HTTP, re.DOTALL) and not re.fullmatch(aws, escaped, re.DOTALL)
    row = logsql.serde_row(escaped)
    assert row[logsql.COLUMNS.index(("user_agent", "string"))] == 'say \\"hi\\"'
    # The documented entry, column by column where the profile reads it.
    doc = dict(zip((n for n, _ in logsql.COLUMNS), logsql.serde_row(DOC_HTTP)))
    assert (doc["client_ip"], doc["client_port"], doc["target_ip"], doc["target_port"], doc["request_verb"],
            doc["request_url"], doc["request_proto"], doc["matched_rule_priority"], doc["conn_trace_id"]) == \
        ("192.168.131.39", 2817, "10.0.0.1", 80, "GET", "http://www.example.com:80/", "HTTP/1.1", "0", "TID_1234abcd5678ef90")
    old = dict(zip((n for n, _ in logsql.COLUMNS), logsql.serde_row(DOC_HTTP[:DOC_HTTP.index(' "-" "-" 0 ')])))
    assert old["trace_id"].startswith("Root=") and old["matched_rule_priority"] is None


def test_ddl_and_glue_table_are_the_same_table():
    loc = "s3://logs/dev/AWSLogs/123456789012/elasticloadbalancing/us-east-1"
    ddl = logsql.create_table_ddl("albdb", "alb", loc)
    glue = logsql.glue_table_input("alb", loc)
    tree = sqlglot.parse_one(ddl, read="hive")
    assert [c.name for c in tree.find_all(sqlglot.exp.ColumnDef)][:len(logsql.COLUMNS)] == \
        [c["Name"] for c in glue["StorageDescriptor"]["Columns"]]
    regex = next(p for p in tree.find_all(sqlglot.exp.Property) if p.name == "input.regex")
    assert regex.args["value"].this == logsql.INPUT_REGEX  # Hive's literal unescaped is the pattern itself
    assert glue["Parameters"]["storage.location.template"] == loc + "/${day}"
    assert glue["Parameters"]["projection.day.format"] == "yyyy/MM/dd"
    assert f"'storage.location.template' = '{loc}/${{day}}'" in ddl


# ---------------------------------------------------------------- --since and the day partition


def test_since_near_midnight_reads_the_day_before():
    """Logs across midnight; --since reaching back over it: the partition predicate keeps the
    previous day, and Athena's count equals the streaming parser's."""
    import tempfile

    start = datetime(2026, 6, 1, 23, 40, tzinfo=timezone.utc)
    files, truth = gen.generate(gen.dev_mix(), 8000, start=start, minutes=40, peak_at=5, seed=3)
    root = gen.write_dir(Path(tempfile.mkdtemp()) / "logs", files)
    assert {p.parent.name for p in root.rglob("*.gz")} == {"01", "02"}  # two delivery days
    now = start + timedelta(minutes=40)
    cutoff = alb_logs.iso(now - timedelta(minutes=30))
    day = logathena.since_day(cutoff)
    assert day == "2026/06/01"
    con = duckdb.connect()
    athena_table(con, root)
    ath, trino = athena_on_duckdb(con, logsql.Options(since=cutoff), day)
    assert "day >= '2026/06/01'" in trino
    ref = reference(root, since=cutoff)
    expected = sum(n for m, n in truth.per_minute.items() if m >= cutoff[:16])
    assert ath[None].requests == ref.requests == expected
    assert ath[None].minutes == ref.minutes
    # Pruned to the day of "now" instead, the requests before midnight are lost.
    wrong, _ = athena_on_duckdb(con, logsql.Options(since=cutoff), now.strftime("%Y/%m/%d"))
    assert wrong[None].requests < expected
    duck = logduck.run(str(root), since=cutoff).aggregates[None]
    assert duck.requests == expected and duck.before_since == ref.before_since


# ---------------------------------------------------------------- fleet and one load balancer


def test_load_balancer_filter_and_fleet(tmp_path):
    root, truth, _ = corpus(tmp_path, 6000)
    out = tmp_path / "fleet"
    out.mkdir()
    js = tmp_path / "fleet.json"
    result = CliRunner().invoke(main, ["profile", "--from-logs", str(root), "--fleet", "-o", str(out), "--json", str(js)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["traffic.my-loadbalancer.yaml", "traffic.web-api.yaml",
                                                     "traffic.web-dev.yaml"]
    doc = json.loads(js.read_text())
    dev, api = doc["fleet"][gen.ELB], doc["fleet"][OTHER_ELB]
    assert dev["requests"] == truth.lines
    assert api["requests"] == 600
    assert [f["target"] for f in api["funnels"]] == ["10.10.2.99:80"] and api["funnels"][0]["share"] == 1.0
    # dev's own pools split evenly; the funnel class of dev's mix sends its share to one instance
    assert [(f["target"], f["targetGroup"]) for f in dev["funnels"]] == [("10.10.2.99:80", gen.tg_arn("dev-perf"))]
    assert "web-api" in result.stdout and "funnels" in result.stdout
    one = tmp_path / "api.yaml"
    result = CliRunner().invoke(main, ["profile", "--from-logs", str(root), "--load-balancer", "web-api", "-o", str(one),
                                       "--json", str(tmp_path / "one.json")], catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    single = json.loads((tmp_path / "one.json").read_text())["profile"]["observed"]
    assert single["loadBalancers"] == [OTHER_ELB] and single["requests"] == 600
    assert "narrow" not in result.stderr


@pytest.mark.parametrize("args,needle", [
    (["--fleet", "--load-balancer", "x"], "leave out --load-balancer"),
    (["--engine", "stream", "--fleet"], "needs the SQL engines"),
    (["--athena"], "--athena needs --database"),
    (["--athena", "--database", "d", "--table", "t", "--create-table"], "--from-logs"),
    (["--database", "d"], "for --athena only"),
    (["--fleet"], "an existing directory"),
])
def test_option_contradictions_are_one_line(tmp_path, args, needle):
    root, _, _ = corpus(tmp_path, 300)
    from_logs = [] if "--athena" in args else ["--from-logs", str(root)]
    out = tmp_path / "p.yaml"
    one_line_error(CliRunner().invoke(main, ["profile", *from_logs, *args, "-o", str(out)], catch_exceptions=False),
                   needle)
    assert not out.exists()


# ---------------------------------------------------------------- bounded memory, batches, progress


def test_batches_fold_to_the_same_totals_and_classes_are_bounded(tmp_path, monkeypatch):
    root, _, _ = corpus(tmp_path, 6000)
    whole = logduck.run(str(root))
    pieces = logduck.run(str(root), batch_bytes=1)  # one batch per file (at least one per thread)
    assert pieces.batches > 5 and whole.batches == 1
    assert_same(whole.aggregates[None], pieces.aggregates[None])
    assert whole.aggregates[None].malformed_examples and len(whole.aggregates[None].malformed_examples) <= 3
    monkeypatch.setattr(alb_logs, "MAX_GROUPS", 4)
    capped = logduck.run(str(root)).aggregates[None]
    kept = sorted(((k, g.count) for k, g in whole.aggregates[None].groups.items()), key=lambda kv: -kv[1])[:4]
    assert all(capped.groups[k].count == n for k, n in kept)
    assert len(capped.groups) <= 4 + len({(k[0], k[2], k[3]) for k in whole.aggregates[None].groups})
    assert sum(g.count for g in capped.groups.values()) == capped.requests
    assert capped.folded == capped.requests - sum(n for _, n in kept)


def test_progress_line_names_files_lines_and_rate(capsys):
    bar = logduck.Progress(12, enabled=True)
    bar.update(3, 250_000)
    bar.done()
    err = capsys.readouterr().err
    assert "3/12 files, 250,000 lines," in err and "lines/s" in err
    quiet = logduck.Progress(12, enabled=False)
    quiet.update(3, 1)
    assert capsys.readouterr().err == ""
