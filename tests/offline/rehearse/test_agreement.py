"""HAProxy, configured by lbguard.offline.rehearse.haproxy, picks the same rule as lbguard.core.matching.

A listener with rules of every ALB condition kind (host with * and ?, path, header,
query string with and without a key, method, source IP), two pairs of rules sharing a
priority, redirect / fixed-response / forward actions; 2,400 generated requests go
through the real HAProxy, and the rule it reports (X-Lbguard-Rule) must be the one
``matching.first_match`` picks, request by request.
"""

from __future__ import annotations

import http.client
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from lbguard.core import matching, topology
from lbguard.offline.rehearse import haproxy, runner
from lbguard.offline.rehearse.plan import HealthCheck, Instance, Plan, TargetGroup, _listener

pytestmark = pytest.mark.rehearse

LISTENER = "urn:listener"
TGS = ("tg-a", "tg-b", "tg-c")


def fwd(*pairs):
    return [{"type": "forward", "order": 1,
             "forward": {"targetGroups": [{"arn": a, "weight": w} for a, w in pairs]}}]


RULES = [  # (name, priority, conditions, actions); rule order matters for ties
    ("hosts-and-version", 5, [{"hostHeader": {"values": ["api.example.com", "*.api.example.com"]}},
                              {"pathPattern": {"values": ["/v?/items*"]}}], fwd(("tg-a", 1))),
    ("v1-tie", 5, [{"pathPattern": {"values": ["/v1/*"]}}], fwd(("tg-b", 1))),
    ("canary", 10, [{"httpHeader": {"httpHeaderName": "X-Canary", "values": ["1", "yes*"]}}], fwd(("tg-c", 1))),
    ("query", 20, [{"queryStrings": [{"key": "debug", "value": "t?ue"}, {"value": "*beta*"}]}],
     [{"type": "fixed-response", "fixedResponse": {"statusCode": "200", "contentType": "text/plain",
                                                   "messageBody": "debug"}}]),
    ("upload", 30, [{"httpRequestMethod": {"values": ["POST", "PUT"]}}, {"pathPattern": {"values": ["/upload*"]}}],
     fwd(("tg-a", 3), ("tg-b", 1))),
    ("office", 40, [{"sourceIp": {"values": ["10.0.0.0/8", "192.168.1.0/24"]}}],
     [{"type": "redirect", "redirect": {"statusCode": "HTTP_302", "host": "office.example.com"}}]),
    ("org-hosts", 50, [{"hostHeader": {"values": ["*.EXAMPLE.org", "?.example.net"]}}], fwd(("tg-b", 1))),
    ("bots-tie", 50, [{"httpHeader": {"httpHeaderName": "user-agent", "values": ["*bot*"]}}],
     [{"type": "fixed-response", "fixedResponse": {"statusCode": "403", "contentType": "text/plain"}}]),
    ("static", 60, [{"pathPattern": {"values": ["*.png", "/static/*"]}}], fwd(("tg-c", 1))),
    ("var-key", 70, [{"queryStrings": [{"key": "v?r*", "value": "1"}]}, {"httpRequestMethod": {"values": ["GET"]}}],
     fwd(("tg-a", 1))),
]


def listener_plan():
    node = topology.ListenerNode(urn=LISTENER, name="front", arn=None, port=80, protocol="HTTP", load_balancer=None,
                                 default_actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                     {"TargetGroupArn": "tg-a", "Weight": 1}, {"TargetGroupArn": "tg-b", "Weight": 1}]}}])
    node.rules = [topology.Res(urn=f"urn:rule:{n}", type=topology.RULE_TYPES[0], name=n,
                               props={"priority": p, "conditions": c, "actions": a}) for n, p, c, a in RULES]
    return _listener(node)


def plan() -> Plan:
    tgs = {}
    for k in TGS:
        tg = TargetGroup(id=k, pool=k, algorithm="round_robin", health=HealthCheck(path="/health", interval_s=10,
                                                                                    timeout_s=5, healthy=2, unhealthy=2),
                         stickiness_s=0)
        tg.instances = [Instance(name=f"{k}-0", pool=k, az="az-1", capacity_rps=4000, workers=1, queue=4000)]
        tgs[k] = tg
    return Plan(stack="agreement", scale=1.0, peak_rps=1.0, listeners=[listener_plan()], target_groups=tgs)


HOSTS = ["api.example.com", "x.api.example.com", "API.Example.COM", "api.example.com:8080", "foo.example.org",
         "FOO.EXAMPLE.ORG", "a.example.net", "ab.example.net", "other.com", "api.example.com.evil"]
PATHS = ["/v1/items", "/v2/itemsX", "/v10/items", "/v1/other", "/V1/items", "/upload", "/upload/a", "/static/x.css",
         "/img/a.png", "/img/a.PNG", "/", "/items"]
METHODS = ["GET", "GET", "POST", "PUT", "DELETE"]
CANARY = [None, None, None, None, None, "1", "YES-please", "no", "11"]
AGENTS = [None, "googlebot/2.1", "curl/8", "RoBoT"]
QUERIES = [{}, {}, {}, {"debug": "true"}, {"debug": "TRUE"}, {"debug": "trxue"}, {"x": "abetaz"}, {"var1": "1"},
           {"VAR": "1"}, {"vxr": "1"}, {"VR": "1"}, {"vr": "2"}, {"a": "b", "debug": "tRue"}, {"debu": "true"},
           {"xdebug": "true"}, {"debug": "truex"}, {"var": "10"}]
SOURCES = [None, None, None, "10.1.2.3", "192.168.1.7", "192.168.2.7", "203.0.113.9"]


def corpus(n: int, seed: int = 13) -> list[matching.Request]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        headers = {}
        for name, values in (("X-Canary", CANARY), ("User-Agent", AGENTS)):
            v = rnd.choice(values)
            if v is not None:
                headers[rnd.choice([name, name.lower(), name.upper()])] = v
        out.append(matching.Request(host=rnd.choice(HOSTS), path=rnd.choice(PATHS), method=rnd.choice(METHODS),
                                    headers=headers, query=dict(rnd.choice(QUERIES)), source_ip=rnd.choice(SOURCES)))
    return out


def send(port: int, reqs: list[matching.Request]) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    got = []
    for r in reqs:
        target = r.path + ("?" + "&".join(f"{k}={v}" for k, v in r.query.items()) if r.query else "")
        headers = {"Host": r.host, **r.headers}
        if r.source_ip:
            headers[haproxy.SOURCE_HEADER] = r.source_ip
        conn.request(r.method, target, headers=headers)
        resp = conn.getresponse()
        resp.read()
        got.append(resp.getheader(haproxy.RULE_HEADER))
        if resp.getheader("connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()
    return got


def test_haproxy_picks_the_rule_matching_picks(tmp_path):
    p = plan()
    listener = p.listeners[0]
    reqs = corpus(2400)
    expected = []
    for r in reqs:
        hit = matching.first_match(listener.rule_views, r)
        expected.append(haproxy.safe(hit["name"]) if hit else haproxy.DEFAULT_RULE)
    with runner.serve(p, tmp_path) as (_, _, ports, _):
        port = ports[listener.name]
        chunks = [reqs[i::16] for i in range(16)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda c: send(port, c), chunks))
    got = [None] * len(reqs)
    for i, answer in enumerate(answers):
        got[i::16] = answer
    counts = Counter(expected)
    # The corpus exercises every rule (both sides of each priority tie) and the default.
    assert set(counts) == {haproxy.safe(n) for n, *_ in RULES} | {haproxy.DEFAULT_RULE}, counts
    assert min(counts.values()) >= 15, counts
    wrong = [(reqs[i], expected[i], got[i]) for i in range(len(reqs)) if expected[i] != got[i]]
    assert not wrong, f"{len(wrong)} of {len(reqs)} disagree, e.g. {wrong[:3]}"


def test_tie_order_follows_rule_order():
    """Same priority: the rule listed first wins in matching, and the config checks it first."""
    listener = listener_plan()
    names = [r.name for r in listener.rules]
    assert names.index("hosts-and-version") < names.index("v1-tie")
    assert names.index("org-hosts") < names.index("bots-tie")
    req = matching.Request(host="api.example.com", path="/v1/items")
    assert matching.first_match(listener.rule_views, req)["name"] == "hosts-and-version"


def test_stickiness_cookies_pin_group_and_instance(tmp_path):
    """Forward stickiness (AWSALBTG) pins the target group, lb_cookie (AWSALB) the instance."""
    node = topology.ListenerNode(urn=LISTENER, name="front", arn=None, port=80, protocol="HTTP", load_balancer=None,
                                 default_actions=[{"Type": "forward", "ForwardConfig": {
                                     "TargetGroups": [{"TargetGroupArn": "tg-a", "Weight": 1},
                                                      {"TargetGroupArn": "tg-b", "Weight": 1}],
                                     "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300}}}])
    p = plan()
    p.listeners = [_listener(node)]
    for tg in p.target_groups.values():
        tg.stickiness_s = 600
        tg.instances = [Instance(name=f"{tg.pool}-{i}", pool=tg.pool, az="az-1", capacity_rps=4000, workers=1,
                                 queue=4000) for i in range(3)]
    with runner.serve(p, tmp_path) as (_, _, ports, _):
        conn = http.client.HTTPConnection("127.0.0.1", ports["front"], timeout=10)
        conn.request("GET", "/", headers={"Host": "x"})
        first = conn.getresponse()
        first.read()
        cookies = [v.split(";")[0] for k, v in first.getheaders() if k.lower() == "set-cookie"]
        assert {c.split("=")[0] for c in cookies} == {"AWSALB", "AWSALBTG"}
        pinned = first.getheader("X-Lbguard-Instance")
        seen_without, seen_with = set(), set()
        for _ in range(12):
            for store, headers in ((seen_with, {"Host": "x", "Cookie": "; ".join(cookies)}), (seen_without, {"Host": "x"})):
                conn.request("GET", "/", headers=headers)
                r = conn.getresponse()
                r.read()
                store.add(r.getheader("X-Lbguard-Instance"))
        conn.close()
    assert seen_with == {pinned}
    assert len(seen_without) >= 4  # without the cookies requests spread over groups and instances
