"""A seeded generator of ALB access logs in AWS's exact entry format, with a known truth.

Every entry has the documented fields in order (type ... conn_trace_id), quoted where AWS
quotes them; files are gzip, one per load-balancer node per 5-minute interval, named as
ALB names them. The mix is exact, not sampled: each class gets round(weight * lines)
entries, targets are served round robin, and the minute counts are laid out so that the
busiest minute is known. ``Truth`` is what a correct reader must find.
"""

from __future__ import annotations

import gzip
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ACCOUNT = "123456789012"
REGION = "us-east-1"
ELB = "app/web-dev/50dc6c495c0c9188"
NODES = ("10.10.0.17", "10.10.1.23")
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
AGENTS = ('curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0',
          'python-requests/2.31.0', 'agent with \\"quotes\\" inside/1.0')


def tg_arn(name: str) -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{name}/73e2d6bc24d8a067"


@dataclass
class LogClass:
    name: str
    weight: float
    host: str
    paths: tuple[str, ...]  # the concrete paths (with ?query) requests of this class use
    priority: int  # the rule ALB matched (0 = default action)
    method: str = "GET"
    port: int = 443
    pools: dict[str, list[str]] = field(default_factory=dict)  # tg name -> targets; {} = not forwarded
    action: str = "forward"  # forward | fixed-response | redirect
    status: int = 200


@dataclass
class Truth:
    lines: int  # well-formed entries written
    class_counts: dict[str, int]
    rule_counts: dict[tuple[int, int], int]  # (port, priority) -> requests
    target_counts: Counter
    tg_counts: Counter
    peak_minute: str
    peak_count: int
    per_minute: dict[str, int]  # "YYYY-MM-DDTHH:MM" -> requests created in that minute
    malformed: int
    first: datetime
    last: datetime

    def class_share(self, name: str) -> float:
        return self.class_counts[name] / self.lines

    def rule_share(self, port: int, priority: int) -> float:
        on_port = sum(n for (p, _), n in self.rule_counts.items() if p == port)
        return self.rule_counts.get((port, priority), 0) / on_port

    def target_share(self, target: str) -> float:
        return self.target_counts[target] / sum(self.target_counts.values())


def _exact_counts(classes: list[LogClass], n: int) -> list[int]:
    total = sum(c.weight for c in classes)
    counts = [int(round(n * c.weight / total)) for c in classes]
    counts[max(range(len(classes)), key=lambda i: classes[i].weight)] += n - sum(counts)
    return counts


def _minute_layout(n: int, minutes: int, peak_at: int, peak_factor: float) -> list[int]:
    """Requests per minute: flat, with one minute ``peak_factor`` times busier (so it is the peak)."""
    weights = [peak_factor if m == peak_at else 1.0 for m in range(minutes)]
    total = sum(weights)
    counts = [int(n * w / total) for w in weights]
    counts[peak_at] += n - sum(counts)
    return counts


def _agent(bits: int) -> str:
    # Real user agents rarely hold a double quote; 1 in 64 here does (ALB escapes it as \").
    return AGENTS[3] if (bits >> 56) & 63 == 0 else AGENTS[(bits >> 32) % 3]


def entry(c: LogClass, minute: str, offset_us: int, rng: random.Random, target: str | None, tg: str | None,
          elb: str = ELB) -> str:
    """One entry; ``minute`` is ``YYYY-MM-DDTHH:MM:`` and ``offset_us`` < 59.9 s into it."""
    bits = rng.getrandbits(64)
    created = f"{minute}{offset_us // 1_000_000:02d}.{offset_us % 1_000_000:06d}Z"
    sent_us = offset_us + 1000 + (bits & 0x7FFF)
    sent = f"{minute}{sent_us // 1_000_000:02d}.{sent_us % 1_000_000:06d}Z"
    client = f"198.51.100.{1 + (bits >> 16) % 254}:{1024 + (bits >> 24) % 60000}"
    path = c.paths[(bits >> 40) % len(c.paths)]
    scheme = "https" if c.port == 443 else "http"
    kind = "h2" if scheme == "https" and (bits >> 50) % 5 == 0 else scheme
    version = "HTTP/2.0" if kind == "h2" else "HTTP/1.1"
    tls = "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2" if scheme == "https" else "- -"
    domain = f'"{c.host}"' if scheme == "https" else '"-"'
    cert = f'"{CERT}"' if scheme == "https" else '"-"'
    tstatus = str(c.status) if target else "-"
    times = f"0.000 0.{(bits >> 8) % 50:03d} 0.000" if target else "-1 -1 -1"
    redirect = f'"https://{c.host}:443{path}"' if c.action == "redirect" else '"-"'
    return (f'{kind} {sent} {elb} {client} {target or "-"} {times} {c.status} {tstatus} '
            f'{200 + (bits & 511)} {1000 + (bits & 8191)} "{c.method} {scheme}://{c.host}:{c.port}{path} {version}" '
            f'"{_agent(bits)}" {tls} {tg_arn(tg) if tg else "-"} "Root=1-{bits:016x}" {domain} {cert} '
            f'{c.priority} {created} "{c.action}" {redirect} "-" "{target or "-"}" "{tstatus}" "-" "-" '
            f'TID_{bits:016x}')


MALFORMED = ("not an access log line", "", "https 2026-13-99 app/x - -",
             'http 2026-01-01T00:00:00.000000Z app/x 1.2.3.4:5 - 0 0 0 200 200 1 2 "GET',
             "h2 garbage \"unterminated")


def generate(classes: list[LogClass], lines: int, *, start: datetime, minutes: int = 30, peak_at: int = 17,
             peak_factor: float = 3.0, malformed: int = 0, seed: int = 7,
             elb: str = ELB) -> tuple[list[tuple[str, bytes]], Truth]:
    """(files as (relative key, gzip bytes), truth). Keys start at ``AWSLogs/``; ``elb`` is the
    load balancer's log id (``app/<name>/<id>``)."""
    rng = random.Random(seed)
    kinds = [i for i, n in enumerate(_exact_counts(classes, lines)) for _ in range(n)]
    rng.shuffle(kinds)
    per_minute = _minute_layout(lines, minutes, peak_at, peak_factor)
    rr: dict[str, int] = {}
    truth_targets, truth_tgs = Counter(), Counter()
    class_counts, rule_counts = Counter(), Counter()
    files: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    start = start.replace(second=0, microsecond=0)
    pool_names = [sorted(c.pools) for c in classes]
    k = 0
    for m, count in enumerate(per_minute):
        at = start + timedelta(minutes=m)
        minute = at.strftime("%Y-%m-%dT%H:%M:")
        end = (at.replace(minute=at.minute - at.minute % 5) + timedelta(minutes=5)).strftime("%Y%m%dT%H%MZ")
        for j in range(count):
            c = classes[kinds[k]]
            names = pool_names[kinds[k]]
            k += 1
            target = tg = None
            if c.pools:
                n = rr.get(c.name, 0)
                rr[c.name] = n + 1
                tg = names[n % len(names)]
                targets = c.pools[tg]
                n = rr.get(tg, 0)
                rr[tg] = n + 1
                target = targets[n % len(targets)]
                truth_targets[target] += 1
                truth_tgs[tg_arn(tg)] += 1
            class_counts[c.name] += 1
            rule_counts[(c.port, c.priority)] += 1
            node = NODES[j & 1]
            files.setdefault((node, end), []).append(
                (at, entry(c, minute, j * 59_000_000 // max(1, count), rng, target, tg, elb)))
    keys = list(files)
    for n in range(malformed):
        files[keys[n % len(keys)]].append((start, MALFORMED[n % len(MALFORMED)] or "   "))
    out = []
    for (node, end), rows in sorted(files.items()):
        day = datetime.strptime(end, "%Y%m%dT%H%MZ")
        key = (f"AWSLogs/{ACCOUNT}/elasticloadbalancing/{REGION}/{day:%Y/%m/%d}/"
               f"{ACCOUNT}_elasticloadbalancing_{REGION}_{elb.replace('/', '.')}_{end}_{node}_{rng.getrandbits(32):08x}.log.gz")
        body = "\n".join(r for _, r in rows) + "\n"
        out.append((key, gzip.compress(body.encode(), compresslevel=1)))
    peak = max(range(minutes), key=lambda i: per_minute[i])
    blank = sum(1 for n in range(malformed) if not MALFORMED[n % len(MALFORMED)].strip())
    truth = Truth(lines=lines, class_counts=dict(class_counts), rule_counts=dict(rule_counts),
                  target_counts=truth_targets, tg_counts=truth_tgs,
                  peak_minute=(start + timedelta(minutes=peak)).strftime("%Y-%m-%dT%H:%M"),
                  peak_count=per_minute[peak],
                  per_minute={(start + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M"): n
                              for m, n in enumerate(per_minute)},
                  malformed=malformed - blank,
                  first=start, last=start + timedelta(minutes=minutes))
    return out, truth


def write_dir(root: Path, files: list[tuple[str, bytes]], prefix: str = "") -> Path:
    for key, body in files:
        p = root / prefix / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    return root / prefix if prefix else root


def put_s3(s3, bucket: str, prefix: str, files: list[tuple[str, bytes]]) -> None:
    for key, body in files:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key, Body=body)


# The dev stack's routing (stacks/Pulumi.dev.yaml): api /api/* at 10, maintenance /maintenance at 20,
# HTTPS on 443, HTTP on 80 redirecting; two pools of two instances.
BLUE = ["10.10.2.11:80", "10.10.2.12:80"]
GREEN = ["10.10.3.21:80", "10.10.3.22:80"]


def dev_mix() -> list[LogClass]:
    both = {"dev-blue": BLUE, "dev-green": GREEN}
    return [
        LogClass("api-get", 30, "www.example.com", ("/api/v1/items", "/api/v1/users/42?fields=name", "/api/v2/orders"),
                 10, pools=both),
        LogClass("api-post", 8, "www.example.com", ("/api/v1/orders",), 10, method="POST", pools=both),
        LogClass("home", 32, "www.example.com", ("/", "/?utm=mail"), 0, pools=both),
        LogClass("static", 12, "www.example.com", ("/static/app.js?v=3", "/static/site.css"), 0, pools=both),
        LogClass("admin", 8, "admin.example.com", ("/dashboard", "/dashboard/users"), 0, pools=both),
        LogClass("maintenance", 5, "www.example.com", ("/maintenance",), 20, action="fixed-response", status=503),
        LogClass("http-redirect", 5, "www.example.com", ("/", "/api/v1/items"), 0, port=80, action="redirect",
                 status=301),
    ]


def funnel_mix() -> list[LogClass]:
    """June 1: a catch-all rule at priority 5 sends everything to one instance."""
    one = {"dev-perf": ["10.10.2.99:80"]}
    return [
        LogClass("api", 40, "www.example.com", ("/api/v1/items",), 5, pools=one),
        LogClass("home", 60, "www.example.com", ("/",), 5, pools=one),
    ]
