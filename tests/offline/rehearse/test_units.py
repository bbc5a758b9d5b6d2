"""The rehearsal's pure parts and the instance server's capacity limit (no HAProxy, no wrk:
these run in the default suite)."""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lbguard.core import matching, traffic
from lbguard.offline.rehearse import haproxy, mix, predict, wrk
from lbguard.offline.rehearse.plan import HealthCheck, Instance, Plan, TargetGroup, size_instance
from tests.offline.rehearse.test_agreement import listener_plan


def test_interleave_is_exact_and_spread():
    seq = wrk.interleave([0.5, 0.3, 0.2], 1000)
    assert [seq.count(i) for i in range(3)] == [500, 300, 200]
    for start in range(0, 990):  # evenly spread: any 10 in a row hold each class within 1 of its share
        window = seq[start:start + 10]
        assert all(abs(window.count(i) - 10 * s) <= 1 for i, s in enumerate([0.5, 0.3, 0.2])), start


def test_glob_regex_agrees_with_matching_on_random_patterns():
    rnd = random.Random(5)
    for _ in range(3000):
        pattern = "".join(rnd.choice("ab*?.") for _ in range(rnd.randint(0, 5)))
        value = "".join(rnd.choice("ab.") for _ in range(rnd.randint(0, 6)))
        assert bool(re.match(haproxy.glob_regex(pattern), value, re.DOTALL)) == \
            bool(matching._glob(pattern, False).match(value)), (pattern, value)


def test_matcher_and_weights():
    assert haproxy.matcher_regex("200-202,204") == "^(200|201|202|204)$"
    assert haproxy._scaled_weights([50, 50]) == [1, 1]
    assert haproxy._scaled_weights([999, 1, 0]) == [256, 1, 0]  # nonzero never rounds to "no traffic"
    assert haproxy._scaled_weights([300, 600]) == [1, 2]


def test_instance_sizing_past_capacity():
    assert size_instance(75) == (2, 38)  # 2 x 26.7 ms workers, 0.5 s of queue
    assert size_instance(7.5) == (1, 4)


def test_rendered_rule_order_is_matching_order():
    cfg = haproxy.render(plan((("a", 3), ("b", 3), ("c", 3))), {"front": 10080},
                         {f"{k}-{n}": 11000 + n for k in "abc" for n in range(3)}, "t")
    chosen = re.findall(r"set-var\(txn.rule\) str\(([^)]+)\)", cfg)
    assert chosen[:-1] == [haproxy.safe(r["name"]) for r in sorted(listener_plan().rule_views,
                                                                    key=lambda r: int(r["priority"]))]
    assert chosen[-1] == "default"


def plan(sizes=(("a", 3), ("b", 3))) -> Plan:
    tgs = {}
    for key, n in sizes:
        tg = TargetGroup(id=f"tg-{key}", pool=key, algorithm="round_robin", health=HealthCheck(), stickiness_s=0)
        tg.instances = [Instance(f"{key}-{i}", key, f"az-{i % 3}", 10, 1, 5) for i in range(n)]
        tgs[tg.id] = tg
    p = Plan(stack="t", scale=1.0, peak_rps=100, listeners=[listener_plan()], target_groups=tgs)

    class Topo:  # the forward weights and pools topology would give
        forwards = []

        def pools(self):
            return {k: traffic.Pool(instances=len(tg.instances), rps_per_instance=10, azs=3) for k, tg in tgs.items()}

    p.topology = Topo()
    return p


def test_predicted_shares_follow_first_match_weights_and_scenarios():
    p = plan()
    listener = p.listeners[0]
    from lbguard.core.topology import Forward
    p.topology.forwards = [Forward("default", listener.urn, None, None, [], {"tg-a": 1, "tg-b": 1}),
                           Forward("upload", listener.urn, "urn:rule:upload", 30, [], {"tg-a": 3, "tg-b": 1})]
    classes = [wrk.LoadClass("home", matching.Request(host="x.com", path="/"), 0.5),
               wrk.LoadClass("upload", matching.Request(host="x.com", path="/upload", method="POST"), 0.25),
               wrk.LoadClass("bots", matching.Request(host="x.com", path="/", headers={"User-Agent": "bot"}), 0.25)]
    healthy = predict.scenario_for(p, "all-healthy", classes)
    got = predict.predicted_shares(p, classes, healthy)
    # home: 0.5 split 1:1 over 3 each; upload: 0.25 split 3:1; bots: fixed response, no instance.
    assert got["a-0"] == pytest.approx(0.5 / 2 / 3 + 0.25 * 0.75 / 3)
    assert got["b-0"] == pytest.approx(0.5 / 2 / 3 + 0.25 * 0.25 / 3)
    assert sum(got.values()) == pytest.approx(0.75)
    lost = predict.scenario_for(p, "instance-lost", classes)
    assert lost.name == "instance-lost:tg-a"  # the busiest pool
    assert predict.stopped_instances(p, lost) == ["a-2"]
    after = predict.predicted_shares(p, classes, lost)
    assert after["a-2"] == 0 and after["a-0"] == pytest.approx(got["a-0"] * 3 / 2)
    az = predict.scenario_for(p, "az-lost", classes)
    assert az.healthy == {"tg-a": 2, "tg-b": 2}  # traffic.scenarios: one of three AZs
    assert predict.stopped_instances(p, az) == ["a-0", "b-0"]  # both in az-0, the first AZ


def test_derived_mix_reaches_each_rule_once():
    classes = mix.derived([plan()])
    names = [c.name for c in classes]
    assert "default" in names and len(names) == len(set(names))
    listener = plan().listeners[0]
    for c in classes:
        hit = matching.first_match(listener.rule_views, c.request)
        assert (hit["name"] if hit else "default") == c.name
    assert sum(c.share for c in classes) == pytest.approx(1.0)


def _get(port: int) -> tuple[int, float]:
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = s.recv(4096)
    return int(data.split()[1]), time.monotonic() - start


def test_instance_queues_then_overflows_into_503(tmp_path):
    stats = tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, "-m", "lbguard.offline.rehearse.instance", "--name", "i", "--capacity", "10",
                             "--workers", "1", "--queue", "2", "--stats", str(stats), "--max-seconds", "30"],
                            stdout=subprocess.PIPE, start_new_session=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: _get(port), range(8)))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    ok = sorted(t for s, t in results if s == 200)
    assert len(ok) == 3 and sum(1 for s, _ in results if s == 503) == 5  # 1 worker + 2 queued, rest overflow
    assert ok[-1] > 0.25  # the last queued one waited for two 100 ms services before its own
    assert max(t for s, t in results if s == 503) < 0.09  # overflow is answered at once
    doc = json.loads(stats.read_text())
    assert doc["requests"] == 8 and doc["rejected"] == 5 and doc["saturatedS"] > 0.1
