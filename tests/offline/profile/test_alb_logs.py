"""`lbguard profile --from-logs`: ALB access logs (generated in AWS's exact format, gzip) -> a traffic profile.

The generator (``alblog_gen``) knows the truth: exact per-class counts, per-target spread,
per-minute counts. Logs are read from a directory and from a moto S3 bucket (in process).
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from lbguard.offline import alb_logs

from lbguard.core import traffic
from lbguard.cli.app import main
from lbguard.cli.commands.profile import replay_rules
from lbguard.core.matching import Request
from lbguard.core.profile import load_profile
from tests.conftest import load_stack
from tests.offline.profile import alblog_gen as gen

START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
BUCKET = "web-tier-dev-alb-logs"
PREFIX = "dev"  # components/logs.py: access logs under <stack>, connection logs under <stack>-connections

# Each generator class of dev_mix -> the profile classes it must land in (port host method pattern -> rule).
EXPECTED_CLASSES = {
    "api-get": ["443 www.example.com GET /api/* -> rule-10"],
    "api-post": ["443 www.example.com POST /api/* -> rule-10"],
    "home": ["443 www.example.com GET / -> default"],
    "static": ["443 www.example.com GET /static/* -> default"],
    "admin": ["443 admin.example.com GET /dashboard -> default", "443 admin.example.com GET /dashboard/* -> default"],
    "maintenance": ["443 www.example.com GET /maintenance -> rule-20"],
    "http-redirect": ["80 www.example.com GET / -> default", "80 www.example.com GET /api/* -> default"],
}


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr.strip()
    assert "Traceback" not in result.output and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("lbguard: error: "), err
    for n in needles:
        assert n in err, err
    return err


# ---------------------------------------------------------------- 100,000 lines in moto S3


@pytest.fixture(scope="module")
def big():
    """100,000 well-formed entries (+ malformed lines) in moto S3, profiled once through the CLI."""
    files, truth = gen.generate(gen.dev_mix(), 100_000, start=START, malformed=37, seed=11)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        gen.put_s3(s3, BUCKET, PREFIX, files)
        # Beside the access logs, as in the stack's log bucket: ELB's test file, and the connection
        # logs under "dev-connections" (which the prefix "dev" also lists).
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/AWSLogs/{gen.ACCOUNT}/ELBAccessLogTestFile", Body=b"test")
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}-connections/AWSLogs/{gen.ACCOUNT}/elasticloadbalancing/{gen.REGION}/"
                      f"2026/06/01/conn_log.{gen.ACCOUNT}_elasticloadbalancing_{gen.REGION}_app.web-dev.50dc6c495c0c9188_"
                      f"20260601T1205Z_10.10.0.17_2d1b3c4e.log.gz", Body=gzip.compress(b"garbage\n"))
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            out, js = Path(tmp) / "traffic.dev.yaml", Path(tmp) / "result.json"
            result = run_cli("profile", "--from-logs", f"s3://{BUCKET}/{PREFIX}", "-o", str(out), "--json", str(js))
            assert result.exit_code == 0, result.output + result.stderr
            yield {"files": files, "truth": truth, "profile": load_profile(out), "json": json.loads(js.read_text()),
                   "text": out.read_text(), "stdout": result.stdout, "stderr": result.stderr}


def test_class_shares_match_the_generators_truth_within_half_a_point(big):
    truth, prof = big["truth"], big["profile"]
    by_name = {c.name: c for c in prof.classes}
    assert set(by_name) == {n for names in EXPECTED_CLASSES.values() for n in names}
    for cls, names in EXPECTED_CLASSES.items():
        share = sum(by_name[n].weight for n in names)
        assert abs(share - truth.class_share(cls)) < 0.005, (cls, share, truth.class_share(cls))
        assert sum(by_name[n].count for n in names) == truth.class_counts[cls], cls  # counts exact
    assert abs(sum(c.weight for c in prof.classes) - 1.0) < 1e-9
    assert prof.observed["requests"] == truth.lines == 100_000


def test_observed_peak_targets_rules_and_malformed_lines(big):
    truth, obs, prof = big["truth"], big["profile"].observed, big["profile"]
    assert obs["peakMinute"] == truth.peak_minute
    assert obs["peakRequestsPerMinute"] == truth.peak_count
    assert prof.peak_requests_per_second == pytest.approx(truth.peak_count / 60.0)
    assert obs["files"] == len(big["files"])  # the test file and the connection log are not read
    assert obs["lines"] == truth.lines + truth.malformed
    assert obs["malformedLines"] == truth.malformed > 0
    assert set(obs["targets"]) == set(truth.target_counts)
    for target, share in obs["targets"].items():
        assert share == pytest.approx(truth.target_share(target), abs=1e-12), target
    assert obs["forwardedRequests"] == sum(truth.target_counts.values())
    tg_total = sum(truth.tg_counts.values())
    assert obs["targetGroups"] == pytest.approx({arn: n / tg_total for arn, n in truth.tg_counts.items()})
    for (port, priority) in truth.rule_counts:
        assert obs["ruleShares"][str(port)][str(priority)] == pytest.approx(truth.rule_share(port, priority)), (port, priority)
    assert obs["timeRange"]["from"] >= alb_logs.iso(truth.first)
    assert obs["timeRange"]["to"] < alb_logs.iso(truth.last)
    assert obs["loadBalancers"] == [gen.ELB]


def test_profile_file_is_version_1_and_its_classes_replay_to_the_logged_rules(big):
    prof = big["profile"]
    assert big["text"].startswith("version: 1")
    assert big["json"]["profile"]["classes"][0]["name"] == prof.classes[0].name
    for c in prof.classes:
        assert c.port in (80, 443) and c.count and c.source_ip and c.source_ip.startswith("198.51.100.")
    # The sample request kept for a class is a concrete one, with its query parsed.
    api = next(c for c in prof.classes if c.name.startswith("443 www.example.com GET /api/*"))
    assert api.path in ("/api/v1/items", "/api/v1/users/42", "/api/v2/orders")
    assert "10.10.2.11:80" in big["stdout"] and "100000 requests from 12 file(s) under s3://" in big["stdout"]
    assert "peak 156.25 requests/s (2026-06-01T12:17)" in big["stdout"].replace("\n", " ")


def dev_rules() -> list[dict]:
    """The dev stack's HTTPS listener rules as the API holds them, read from stacks/Pulumi.dev.yaml."""
    rules = load_stack("dev")["config"]["web-tier:routing"]["rules"]
    assert set(rules) == {"api", "maintenance"}  # the truth in dev_mix assumes this routing
    return [{"id": name, "priority": r["priority"],
             "conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": r["conditions"]["path"]}}]}
            for name, r in rules.items()]


def test_profile_fed_through_alb_routing_gives_the_logged_rule_shares(big):
    """Shares computed by lbguard.core.traffic (ALB evaluation of the profile) = the shares in the logs."""
    truth, prof = big["truth"], big["profile"]
    classes = prof.for_port(443)
    reach = traffic.listener_reach(dev_rules(), [(c.request, w) for c, w in classes], class_names=[c.name for c, _ in classes])
    assert reach["api"].share == pytest.approx(truth.rule_share(443, 10), abs=1e-9)
    assert reach["maintenance"].share == pytest.approx(truth.rule_share(443, 20), abs=1e-9)
    assert reach[traffic.DEFAULT].share == pytest.approx(truth.rule_share(443, 0), abs=1e-9)
    # Port 80 in dev redirects everything (no rules): all of it is the default action's.
    reach80 = traffic.listener_reach([], [(c.request, w) for c, w in prof.for_port(80)])
    assert reach80[traffic.DEFAULT].share == pytest.approx(1.0)


# ---------------------------------------------------------------- small runs from a directory


def small_dir(tmp_path: Path, classes=None, lines=3000, **kw) -> tuple[Path, gen.Truth]:
    files, truth = gen.generate(classes or gen.dev_mix(), lines, start=START, **kw)
    return gen.write_dir(tmp_path / "logs", files), truth


def test_funnel_is_visible_in_the_observed_per_target_share(tmp_path):
    root, truth = small_dir(tmp_path, gen.funnel_mix(), 2000)
    out = tmp_path / "p.json"
    result = run_cli("profile", "--from-logs", str(root), "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    obs = load_profile(out).observed
    assert obs["targets"] == {"10.10.2.99:80": 1.0}
    assert obs["targetGroups"] == {gen.tg_arn("dev-perf"): 1.0}
    assert obs["ruleShares"] == {"443": {"5": 1.0}}
    json.loads(out.read_text())  # .json suffix: written as JSON


def test_malformed_lines_are_counted_and_skipped(tmp_path):
    root, truth = small_dir(tmp_path, malformed=23)
    prof, agg, _ = alb_logs.profile_from_logs(str(root))
    assert agg.malformed == truth.malformed == prof.observed["malformedLines"]
    assert agg.requests == truth.lines
    assert len(agg.malformed_examples) == 3 and "not an access log line" in " ".join(agg.malformed_examples)


def test_since_filters_on_the_request_time_and_skips_whole_files(tmp_path):
    root, truth = small_dir(tmp_path, lines=6000, minutes=30)
    now = START + timedelta(minutes=30)
    prof, agg, _ = alb_logs.profile_from_logs(str(root), since=timedelta(minutes=12), now=now)
    cutoff = (now - timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M")
    expected = sum(n for m, n in truth.per_minute.items() if m >= cutoff)
    assert 0 < expected < truth.lines
    assert agg.requests == expected == prof.observed["requests"]
    assert prof.observed["timeRange"]["from"] >= alb_logs.iso(now - timedelta(minutes=12))
    assert prof.observed["since"] == alb_logs.iso(now - timedelta(minutes=12))
    # Files whose 5-minute interval ended before the cut-off are not opened at all.
    total_files = len(list(root.rglob("*.log.gz")))
    assert agg.files < total_files
    assert agg.before_since > 0  # the file straddling the cut-off is read and its early requests dropped
    assert agg.requests + agg.before_since < truth.lines


def test_since_through_the_cli_on_logs_that_end_now(tmp_path):
    start = datetime.now(timezone.utc) - timedelta(minutes=40)
    files, truth = gen.generate(gen.dev_mix(), 4000, start=start, minutes=40, peak_at=5)
    root = gen.write_dir(tmp_path / "logs", files)
    out = tmp_path / "p.yaml"
    result = run_cli("profile", "--from-logs", str(root), "--since", "20m", "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    obs = load_profile(out).observed
    # About half the requests (20 of 40 flat minutes; the peak minute is outside the window).
    assert 0.4 * truth.lines < obs["requests"] < 0.6 * truth.lines
    assert obs["peakRequestsPerMinute"] < truth.peak_count


def test_general_parser_and_fast_path_count_the_same(tmp_path):
    """Every generated line (h2, escaped quotes, fixed responses, redirects, malformed) through
    the one-regex fast path and through the general tokenizer: identical aggregates."""
    files, _ = gen.generate(gen.dev_mix() + gen.funnel_mix()[:1], 4000, start=START, malformed=11)
    url = "http://www.example.com:80/"
    odd = [DOC_HTTP.replace(url, u) + "\n" for u in (
        "http://www.example.com:80//x", "http://www.example.com:80/api/", "http://WWW.Example.COM:80/Api/V1",
        "http://www.example.com:80", "http://www.example.com/a/b?x=1&y=", "http://[2001:db8::9]:8080/v6")]
    odd += [DOC_HTTP.replace("192.168.131.39:2817", "2001:db8::1:2817") + "\n", DOC_REDIRECT + "\n",
            DOC_HTTP.replace(' 0 2018-07-02T22:22:48', ' -1 2018-07-02T22:22:48') + "\n",
            DOC_HTTP.replace(' 0 2018-07-02T22:22:48.364000Z', ' - -') + "\n",
            DOC_HTTP.replace('"GET http://www.example.com:80/ HTTP/1.1"', '"- - - "') + "\n"]
    files.append(("odd.log.gz", gzip.compress("".join(odd * 3).encode())))
    fast, slow = alb_logs.Aggregate(), alb_logs.Aggregate()
    for key, body in files:
        lines = gzip.decompress(body).decode().splitlines(keepends=True)
        fast.feed(lines, key)
        for line in lines:
            slow.add_line(line, key)
        slow.flush()
    for attr in ("lines", "malformed", "requests", "without_request", "first", "last", "minutes", "targets",
                 "target_groups", "rules"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert {k: g.count for k, g in fast.groups.items()} == {k: g.count for k, g in slow.groups.items()}
    assert {k: g.samples for k, g in fast.groups.items()} == {k: g.samples for k, g in slow.groups.items()}
    for pattern in ("//*", "/api/*", "/Api/*", "/a/*", "/v6", "/"):
        assert any(k[4] == pattern for k in fast.groups), pattern
    assert (80, "www.example.com", "GET", 0, "/api/*") in fast.groups  # host lowered, path case kept
    assert slow.without_request == 3 and fast.malformed == slow.malformed


# ---------------------------------------------------------------- the documented entry shapes


DOC_HTTP = ('http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 '
            '0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
            'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
            '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" '
            '"10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90')
DOC_REDIRECT = ('https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - '
                '0.000 0.001 0.000 301 - 34 366 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" '
                'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - "Root=1-58337364-23a8c76965a2ef7629b185e3" '
                '"www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" '
                '1 2018-07-02T22:22:48.364000Z "redirect" "https://example.com:80/" "-" "-" "-" "-" "-" TID_1')


def test_documented_entries_parse():
    e = alb_logs.parse_line(DOC_HTTP)
    assert (e.type, e.method, e.host, e.port, e.path, e.target, e.matched_rule_priority) == \
        ("http", "GET", "www.example.com", 80, "/", "10.0.0.1:80", 0)
    assert e.request_time == "2018-07-02T22:22:48.364000Z"  # request_creation_time, not the response time
    assert e.target_group.endswith("targetgroup/my-targets/73e2d6bc24d8a067")
    r = alb_logs.parse_line(DOC_REDIRECT)
    assert (r.target, r.target_group, r.matched_rule_priority, r.port, r.client_ip) == (None, None, 1, 443, "192.168.131.39")


def test_extra_trailing_fields_older_entries_and_odd_requests():
    # Fields AWS adds later are ignored.
    e = alb_logs.parse_line(DOC_HTTP + ' "new-field" 42 "another"')
    assert e is not None and e.matched_rule_priority == 0
    # An entry written before matched_rule_priority existed ends at trace_id: read, time = response time.
    old = DOC_HTTP[:DOC_HTTP.index(' "-" "-" 0 ')]
    o = alb_logs.parse_line(old)
    assert o is not None and o.matched_rule_priority is None and o.request_time == "2018-07-02T22:23:00.186641Z"
    # "- - -": no request line (client closed early): parsed, not a class.
    dash = DOC_HTTP.replace('"GET http://www.example.com:80/ HTTP/1.1"', '"- - - "')
    d = alb_logs.parse_line(dash)
    assert d is not None and d.method is None
    agg = alb_logs.Aggregate()
    agg.feed([dash + "\n", DOC_HTTP + "\n"])
    assert (agg.requests, agg.without_request, agg.malformed) == (1, 1, 0)
    # IPv6 client and host literal, URL without a port, an escaped quote in the user agent.
    v6 = (DOC_HTTP.replace("192.168.131.39:2817", "2001:db8::1:2817")
          .replace("http://www.example.com:80/", "http://[2001:db8::9]/x/y?a=1")
          .replace('"curl/7.46.0"', '"say \\"hi\\""'))
    v = alb_logs.parse_line(v6)
    assert (v.client_ip, v.host, v.port, v.path, v.query) == ("2001:db8::1", "2001:db8::9", 80, "/x/y", "a=1")
    # -1: an error during rule evaluation -> priority unknown.
    assert alb_logs.parse_line(DOC_HTTP.replace(' "-" "-" 0 2018', ' "-" "-" -1 2018')).matched_rule_priority is None
    for bad in ("", "http", DOC_HTTP.replace("http ", "tcp ", 1), DOC_HTTP.replace("2018-07-02T22:22:48.364000Z", "yesterday"),
                DOC_HTTP.replace(' "-" "-" 0 ', ' "-" "-" high ')):
        assert alb_logs.parse_line(bad) is None, bad


def test_path_pattern_keeps_the_first_segment():
    assert [alb_logs.path_pattern(p) for p in ("/", "/health", "/api/v1/x", "/api/", "//x")] == \
        ["/", "/health", "/api/*", "/api/*", "//*"]


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1h30m", 5400),
                                          (" 2H ", 7200)])
def test_durations(text, seconds):
    assert alb_logs.parse_duration(text) == timedelta(seconds=seconds)


# ---------------------------------------------------------------- streaming


class CountingStream(io.RawIOBase):
    def __init__(self, data: bytes):
        self._buf, self.read_bytes = io.BytesIO(data), 0

    def readable(self):
        return True

    def readinto(self, b):
        n = self._buf.readinto(b)
        self.read_bytes += n
        return n


def test_files_are_streamed_not_read_whole():
    body = gzip.compress(("".join(f"{DOC_HTTP}\n" for _ in range(20000))).encode())
    stream = CountingStream(body)
    lines = alb_logs.lines_of(alb_logs.LogFile("x.log.gz", lambda: stream))
    assert next(lines).startswith("http ")
    assert stream.read_bytes < len(body) / 2, (stream.read_bytes, len(body))
    assert sum(1 for _ in lines) == 19999


# ---------------------------------------------------------------- --stack: classes that replay elsewhere


def test_a_class_whose_request_replays_to_another_rule_is_reported(tmp_path):
    """Logged at rule 10 (e.g. a header condition the logs cannot show), but /beta/* matches no rule in dev."""
    mix = gen.dev_mix()[:2] + [gen.LogClass("beta", 10, "www.example.com", ("/beta/x",), 10,
                                             pools={"dev-blue": gen.BLUE})]
    root, truth = small_dir(tmp_path, mix, 2000)
    replay = replay_rules({443: dev_rules(), 80: []})
    prof, agg, mismatches = alb_logs.profile_from_logs(str(root), replay=replay)
    assert mismatches == [{"port": 443, "host": "www.example.com", "method": "GET", "path": "/beta/x",
                           "loggedPriority": 10, "stackPriority": 0, "requests": truth.class_counts["beta"]}]
    assert prof.observed["replayMismatches"] == mismatches
    # A class with several paths keeps one that replays to its logged rule.
    assert replay(443, Request(host="www.example.com", path="/api/v1/items")) == 10


@pytest.mark.logs
def test_stack_option_runs_the_stack_offline_and_warns(tmp_path):
    mix = gen.dev_mix() + [gen.LogClass("beta", 3, "www.example.com", ("/beta/x",), 10, pools={"dev-blue": gen.BLUE})]
    root, truth = small_dir(tmp_path, mix, 2000)
    out, js = tmp_path / "p.yaml", tmp_path / "r.json"
    result = run_cli("profile", "--from-logs", str(root), "--stack", "dev", "-o", str(out), "--json", str(js))
    assert result.exit_code == 0, result.output + result.stderr
    doc = json.loads(js.read_text())
    assert [(m["path"], m["loggedPriority"], m["stackPriority"]) for m in doc["replayMismatches"]] == [("/beta/x", 10, 0)]
    assert "matched priority 10 in the logs but 0 in stack dev" in result.stderr


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


def test_missing_path(tmp_path):
    out = tmp_path / "p.yaml"
    one_line_error(run_cli("profile", "--from-logs", str(tmp_path / "nope"), "-o", str(out)), "no such file or directory")
    assert not out.exists()


def test_directory_without_logs(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "readme.txt").write_text("hello\n")
    out = tmp_path / "p.yaml"
    one_line_error(run_cli("profile", "--from-logs", str(tmp_path / "logs"), "-o", str(out)), "no ALB access-log files")
    assert not out.exists()


def test_files_that_are_not_logs(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.log.gz").write_bytes(b"plain text, not gzip\n")
    out = tmp_path / "p.yaml"
    one_line_error(run_cli("profile", "--from-logs", str(d), "-o", str(out)), "not a gzip file")
    (d / "a.log.gz").write_bytes(gzip.compress(b"hello world\nanother line\n"))
    one_line_error(run_cli("profile", "--from-logs", str(d), "-o", str(out)), "none of the 2 lines")
    (d / "a.log.gz").write_bytes(gzip.compress(("".join(f"{DOC_HTTP}\n" for _ in range(2000))).encode())[:-300])
    one_line_error(run_cli("profile", "--from-logs", str(d), "-o", str(out)), "corrupt gzip data")
    assert not out.exists()


@pytest.mark.parametrize("since", ["2 hours", "0m", "-5m", "h", "5x", ""])
def test_bad_since(tmp_path, since):
    root, _ = small_dir(tmp_path, lines=200)
    out = tmp_path / "p.yaml"
    one_line_error(run_cli("profile", "--from-logs", str(root), "--since", since, "-o", str(out)), "--since", "not a duration")
    assert not out.exists()


def test_since_that_leaves_nothing(tmp_path):
    root, _ = small_dir(tmp_path, lines=200)  # June 2026 logs, long before "now" minus 1h
    out = tmp_path / "p.yaml"
    one_line_error(run_cli("profile", "--from-logs", str(root), "--since", "1h", "-o", str(out)), "no requests since")
    assert not out.exists()


def test_output_directory_missing(tmp_path):
    root, _ = small_dir(tmp_path, lines=200)
    one_line_error(run_cli("profile", "--from-logs", str(root), "-o", str(tmp_path / "no" / "p.yaml")), "does not exist")


def test_s3_bucket_that_does_not_exist_and_empty_prefix():
    with mock_aws():
        one_line_error(run_cli("profile", "--from-logs", "s3://no-such-bucket/x", "-o", "/tmp/never.yaml"),
                       "s3://no-such-bucket/x", "no such bucket")
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="empty")
        one_line_error(run_cli("profile", "--from-logs", "s3://empty/AWSLogs", "-o", "/tmp/never.yaml"),
                       "no ALB access-log files")
        one_line_error(run_cli("profile", "--from-logs", "s3:///AWSLogs", "-o", "/tmp/never.yaml"), "no bucket name")
    assert not Path("/tmp/never.yaml").exists()


def test_s3_access_denied(tmp_path):
    """An IAM user without s3 permissions (moto enforcing IAM): one line naming the bucket and why."""
    from moto.core import set_initial_no_auth_action_count

    @set_initial_no_auth_action_count(4)
    def go():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        iam.put_user_policy(UserName="reader", PolicyName="no-s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}))
        env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        boto3.DEFAULT_SESSION = None  # the default session caches its credentials: let the CLI resolve the user's
        result = CliRunner(env=env).invoke(main, ["profile", "--from-logs", f"s3://{BUCKET}/AWSLogs",
                                                  "-o", str(tmp_path / "p.yaml")], catch_exceptions=False)
        one_line_error(result, f"s3://{BUCKET}/AWSLogs", "access denied")

    with mock_aws():
        try:
            go()
        finally:
            boto3.DEFAULT_SESSION = None
    assert not (tmp_path / "p.yaml").exists()


def test_unknown_stack_is_one_line_before_any_log_is_read(tmp_path):
    root, _ = small_dir(tmp_path, lines=200)
    out = tmp_path / "p.yaml"
    one_line_error(run_cli("profile", "--from-logs", str(root), "--stack", "nosuch", "-o", str(out)), "nosuch")
    assert not out.exists()


def test_group_count_is_bounded_and_overflow_is_folded_per_rule_outcome(tmp_path, monkeypatch):
    """Memory is bounded by groups, not lines: past MAX_GROUPS new groups fold into one per (port, rule)."""
    monkeypatch.setattr(alb_logs, "MAX_GROUPS", 5)
    many = [gen.LogClass(f"c{i}", 1, f"h{i}.example.com", (f"/p{i}/x",), 10 if i % 2 else 0,
                         pools={"dev-blue": gen.BLUE}) for i in range(12)]
    root, truth = small_dir(tmp_path, many, 1200)
    prof, agg, _ = alb_logs.profile_from_logs(str(root))
    assert len(agg.groups) <= 5 + 2  # the five first groups + one overflow group per (443, priority)
    assert sum(c.count for c in prof.classes) == agg.requests == truth.lines
    assert agg.folded == prof.observed["foldedRequests"] > 0
    assert prof.observed["ruleShares"]["443"] == pytest.approx({"0": 0.5, "10": 0.5})
