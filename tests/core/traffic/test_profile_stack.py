"""A stack sized to its traffic profile, end to end: the program exports the profile
(stacks/traffic.<stack>.yaml -> the ``trafficProfile`` output), the pack reads it from
the stack's outputs and computes every rule's share through ALB's evaluation.

The Must-show of issue 10: a correct three-pool stack (a narrow ``/api/*`` rule to a small
pool, a host rule to a 2-instance admin pool) passes with 0 mandatory violations when sized
to its profile; the same stack with the api class at 80% of requests fails
``capacity-covers-share``; without any profile the narrow rules are "share unknown"
(advisory), never assumed to take 100%.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from lbguard.cli.app import main
from tests.conftest import ROOT

STACK = {
    "config": {
        "aws:region": "us-east-1",
        "web-tier:peakRequestsPerSecond": 300,
        "web-tier:network": {"cidr": "10.40.0.0/16", "azCount": 2, "natGateways": "single"},
        "web-tier:loadBalancer": {"deletionProtection": False, "desyncMitigation": "defensive"},
        "web-tier:listeners": {
            "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"},
        "web-tier:pools": {
            name: {"ami": "ami-0c7217cdde317cfec", "instanceType": "t3.small", "minSize": n, "desiredCapacity": n,
                   "maxSize": 2 * n, "capacityRps": rps,
                   "healthCheck": {"path": "/health", "intervalSeconds": 10, "timeoutSeconds": 5}}
            for name, n, rps in (("web", 4, 150), ("api", 3, 100), ("admin", 2, 50))},
        "web-tier:routing": {
            "default": {"forward": {"weights": {"web": 1}}},
            "rules": {
                "api": {"priority": 10, "conditions": {"path": ["/api/*"]}, "forward": {"weights": {"api": 1}}},
                "admin": {"priority": 20, "conditions": {"host": ["admin.example.com"]},
                          "forward": {"weights": {"admin": 1}}},
            }},
    }
}


def profile(api_share: float) -> dict:
    rest = 1 - api_share - 0.05
    return {"version": 1, "peakRequestsPerSecond": 300, "classes": [
        {"name": "pages", "weight": rest * 0.8, "host": "www.example.com", "path": "/"},
        {"name": "assets", "weight": rest * 0.2, "host": "www.example.com", "path": "/static/app.css"},
        {"name": "api", "weight": api_share, "host": "www.example.com", "path": "/api/v1/cart", "method": "POST"},
        {"name": "admin", "weight": 0.05, "host": "admin.example.com", "path": "/users"},
    ]}


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "shop"
    path.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, path / name)
    for name in ("components", "policies"):
        shutil.copytree(ROOT / name, path / name, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    (path / "stacks").mkdir()
    (path / "stacks" / "Pulumi.shop.yaml").write_text(yaml.safe_dump(STACK, sort_keys=False))
    return path


def run(project, tmp_path) -> tuple[int, dict]:
    out = tmp_path / "pf.json"
    result = CliRunner().invoke(main, ["preflight", "--cwd", str(project), "--stack", "shop", "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(out.read_text())


def by_level(doc: dict, level: str) -> list[dict]:
    return [v for v in doc["violations"] if v["enforcementLevel"] == level]


def test_sized_to_its_profile_passes_and_an_80_percent_api_fails_capacity(project, tmp_path):
    (project / "stacks" / "traffic.shop.yaml").write_text(yaml.safe_dump(profile(0.25), sort_keys=False))
    code, doc = run(project, tmp_path)
    assert code == 0 and by_level(doc, "mandatory") == [], doc["violations"]
    # The profile travels in the stack's output (where the real engine hands it to the pack).
    exported = doc["outputs"]["trafficProfile"]
    assert [c["name"] for c in exported["classes"]] == ["pages", "assets", "api", "admin"]
    # No policy could not evaluate a share: every rule's share came from the profile.
    assert not [v for v in doc["violations"] if "share unknown" in v["message"]], doc["violations"]

    (project / "stacks" / "traffic.shop.yaml").write_text(yaml.safe_dump(profile(0.80), sort_keys=False))
    code, doc = run(project, tmp_path)
    mandatory = by_level(doc, "mandatory")
    assert code == 1 and {v["policy"] for v in mandatory} == {"capacity-covers-share"}, mandatory
    [v] = mandatory
    assert v["name"] == "web-routing-rule-api" and "80%" in v["message"] and "target group api" in v["message"]


def test_without_a_profile_narrow_rules_are_share_unknown_not_100_percent(project, tmp_path):
    code, doc = run(project, tmp_path)
    assert code == 0 and by_level(doc, "mandatory") == [], doc["violations"]
    assert "trafficProfile" not in doc["outputs"]
    unknown = {v["policy"] for v in by_level(doc, "advisory") if "share unknown" in v["message"]}
    assert unknown == {"capacity-covers-share", "no-traffic-funnel"}
    text = " ".join(v["message"] for v in by_level(doc, "advisory"))
    assert "web-routing-rule-api: share unknown" in text and "web-routing-rule-admin: share unknown" in text


def test_a_malformed_profile_is_one_line_naming_the_file(project, tmp_path):
    bad = profile(0.25)
    bad["classes"][0]["path"] = "no-slash"
    (project / "stacks" / "traffic.shop.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    result = CliRunner().invoke(main, ["preflight", "--cwd", str(project), "--stack", "shop"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "traffic.shop.yaml" in lines[0] and "must start with /" in lines[0], lines


def test_two_rules_each_within_limits_together_funnel_one_pool(project, tmp_path):
    """Rules that send to the same pool add up: 30% and 25% of the listener to a 2-instance
    pool are each under the funnel limit with one instance lost (30%, 25%), together 55%."""
    import copy

    stack = copy.deepcopy(STACK)
    stack["config"]["web-tier:pools"]["api"].update(minSize=2, desiredCapacity=2, maxSize=4, capacityRps=400)
    stack["config"]["web-tier:routing"]["rules"]["admin"]["forward"] = {"weights": {"api": 1}}
    (project / "stacks" / "Pulumi.shop.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    prof = profile(0.30)
    prof["classes"][3]["weight"] = 0.25
    prof["classes"][0]["weight"] = 0.45
    del prof["classes"][1]
    (project / "stacks" / "traffic.shop.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    code, doc = run(project, tmp_path)
    mandatory = by_level(doc, "mandatory")
    assert code == 1 and [(v["policy"], v["name"]) for v in mandatory] == [("no-traffic-funnel", "web-routing-https")]
    msg = mandatory[0]["message"]
    assert "together" in msg and "web-routing-rule-api" in msg and "web-routing-rule-admin" in msg
    assert "55%" in msg and "instance-lost:api" in msg
