"""The traffic-share model, with hand-worked examples and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from lbguard.core import traffic
from lbguard.core.traffic import Pool, Route


def test_shares_hand_worked():
    assert traffic.shares({"a": 50, "b": 50}) == {"a": 0.5, "b": 0.5}
    assert traffic.shares({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}
    assert traffic.shares({"a": 0, "b": 7}) == {"a": 0.0, "b": 1.0}


@pytest.mark.parametrize("weights,needle", [
    ({}, "at least one"),
    ({"a": 0, "b": 0}, "sum to 0"),
    ({"a": 1000}, "0..999"),
    ({"a": -1, "b": 2}, "0..999"),
    ({"a": 1.5}, "integer"),
    ({f"p{i}": 1 for i in range(6)}, "at most 5"),
])
def test_invalid_weights(weights, needle):
    with pytest.raises(traffic.WeightError, match=needle):
        traffic.shares(weights)


def test_june_first_funnel():
    # A catch-all rule sends 100% to a pool of one instance: that instance gets everything.
    r = traffic.evaluate(Route("rule:catch-all", {"legacy": 1, "web": 0}),
                         {"legacy": Pool(1, 100.0), "web": Pool(6, 100.0)}, peak_rps=1200)
    assert r.max_instance_share == 1.0
    assert r.loads["legacy"].rps == 1200 and r.loads["legacy"].utilisation == 12.0
    assert r.loads["web"].share == 0.0


def test_even_split_two_by_two_with_one_lost():
    pools = {"blue": Pool(2, 150.0, azs=2), "green": Pool(2, 150.0, azs=2)}
    results = {r.scenario: r for r in traffic.simulate(Route("default", {"blue": 50, "green": 50}), pools, 200)}
    assert results["all-healthy"].max_instance_share == 0.25
    assert results["instance-lost:blue"].loads["blue"].per_instance_share == 0.5
    assert results["instance-lost:blue"].loads["blue"].utilisation == pytest.approx(100 / 150)
    # One AZ of two lost: each pool keeps 1 of 2 instances.
    assert results["az-lost"].loads["green"].healthy == 1
    # A pool with every target unhealthy: ALB fails open, its half of the requests fail.
    down = results["pool-down:blue"]
    assert down.loads["blue"].failing and down.failed_fraction == 0.5
    assert down.loads["green"].per_instance_share == 0.25  # no failover to green


def test_traffic_fraction_scales_shares():
    r = traffic.evaluate(Route("rule:api", {"api": 1}, traffic_fraction=0.4), {"api": Pool(6, 400.0, azs=3)}, peak_rps=3000)
    assert r.loads["api"].share == pytest.approx(0.4)
    assert r.loads["api"].rps == pytest.approx(1200)
    assert r.loads["api"].utilisation == pytest.approx(0.5)


def test_az_loss_uses_largest_az():
    # 5 instances over 3 AZs: 2/2/1 -> losing the worst AZ costs 2.
    assert Pool(5, azs=3).lost_in_one_az() == 2
    assert Pool(1, azs=3).lost_in_one_az() == 1
    assert Pool(4, azs=1).lost_in_one_az() == 4


def test_unknown_capacity_gives_no_utilisation():
    r = traffic.evaluate(Route("d", {"a": 1}), {"a": Pool(2)}, peak_rps=100)
    assert r.loads["a"].utilisation is None and r.worst_utilisation is None


def test_skew_bounds():
    b = traffic.skew_bounds({"blue": 50, "green": 50}, 0.15)
    assert b["blue"] == pytest.approx((0.35, 0.65))
    b = traffic.skew_bounds({"a": 1, "b": 3}, 0.3)
    assert b["a"] == pytest.approx((0.0, 0.55)) and b["b"] == pytest.approx((0.45, 1.0))


weights_st = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(0, 999), min_size=1).filter(
    lambda w: sum(w.values()) > 0)


@settings(max_examples=200, deadline=None)
@given(weights_st)
def test_shares_sum_to_one(weights):
    assert math.isclose(sum(traffic.shares(weights).values()), 1.0)


@settings(max_examples=200, deadline=None)
@given(weights_st, st.data())
def test_removing_capacity_never_lowers_utilisation(weights, data):
    pools = {k: Pool(data.draw(st.integers(1, 20)), data.draw(st.floats(1, 1000)), azs=data.draw(st.integers(1, 3)))
             for k in weights}
    route = Route("r", weights)
    base = traffic.evaluate(route, pools, peak_rps=1000)
    key = data.draw(st.sampled_from(sorted(weights)))
    fewer = traffic.evaluate(route, pools, {key: pools[key].instances - 1}, peak_rps=1000)
    for k in weights:
        assert fewer.loads[k].utilisation >= base.loads[k].utilisation
        assert fewer.loads[k].per_instance_share >= base.loads[k].per_instance_share


def test_headroom_by_scenario_june_first():
    # dev's api rule after the June 1 change: 100% to blue (2 x 150 req/s), 200 req/s at peak.
    pools = {"blue": Pool(2, 150, azs=2), "green": Pool(2, 150, azs=2)}
    h = traffic.headroom_by_scenario(traffic.simulate(Route("api", {"blue": 100, "green": 0}), pools, 200))
    assert list(h) == ["all-healthy", "instance-lost", "az-lost", "pool-down"]
    assert h["all-healthy"].utilisation == pytest.approx(200 / 300)
    assert h["all-healthy"].headroom == pytest.approx(1 / 3)
    assert (h["instance-lost"].scenario, h["instance-lost"].utilisation) == ("instance-lost:blue", pytest.approx(200 / 150))
    assert h["instance-lost"].headroom == pytest.approx(-1 / 3) and h["instance-lost"].max_instance_share == 1.0
    # pool-down:green leaves blue serving everything; pool-down:blue fails every request open.
    assert (h["pool-down"].scenario, h["pool-down"].utilisation) == ("pool-down:green", pytest.approx(200 / 300))
    assert h["pool-down"].failed_fraction == 1.0 and h["all-healthy"].failed_fraction == 0.0


def test_headroom_unknown_capacity():
    h = traffic.headroom_by_scenario(traffic.simulate(Route("r", {"a": 1}), {"a": Pool(2)}, 100))
    assert h["all-healthy"].utilisation is None and h["all-healthy"].headroom is None
    assert h["instance-lost"].max_instance_share == 1.0


@settings(max_examples=200, deadline=None)
@given(weights_st, st.data())
def test_failure_scenarios_never_beat_all_healthy(weights, data):
    pools = {k: Pool(data.draw(st.integers(1, 20)), data.draw(st.floats(1, 1000)), azs=data.draw(st.integers(1, 3)))
             for k in weights}
    h = traffic.headroom_by_scenario(traffic.simulate(Route("r", weights), pools, 1000))
    healthy = h["all-healthy"]
    assert healthy.failed_fraction == 0.0
    for kind in ("instance-lost", "az-lost"):
        # Losing capacity either loads the survivors more or fails a pool open outright.
        if h[kind].failed_fraction == 0.0:
            assert h[kind].utilisation >= healthy.utilisation
            assert h[kind].max_instance_share >= healthy.max_instance_share
