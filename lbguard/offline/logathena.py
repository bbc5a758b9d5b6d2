"""The fleet engine: ``lbguard.offline.logsql``'s profile query on Athena over the S3 log prefix.

The table is AWS's ALB access-log table with partition projection by delivery day
(``logsql.glue_table_input``, created through Glue with ``--create-table``); the query is
``logsql.athena_sql`` (Trino), with ``--since`` pushed into the ``day`` partition. Calls, as the
Athena API reference defines them: ``StartQueryExecution`` (database, workgroup, result
location), ``GetQueryExecution`` until the state is final (``SUCCEEDED``, ``FAILED``,
``CANCELLED``), then ``GetQueryResults`` page by page (the first row of the first page holds the
column names); ``Statistics.DataScannedInBytes`` gives the cost: Athena's price is per TB
scanned, rounded up to the megabyte, 10 MB at least per query (aws.amazon.com/athena/pricing).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from lbguard.core.model import LbguardError
from lbguard.offline import alb_logs, logsql

PRICE_PER_TB = 5.0  # USD per TB scanned in most regions
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def scan_cost(scanned_bytes: int, price_per_tb: float = PRICE_PER_TB) -> float:
    """What Athena bills for a query that scanned ``scanned_bytes``: rounded up to the MB, 10 MB minimum."""
    mb = max(10, math.ceil(scanned_bytes / 2**20))
    return mb * 2**20 / 2**40 * price_per_tb


def since_day(cutoff_iso: str) -> str:
    """The first ``day`` partition that can hold a request created at ``cutoff_iso``.

    ALB puts a file under the day it was delivered ("yyyy/mm/dd: the date that the log was
    delivered", Access log files), never before the requests in it were made: the cut-off's UTC
    day (a --since that reaches back over midnight reads the day before today too)."""
    t = datetime.strptime(cutoff_iso[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return t.strftime("%Y/%m/%d")


def _aws_error(action: str, err: Exception) -> LbguardError:
    resp = getattr(err, "response", None) or {}
    code = resp.get("Error", {}).get("Code") or err.__class__.__name__
    msg = resp.get("Error", {}).get("Message") or str(err)
    hint = {"AccessDeniedException": "access denied: see docs/profiles.md for the IAM a fleet profile needs",
            "EntityNotFoundException": "not found",
            "NoCredentialsError": "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID"}.get(code, "")
    return LbguardError(f"--athena: cannot {action}: {code}: {hint or msg}")


@dataclass
class Target:
    database: str
    table: str
    workgroup: str
    output: str | None  # s3:// result location (None: the workgroup's own)


def ensure_table(glue, target: Target, location: str, create: bool, say: Callable[[str], None]) -> str:
    """The table ``target`` names, created (with its database) when ``create`` and missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        table = glue.get_table(DatabaseName=target.database, Name=target.table)["Table"]
        serde = table.get("StorageDescriptor", {}).get("SerdeInfo", {}).get("Parameters", {})
        if serde.get("input.regex") not in (None, logsql.INPUT_REGEX):
            say(f"table {target.database}.{target.table} has its own input.regex (AWS's example?): entries it does "
                f"not match (an escaped quote in a user agent, with AWS's) count as malformed")
        return "exists"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "EntityNotFoundException":
            raise _aws_error(f"read table {target.database}.{target.table}", err) from None
    except BotoCoreError as err:
        raise _aws_error(f"read table {target.database}.{target.table}", err) from None
    if not create:
        raise LbguardError(f"--athena: no table {target.database}.{target.table}: pass --create-table to create AWS's "
                           f"ALB access-log table over --from-logs (docs/profiles.md shows the DDL)")
    if not location.startswith("s3://"):
        raise LbguardError("--create-table: --from-logs must be the S3 log prefix (s3://BUCKET/PREFIX/AWSLogs/ACCOUNT/"
                           "elasticloadbalancing/REGION) the table reads")
    try:
        try:
            glue.get_database(Name=target.database)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "EntityNotFoundException":
                raise
            say(f"creating Glue database {target.database}")
            glue.create_database(DatabaseInput={"Name": target.database})
        say(f"creating table {target.database}.{target.table} over {logsql.table_location(location)} "
            f"(partition projection by day)")
        glue.create_table(DatabaseName=target.database, TableInput=logsql.glue_table_input(target.table, location))
    except (ClientError, BotoCoreError) as err:
        raise _aws_error(f"create table {target.database}.{target.table}", err) from None
    return "created"


@dataclass
class Result:
    rows: list[tuple]
    query_id: str
    scanned_bytes: int
    engine_ms: int | None
    sql: str

    @property
    def cost(self) -> float:
        return scan_cost(self.scanned_bytes)


_INT_COLUMNS = {"port", "priority", "requests"}


def _rows(pages) -> list[tuple]:
    out: list[tuple] = []
    names: list[str] | None = None
    for page in pages:
        data = page["ResultSet"]["Rows"]
        if not data:
            continue
        if names is None:
            names = [c.get("VarCharValue") for c in data[0]["Data"]]
            if tuple(names) != logsql.ROW_COLUMNS:
                raise LbguardError(f"--athena: the query returned columns {names}, expected {list(logsql.ROW_COLUMNS)}")
            data = data[1:]
        for row in data:
            values = [c.get("VarCharValue") for c in row["Data"]]
            out.append(tuple(int(v) if v is not None and n in _INT_COLUMNS else v for n, v in zip(names, values)))
    return out


def run_query(athena, sql: str, target: Target, *, poll: Callable[[float], None] = time.sleep,
              timeout: float = 1800.0, say: Callable[[str], None] = lambda s: None) -> Result:
    """Start ``sql``, wait for it, page its results."""
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": target.workgroup,
                              "QueryExecutionContext": {"Database": target.database, "Catalog": "AwsDataCatalog"}}
    if target.output:
        kwargs["ResultConfiguration"] = {"OutputLocation": target.output}
    try:
        qid = athena.start_query_execution(**kwargs)["QueryExecutionId"]
    except (ClientError, BotoCoreError) as err:
        raise _aws_error("start the query", err) from None
    say(f"Athena query {qid} started in workgroup {target.workgroup}")
    waited, delay = 0.0, 0.25
    try:
        while True:
            ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            state = ex["Status"]["State"]
            if state in FINAL:
                break
            if waited >= timeout:
                athena.stop_query_execution(QueryExecutionId=qid)
                raise LbguardError(f"--athena: query {qid} still {state} after {timeout:.0f} s: stopped")
            poll(delay)
            waited += delay
            delay = min(delay * 2, 5.0)
    except KeyboardInterrupt:
        athena.stop_query_execution(QueryExecutionId=qid)
        raise LbguardError(f"--athena: interrupted: query {qid} stopped") from None
    except (ClientError, BotoCoreError) as err:
        raise _aws_error(f"follow query {qid}", err) from None
    stats = ex.get("Statistics", {})
    scanned = int(stats.get("DataScannedInBytes") or 0)
    if state != "SUCCEEDED":
        why = ex["Status"].get("StateChangeReason") or state
        raise LbguardError(f"--athena: query {qid} {state}: {why} ({scanned / 2**20:.1f} MiB scanned)")
    try:
        pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid,
                                                                   PaginationConfig={"PageSize": 1000})
        rows = _rows(pages)
    except (ClientError, BotoCoreError) as err:
        raise _aws_error(f"read the results of query {qid}", err) from None
    return Result(rows, qid, scanned, stats.get("EngineExecutionTimeInMillis"), sql)


def run(source: str, target: Target, *, since: str | None = None, load_balancer: str | None = None,
        per_lb: bool = False, create_table: bool = False, session=None,
        say: Callable[[str], None] = lambda s: None, poll: Callable[[float], None] = time.sleep):
    """(aggregates, Result): the profile query over the Athena table of ``source``."""
    import boto3

    session = session or boto3.session.Session()
    glue, athena = session.client("glue"), session.client("athena")
    ensure_table(glue, target, source, create_table, say)
    opts = logsql.Options(since=since, load_balancer=load_balancer)
    sql = logsql.athena_sql(target.database, target.table, opts, since_day(since) if since else None)
    result = run_query(athena, sql, target, poll=poll, say=say)
    aggs = logsql.aggregates_from_rows(result.rows, since=since, per_lb=per_lb)
    logsql.finish(aggs)
    return aggs, result


def cutoff(since: timedelta | None, now: datetime | None = None) -> str | None:
    return alb_logs.iso((now or datetime.now(timezone.utc)) - since) if since else None
