"""A fault-injecting HTTP proxy between boto3 and a moto server, on 127.0.0.1.

    proxy = FaultProxy("http://127.0.0.1:5000").start()
    proxy.add("lost", ops={"DeleteRule"})            # forward, then drop the response
    elbv2 = boto3.client("elbv2", endpoint_url=proxy.url, ...)

Faults, each matched by operation name (``ops``) or class (``"write"``/``"read"``),
skipping the first ``after`` matching requests and firing ``times`` times (None: always):

- ``throttle``: 400 ``Throttling`` (what AWS answers over a rate limit);
- ``error500``: 500 ``InternalFailure``;
- ``drop``: close the connection without forwarding (the request never arrives);
- ``lost``: forward, then close without answering (the write lands, its response is lost);
- ``dead``: like ``lost``, then every later request is dropped until ``revive()``
  (a connection that goes down after the n-th write);
- ``garbled``: forward, then answer 200 with half of the response body;
- ``stale``: answer a read with the response the same read got before the latest write
  (eventual consistency).

moto accepts a DeleteRule of a rule that does not exist; AWS answers ``RuleNotFound``
(https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeleteRule.html,
"Errors"). With ``aws_semantics`` (default) the proxy asks the server first and answers
as AWS does, so a retried delete meets what it would meet in AWS.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

WRITE_PREFIXES = ("Create", "Delete", "Modify", "Set", "Put", "Register", "Deregister", "Add", "Remove")


@dataclass
class Fault:
    kind: str
    ops: set[str] | str | None = None  # operation names, "write", "read" or None (all)
    after: int = 0
    times: int | None = 1
    seen: int = 0
    fired: int = 0

    def matches(self, op: str) -> bool:
        if self.ops is None:
            return True
        if self.ops == "write":
            return op.startswith(WRITE_PREFIXES)
        if self.ops == "read":
            return not op.startswith(WRITE_PREFIXES)
        return op in self.ops


@dataclass
class Entry:
    op: str
    fault: str | None
    status: int | None


@dataclass
class FaultProxy:
    upstream: str
    aws_semantics: bool = True
    faults: list[Fault] = field(default_factory=list)
    log: list[Entry] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._dead = False
        self._writes = 0
        self._reads: dict[tuple, list[tuple[int, int, dict, bytes]]] = {}
        u = urlparse(self.upstream)
        self._host, self._port = u.hostname, u.port

    # ------------------------------------------------------------ control

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server API
                proxy._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, kind: str, ops=None, *, after: int = 0, times: int | None = 1) -> Fault:
        assert kind in ("throttle", "error500", "drop", "lost", "dead", "garbled", "stale"), kind
        fault = Fault(kind, ops if isinstance(ops, (str, type(None))) else set(ops), after, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self._dead = False

    def revive(self) -> None:
        self._dead = False

    def count(self, op: str | None = None, fault: str | None = None) -> int:
        return sum((op is None or e.op == op) and (fault is None or e.fault == fault) for e in self.log)

    def writes_forwarded(self) -> int:
        return sum(e.op.startswith(WRITE_PREFIXES) and e.fault in (None, "lost", "dead", "garbled") for e in self.log)

    # ------------------------------------------------------------ the request path

    def _pick(self, op: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if not f.matches(op):
                    continue
                f.seen += 1
                if f.seen > f.after and (f.times is None or f.fired < f.times):
                    f.fired += 1
                    return f
        return None

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        target = req.headers.get("X-Amz-Target")
        op = target.rsplit(".", 1)[-1] if target else (parse_qs(body.decode()).get("Action") or ["?"])[0]
        is_write = op.startswith(WRITE_PREFIXES)
        if self._dead:
            return self._close(req, op, "dead")
        fault = self._pick(op)
        kind = fault.kind if fault else None
        if kind in ("throttle", "error500"):
            return self._error(req, op, kind, bool(target))
        if kind == "drop":
            return self._close(req, op, "drop")
        if kind == "stale" and not is_write:
            cached = self._stale(op, body)
            if cached:
                return self._send(req, op, "stale", *cached)
        if self.aws_semantics and op == "DeleteRule":
            gone = self._rule_gone(req, body)
            if gone:
                return self._send(req, op, None, 400, {"Content-Type": "text/xml"}, gone)
        status, headers, data = self._forward(req, body)
        if is_write:
            with self._lock:
                self._writes += 1
        elif status == 200:
            with self._lock:
                self._reads.setdefault((op, body), []).append((self._writes, status, headers, data))
        if kind == "garbled":
            return self._send(req, op, kind, 200, headers, data[: len(data) // 2])
        if kind in ("lost", "dead"):
            if kind == "dead":
                self._dead = True
            return self._close(req, op, kind)
        self._send(req, op, None, status, headers, data)

    def _forward(self, req, body: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
        try:
            hdrs = headers or {k: v for k, v in req.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(req.command, req.path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            keep = {k: v for k, v in resp.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date")}
            return resp.status, keep, data
        finally:
            conn.close()

    def _rule_gone(self, req, body: bytes) -> bytes | None:
        """AWS's answer to a DeleteRule of a rule that does not exist (moto answers 200)."""
        arn = (parse_qs(body.decode()).get("RuleArn") or [""])[0]
        probe = urlencode({"Action": "DescribeRules", "Version": "2015-12-01", "RuleArns.member.1": arn}).encode()
        hdrs = {k: v for k, v in req.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        status, _, data = self._forward(req, probe, {**hdrs, "Content-Length": str(len(probe))})
        if status == 400 and b"RuleNotFound" in data:
            return (b'<ErrorResponse><Error><Type>Sender</Type><Code>RuleNotFound</Code>'
                    b'<Message>One or more rules not found</Message></Error><RequestId>proxy</RequestId></ErrorResponse>')
        return None

    def _stale(self, op: str, body: bytes):
        with self._lock:
            older = [r for r in self._reads.get((op, body), []) if r[0] < self._writes]
        return older[-1][1:] if older else None

    # ------------------------------------------------------------ answers

    def _send(self, req, op, fault, status, headers, data) -> None:
        self.log.append(Entry(op, fault, status))
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _close(self, req, op, fault) -> None:
        self.log.append(Entry(op, fault, None))
        req.close_connection = True
        try:
            req.connection.shutdown(2)
        except OSError:
            pass

    def _error(self, req, op, kind, json_protocol: bool) -> None:
        code, status, msg = ("Throttling", 400, "Rate exceeded") if kind == "throttle" else \
            ("InternalFailure", 500, "injected internal failure")
        if json_protocol:
            data = ('{"__type":"%s","message":"%s"}' % ("ThrottlingException" if kind == "throttle" else code, msg)).encode()
            headers = {"Content-Type": "application/x-amz-json-1.1"}
        else:
            data = (f"<ErrorResponse><Error><Type>{'Sender' if status == 400 else 'Receiver'}</Type><Code>{code}</Code>"
                    f"<Message>{msg}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>").encode()
            headers = {"Content-Type": "text/xml"}
        self._send(req, op, kind, status, headers, data)
