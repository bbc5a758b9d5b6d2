"""Application Load Balancer access logs: parse entries, stream files, aggregate a traffic profile.

The entry format is AWS's ("Access logs for your Application Load Balancer", Syntax):
space-separated fields, in this order, some enclosed in double quotes::

    type time elb client:port target:port request_processing_time target_processing_time
    response_processing_time elb_status_code target_status_code received_bytes sent_bytes
    "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
    "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
    "redirect_url" "error_reason" "target:port_list" "target_status_code_list"
    "classification" "classification_reason" conn_trace_id

"When new fields are introduced, they are added to the end of the log entry. You should
ignore any fields at the end of the log entry that you were not expecting": so fields past
the known ones are ignored, and entries written before the newer trailing fields existed
(ending at ``trace_id``) are read too. ``request`` is ``METHOD protocol://host:port/uri
VERSION``; the port there is the listener's. ``matched_rule_priority`` is 1..50,000 for a
rule, 0 for the listener's default action, -1 for an error during rule evaluation, ``-``
for other errors. ``time`` is when the response was sent, ``request_creation_time`` when
the request arrived: the request time used here (for ``--since`` and the per-minute peak).

Files are gzip, one per load-balancer node per 5 minutes, named
``AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/<account>_elasticloadbalancing_
<region>_app.<lb-name>.<id>_<end-time>_<ip>_<random>.log.gz``; connection logs
(``conn_log.<...>``) and ELB's ``ELBAccessLogTestFile`` sit beside them and are skipped.
Files are read from a directory tree or from S3 (list + streaming get), line by line:
memory stays constant whatever the number of lines (bounded by the number of distinct
request groups, targets and minutes, never by lines).

Grouping (what a profile class is): (listener port, host, method, matched rule priority,
path generalised to its first segment: ``/api/v1/x`` -> ``/api/*``, ``/health`` stays
``/health``). The logged priority is part of the key, so two requests ALB routed to
different rules never share a class: every distinct rule outcome is kept, and the class's
request (the first concrete path seen in it, with its query and client IP) is a
request ALB really routed that way. Headers are not in the logs, so a rule conditioned on
a header cannot be reproduced by replaying the class; ``lbguard profile --stack`` checks
every class against the stack's rules and reports the ones that replay elsewhere.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple
from urllib.parse import parse_qsl

from lbguard.core.model import LbguardError

FIELDS = (
    "type", "time", "elb", "client:port", "target:port", "request_processing_time",
    "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code",
    "received_bytes", "sent_bytes", "request", "user_agent", "ssl_cipher", "ssl_protocol",
    "target_group_arn", "trace_id", "domain_name", "chosen_cert_arn", "matched_rule_priority",
    "request_creation_time", "actions_executed", "redirect_url", "error_reason", "target:port_list",
    "target_status_code_list", "classification", "classification_reason", "conn_trace_id",
)
MIN_FIELDS = FIELDS.index("trace_id") + 1  # the oldest ALB entries end there
TYPES = frozenset({"http", "https", "h2", "grpcs", "ws", "wss"})
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "h2": 443, "grpcs": 443, "wss": 443}

# One token: a double-quoted field (backslash escapes inside) or a run of non-spaces.
_TOKEN = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"|([^ ]+)')
_FILE_END_TIME = re.compile(r"_(\d{8}T\d{4}Z)_")
# The common layout in one match (possessive quantifiers: no backtracking); every other
# layout AWS documents (no port in the URL, IPv6, "- - -", entries without the newer
# fields) falls through to the general parser.
_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z"
_FAST = re.compile(
    r"(h2|https?|grpcs|wss?) (" + _TS + r") ([^ ]++) ([^ ]+):\d+ ([^ ]++) [^ ]++ [^ ]++ [^ ]++ [^ ]++ "
    r"[^ ]++ [^ ]++ [^ ]++ "
    # the request: method, host, port, first path segment, the rest of the path, query
    r'"([A-Z]++) [a-z0-9]+://([^/?#" :\[\]]++)(?::(\d++))?(/[^/?" ]*+)?(/[^?" ]*+)?(?:\?([^" ]*+))? HTTP/[0-9.]++" '
    r'"[^"\\]*+(?:\\.[^"\\]*+)*+" [^ ]++ [^ ]++ ([^ ]++) "[^"]*+" "[^"]*+" "[^"]*+" (\d++|-1|-) '
    r"(" + _TS + r"|-)[ \r\n]")


class Entry(NamedTuple):
    """The parts of one access-log entry a profile needs."""

    type: str
    request_time: str  # ISO 8601 UTC, microseconds, "Z" (string order = time order)
    elb: str
    client_ip: str
    target: str | None  # "ip:port", None when not forwarded (fixed response, redirect, error)
    target_group: str | None  # ARN
    method: str | None  # None: ALB logged no request line ("- - -")
    host: str
    port: int
    path: str
    query: str
    elb_status: str
    matched_rule_priority: int | None  # 0 = default action; None = not logged / error


def _is_time(value: str) -> bool:
    # 2018-07-02T22:22:48.364000Z: cheap shape check, no datetime parse per line.
    return len(value) >= 20 and value[4] == "-" and value[10] == "T" and value[-1] == "Z" and value[:4].isdigit()


def _split_url(url: str, kind: str) -> tuple[str, int, str, str] | None:
    """``https://Host:443/p?q`` -> (host, port, path, query); None if not an absolute URL."""
    at = url.find("://")
    if at < 0:
        return None
    rest = url[at + 3:]
    slash = rest.find("/")
    authority, target = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if authority.startswith("["):  # IPv6 literal
        close = authority.find("]")
        host, port_s = authority[1:close], authority[close + 2:]
    else:
        host, _, port_s = authority.rpartition(":") if ":" in authority else (authority, "", "")
    try:
        port = int(port_s) if port_s else DEFAULT_PORTS[kind]
    except (ValueError, KeyError):
        return None
    path, _, query = target.partition("?")
    return host.lower(), port, path or "/", query


def _fields(line: str) -> list[str] | None:
    """The first 23 fields (through actions_executed, fewer for older entries), quotes removed.

    Fast path: split on the double quotes (the quoted fields sit at known places); a line
    with an escaped quote or an unexpected layout goes through the general tokenizer.
    """
    parts = line.split('"', 12)
    n = len(parts)
    if n >= 7 and '\\"' not in line and parts[2] == " " and parts[6] == " ":
        v = parts[0].split(" ")
        if v[-1] == "":
            v.pop()
        mid = parts[4].split()
        if len(v) == 12 and len(mid) == 3:
            v += (parts[1], parts[3], *mid, parts[5])
            if n >= 11 and parts[8] == " ":
                v += (parts[7], parts[9])
                if n >= 12:
                    tail = parts[10].split()
                    if len(tail) != 2:
                        return _tokens(line)
                    v += tail
                    if n >= 13:
                        v.append(parts[11])
            return v
    return _tokens(line)


def _tokens(line: str) -> list[str] | None:
    """The general tokenizer: quoted fields (with backslash escapes) and bare runs of non-spaces."""
    tokens = _TOKEN.findall(line)
    return [q or b for q, b in tokens[:23]] if len(tokens) >= MIN_FIELDS else None


def parse_line(line: str) -> Entry | None:
    """One entry, or None when the line is not an ALB access-log entry."""
    v = _fields(line.rstrip("\r\n"))
    if v is None or len(v) < MIN_FIELDS:
        return None
    kind, created = v[0], v[1]
    if kind not in TYPES or not _is_time(created):
        return None
    client, target, tg = v[3], v[4], v[16]
    ip, colon, _ = client.rpartition(":")
    if not colon:
        return None
    method, _, rest = v[12].partition(" ")
    url, _, version = rest.rpartition(" ")
    if method != "-" and url:
        parsed = _split_url(url, kind)
        if parsed is None:
            return None
        host, port, path, query = parsed
    else:  # ALB logs "- - -" when the client sent no complete request line
        method, host, port, path, query = None, "", DEFAULT_PORTS[kind], "/", ""
    priority: int | None = None
    if len(v) > 21:
        p = v[20]
        if p != "-":
            if not p.lstrip("-").isdigit():
                return None
            priority = int(p)
            if priority < 0:
                priority = None  # -1: an error during rule evaluation
        t = v[21]
        if t != "-":
            if not _is_time(t):
                return None
            created = t
    return Entry(kind, created, v[2], ip, None if target == "-" else target, None if tg == "-" else tg,
                 method, host, port, path, query, v[8], priority)


# ---------------------------------------------------------------- durations and time


_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``, ``1h30m`` -> timedelta; anything else raises LbguardError."""
    s = (text or "").strip().lower()
    pos, seconds = 0, 0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        seconds += int(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not s or pos != len(s) or seconds <= 0:
        raise LbguardError(f"--since {text!r}: not a duration; write e.g. 90s, 15m, 2h, 7d or 1h30m")
    return timedelta(seconds=seconds)


def iso(t: datetime) -> str:
    """The log's own timestamp format (UTC), so request times compare as strings."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- sources


@dataclass
class LogFile:
    name: str  # path or s3://bucket/key
    open: Callable[[], io.BufferedIOBase]  # raw (compressed) bytes


def is_access_log(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return (base.endswith(".log.gz") or base.endswith(".log")) and not base.startswith("conn_log.")


def file_end_time(name: str) -> str | None:
    """The logging interval's end from an ALB file name, as an ISO string (minute precision)."""
    m = _FILE_END_TIME.search(name.rsplit("/", 1)[-1])
    if not m:
        return None
    t = m.group(1)
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[9:11]}:{t[11:13]}:59.999999Z"


def local_files(path: Path) -> list[LogFile]:
    if not path.exists():
        raise LbguardError(f"--from-logs {path}: no such file or directory")
    if path.is_file():
        return [LogFile(str(path), lambda p=path: open(p, "rb"))]
    found = sorted(p for p in path.rglob("*") if p.is_file() and is_access_log(p.name))
    return [LogFile(str(p), lambda p=p: open(p, "rb")) for p in found]


def split_s3_url(url: str) -> tuple[str, str]:
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise LbguardError(f"--from-logs {url}: no bucket name; write s3://BUCKET/PREFIX")
    return bucket, prefix


def _s3_error(url: str, action: str, err: Exception) -> LbguardError:
    code = getattr(err, "response", {}).get("Error", {}).get("Code") if hasattr(err, "response") else None
    why = code or err.__class__.__name__
    hint = {"NoSuchBucket": "no such bucket", "AccessDenied": "access denied: the credentials may not read it",
            "403": "access denied: the credentials may not read it",
            "InvalidAccessKeyId": "the AWS access key is not valid (check AWS_PROFILE / AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
            "ExpiredToken": "the AWS session token has expired: renew the credentials",
            "NoCredentialsError": "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID",
            "EndpointConnectionError": "cannot reach the S3 endpoint"}.get(why, why)
    return LbguardError(f"--from-logs {url}: cannot {action}: {hint}")


def s3_files(url: str, client=None) -> list[LogFile]:
    """Every access-log object under ``s3://bucket/prefix`` (listed; bodies streamed on open)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3_url(url)
    s3 = client or boto3.client("s3")
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if is_access_log(o["Key"]))
    except (ClientError, BotoCoreError) as err:
        raise _s3_error(url, "list it", err) from None

    def opener(key: str):
        def go():
            try:
                return s3.get_object(Bucket=bucket, Key=key)["Body"]
            except (ClientError, BotoCoreError) as err:
                raise _s3_error(f"s3://{bucket}/{key}", "read it", err) from None
        return go

    return [LogFile(f"s3://{bucket}/{k}", opener(k)) for k in sorted(keys)]


def lines_of(f: LogFile) -> Iterator[str]:
    """The file's lines, decompressed as they are read (gzip by magic number, else plain)."""
    raw = f.open()
    try:
        head = raw.read(2)
        stream: Any
        if head == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=_Prepend(head, raw), mode="rb")
        elif f.name.endswith(".gz"):
            raise LbguardError(f"{f.name}: not a gzip file (ALB writes its access logs gzip-compressed)")
        else:
            stream = _Prepend(head, raw)
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        try:
            yield from text
        except (OSError, EOFError, zlib.error) as err:
            raise LbguardError(f"{f.name}: corrupt gzip data ({err.__class__.__name__}: {err})") from None
    finally:
        raw.close()


class _Prepend(io.RawIOBase):
    """A readable stream with bytes already read put back in front (for magic sniffing)."""

    def __init__(self, head: bytes, rest):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def open_source(source: str) -> list[LogFile]:
    files = s3_files(source) if source.startswith("s3://") else local_files(Path(source))
    if not files:
        raise LbguardError(f"--from-logs {source}: no ALB access-log files (*.log.gz) there")
    return files


# ---------------------------------------------------------------- aggregation


SAMPLES_PER_GROUP = 4  # distinct concrete requests kept per group (bounded memory)
MAX_GROUPS = 20_000  # past this, new groups fold into one per (port, rule outcome)


def path_pattern(path: str) -> str:
    """``/api/v1/x`` -> ``/api/*``; a one-segment path (``/``, ``/health``) stays as it is."""
    second = path.find("/", 1)
    return path if second < 0 else path[:second + 1] + "*"


@dataclass
class Group:
    count: int = 0
    samples: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, query) -> client IP, first seen first


GroupKey = tuple[int, str, str, "int | None", str]  # port, host, method, matched priority, path pattern


@dataclass
class Aggregate:
    """Counts from a stream of entries; memory bounded by groups, targets and minutes."""

    since: str | None = None  # ISO; entries before are counted as filtered, not used
    files: int = 0
    lines: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    without_request: int = 0
    before_since: int = 0
    requests: int = 0
    first: str | None = None
    last: str | None = None
    groups: dict[GroupKey, Group] = field(default_factory=dict)
    folded: int = 0  # requests counted in an overflow group
    minutes: dict[str, int] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)
    target_groups: dict[str, int] = field(default_factory=dict)
    target_pairs: dict[tuple[str | None, str], int] = field(default_factory=dict)  # (target group, target)
    rules: dict[tuple[int, int | None], int] = field(default_factory=dict)  # (port, priority) -> requests
    elbs: dict[str, int] = field(default_factory=dict)
    _pending: dict[tuple, int] = field(default_factory=dict, repr=False)

    def add_line(self, line: str, where: str = "") -> None:
        """One line through the general parser (any layout AWS documents, escapes, old entries)."""
        if not line.strip():
            return
        self.lines += 1
        e = parse_line(line)
        if e is None:
            self.malformed += 1
            if len(self.malformed_examples) < 3:
                self.malformed_examples.append(f"{where}: {line[:120].rstrip()}")
            return
        self.add(e)

    def add(self, e: Entry) -> None:
        self.count(e.request_time, e.elb, e.client_ip, e.target, e.target_group, e.method, e.host, e.port,
                   e.path, e.query, e.matched_rule_priority)

    def count(self, t: str, elb: str, ip: str, target: str | None, tg: str | None, method: str | None,
              host: str, port: int, path: str, query: str, priority: int | None) -> None:
        """Count one request (the general parser's way in; :meth:`feed` inlines the same steps)."""
        if self.since is not None and t < self.since:
            self.before_since += 1
            return
        if method is None:
            self.without_request += 1
            return
        if self.first is None or t < self.first:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t
        key = (t[:16], elb, target, tg, port, host, method, priority, path_pattern(path))
        n = self._pending.get(key)
        self._pending[key] = 1 if n is None else n + 1
        self._sample(key, path, query, ip)

    def _sample(self, key: tuple, path: str, query: str, ip: str) -> None:
        g = self.groups.get(key[4:])
        if g is not None and len(g.samples) >= SAMPLES_PER_GROUP:
            return
        self._group(key[4:]).samples.setdefault((path, query), ip)

    def _group(self, gkey: tuple) -> Group:
        g = self.groups.get(gkey)
        if g is None:
            if len(self.groups) >= MAX_GROUPS:
                gkey = (gkey[0], "", gkey[2], gkey[3], "*")
                g = self.groups.get(gkey)
            if g is None:
                g = self.groups[gkey] = Group()
        return g

    def flush(self) -> None:
        """Fold the pending combined counts (one file's worth) into the totals."""
        for (minute, elb, target, tg, port, host, method, priority, pattern), n in self._pending.items():
            self.requests += n
            self.minutes[minute] = self.minutes.get(minute, 0) + n
            self.elbs[elb] = self.elbs.get(elb, 0) + n
            if target is not None:
                self.targets[target] = self.targets.get(target, 0) + n
                self.target_pairs[(tg, target)] = self.target_pairs.get((tg, target), 0) + n
            if tg is not None:
                self.target_groups[tg] = self.target_groups.get(tg, 0) + n
            self.rules[(port, priority)] = self.rules.get((port, priority), 0) + n
            gkey = (port, host, method, priority, pattern)
            g = self._group(gkey)
            if gkey not in self.groups:
                self.folded += n
            g.count += n
        self._pending.clear()

    def feed(self, lines: Iterable[str], where: str = "") -> None:
        """Lines of one file: the common layout through one regular expression, the rest through
        :func:`parse_line` and :meth:`count`. Fast-path counts are kept per raw matched fields
        (minute, load balancer, target, target group, scheme, port, host, method, priority, first
        path segment, deeper or not) while the file is read: no conversion per line; they are
        converted and folded into the totals at the file's end."""
        fast, slow, since = _FAST.match, self.add_line, self.since
        raw: dict[tuple, list] = {}  # raw key -> [count, group still sampling or None]
        first = self.first or "~"  # "~" sorts after any timestamp, "" before
        last = self.last or ""
        read = before = 0
        for line in lines:
            m = fast(line)
            if m is None:
                self.first, self.last = (None if first == "~" else first), (last or None)
                slow(line, where)
                first, last = self.first or "~", self.last or ""
                continue
            read += 1
            kind, sent, elb, ip, target, method, host, port, seg, rest, query, tg, priority, t = m.groups()
            if t == "-":
                t = sent
            if since is not None and t < since:
                before += 1
                continue
            if t < first:
                first = t
            if t > last:
                last = t
            key = (t[:16], elb, target, tg, kind, port, host, method, priority, seg, rest is None)
            c = raw.get(key)
            if c is None:
                g = self._group(self._final(key)[4:])
                raw[key] = c = [1, g]
            else:
                c[0] += 1
                g = c[1]
                if g is None:
                    continue
            if len(g.samples) < SAMPLES_PER_GROUP:
                g.samples.setdefault(((seg or "/") + (rest or ""), query or ""), ip)
            else:
                c[1] = None
        self.first, self.last = (None if first == "~" else first), (last or None)
        self.lines += read
        self.before_since += before
        pending = self._pending
        for key, (n, _) in raw.items():
            fkey = self._final(key)
            pending[fkey] = pending.get(fkey, 0) + n
        self.flush()

    @staticmethod
    def _final(key: tuple) -> tuple:
        """A fast-path raw key -> the pending key :meth:`count` uses (the same conversions as parse_line)."""
        minute, elb, target, tg, kind, port, host, method, priority, seg, leaf = key
        seg = seg or "/"
        return (minute, elb, None if target == "-" else target, None if tg == "-" else tg,
                int(port) if port else DEFAULT_PORTS[kind], host.lower(), method,
                None if priority == "-" or priority == "-1" else int(priority), seg if leaf else seg + "/*")

    def read(self, files: Iterable[LogFile]) -> "Aggregate":
        for f in files:
            end = file_end_time(f.name)
            if self.since is not None and end is not None and end < self.since:
                continue  # the whole interval is before --since: not even downloaded
            self.files += 1
            self.feed(lines_of(f), f.name)
        return self

    @property
    def peak_minute(self) -> tuple[str, int] | None:
        if not self.minutes:
            return None
        minute = max(self.minutes, key=lambda m: (self.minutes[m], m))
        return minute, self.minutes[minute]


# ---------------------------------------------------------------- profile


Replay = Callable[[int, Any], "int | None"]  # (listener port, lbguard.core.matching.Request) -> priority (0 = default)


def _class_name(key: GroupKey, used: set[str]) -> str:
    port, host, method, priority, pattern = key
    rule = "default" if priority == 0 else ("rule-unknown" if priority is None else f"rule-{priority}")
    name = f"{port} {host or '*'} {method} {pattern} -> {rule}"
    if len(name) > 120 or name in used:
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:8]
        name = f"{name[:100]}... {digest}"
    used.add(name)
    return name


def _request_of(method: str, host: str, sample: tuple[str, str, str]):
    from lbguard.core.matching import Request

    path, query, ip = sample
    return Request(host=host, path=path, method=method, query=dict(parse_qsl(query, keep_blank_values=True)),
                   source_ip=ip or None)


def _valid_ip(ip: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(ip)
        return True
    except ValueError:
        return False


def build_profile(agg: Aggregate, source: str, replay: Replay | None = None):
    """The traffic profile (``lbguard.core.profile.Profile``) of an aggregate, and the replay mismatches.

    ``replay``: the stack's routing (port, request) -> priority the request would match; with
    it, each class's request is the first sample (of up to 4 kept) that replays to the logged rule, and
    classes with none are reported.
    """
    from lbguard.core.profile import METHODS, Profile, RequestClass

    agg.flush()
    if agg.requests == 0:
        if agg.lines and agg.malformed == agg.lines:
            raise LbguardError(f"--from-logs {source}: none of the {agg.lines} lines is an ALB access-log entry "
                               f"(first: {agg.malformed_examples[0] if agg.malformed_examples else '?'})")
        since = f" since {agg.since}" if agg.since else ""
        raise LbguardError(f"--from-logs {source}: no requests{since} in {agg.files} file(s), "
                           f"{agg.lines} line(s); widen --since or check the prefix")
    used: set[str] = set()
    classes, matched, mismatches = [], {}, []
    other_methods = 0
    for key, g in sorted(agg.groups.items(), key=lambda kv: (-kv[1].count, repr(kv[0]))):
        port, host, method, priority, pattern = key
        if method not in METHODS:
            other_methods += g.count  # e.g. PRI for HTTP/2 prior knowledge: not a profile method
            continue
        ordered = [(path, query, ip) for (path, query), ip in g.samples.items()]
        sample = ordered[0]
        if replay is not None and priority is not None:
            hit = next((s for s in ordered if replay(port, _request_of(method, host, s)) == priority), None)
            if hit is None:
                got = replay(port, _request_of(method, host, sample))
                mismatches.append({"port": port, "host": host, "method": method, "path": sample[0],
                                   "loggedPriority": priority, "stackPriority": got, "requests": g.count})
            else:
                sample = hit
        name = _class_name(key, used)
        path, query, ip = sample
        classes.append(RequestClass(
            name=name, weight=g.count / agg.requests, count=g.count, host=host, path=path[:2048],
            method=method, query=dict(parse_qsl(query, keep_blank_values=True)),
            sourceIp=ip if ip and _valid_ip(ip) else None, port=port))
        matched[name] = priority
    if not classes:
        raise LbguardError(f"--from-logs {source}: no request with a standard HTTP method in the logs")
    peak = agg.peak_minute
    forwarded = sum(agg.targets.values())
    observed = {
        "source": source,
        "files": agg.files,
        "lines": agg.lines,
        "requests": agg.requests,
        "malformedLines": agg.malformed,
        "withoutRequestLine": agg.without_request,
        "beforeSince": agg.before_since,
        "otherMethods": other_methods,
        "since": agg.since,
        "timeRange": {"from": agg.first, "to": agg.last},
        "peakMinute": peak[0] if peak else None,
        "peakRequestsPerMinute": peak[1] if peak else 0,
        "peakRequestsPerSecond": round(peak[1] / 60.0, 4) if peak else 0.0,
        "loadBalancers": sorted(agg.elbs),
        # Of the requests that reached a target (fixed responses and redirects reach none).
        "forwardedRequests": forwarded,
        "targets": {t: n / forwarded for t, n in sorted(agg.targets.items(), key=lambda kv: -kv[1])} if forwarded else {},
        "targetGroups": {t: n / forwarded for t, n in sorted(agg.target_groups.items(), key=lambda kv: -kv[1])}
        if forwarded else {},
        # Per listener port: the share of that port's requests each matched rule priority took (0 = default).
        "ruleShares": _rule_shares(agg.rules),
        # A target taking more than half of its target group's requests (June 1: one took all).
        "funnels": funnels(agg),
        "matchedRule": matched,
        "foldedRequests": agg.folded,
    }
    if replay is not None:
        observed["replayMismatches"] = mismatches
    profile = Profile(version=1, peakRequestsPerSecond=peak[1] / 60.0, classes=classes, observed=observed)
    return profile, mismatches


FUNNEL_SHARE = 0.5
FUNNEL_MARGIN = 0.01  # an even split of an odd count is a hair above half: not a funnel


def funnels(agg: Aggregate) -> list[dict[str, Any]]:
    """Targets above half of their target group's forwarded requests (by more than
    ``FUNNEL_MARGIN``), busiest first. A group's only target is one: all of the group's
    requests on one instance is the June 1 shape."""
    per_group: dict[str | None, int] = {}
    for (tg, _), n in agg.target_pairs.items():
        per_group[tg] = per_group.get(tg, 0) + n
    out = [{"targetGroup": tg, "target": target, "share": n / per_group[tg], "requests": n,
            "groupTargets": sum(1 for (g, _) in agg.target_pairs if g == tg)}
           for (tg, target), n in agg.target_pairs.items() if n / per_group[tg] > FUNNEL_SHARE + FUNNEL_MARGIN]
    return sorted(out, key=lambda f: (-f["requests"], str(f["targetGroup"]), f["target"]))


def _rule_shares(rules: dict[tuple[int, int | None], int]) -> dict[str, dict[str, float]]:
    per_port: dict[int, int] = {}
    for (port, _), n in rules.items():
        per_port[port] = per_port.get(port, 0) + n
    out: dict[str, dict[str, float]] = {}
    for (port, priority), n in sorted(rules.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])):
        out.setdefault(str(port), {})["unknown" if priority is None else str(priority)] = n / per_port[port]
    return out


def profile_from_logs(source: str, since: timedelta | None = None, now: datetime | None = None,
                      replay: Replay | None = None):
    """(profile, aggregate, replay mismatches) of the access logs at ``source`` (path or s3://)."""
    files = open_source(source)
    cutoff = iso((now or datetime.now(timezone.utc)) - since) if since else None
    agg = Aggregate(since=cutoff).read(files)
    profile, mismatches = build_profile(agg, source, replay)
    return profile, agg, mismatches


__all__ = ["FIELDS", "Entry", "parse_line", "parse_duration", "Aggregate", "build_profile", "profile_from_logs",
           "open_source", "lines_of", "path_pattern"]
