"""Measured per-instance shares on the real data plane match the model's predictions.

All-healthy within 2 percentage points; with one instance stopped mid-run (HAProxy's
health checks take it out), the survivors within 3 points of the model's
``instance-lost`` scenario. Shares are read from HAProxy's own per-request log.
"""

from __future__ import annotations

import pytest

from lbguard.cli.commands.rehearse import DEFAULT_RPS
from lbguard.core.profile import parse_profile
from lbguard.offline.rehearse import mix, predict, report, runner
from lbguard.offline.rehearse.plan import build_plan

pytestmark = pytest.mark.rehearse

PROD_PROFILE = parse_profile({"version": 1, "classes": [
    {"name": "api", "weight": 40, "host": "www.example.com", "path": "/api/v1/items"},
    {"name": "pages", "weight": 55, "host": "www.example.com", "path": "/products/42"},
    {"name": "search", "weight": 5, "host": "www.example.com", "path": "/search", "query": {"q": "x"}}]})


def rehearse(program_run, stack, scenario, duration_s, tmp_path, profile=None):
    run = program_run(stack)
    peak = build_plan(run, stack, 1.0).peak_rps
    plan = build_plan(run, stack, min(1.0, DEFAULT_RPS / peak))
    classes = mix.from_profile(profile, plan.primary().port, "profile") if profile else mix.derived([plan])
    sc = predict.scenario_for(plan, scenario, classes)
    predicted = predict.predicted_shares(plan, classes, sc)
    stop = predict.stopped_instances(plan, sc)
    raw = runner.run_once(plan, classes, sc.name, stop, duration_s=duration_s, workdir=tmp_path)
    return raw, report.summarise(raw, plan, predicted, sc.name)


@pytest.mark.parametrize("stack,profile", [("dev", None), ("prod", PROD_PROFILE)])
def test_all_healthy_shares_within_two_points(program_run, tmp_path, stack, profile):
    raw, r = rehearse(program_run, stack, "all-healthy", 5, tmp_path, profile)
    assert r["requests"] >= 0.8 * DEFAULT_RPS * 5  # the offered load really arrived
    assert r["errorRate"] == 0
    served = [i for i in r["instances"] if i["predictedShare"] > 0]
    assert len(served) == len(r["instances"])  # every instance of every pool is predicted to serve
    for i in r["instances"]:
        assert abs(i["share"] - i["predictedShare"]) <= 0.02, i
    assert not raw.health  # no instance went down


@pytest.mark.parametrize("stack,scenario,profile", [("dev", "instance-lost", None),
                                                    ("prod", "instance-lost:api", PROD_PROFILE)])
def test_survivors_match_instance_lost_within_three_points(program_run, tmp_path, stack, scenario, profile):
    raw, r = rehearse(program_run, stack, scenario, 8, tmp_path, profile)
    assert len(raw.stopped) == 1
    assert any(f"/{raw.stopped[0]} is DOWN" in line for line in raw.health)  # HAProxy's health check took it out
    assert r["windowStartS"] < 6.5  # and did so early enough to leave a measurement window
    stopped = next(i for i in r["instances"] if i["stopped"])
    assert stopped["share"] == 0.0 and stopped["predictedShare"] == 0.0
    survivors = [i for i in r["instances"] if not i["stopped"]]
    same_pool = [i for i in survivors if i["pool"] == stopped["pool"]]
    assert same_pool and all(i["predictedShare"] > 0 for i in same_pool)
    for i in survivors:
        assert abs(i["share"] - i["predictedShare"]) <= 0.03, i


def test_az_lost_takes_out_one_az_of_every_pool(program_run, tmp_path):
    raw, r = rehearse(program_run, "prod", "az-lost", 8, tmp_path, PROD_PROFILE)
    stopped = [i for i in r["instances"] if i["stopped"]]
    assert {i["az"] for i in stopped} == {"us-east-1a"}  # one whole AZ
    assert sorted(i["pool"] for i in stopped) == ["api", "api", "blue", "blue", "green", "green"]  # 6 of 18 each pool
    for i in r["instances"]:
        assert abs(i["share"] - i["predictedShare"]) <= 0.03, i
