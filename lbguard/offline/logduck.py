"""The embedded engine: ``lbguard.offline.logsql``'s profile query on DuckDB over gzip access logs.

DuckDB reads the files itself (its CSV reader, one column per line, gzip by extension: no
extension to download) in parallel on every core. S3 objects come through boto3: a small
read-only fsspec filesystem registered with DuckDB streams each object with one ``GetObject``
(a ranged one only if DuckDB seeks), so neither DuckDB's ``httpfs``/``aws`` extensions nor
s3fs/aiobotocore (which pin botocore to other versions than the lock's) are needed.

``FIELDS`` view: each line split on the double quote, then the head on spaces, which yields
the entry's fields where ``logsql.INPUT_REGEX`` would put them for every entry in the
documented layouts; a backslash escape (``\\"``, ``\\\\``) is masked before the split and put
back in the request. Files are read in batches (about ``BATCH_BYTES`` of gzip each): each
batch's rows are folded into the totals, so memory holds one batch's (minute, target, class)
counts and the running totals, never lines; a terminal gets a progress line per batch.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from lbguard.core.model import LbguardError
from lbguard.offline import alb_logs, logsql

BATCH_BYTES = 64 << 20
# The CSV reader's column delimiter: a noncharacter no access log holds (a line that did
# would be rejected by the reader and counted as malformed).
_NO_DELIM = "\U0010fffe"
_MASK_QUOTE = "chr(1) || chr(1)"
_MASK_BACKSLASH = "chr(2) || chr(2)"
S3_PROTOCOL = "lbguard-s3"


def fields_sql(files_param: str = "$files") -> str:
    """``logsql.FIELDS`` (and ``raw_line``) from the gzip lines of the files in ``files_param``."""
    split = f"""string_split(CASE WHEN has_escape
        THEN replace(replace(line, '\\\\', {_MASK_BACKSLASH}), '\\"', {_MASK_QUOTE}) ELSE line END, '"')"""
    request = f"""CASE WHEN has_escape THEN replace(replace(q[2], {_MASK_QUOTE}, '\\"'), {_MASK_BACKSLASH}, '\\\\')
        ELSE q[2] END"""
    # The shape INPUT_REGEX demands (12 bare fields, "verb url proto", "agent", 3 bare fields,
    # "trace_id", then nothing or a space): anything else is no entry (every field NULL).
    shape = """len(q) >= 7 AND len(h) = 13 AND h[13] = '' AND q[3] = ' ' AND starts_with(q[5], ' ')
        AND strpos(h[4], ':') > 0 AND (strpos(h[5], ':') > 0 OR strpos(h[5], '-') > 0) AND strpos(q[2], ' ') > 0
        AND ((len(q) = 7 AND q[7] = '') OR starts_with(q[7], ' '))"""
    # matched_rule_priority and request_creation_time: present after "domain" "cert", as a pair.
    tail = """len(q) >= 11 AND q[7] = ' ' AND q[9] = ' ' AND starts_with(q[11], ' ')
        AND len(tl) >= 3 AND (len(q) = 11 OR len(tl) >= 4)"""
    return f"""(
  SELECT source_file, raw_line,
    CASE WHEN ok THEN h[1] END AS type, h[2] AS time, h[3] AS elb, h[4] AS client, h[5] AS target,
    {request} AS request, split_part(q[5], ' ', 4) AS target_group_arn,
    CASE WHEN has_tail THEN tl[2] END AS matched_rule_priority,
    CASE WHEN has_tail THEN tl[3] END AS request_creation_time
  FROM (
    SELECT *, {shape} AS ok, {tail} AS has_tail
    FROM (
      SELECT *, string_split(q[1], ' ') AS h,
        CASE WHEN len(q) >= 11 THEN string_split(q[11], ' ') END AS tl
      FROM (
        SELECT source_file, line AS raw_line, has_escape, {split} AS q
        FROM (
          SELECT filename AS source_file, line, contains(line, '\\') AS has_escape
          FROM read_csv({files_param}, columns = {{'line': 'VARCHAR'}}, delim = '{_NO_DELIM}', quote = '',
                        escape = '', header = false, auto_detect = false, ignore_errors = true,
                        store_rejects = true, filename = true)
          WHERE NOT (strlen(line) < 64 AND regexp_full_match(line, '\\s*'))
        ) r
      ) s
    ) t
  ) u
)"""


# ---------------------------------------------------------------- S3 through boto3


def s3_filesystem(client):
    """A read-only fsspec filesystem over boto3 for DuckDB (``lbguard-s3://bucket/key``)."""
    from fsspec import AbstractFileSystem
    from fsspec.spec import AbstractBufferedFile

    sizes: dict[str, int] = {}

    class Object(AbstractBufferedFile):
        def __init__(self, fs, path, **kw):
            self._body, self._at = None, 0
            super().__init__(fs, path, **kw)

        def _fetch_range(self, start: int, end: int) -> bytes:
            bucket, _, key = self.path.partition("/")
            if self._body is None or start != self._at:
                if self._body is not None:
                    self._body.close()
                rng = {} if start == 0 else {"Range": f"bytes={start}-"}
                self._body, self._at = client.get_object(Bucket=bucket, Key=key, **rng)["Body"], start
            data = self._body.read(end - start)
            self._at += len(data)
            return data

        def close(self):
            if self._body is not None:
                self._body.close()
                self._body = None
            super().close()

    class S3(AbstractFileSystem):
        protocol = S3_PROTOCOL

        def info(self, path, **kw):
            path = self._strip_protocol(path)
            if path not in sizes:
                bucket, _, key = path.partition("/")
                sizes[path] = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
            return {"name": path, "size": sizes[path], "type": "file"}

        def _open(self, path, mode="rb", block_size=None, **kw):
            return Object(self, self._strip_protocol(path), mode=mode, block_size=8 << 20, cache_type="readahead",
                          size=self.info(path)["size"])

    return S3(skip_instance_cache=True), sizes


# ---------------------------------------------------------------- files, batches, progress


@dataclass
class Source:
    """The files to read: local paths, or S3 objects read through boto3."""

    name: str
    paths: list[str]  # what DuckDB opens
    sizes: list[int]
    s3_client: object | None = None


def open_source(source: str, since: str | None = None) -> tuple[Source, int]:
    """The access-log files under ``source`` (a path or ``s3://bucket/prefix``), without the ones
    whose 5-minute interval ended before ``since`` (as the streaming reader skips them), and how
    many were skipped."""
    if source.startswith("s3://"):
        import boto3

        client = boto3.client("s3")
        listed = _s3_listing(source, client)
        keep = [(k, n) for k, n in listed if not _before(k, since)]
        bucket, _ = alb_logs.split_s3_url(source)
        return (Source(source, [f"{S3_PROTOCOL}://{bucket}/{k}" for k, _ in keep], [n for _, n in keep], client),
                len(listed) - len(keep))
    files = alb_logs.local_files(Path(source))
    if not files:
        raise LbguardError(f"--from-logs {source}: no ALB access-log files (*.log.gz) there")
    keep = [f.name for f in files if not _before(f.name, since)]
    for name in keep:
        _check_gzip(name)
    return Source(source, keep, [os.path.getsize(p) for p in keep]), len(files) - len(keep)


def _before(name: str, since: str | None) -> bool:
    end = alb_logs.file_end_time(name)
    return since is not None and end is not None and end < since


def _check_gzip(path: str) -> None:
    if not path.endswith(".gz"):
        return
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            raise LbguardError(f"{path}: not a gzip file (ALB writes its access logs gzip-compressed)")


def _s3_listing(url: str, client) -> list[tuple[str, int]]:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = alb_logs.split_s3_url(url)
    out: list[tuple[str, int]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend((o["Key"], o["Size"]) for o in page.get("Contents", []) if alb_logs.is_access_log(o["Key"]))
    except (ClientError, BotoCoreError) as err:
        raise alb_logs._s3_error(url, "list it", err) from None
    if not out:
        raise LbguardError(f"--from-logs {url}: no ALB access-log files (*.log.gz) there")
    return sorted(out)


def batches(src: Source, batch_bytes: int = BATCH_BYTES, min_files: int = 1) -> Iterable[list[str]]:
    batch: list[str] = []
    size = 0
    for path, n in zip(src.paths, src.sizes):
        batch.append(path)
        size += n
        if size >= batch_bytes and len(batch) >= min_files:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class Progress:
    """One line on stderr, rewritten per batch: files read, lines, lines/s (a terminal only)."""

    def __init__(self, total_files: int, enabled: bool | None = None):
        self.total, self.started = total_files, time.perf_counter()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def update(self, files: int, lines: int) -> None:
        if not self.enabled:
            return
        rate = lines / max(1e-9, time.perf_counter() - self.started)
        sys.stderr.write(f"\rlbguard: {files}/{self.total} files, {lines:,} lines, {rate:,.0f} lines/s ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ---------------------------------------------------------------- the engine


@dataclass
class Run:
    aggregates: dict[str | None, alb_logs.Aggregate]
    files: int
    skipped_files: int
    seconds: float
    batches: int = 0
    rejected_lines: int = 0  # lines DuckDB's reader refused (invalid UTF-8, the delimiter): malformed
    sql: str = ""


def connect(threads: int | None = None):
    import duckdb

    con = duckdb.connect(config={"threads": threads or os.cpu_count() or 1, "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False, "enable_external_access": True})
    return con


def profile_rows(con, files: list[str], opts: logsql.Options) -> tuple[list[tuple], int]:
    """The query's rows for ``files`` and the lines the reader rejected."""
    import duckdb

    sql = logsql.profile_sql(fields_sql("$files"), opts)
    try:
        rows = con.execute(sql, {"files": files}).fetchall()
        rejected = con.execute("SELECT count(*) FROM reject_errors").fetchone()[0]
    except duckdb.IOException as err:
        first = str(err).splitlines()[0]
        if "gzip" in first.lower():
            raise LbguardError(f"--from-logs: corrupt gzip data ({first})") from None
        raise LbguardError(f"--from-logs: cannot read the logs: {first}") from None
    except duckdb.InvalidInputException as err:
        first = str(err).splitlines()[0]
        raise LbguardError(f"--from-logs: corrupt gzip data or not an access log ({first})") from None
    return rows, rejected


def run(source: str, *, since: str | None = None, load_balancer: str | None = None, per_lb: bool = False,
        progress: bool | None = None, threads: int | None = None, batch_bytes: int = BATCH_BYTES) -> Run:
    """Profile aggregates of the logs under ``source`` (path or s3://) on DuckDB."""
    started = time.perf_counter()
    src, skipped = open_source(source, since)
    con = connect(threads)
    if src.s3_client is not None:
        fs, _ = s3_filesystem(src.s3_client)
        con.register_filesystem(fs)
    opts = logsql.Options(since=since, load_balancer=load_balancer, raw_line=True)
    aggs: dict[str | None, alb_logs.Aggregate] = {}
    bar = Progress(len(src.paths), progress)
    done = lines = rejected = n = 0
    threads_n = threads or os.cpu_count() or 1
    for batch in batches(src, batch_bytes, min_files=threads_n):
        rows, rej = profile_rows(con, batch, opts)
        before = sum(a.lines for a in aggs.values())
        logsql.aggregates_from_rows(rows, since=since, per_lb=per_lb, into=aggs)
        done += len(batch)
        rejected += rej
        lines += sum(a.lines for a in aggs.values()) - before
        n += 1
        bar.update(done, lines)
    bar.done()
    total = aggs.setdefault(None, alb_logs.Aggregate(since=since)) if not per_lb else aggs.get(None)
    if rejected:
        target = total if total is not None else aggs.setdefault(None, alb_logs.Aggregate(since=since))
        target.lines += rejected
        target.malformed += rejected
    for a in aggs.values():
        a.files = len(src.paths)
    logsql.finish(aggs)
    return Run(aggs, len(src.paths), skipped, time.perf_counter() - started, n, rejected)
