"""`lbguard profile --athena`: the table through moto's Glue, the query as Athena receives it
(moto records it; it executes nothing, so its result rows are the query's own, run on DuckDB
over the same logs), paging through botocore's Stubber; and the embedded engine reading S3
objects from a moto server through boto3.
"""

from __future__ import annotations


import boto3
import duckdb
import pytest
import sqlglot
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from lbguard.cli.app import main
from lbguard.core.model import LbguardError
from lbguard.core.profile import load_profile
from lbguard.offline import alb_logs, logathena, logduck, logsql
from tests.offline.profile import alblog_gen as gen
from tests.offline.profile.test_engines import athena_table, corpus

BUCKET = "fleet-alb-logs"
PREFIX = f"s3://{BUCKET}/AWSLogs/{gen.ACCOUNT}/elasticloadbalancing/{gen.REGION}"
RESULTS = "s3://athena-results-bucket/lbguard/"


def result_set(rows: list[tuple]) -> tuple[list[dict], list[dict]]:
    """Rows as GetQueryResults carries them: a header row, then every value as VarCharValue."""
    header = {"Data": [{"VarCharValue": c} for c in logsql.ROW_COLUMNS]}
    body = [{"Data": [{} if v is None else {"VarCharValue": str(v)} for v in row]} for row in rows]
    info = [{"Name": c, "Type": "varchar"} for c in logsql.ROW_COLUMNS]
    return [header] + body, info


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("athena")
    root, truth, _ = corpus(tmp, 12_000)
    con = duckdb.connect()
    athena_table(con, root)
    trino = logsql.athena_sql("albdb", "alb", logsql.Options())
    rows = con.execute(sqlglot.transpile(trino, read="trino", write="duckdb")[0]).fetchall()
    embedded = logduck.run(str(root)).aggregates[None]
    return {"root": root, "truth": truth, "rows": rows, "embedded": embedded, "tmp": tmp}


def test_athena_creates_the_table_submits_the_query_and_writes_the_embedded_engines_profile(logs, tmp_path,
                                                                                          monkeypatch):
    from moto.athena.models import QueryResults, athena_backends

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="athena-results-bucket")
        rows, info = result_set(logs["rows"])
        athena_backends[gen.ACCOUNT]["us-east-1"].query_results_queue.append(QueryResults(rows, info))
        out = tmp_path / "traffic.yaml"
        result = CliRunner().invoke(main, [
            "profile", "--athena", "--create-table", "--from-logs", PREFIX, "--database", "albdb", "--table", "alb",
            "--athena-output", RESULTS, "-o", str(out), "--json", str(tmp_path / "r.json")], catch_exceptions=False)
        assert result.exit_code == 0, result.output + result.stderr
        err = result.stderr.splitlines()
        # Where it goes and what it may write, before it writes.
        assert err[0].startswith("lbguard: Athena in us-east-1: workgroup primary, table albdb.alb; query results to "
                                 f"{RESULTS}; may create the table over {PREFIX}")
        assert any("creating table albdb.alb" in e for e in err[1:3])
        assert any("bytes scanned" in e and "$" in e and "/TB" in e for e in err)
        # The table, as Glue holds it.
        glue = boto3.client("glue")
        table = glue.get_table(DatabaseName="albdb", Name="alb")["Table"]
        sd = table["StorageDescriptor"]
        assert [c["Name"] for c in sd["Columns"]] == [n for n, _ in logsql.COLUMNS]
        assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.RegexSerDe"
        assert sd["SerdeInfo"]["Parameters"]["input.regex"] == logsql.INPUT_REGEX
        assert sd["Location"] == PREFIX + "/"
        assert table["PartitionKeys"] == [{"Name": "day", "Type": "string"}]
        params = table["Parameters"]
        assert (params["projection.enabled"], params["projection.day.type"], params["projection.day.format"],
                params["projection.day.interval.unit"], params["storage.location.template"]) == \
            ("true", "date", "yyyy/MM/dd", "DAYS", PREFIX + "/${day}")
        # The query, as Athena received it: the Trino text, in the database and workgroup asked for.
        athena = boto3.client("athena")
        (qid,) = athena.list_query_executions()["QueryExecutionIds"]
        ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        assert ex["Query"] == logsql.athena_sql("albdb", "alb", logsql.Options())
        assert ex["QueryExecutionContext"]["Database"] == "albdb" and ex["WorkGroup"] == "primary"
        assert ex["ResultConfiguration"]["OutputLocation"].startswith(RESULTS)  # Athena names the result file
        sqlglot.parse_one(ex["Query"], read="trino")
        # Run again: the table exists and is used as it is (moto has no more rows to give: no requests).
        again = CliRunner().invoke(main, ["profile", "--athena", "--create-table", "--from-logs", PREFIX, "--database",
                                          "albdb", "--table", "alb", "-o", str(tmp_path / "again.yaml")],
                                   catch_exceptions=False)
        assert again.exit_code == 2 and "creating" not in again.stderr and "no requests" in again.stderr
        assert len(athena.list_query_executions()["QueryExecutionIds"]) == 2
    prof = load_profile(out)
    ref, _ = alb_logs.build_profile(logs["embedded"], "x")
    assert [(c.name, c.count, c.weight) for c in prof.classes] == [(c.name, c.count, c.weight) for c in ref.classes]
    for key in ("requests", "targets", "targetGroups", "ruleShares", "peakMinute", "funnels", "loadBalancers"):
        assert prof.observed[key] == ref.observed[key], key
    assert prof.observed["engine"] == "athena" and prof.observed["queryId"] == qid


def test_results_are_read_page_by_page_and_the_cost_is_reported(logs):
    """A multi-page GetQueryResults (botocore's Stubber): every page's rows, the header once."""
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    rows, _ = result_set(logs["rows"])
    header, body = rows[0], rows[1:]
    half = len(body) // 2
    target = logathena.Target("albdb", "alb", "analytics", RESULTS)
    sql = logsql.athena_sql("albdb", "alb", logsql.Options())
    polls: list[float] = []
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, {
            "QueryString": sql, "WorkGroup": "analytics", "ResultConfiguration": {"OutputLocation": RESULTS},
            "QueryExecutionContext": {"Database": "albdb", "Catalog": "AwsDataCatalog"}})
        for state in ("QUEUED", "RUNNING"):
            stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": state}}},
                              {"QueryExecutionId": "q-1"})
        stub.add_response("get_query_execution", {"QueryExecution": {
            "Status": {"State": "SUCCEEDED"},
            "Statistics": {"DataScannedInBytes": 3 * 2**30, "EngineExecutionTimeInMillis": 4200}}},
            {"QueryExecutionId": "q-1"})
        stub.add_response("get_query_results", {"ResultSet": {"Rows": [header] + body[:half]}, "NextToken": "page-2"},
                          {"QueryExecutionId": "q-1", "MaxResults": 1000})
        stub.add_response("get_query_results", {"ResultSet": {"Rows": body[half:]}},
                          {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "page-2"})
        result = logathena.run_query(client, sql, target, poll=polls.append)
        stub.assert_no_pending_responses()
    assert polls == [0.25, 0.5]
    assert len(result.rows) == len(logs["rows"])
    aggs = logsql.aggregates_from_rows(result.rows)
    logsql.finish(aggs)
    assert aggs[None].groups.keys() == logs["embedded"].groups.keys()
    assert {k: g.count for k, g in aggs[None].groups.items()} == {k: g.count for k, g in logs["embedded"].groups.items()}
    assert aggs[None].minutes == logs["embedded"].minutes and aggs[None].target_pairs == logs["embedded"].target_pairs
    assert result.scanned_bytes == 3 * 2**30
    assert result.cost == pytest.approx(3 / 1024 * 5.0)
    assert logathena.scan_cost(1) == pytest.approx(10 / 2**20 * 5.0)  # 10 MB minimum


def test_a_failed_query_is_one_line_with_athenas_reason():
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
        stub.add_response("get_query_execution", {"QueryExecution": {
            "Status": {"State": "FAILED", "StateChangeReason": "HIVE_BAD_DATA: bad row"},
            "Statistics": {"DataScannedInBytes": 1234}}})
        with pytest.raises(LbguardError, match="query q-2 FAILED: HIVE_BAD_DATA: bad row"):
            logathena.run_query(client, "SELECT 1", logathena.Target("d", "t", "primary", None), poll=lambda s: None)


def test_missing_table_without_create_table_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        out = tmp_path / "p.yaml"
        result = CliRunner().invoke(main, ["profile", "--athena", "--database", "albdb", "--table", "alb",
                                           "-o", str(out)], catch_exceptions=False)
        assert result.exit_code == 2 and "Traceback" not in result.stderr
        first, error = result.stderr.strip().splitlines()  # where it went, then why it stopped
        assert first.startswith("lbguard: Athena in us-east-1: workgroup primary, table albdb.alb")
        assert error.startswith("lbguard: error: --athena: no table albdb.alb: pass --create-table")
        assert not out.exists()
        assert boto3.client("athena").list_query_executions()["QueryExecutionIds"] == []


def test_partition_day_of_a_cutoff():
    assert logathena.since_day("2026-06-02T00:10:00.000000Z") == "2026/06/02"
    assert logathena.since_day("2026-06-01T23:59:59.999999Z") == "2026/06/01"
    sql = logsql.athena_sql("albdb", "alb", logsql.Options(since="2026-06-01T23:50:00.000000Z"), "2026/06/01")
    assert "day >= '2026/06/01'" in sql and "t < '2026-06-01T23:50:00.000000Z'" in sql


# ---------------------------------------------------------------- DuckDB reading S3 through boto3


@pytest.fixture
def moto_server(tmp_path):
    from lbguard.cli.commands.sandbox import free_port, start_moto_server

    port = free_port()
    proc = start_moto_server(port, tmp_path / "moto.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_duckdb_reads_s3_objects_from_a_moto_server(moto_server, logs, monkeypatch, tmp_path):
    for k, v in {"AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    root = logs["root"]
    for path in root.rglob("*.gz"):
        s3.put_object(Bucket=BUCKET, Key=f"dev/{path.relative_to(root)}", Body=path.read_bytes())
    run = logduck.run(f"s3://{BUCKET}/dev/", threads=2)
    got, want = run.aggregates[None], logs["embedded"]
    for attr in ("lines", "malformed", "requests", "minutes", "targets", "target_pairs", "rules", "elbs"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert run.files == len(list(root.rglob("*.gz")))
    out = tmp_path / "p.yaml"
    result = CliRunner().invoke(main, ["profile", "--from-logs", f"s3://{BUCKET}/dev/", "--load-balancer", "web-dev",
                                       "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    assert load_profile(out).observed["requests"] == logs["truth"].lines


def test_an_existing_table_with_another_pattern_is_used_and_named(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        glue = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": "albdb"})
        theirs = logsql.glue_table_input("alb", PREFIX)
        theirs["StorageDescriptor"]["SerdeInfo"]["Parameters"]["input.regex"] = '([^ ]*) "([^"]*)"'
        glue.create_table(DatabaseName="albdb", TableInput=theirs)
        said: list[str] = []
        target = logathena.Target("albdb", "alb", "primary", None)
        assert logathena.ensure_table(glue, target, PREFIX, True, said.append) == "exists"
        assert len(said) == 1 and "has its own input.regex" in said[0]
        assert glue.get_table(DatabaseName="albdb", Name="alb")["Table"]["StorageDescriptor"]["SerdeInfo"][
            "Parameters"]["input.regex"] == '([^ ]*) "([^"]*)"'  # left as it is


def test_athena_without_a_region_is_one_line(tmp_path, monkeypatch):
    for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    result = CliRunner().invoke(main, ["profile", "--athena", "--database", "d", "--table", "t",
                                       "-o", str(tmp_path / "p.yaml")], catch_exceptions=False)
    assert result.exit_code == 2 and result.stderr.strip() == \
        "lbguard: error: --athena: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
