"""The traffic profile as one SQL query over the documented ALB access-log table, for every engine.

The table is AWS's: the columns of "Create the table for ALB access logs" in the Athena User
Guide (https://docs.aws.amazon.com/athena/latest/ug/create-alb-access-logs-table.html, with
``classification``, ``classification_reason`` and ``conn_trace_id``), read by Hive's
``RegexSerDe`` and partitioned by delivery day with partition projection as in "Create the
table for ALB access logs in Athena using partition projection" (``PARTITIONED BY (day
STRING)``, ``projection.day.type = date``, ``format = yyyy/MM/dd``, ``storage.location.template
= .../${day}``). RegexSerDe semantics (apache/hive ``serde/src/java/org/apache/hadoop/hive/
serde2/RegexSerDe.java``, ``deserialize``): the pattern must match the whole line
(``Matcher.matches``, ``Pattern.DOTALL``), else every column is NULL; group *i* is column *i*;
a group that did not take part, or a value an ``int``/``double`` column cannot parse, is NULL;
older Hive releases refuse a pattern whose group count differs from the column count, so the
pattern here has exactly one group per column.

``INPUT_REGEX`` is AWS's pattern with three changes, each because AWS's own pattern loses
entries the documented format allows (the Access log entries section of "Access logs for
your Application Load Balancer"):

- a quoted field may hold backslash escapes (ALB writes ``\\"`` inside the user agent; AWS's
  ``"([^"]*)"`` drops such an entry whole);
- the request's URL cannot run past its closing quote (AWS's ``(.*)``, once the tail is
  optional, could swallow later fields);
- every field after ``trace_id`` is optional, in the order AWS added them, so entries written
  before those fields existed are read; fields AWS appends later go to a non-capturing
  ``(?: .*)?`` ("you should ignore any fields at the end of the log entry that you were not
  expecting").

``profile_sql`` is the profile (what ``lbguard.offline.alb_logs``, the streaming reference,
computes) in SQL over those columns: every line is classified once (malformed, before
``--since``, without a request line, counted), then one ``GROUPING SETS`` pass counts
requests per minute, per target, per target group and per raw request class, and a second
step, per class rather than per line, turns the raw URL prefix into (listener port, host,
first path segment). It is written in DuckDB's dialect and transpiled to Trino (Athena engine
v3) with sqlglot; the embedded engine (``lbguard.offline.logduck``) feeds it a view that yields
the same columns from the gzip lines, the Athena engine (``lbguard.offline.logathena``) the
table. Rows come back in one shape (``ROW_COLUMNS``) and ``aggregates_from_rows`` folds them
into the reference's ``Aggregate``, from which ``alb_logs.build_profile`` writes the profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from lbguard.offline.alb_logs import DEFAULT_PORTS, TYPES, Aggregate, Group

# The AWS table's columns, in order (Athena User Guide, create-alb-access-logs-table).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("type", "string"), ("time", "string"), ("elb", "string"), ("client_ip", "string"), ("client_port", "int"),
    ("target_ip", "string"), ("target_port", "int"), ("request_processing_time", "double"),
    ("target_processing_time", "double"), ("response_processing_time", "double"), ("elb_status_code", "int"),
    ("target_status_code", "string"), ("received_bytes", "bigint"), ("sent_bytes", "bigint"),
    ("request_verb", "string"), ("request_url", "string"), ("request_proto", "string"), ("user_agent", "string"),
    ("ssl_cipher", "string"), ("ssl_protocol", "string"), ("target_group_arn", "string"), ("trace_id", "string"),
    ("domain_name", "string"), ("chosen_cert_arn", "string"), ("matched_rule_priority", "string"),
    ("request_creation_time", "string"), ("actions_executed", "string"), ("redirect_url", "string"),
    ("lambda_error_reason", "string"), ("target_port_list", "string"), ("target_status_code_list", "string"),
    ("classification", "string"), ("classification_reason", "string"), ("conn_trace_id", "string"),
)
# The columns the profile reads (the embedded engine's view yields only these).
USED = ("type", "time", "elb", "client_ip", "target_ip", "target_port", "request_verb", "request_url",
        "target_group_arn", "matched_rule_priority", "request_creation_time")

_B = r"([^ ]*)"
_Q = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_TAIL = [f" {_Q} {_Q}", f" {_B} {_B}", f" {_Q}", f" {_Q}", f" {_Q}", f" {_Q}", f" {_Q}", f" {_Q}", f" {_Q}", f" {_B}"]
INPUT_REGEX = (
    f"{_B} {_B} {_B} {_B}:{_B} {_B}[:-]{_B} {_B} {_B} {_B} {_B} {_B} {_B} {_B} "
    r'"([^ "]*) ((?:[^"\\]|\\.)*) (- |[^ "]*)" '
    f"{_Q} {_B} {_B} {_B} {_Q}"
    + "".join(f"(?:{part}" for part in _TAIL) + ")?" * len(_TAIL)
    + r"(?: .*)?"
)
assert re.compile(INPUT_REGEX).groups == len(COLUMNS)

PROJECTION_START = "2022/01/01"  # projection.day.range start in AWS's example


def _hive_string(s: str) -> str:
    # Hive string literals take backslash escapes: double every backslash, escape the quote.
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_location(s3_prefix: str) -> str:
    """``s3://bucket/prefix/AWSLogs/<account>/elasticloadbalancing/<region>/`` (the table's LOCATION)."""
    return s3_prefix.rstrip("/") + "/"


def create_table_ddl(database: str, table: str, location: str, start_day: str = PROJECTION_START) -> str:
    """The CREATE EXTERNAL TABLE statement (Athena DDL) equivalent to :func:`glue_table_input`."""
    cols = ",\n".join(f"  `{name}` {kind}" for name, kind in COLUMNS)
    loc = table_location(location)
    return (f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{cols}\n)\n"
            f"PARTITIONED BY (`day` string)\n"
            f"ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'\n"
            f"WITH SERDEPROPERTIES (\n  'serialization.format' = '1',\n  'input.regex' = {_hive_string(INPUT_REGEX)}\n)\n"
            f"LOCATION '{loc}'\n"
            "TBLPROPERTIES (\n" + ",\n".join(f"  '{k}' = '{v}'" for k, v in projection(loc, start_day).items()) + "\n)")


def projection(location: str, start_day: str = PROJECTION_START) -> dict[str, str]:
    """Partition projection by delivery day (the ``yyyy/mm/dd`` folder ALB writes under the region)."""
    return {
        "projection.enabled": "true",
        "projection.day.type": "date",
        "projection.day.range": f"{start_day},NOW",
        "projection.day.format": "yyyy/MM/dd",
        "projection.day.interval": "1",
        "projection.day.interval.unit": "DAYS",
        "storage.location.template": table_location(location) + "${day}",
    }


def glue_table_input(table: str, location: str, start_day: str = PROJECTION_START) -> dict[str, Any]:
    """The same table as a Glue ``TableInput`` (what Athena stores for the DDL above)."""
    loc = table_location(location)
    return {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "classification": "alb_access_logs", **projection(loc, start_day)},
        "PartitionKeys": [{"Name": "day", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": name, "Type": kind} for name, kind in COLUMNS],
            "Location": loc,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.RegexSerDe",
                          "Parameters": {"serialization.format": "1", "input.regex": INPUT_REGEX}},
        },
    }


def serde_row(line: str) -> tuple | None:
    """One line as RegexSerDe with ``INPUT_REGEX`` makes it (None: no match, every column NULL).

    Python's ``re`` reads this pattern as Java does (no construct here differs); used by the
    tests to build the Athena table's rows, and as the embedded engine's rule for odd lines."""
    m = _FULL.fullmatch(line)
    if m is None:
        return None
    out = []
    for (name, kind), value in zip(COLUMNS, m.groups()):
        if value is not None and kind in ("int", "bigint"):
            value = int(value) if value.isascii() and value.isdigit() and (kind == "bigint" or int(value) < 2**31) else None
        elif value is not None and kind == "double":
            try:
                value = float(value)
            except ValueError:
                value = None
        out.append(value)
    return tuple(out)


_FULL = re.compile(INPUT_REGEX, re.DOTALL)


# ---------------------------------------------------------------- the profile query


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# alb_logs._is_time: "2018-07-02T22:22:48.364000Z" by shape (20+ characters, four digits, "-"
# at 5, "T" at 11, "Z" last), not parsed.
_TIME = "[0-9]{4}-[^|]{5}T[^|]{8,}Z"


# Per line, the request cut to what a class needs: method, scheme, authority (whose port, if
# any, is digits, as int() in alb_logs._split_url requires), the first path segment and
# whether the path goes deeper. The authority ends at the first "/" (alb_logs._split_url);
# IPv6 hosts are in brackets. No match: not an absolute URL, a malformed entry.
_CLASS_KEY = r"^[^ ]* [^: ]*://(?:\[[^\]/ ]*\][^/ ]?[0-9]*|[^/ ]*:[0-9]*|[^/: ]*)(?:/[^/? ]*/?| |$)"

_TYPES = ", ".join(_q(t) for t in sorted(TYPES))
assert {t for t, p in DEFAULT_PORTS.items() if p == 80} == {"http", "ws"}

# The access-log entry's own fields, which the query reads (``FIELDS``): the Athena table
# splits some of them into columns, ``athena_fields`` joins them back.
FIELDS = ("source_file", "type", "time", "elb", "client", "target", "request", "target_group_arn",
          "matched_rule_priority", "request_creation_time")

ROW_COLUMNS = ("grp", "status", "elb", "minute", "target", "target_group", "port", "host", "method", "priority",
               "pattern", "requests", "first_time", "last_time", "sample_request", "sample_client", "example_min",
               "example_max")


@dataclass(frozen=True)
class Options:
    since: str | None = None  # ISO time; requests created before are counted as before --since
    load_balancer: str | None = None  # a name ("web-dev") or the elb field ("app/web-dev/50dc...")
    raw_line: bool = False  # the source has a ``raw_line`` column (examples of malformed lines)


def lb_predicate(name: str) -> str:
    """The ``elb`` field is ``app/<name>/<id>``: match the full field or the name alone."""
    return f"(elb = {_q(name)} OR split_part(elb, '/', 2) = {_q(name)})"


def profile_sql(source: str, opts: Options = Options()) -> str:
    """The profile query (DuckDB dialect) over ``source``, a relation with ``FIELDS`` (and
    ``raw_line`` with ``opts.raw_line``); a line that is no entry has ``type`` NULL (its other
    fields are not read). Rows: ``ROW_COLUMNS``; ``grp`` says which count a row holds: ``lines``
    (per status), ``minute``, ``target`` (per target group and target), ``target-group``, ``class``."""
    t = "CASE WHEN request_creation_time IS NULL OR request_creation_time = '-' THEN time ELSE request_creation_time END"
    # Each field as alb_logs.parse_line checks it, in one regular expression per line: the time,
    # request_creation_time ("-" or absent allowed) and matched_rule_priority ("-", -1, a number).
    checked = ("time || '|' || coalesce(request_creation_time, '~') || '|' || coalesce(matched_rule_priority, '~')")
    well_formed = (f"type IN ({_TYPES}) AND regexp_matches({checked}, "
                   f"'^{_TIME}[|](~|-|{_TIME})[|](~|-|-?[0-9]+)$') AND (class_key IS NOT NULL OR no_request)")
    since = f"t < {_q(opts.since)}" if opts.since else "false"
    where = f"WHERE type IS NULL OR {lb_predicate(opts.load_balancer)}" if opts.load_balancer else ""
    raw = "raw_line" if opts.raw_line else "CAST(NULL AS VARCHAR)"
    lines = f"""
WITH lines AS (
  SELECT elb, client, request, target, target_group_arn, matched_rule_priority, t, class_key, type, raw_line,
    CASE WHEN type IS NULL OR NOT ({well_formed}) THEN 'malformed'
         WHEN {since} THEN 'before-since'
         WHEN no_request THEN 'no-request'
         ELSE 'request' END AS status
  FROM (
    SELECT *, class_key IS NULL AND (request LIKE '- %' OR regexp_matches(request, '^[^ ]*  [^ ]*$')) AS no_request
    FROM (
      SELECT type, time, elb, client, request, target, target_group_arn, matched_rule_priority,
        request_creation_time, {raw} AS raw_line, {t} AS t,
        nullif(regexp_extract(request, {_q(_CLASS_KEY)}, 0), '') AS class_key
      FROM {source} {where}
    ) f
  ) p
),
"""
    return lines + _COUNTS + _CLASSES


# The counts, in one pass: per (minute, target, raw class) first, then every grouping the
# profile reads (lines per status, minutes, targets, target groups, classes).
_COUNTS = """keyed AS (
  SELECT status, client, request, t,
    CASE WHEN status = 'malformed' THEN raw_line END AS raw_line,
    CASE WHEN status <> 'malformed' THEN elb END AS elb,
    CASE WHEN status = 'request' THEN substr(t, 1, 16) END AS minute,
    CASE WHEN status = 'request' AND target <> '-' THEN target END AS target,
    CASE WHEN status = 'request' AND target_group_arn <> '-' THEN target_group_arn END AS target_group,
    CASE WHEN status = 'request' THEN type END AS type,
    CASE WHEN status = 'request' THEN class_key END AS class_key,
    CASE WHEN status = 'request' AND matched_rule_priority NOT LIKE '-%'
         THEN TRY_CAST(matched_rule_priority AS BIGINT) END AS priority
  FROM lines
),
fine AS (
  -- one hash-table entry per (minute, target, raw class): what one pass over the lines keeps
  SELECT status, elb, minute, target, target_group, type, class_key, priority,
    count(*) AS requests, min(t) AS first_time, max(t) AS last_time,
    min(request) AS sample_request, min_by(client, request) AS sample_client,
    min(raw_line) AS example_min, max(raw_line) AS example_max
  FROM keyed
  GROUP BY status, elb, minute, target, target_group, type, class_key, priority
),
counted AS (
  SELECT
    CASE WHEN grouping(minute) = 0 THEN 'minute' WHEN grouping(target) = 0 THEN 'target'
         WHEN grouping(target_group) = 0 THEN 'target-group' WHEN grouping(class_key) = 0 THEN 'raw-class'
         ELSE 'lines' END AS grp,
    status, elb, minute, target, target_group, type, class_key, priority,
    sum(requests) AS requests, min(first_time) AS first_time, max(last_time) AS last_time,
    min(sample_request) AS sample_request, min_by(sample_client, sample_request) AS sample_client,
    min(example_min) AS example_min, max(example_max) AS example_max
  FROM fine
  GROUP BY GROUPING SETS ((status, elb), (status, elb, minute), (status, elb, target_group, target),
                          (status, elb, target_group),
                          (status, elb, type, class_key, priority))
)
"""

# Per class, never per line: the request's port, host, method and path pattern.
_CLASSES = """SELECT grp, status, elb, minute, target, target_group, port, host, method, priority, pattern,
  sum(requests) AS requests, min(first_time) AS first_time, max(last_time) AS last_time,
  min(sample_request) AS sample_request, min_by(sample_client, sample_request) AS sample_client,
  min(example_min) AS example_min, max(example_max) AS example_max
FROM (
  -- per class, never per line: "GET https://Host:443/api/" -> port, host, method, pattern,
  -- as alb_logs._split_url and alb_logs.path_pattern read a request
  SELECT *,
    CASE WHEN port_s = '' THEN CASE WHEN type IN ('http', 'ws') THEN 80 ELSE 443 END
         ELSE CAST(port_s AS BIGINT) END AS port,
    CASE WHEN strpos(substr(path, 2), '/') = 0 THEN path
         ELSE substr(path, 1, strpos(substr(path, 2), '/') + 1) || '*' END AS pattern
  FROM (
    SELECT *,
      lower(CASE WHEN substr(auth, 1, 1) = '[' THEN substr(auth, 2, strpos(auth, ']') - 2)
                 WHEN colon > 0 THEN substr(auth, 1, colon - 1) ELSE auth END) AS host,
      CASE WHEN substr(auth, 1, 1) = '[' THEN substr(auth, strpos(auth, ']') + 2)
           WHEN colon > 0 THEN substr(auth, colon + 1) ELSE '' END AS port_s
    FROM (
      SELECT *, CASE WHEN strpos(auth, ':') = 0 THEN 0
                     ELSE length(auth) - strpos(reverse(auth), ':') + 1 END AS colon
      FROM (
        SELECT *, CASE WHEN strpos(rest, '/') = 0 THEN rest ELSE substr(rest, 1, strpos(rest, '/') - 1) END AS auth,
                  CASE WHEN strpos(rest, '/') = 0 THEN '/' ELSE substr(rest, strpos(rest, '/')) END AS path
        FROM (
          SELECT *, substr(url, strpos(url, '://') + 3) AS rest
          FROM (
            SELECT CASE WHEN grp = 'raw-class' THEN 'class' ELSE grp END AS grp, status, elb, minute, target,
              target_group, type, priority, requests, first_time, last_time, sample_request, sample_client,
              example_min, example_max,
              substr(rtrim(class_key), 1, strpos(class_key, ' ') - 1) AS method,
              substr(rtrim(class_key), strpos(class_key, ' ') + 1) AS url
            FROM counted
            WHERE grp = 'lines' OR status = 'request'
          ) k
        ) u
      ) a
    ) c
  ) h
) p
GROUP BY grp, status, elb, minute, target, target_group, port, host, method, priority, pattern
"""


def athena_fields(database: str, table: str, since_day: str | None = None) -> str:
    """``FIELDS`` from the AWS table: the split columns joined back into the entry's fields;
    ``since_day`` prunes the ``day`` partitions (delivery day, never before the request's day)."""
    where = f" WHERE day >= {_q(since_day)}" if since_day else ""
    return (f"""(SELECT "$path" AS source_file, type, time, elb,
      client_ip || ':' || coalesce(CAST(client_port AS VARCHAR), '') AS client,
      CASE WHEN target_port IS NULL THEN '-' ELSE target_ip || ':' || CAST(target_port AS VARCHAR) END AS target,
      request_verb || ' ' || request_url || ' ' || request_proto AS request,
      target_group_arn, matched_rule_priority, request_creation_time
    FROM "{database}"."{table}"{where}) AS entries""")


def athena_sql(database: str, table: str, opts: Options = Options(), since_day: str | None = None) -> str:
    """The profile query for Athena: ``profile_sql`` over ``athena_fields``, transpiled to Trino
    (Athena engine version 3) by sqlglot."""
    import sqlglot

    return sqlglot.transpile(profile_sql(athena_fields(database, table, since_day), opts), read="duckdb",
                             write="trino", pretty=True)[0]

# ---------------------------------------------------------------- rows -> the reference's aggregate


def _sample(request: str | None, client: str | None) -> tuple[str, str, str]:
    """(path, query, client IP) of a class's sample request, as alb_logs.parse_line reads them."""
    from lbguard.offline.alb_logs import _split_url

    _, _, rest = (request or "").partition(" ")
    url = rest.rpartition(" ")[0]
    parsed = _split_url(url, "https") if url else None
    path, query = (parsed[2], parsed[3]) if parsed else ("/", "")
    return path, query, (client or "").rpartition(":")[0]


def aggregates_from_rows(rows: Iterable[tuple], *, since: str | None = None, per_lb: bool = False,
                         into: dict[str | None, Aggregate] | None = None) -> dict[str | None, Aggregate]:
    """Fold result rows (``ROW_COLUMNS``) into ``alb_logs.Aggregate`` objects: one under ``None``
    (every load balancer together), or one per load balancer (``per_lb``) plus the malformed lines
    under ``None``. Rows of several batches can be folded into the same ``into``."""
    from lbguard.offline import alb_logs

    out: dict[str | None, Aggregate] = into if into is not None else {}

    def agg(elb: str | None) -> Aggregate:
        key = elb if per_lb else None
        a = out.get(key)
        if a is None:
            a = out[key] = Aggregate(since=since)
        return a

    for row in rows:
        r = dict(zip(ROW_COLUMNS, row))
        n = int(r["requests"])
        grp, elb = r["grp"], r["elb"]
        if grp == "lines":
            a = agg(elb)
            status = r["status"]
            a.lines += n
            if status == "malformed":
                a.malformed += n
                for ex in (r["example_min"], r["example_max"]):
                    if ex and len(a.malformed_examples) < 3 and ex[:120].rstrip() not in a.malformed_examples:
                        a.malformed_examples.append(ex[:120].rstrip())
            elif status == "before-since":
                a.before_since += n
            elif status == "no-request":
                a.without_request += n
            continue
        a = agg(elb)
        if grp == "minute":
            a.requests += n
            a.elbs[elb] = a.elbs.get(elb, 0) + n
            a.minutes[r["minute"]] = a.minutes.get(r["minute"], 0) + n
            if a.first is None or r["first_time"] < a.first:
                a.first = r["first_time"]
            if a.last is None or r["last_time"] > a.last:
                a.last = r["last_time"]
        elif grp == "target":
            if r["target"] is not None:
                a.targets[r["target"]] = a.targets.get(r["target"], 0) + n
                pair = (r["target_group"], r["target"])
                a.target_pairs[pair] = a.target_pairs.get(pair, 0) + n
        elif grp == "target-group":
            if r["target_group"] is not None:
                a.target_groups[r["target_group"]] = a.target_groups.get(r["target_group"], 0) + n
        elif grp == "class":
            priority = None if r["priority"] is None else int(r["priority"])
            key = (int(r["port"]), r["host"], r["method"], priority, r["pattern"])
            a.rules[(key[0], priority)] = a.rules.get((key[0], priority), 0) + n
            g = a.groups.get(key)
            if g is None:
                g = a.groups[key] = Group()
            g.count += n
            path, query, ip = _sample(r["sample_request"], r["sample_client"])
            if len(g.samples) < alb_logs.SAMPLES_PER_GROUP:
                g.samples.setdefault((path, query), ip)
    return out


def finish(aggs: dict[str | None, Aggregate]) -> None:
    """Fold the classes past ``alb_logs.MAX_GROUPS`` into one per (port, method, rule), as the
    streaming parser does; the busiest classes are kept (it keeps the first seen)."""
    from lbguard.offline import alb_logs

    for a in aggs.values():
        if len(a.groups) <= alb_logs.MAX_GROUPS:
            continue
        ordered = sorted(a.groups.items(), key=lambda kv: (-kv[1].count, repr(kv[0])))
        a.groups = dict(ordered[:alb_logs.MAX_GROUPS])
        for (port, host, method, priority, pattern), g in ordered[alb_logs.MAX_GROUPS:]:
            over = a.groups.setdefault((port, "", method, priority, "*"), Group())
            over.count += g.count
            a.folded += g.count
