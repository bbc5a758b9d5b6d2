"""Change impact (diff) and request routing, on real preflight results and by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lbguard import impact, matching, topology
from lbguard.cli import main
from lbguard.commands.route import route_request
from tests.conftest import ScratchProject

P = {"Field": "path-pattern"}


@pytest.fixture(scope="module")
def june_first(tmp_path_factory):
    """dev as it is (BASE) and with the api rule moved from 50/50 to 100% on blue (HEAD)."""
    root = tmp_path_factory.mktemp("june1")
    project = ScratchProject(root / "project")
    runner = CliRunner()
    base = root / "base.json"
    assert runner.invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(base)]).exit_code == 0
    cfg = project.config("dev")
    cfg["web-tier:routing"]["rules"]["api"]["forward"]["weights"] = {"blue": 100, "green": 0}
    project.write("dev", cfg)
    head = root / "head.json"
    assert runner.invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(head)]).exit_code == 1
    return base, head


def test_june_first_as_a_diff(june_first):
    base, head = june_first
    d = impact.diff(json.loads(base.read_text()), json.loads(head.read_text()))
    api = next(r for r in d["routes"] if r["route"].endswith("/web-routing-rule-api"))
    blue = next(p for p in api["pools"] if p["pool"] == "blue")
    assert (blue["shareBefore"], blue["shareAfter"]) == (0.5, 1.0)
    assert (blue["perInstanceBefore"], blue["perInstanceAfter"]) == (0.25, 0.5)
    green = next(p for p in api["pools"] if p["pool"] == "green")
    assert (green["shareBefore"], green["shareAfter"]) == (0.5, 0.0)
    caps = {c["scenario"]: c for c in api["capacity"]}
    assert caps["instance-lost"]["before"] == pytest.approx(100 / 150)
    assert caps["instance-lost"]["after"] == pytest.approx(200 / 150)
    new = {(v["policy"], v["name"]) for v in d["verdicts"]["new"]}
    assert ("no-traffic-funnel", "web-routing-rule-api") in new
    changed = {r["name"]: r["properties"] for r in d["resources"]["changed"]}
    assert changed["web-routing-rule-api"] == ["actions[0].forward.targetGroups[0].weight",
                                               "actions[0].forward.targetGroups[1].weight"]
    assert "web-routing-https" not in changed  # ARNs differ between runs; normalised away


def test_markdown_comment(june_first):
    base, head = june_first
    result = CliRunner().invoke(main, ["diff", str(base), str(head)])
    assert result.exit_code == 0
    md = result.output
    assert md.startswith(impact.MARKER)
    assert "| web-routing-https/web-routing-rule-api | blue | **50% → 100%** | **25% → 50%** | 2 → 2 |" in md
    assert "new **no-traffic-funnel** (mandatory) on `web-routing-rule-api`" in md
    assert '==>|"50% → 100%"|' in md and "```mermaid" in md


def test_no_change_diff(june_first):
    base, _ = june_first
    d = impact.diff(json.loads(base.read_text()), json.loads(base.read_text()))
    assert d["resources"] == {"added": [], "changed": [], "removed": []}
    assert d["verdicts"] == {"new": [], "resolved": []}


@pytest.mark.parametrize("content,needle", [
    (None, "cannot read"), ("{not json", "not valid JSON"), ('{"a": 1}', "not a preflight result")])
def test_bad_input_is_one_line(tmp_path, june_first, content, needle):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    result = CliRunner().invoke(main, ["diff", str(june_first[0]), str(bad)])
    assert result.exit_code == 2 and needle in result.stderr and result.stderr.strip().count("\n") == 0


# ------------------------------------------------------------------ routing, by hand


def _res(typ, name, props):
    return topology.Res(f"urn:{name}", typ, name, props)


def _topo(rules, default_weights=None):
    tgs = {k: f"arn:tg/{k}" for k in ("a", "b", "c")}
    res = [_res("aws:lb/targetGroup:TargetGroup", k, {"arn": arn, "tags": {"lbguard:pool": k}}) for k, arn in tgs.items()]
    res += [_res("aws:autoscaling/group:Group", f"asg-{k}", {"minSize": n, "targetGroupArns": [tgs[k]]})
            for k, n in (("a", 2), ("b", 4), ("c", 1))]
    fwd = lambda w: [{"type": "forward", "forward": {"targetGroups": [{"arn": tgs[k], "weight": v} for k, v in w.items()]}}]
    res.append(_res("aws:lb/listener:Listener", "l", {"arn": "arn:l", "port": 443, "protocol": "HTTPS",
                                                      "defaultActions": fwd(default_weights or {"a": 1, "b": 1})}))
    for name, prio, conds, w in rules:
        res.append(_res("aws:lb/listenerRule:ListenerRule", name, {"listenerArn": "arn:l", "priority": prio,
                                                                   "conditions": conds, "actions": fwd(w)}))
    return topology.build(res)


def test_route_priority_order_and_default():
    topo = _topo([
        ("api", 20, [{"pathPattern": {"values": ["/api/*"]}}], {"b": 1}),
        ("canary", 10, [{"pathPattern": {"values": ["/api/*"]}}, {"httpHeader": {"httpHeaderName": "X-Canary", "values": ["yes"]}}], {"c": 1}),
        ("admin", 30, [{"hostHeader": {"values": ["admin.*"]}}], {"a": 3, "b": 1}),
    ])
    hit = lambda **kw: route_request(topo, matching.Request(**kw))[0]
    assert hit(path="/api/x")["rule"] == "api"
    assert hit(path="/api/x", headers={"x-canary": "YES"})["rule"] == "canary"  # header values: case-insensitive
    assert hit(path="/API/x")["rule"] is None  # paths are case-sensitive: default action
    admin = hit(host="Admin.example.com", path="/")
    assert admin["rule"] == "admin"
    assert [(p["pool"], p["probability"], p["perInstance"]) for p in admin["pools"]] == [
        ("a", 0.75, 0.375), ("b", 0.25, 0.0625)]
    default = hit(path="/")
    assert [(p["pool"], p["probability"]) for p in default["pools"]] == [("a", 0.5), ("b", 0.5)]


def test_shadowing_by_hand():
    rules = [{"priority": 1, "name": "all", "conditions": [{**P, "PathPatternConfig": {"Values": ["/*"]}}]},
             {"priority": 2, "name": "api", "conditions": [{**P, "PathPatternConfig": {"Values": ["/api/*"]}}]},
             {"priority": 3, "name": "x", "conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["x.com"]}}]}]
    assert [(l["name"], h["name"]) for l, h in matching.shadowed_rules(rules)] == [("api", "all")]
    assert matching.glob_covers("/api/*", "/api/v?/*") and not matching.glob_covers("/api/v?/*", "/api/*")
