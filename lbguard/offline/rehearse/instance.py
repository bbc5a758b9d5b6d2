"""One rehearsal instance: a small HTTP/1.1 server with a real capacity limit.

Started as ``python -m lbguard.offline.rehearse.instance --name N --capacity RPS ...`` (stdlib
only, so 20 of them start quickly). It behaves like an application server with a
bounded worker pool and a bounded accept queue:

* ``workers`` requests are served at a time; each occupies its worker for
  ``workers / capacity`` seconds (a sleep, not CPU: the 2 shared cores must not decide
  the capacity), so the instance serves at most ``capacity`` requests/s;
* up to ``queue`` more wait for a worker (latency grows past capacity);
* beyond that a request is answered 503 at once (the queue overflowed).

``/health`` goes through the same workers and queue, as a real server's health page
does, so a drowning instance also fails its health checks.

It binds 127.0.0.1 on a port the OS picks and prints ``PORT <n>`` on stdout. On SIGTERM
it writes its counters (requests, 503s, seconds spent saturated) as JSON to ``--stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time


class Capacity:
    """Workers + queue; tracks the time during which requests had to wait for a worker."""

    def __init__(self, capacity_rps: float, workers: int, queue: int):
        self.service_s = workers / capacity_rps
        self.workers = asyncio.Semaphore(workers)
        self.limit = workers + queue
        self.n_workers = workers
        self.in_flight = 0
        self.requests = self.rejected = 0
        self.saturated_s = 0.0
        self._since: float | None = None  # start of the current saturated stretch

    def _mark(self) -> None:
        now = time.monotonic()
        saturated = self.in_flight > self.n_workers
        if saturated and self._since is None:
            self._since = now
        elif not saturated and self._since is not None:
            self.saturated_s += now - self._since
            self._since = None

    async def serve(self) -> int:
        self.requests += 1
        if self.in_flight >= self.limit:
            self.rejected += 1
            return 503
        self.in_flight += 1
        self._mark()
        try:
            async with self.workers:
                await asyncio.sleep(self.service_s)
        finally:
            self.in_flight -= 1
            self._mark()
        return 200

    def stats(self) -> dict:
        self._mark()
        extra = time.monotonic() - self._since if self._since is not None else 0.0
        return {"requests": self.requests, "rejected": self.rejected, "saturatedS": round(self.saturated_s + extra, 3)}


REASONS = {200: "OK", 400: "Bad Request", 503: "Service Unavailable"}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return parts[0], parts[1]


def _handler(name: str, cap: Capacity):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except (ValueError, asyncio.LimitOverrunError):
                    status = 400
                else:
                    status = await cap.serve()
                body = f"{name} {status}\n".encode()
                writer.write(
                    f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\nX-Lbguard-Instance: {name}\r\n\r\n".encode() + body)
                await writer.drain()
                if status == 400 or req is None:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    return handle


async def _main(args: argparse.Namespace) -> None:
    cap = Capacity(args.capacity, args.workers, args.queue)
    server = await asyncio.start_server(_handler(args.name, cap), "127.0.0.1", 0, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Bounded life: never outlive the rehearsal that started it, even if it died.
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(cap.stats(), f)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--capacity", type=float, required=True, help="requests/s this instance serves")
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--stats", default=None)
    p.add_argument("--max-seconds", type=float, default=900.0)
    args = p.parse_args(argv)
    if args.capacity <= 0 or args.workers < 1 or args.queue < 0:
        sys.exit("capacity must be > 0, workers >= 1, queue >= 0")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
