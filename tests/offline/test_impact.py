"""Change impact (`lbguard diff`): hand-made preflight documents first, then real preflight runs."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from lbguard.offline import impact

from lbguard.core import traffic
from lbguard.cli.app import main
from tests.conftest import ScratchProject

LB, TG, LST, RULE = ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup",
                     "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule")
ASG, SUBNET = "aws:autoscaling/group:Group", "aws:ec2/subnet:Subnet"


# ------------------------------------------------------------------ a tiny preflight-document builder


def forward(weights: dict[str, int], run: str) -> list[dict]:
    return [{"type": "forward", "forward": {"targetGroups": [{"arn": tg_arn(k, run), "weight": w}
                                                             for k, w in weights.items()]}}]


def tg_arn(pool: str, run: str) -> str:
    # Every emulator run makes new ARNs; diff must see through them.
    return f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/dev-{pool}-{run}/{run}0f3a9c1d2e"


def document(pools: dict[str, int], default: dict[str, int], rules=(), *, peak=200, rps=150, run="r1",
             violations=(), stack="dev", azs=2) -> dict:
    """A preflight result: one LB, pools as ASGs (instances, ``rps`` each), an HTTPS listener and rules.

    ``rules``: (name, priority, conditions, weights dict or a non-forward action dict).
    """
    lb_arn = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-{run}/{run}77aa"
    lst_arn = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-{run}/{run}77aa/{run}99"
    res = [{"urn": "urn:stack", "type": "pulumi:pulumi:Stack", "name": f"web-tier-{stack}", "inputs": {}}]

    def add(typ, name, inputs, **extra):
        res.append({"urn": f"urn:pulumi:{stack}::web-tier::{typ}::{name}", "type": typ, "name": name,
                    "inputs": inputs, "propertyDependencies": {}, **extra})

    subnets = [f"subnet-{run}{i:04d}" for i in range(azs)]
    for i, s in enumerate(subnets):
        add(SUBNET, f"web-private-{i}", {"availabilityZone": f"us-east-1{'abc'[i]}"}, id=s)
    add(LB, "web-lb", {"tags": {"lbguard:peak-rps": str(peak)}}, arn=lb_arn, id=lb_arn)
    for pool, n in pools.items():
        add(TG, f"web-pool-{pool}", {"tags": {"lbguard:pool": pool}, "port": 80}, arn=tg_arn(pool, run),
            id=tg_arn(pool, run))
        add(ASG, f"web-pool-{pool}-asg", {"minSize": n, "maxSize": n * 3, "targetGroupArns": [tg_arn(pool, run)],
                                          "vpcZoneIdentifiers": subnets,
                                          "tags": [{"key": "lbguard:rps-per-instance", "value": str(rps),
                                                    "propagateAtLaunch": False}]}, id=f"web-pool-{pool}-{run}")
    add(LST, "web-https", {"loadBalancerArn": lb_arn, "port": 443, "protocol": "HTTPS",
                           "defaultActions": forward(default, run)}, arn=lst_arn, id=lst_arn)
    for name, priority, conditions, action in rules:
        actions = forward(action, run) if all(isinstance(v, int) for v in action.values()) else [action]
        add(RULE, name, {"listenerArn": lst_arn, "priority": priority, "conditions": conditions, "actions": actions},
            arn=f"{lst_arn}/rule-{name}", id=f"{lst_arn}/rule-{name}")
    return {"stack": stack, "project": "web-tier", "resources": res, "outputs": {}, "violations": list(violations)}


def funnel_violation(rule: str) -> dict:
    # As the pack reports it (see policies/lb_safety): one violation on the rule resource.
    return {"policy": "no-traffic-funnel", "enforcementLevel": "mandatory",
            "urn": f"urn:pulumi:dev::web-tier::{RULE}::{rule}", "type": RULE, "name": rule,
            "message": f"web-https/{rule} funnels traffic: each of the 1 healthy instance(s) of blue receives 100% "
                       "of the listener's traffic (limit 50%)."}


API = [{"pathPattern": {"values": ["/api/*"]}}]


def route(d: dict, rid: str) -> dict:
    return next(r for r in d["routes"] if r["route"] == rid)


def pool(r: dict, name: str) -> dict:
    return next(p for p in r["pools"] if p["pool"] == name)


# ------------------------------------------------------------------ June 1, by hand


@pytest.fixture
def june_first_docs():
    """A rule moved from an even split to 100% on one pool, which has ONE instance."""
    pools = {"blue": 1, "green": 3}
    base = document(pools, {"blue": 1, "green": 1}, [("rule-api", 10, API, {"blue": 50, "green": 50})], run="r1")
    head = document(pools, {"blue": 1, "green": 1}, [("rule-api", 10, API, {"blue": 100, "green": 0})], run="r2",
                    violations=[funnel_violation("rule-api")])
    return base, head


def test_june_first_by_hand(june_first_docs):
    d = impact.diff(*june_first_docs)
    api = route(d, "web-https/rule-api")
    assert api["changed"] and api["status"] == "kept" and api["priority"] == 10
    blue, green = pool(api, "blue"), pool(api, "green")
    assert (blue["shareBefore"], blue["shareAfter"]) == (0.5, 1.0)
    # blue's single instance goes from half of the listener's traffic to all of them.
    assert (blue["perInstanceBefore"], blue["perInstanceAfter"]) == (0.5, 1.0)
    assert (blue["instancesBefore"], blue["instancesAfter"]) == (1, 1)
    assert (green["shareAfter"], green["perInstanceBefore"], green["perInstanceAfter"]) == (0.0, 0.5 / 3, 0.0)
    caps = {c["case"]: c for c in api["capacity"]}
    assert all(c["worstBefore"] in (None, c["case"]) and c["worstAfter"] in (None, c["case"])
               for c in api["capacity"])  # one scenario per row
    # 200 req/s on 1 x 150 req/s; losing blue's one instance fails everything open.
    assert caps["all-healthy"]["before"] == pytest.approx(100 / 150)
    assert caps["all-healthy"]["after"] == pytest.approx(200 / 150)
    assert caps["all-healthy"]["headroomAfter"] == pytest.approx(1 - 200 / 150)
    assert caps["instance-lost:blue"]["failingBefore"] == 0.5 and caps["instance-lost:blue"]["failingAfter"] == 1.0
    assert d["verdicts"]["new"] == [funnel_violation("rule-api")] and d["verdicts"]["resolved"] == []
    assert not route(d, "web-https/default")["changed"]
    changed = {r["name"]: r for r in d["resources"]["changed"]}
    assert list(changed) == ["rule-api"]  # ARNs differ between the runs, normalised away
    assert changed["rule-api"]["values"] == [
        {"property": "actions[0].forward.targetGroups[0].weight", "before": 50, "after": 100},
        {"property": "actions[0].forward.targetGroups[1].weight", "before": 50, "after": 0}]


def test_june_first_markdown_by_hand(june_first_docs):
    md = impact.markdown(*june_first_docs)
    assert md.startswith(impact.MARKER + "\n")
    assert "> **Blocked:** 1 mandatory policy violation, all new.\n> - **no-traffic-funnel** on rule-api: " in md
    # Upper bounds (a narrow rule without a profile) never add up past the whole listener.
    assert ("> - up to 100% of `web-https` goes to 1 instance of `blue`: up to 133.3% of its capacity at peak "
            "(200 req/s) ⚠️; the rest to `green` up to 50% on 3 instances (up to 22.2% of capacity).") in md
    assert "- rule rule-api: pool **blue** 50% → 100% of the listener's traffic; each of its 1 instance(s) 50% → 100%" in md
    assert ("| web-https | rule-api (10) | up to 100% | forward to blue, green | blue | **50% → 100%** | **50% → 100%** "
            "| 1 |" in md)
    assert "| rule rule-api | all-healthy | all-healthy | **66.7% → 133.3% ⚠️** | 33.3% → -33.3% | 0% |" in md
    assert "🆕 **no-traffic-funnel** (mandatory) on rule-api: " in md
    assert "`actions[0].forward.targetGroups[0].weight` 50 → 100" in md
    mer = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    lines = mer.splitlines()
    assert lines[0] == "flowchart TB"
    assert any('==>|"50% → 100%"|' in l for l in lines) and any('-.->|"50% → 0%"|' in l for l in lines)
    edges = [l for l in lines if "-->" in l or "==>" in l or "-.->" in l]
    styles = {l.split()[2]: [int(i) for i in l.split()[1].split(",")] for l in lines if l.strip().startswith("linkStyle")}
    assert styles == {"stroke:#d62728,stroke-width:3px": [i for i, l in enumerate(edges) if "==>" in l],
                      "stroke:#d62728,stroke-dasharray:4": [i for i, l in enumerate(edges) if "-.->" in l]}
    # blue: one instance at 133% of its capacity at peak: drawn as overloaded.
    over = next(l for l in lines if l.strip().startswith("class ") and l.endswith(" over")).split()[1].split(",")
    assert [next(l for l in lines if l.strip().startswith(n + "[")).split('"')[1].split("<br/>")[0]
            for n in over] == ["pool blue · 1 instance"]


def test_the_same_program_twice_is_no_change():
    base = document({"blue": 2, "green": 2}, {"blue": 1, "green": 1}, [("rule-api", 10, API, {"blue": 1})], run="r1")
    again = document({"blue": 2, "green": 2}, {"blue": 1, "green": 1}, [("rule-api", 10, API, {"blue": 1})], run="r2")
    d = impact.diff(base, again)
    assert not any(r["changed"] for r in d["routes"])
    assert d["resources"] == {"added": [], "changed": [], "removed": []}
    md = impact.markdown(base, again, d)
    assert "> - Traffic shares and capacity do not change." in md and "No route changed." in md
    assert "==>" not in md and "-.->" not in md and "linkStyle" not in md


def test_routes_in_alb_order_and_non_forward_actions():
    maintenance = {"type": "fixed-response", "fixedResponse": {"statusCode": "503", "contentType": "text/plain"}}
    base = document({"blue": 2, "green": 2}, {"blue": 1, "green": 1},
                    [("rule-b", 20, API, {"blue": 1, "green": 1}), ("rule-a", 30, API, {"green": 1})])
    head = document({"blue": 2, "green": 2}, {"blue": 1, "green": 1},
                    [("rule-b", 20, API, maintenance), ("rule-a", 30, API, {"green": 1}),
                     ("rule-new", 5, API, {"blue": 1})])
    d = impact.diff(base, head)
    assert [r["route"] for r in d["routes"]] == ["web-https/rule-new", "web-https/rule-b", "web-https/rule-a",
                                                 "web-https/default"]
    b = route(d, "web-https/rule-b")
    assert (b["actionBefore"], b["actionAfter"]) == ("forward to blue, green", "fixed response 503")
    assert pool(b, "blue")["shareAfter"] is None and b["capacity"][0]["after"] is None
    assert route(d, "web-https/rule-new")["status"] == "added"
    assert not route(d, "web-https/rule-a")["changed"]
    assert [r["name"] for r in d["resources"]["added"]] == ["rule-new"]
    md = impact.markdown(base, head, d)
    assert "- rule rule-b: forward to blue, green → fixed response 503" in md
    assert "**forward to blue, green → fixed response 503**" in md
    assert '["fixed response 503"]' in md


def test_capacity_and_peak_changes():
    base = document({"blue": 4, "green": 4}, {"blue": 1, "green": 1}, peak=400)
    head = document({"blue": 4, "green": 2}, {"blue": 1, "green": 1}, peak=600, run="r2")
    d = impact.diff(base, head)
    default = route(d, "web-https/default")
    assert (default["peakBefore"], default["peakAfter"]) == (400, 600)
    green = pool(default, "green")
    assert (green["instancesBefore"], green["instancesAfter"]) == (4, 2)
    assert (green["perInstanceBefore"], green["perInstanceAfter"]) == (0.125, 0.25)
    caps = {c["scenario"]: c for c in default["capacity"]}
    # green: 300 req/s on 2 x 150 -> 100%; one green lost -> 300 on 150.
    assert caps["all-healthy"]["after"] == pytest.approx(1.0)
    assert caps["instance-lost"]["worstAfter"] == "instance-lost:green"
    assert caps["instance-lost"]["after"] == pytest.approx(2.0)
    changed = {r["name"]: r["values"] for r in d["resources"]["changed"]}
    assert changed["web-pool-green-asg"] == [{"property": "maxSize", "before": 12, "after": 6},
                                             {"property": "minSize", "before": 4, "after": 2}]
    assert changed["web-lb"] == [{"property": 'tags["lbguard:peak-rps"]', "before": "400", "after": "600"}]
    md = impact.markdown(base, head, d)
    assert "Peak 400 → 600 req/s" in md
    assert "pool **green** 50% (unchanged) of the listener's traffic; each of its 4 → 2 instance(s) 12.5% → 25%" in md
    # 200 of 400 req/s on 3 x 150 before; 300 of 600 on 1 x 150 after.
    assert "over capacity at peak in scenario `instance-lost:green` (44.4% → 200% utilisation)" in md


def test_verdicts_new_changed_resolved():
    v = lambda policy, name, msg, level="mandatory": {"policy": policy, "enforcementLevel": level, "urn": f"urn:{name}",
                                                      "type": RULE, "name": name, "message": msg}
    base = document({"a": 2}, {"a": 1}, violations=[v("p1", "x", "old"), v("p2", "y", "gone", "advisory")])
    head = document({"a": 2}, {"a": 1}, violations=[v("p1", "x", "worse"), v("p3", "z", "new")])
    got = impact.verdict_changes(base, head)
    assert got["new"] == [v("p3", "z", "new")]
    assert got["changed"] == [{"before": v("p1", "x", "old"), "after": v("p1", "x", "worse")}]
    assert got["resolved"] == [v("p2", "y", "gone", "advisory")]
    md = impact.markdown(base, head)
    assert "✏️ **p1** (mandatory) on x now: worse" in md and "✅ resolved p2 (advisory) on y" in md
    # Blocking: every mandatory violation of HEAD, new or not, by policy.
    assert "> - **p1** on x: worse" in md and "> - **p3** on z: new" in md


def test_secrets_are_compared_never_shown():
    sig = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    base, head = document({"a": 2}, {"a": 1}), document({"a": 2}, {"a": 1}, run="r2")
    base["resources"][-1]["inputs"]["token"] = {**sig, "value": "hunter2"}
    head["resources"][-1]["inputs"]["token"] = {**sig, "value": "hunter3"}
    d = impact.diff(base, head)
    assert d["resources"]["changed"][0]["values"] == [{"property": "token (secret)"}]
    assert "hunter" not in json.dumps(d) and "hunter" not in impact.markdown(base, head, d)
    head["resources"][-1]["inputs"]["token"]["value"] = "hunter2"
    assert impact.diff(base, head)["resources"]["changed"] == []


def test_new_stack_against_an_empty_base():
    empty = {"stack": "dev", "resources": [], "outputs": {}, "violations": []}
    head = document({"a": 2}, {"a": 1})
    d = impact.diff(empty, head)
    assert route(d, "web-https/default")["status"] == "added"
    assert pool(route(d, "web-https/default"), "a")["shareAfter"] == 1.0
    assert len(d["resources"]["added"]) == len(head["resources"]) - 1  # not the stack itself


def test_different_stacks_refused():
    with pytest.raises(impact.LbguardError, match="same stack"):
        impact.diff(document({"a": 1}, {"a": 1}), document({"a": 1}, {"a": 1}, stack="prod"))


# ------------------------------------------------------------------ properties

weights_st = st.dictionaries(st.sampled_from(["blue", "green", "red", "api"]), st.integers(0, 999),
                             min_size=1).filter(lambda w: sum(w.values()) > 0)


@settings(max_examples=60, deadline=None)
@given(weights_st, weights_st, st.integers(1, 6))
def test_shares_sum_to_one_per_route_and_match_the_model(before, after, n):
    pools = {k: n for k in ("blue", "green", "red", "api")}
    d = impact.diff(document(pools, before), document(pools, after, run="r2"))
    default = route(d, "web-https/default")
    assert math.isclose(sum(p["shareAfter"] or 0 for p in default["pools"]), 1.0)
    assert math.isclose(sum(p["shareBefore"] or 0 for p in default["pools"]), 1.0)
    model = traffic.shares(after)
    for p in default["pools"]:
        if p["shareAfter"] is not None:
            assert p["shareAfter"] == model[p["pool"]] and p["perInstanceAfter"] == model[p["pool"]] / n
    assert default["changed"] == (traffic.shares(before) != model)


@settings(max_examples=40, deadline=None)
@given(weights_st, st.dictionaries(st.sampled_from(["blue", "green", "red", "api"]), st.integers(1, 6), min_size=4))
def test_rerun_with_new_arns_is_never_a_change(weights, sizes):
    a = document(sizes, weights, [("rule-api", 10, API, weights)], run="r1")
    b = document(sizes, weights, [("rule-api", 10, API, weights)], run="r9")
    d = impact.diff(a, b)
    assert not any(r["changed"] for r in d["routes"]) and not any(d["resources"].values())


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(1, 7))
def test_removing_instances_never_lowers_utilisation(n, lost):
    lost = min(lost, n - 1)
    base = document({"blue": n, "green": n}, {"blue": 1, "green": 1})
    head = document({"blue": n - lost, "green": n}, {"blue": 1, "green": 1}, run="r2")
    for c in route(impact.diff(base, head), "web-https/default")["capacity"]:
        if not c["failingAfter"] and c["before"] is not None:
            assert c["after"] >= c["before"]


# ------------------------------------------------------------------ the command: input errors


@pytest.mark.parametrize("content,needle", [
    (None, "cannot read"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "top level is a list"),
    ('{"a": 1}', "no 'stack' string"),
    ('{"stack": "dev", "resources": [{"urn": "u"}]}', "resources[0] lacks urn/type/name"),
    ('{"stack": "dev", "resources": [], "violations": [{"x": 1}]}', "'violations' is not a list"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, needle):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(document({"a": 1}, {"a": 1})))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    result = CliRunner().invoke(main, ["diff", str(good), str(bad)])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"lbguard: error: HEAD {bad}")


def test_command_json_and_output_file(tmp_path, june_first_docs):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps(june_first_docs[0]))
    head.write_text(json.dumps(june_first_docs[1]))
    out = tmp_path / "comment.md"
    result = CliRunner().invoke(main, ["diff", str(base), str(head), "--output", str(out)])
    assert result.exit_code == 0 and result.output == ""
    assert out.read_text() == impact.markdown(*june_first_docs) + "\n"
    result = CliRunner().invoke(main, ["diff", str(base), str(head), "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(impact.diff(*june_first_docs)))
    # --json FILE as on every command: the JSON to FILE, the comment still on stdout; --json -: JSON only
    out_json = tmp_path / "diff.json"
    result = CliRunner().invoke(main, ["diff", str(base), str(head), "--json", str(out_json)])
    assert result.exit_code == 0 and result.output == impact.markdown(*june_first_docs) + "\n"
    assert json.loads(out_json.read_text()) == json.loads(json.dumps(impact.diff(*june_first_docs)))
    result = CliRunner().invoke(main, ["diff", str(base), str(head), "--json", "-"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(impact.diff(*june_first_docs)))


# ------------------------------------------------------------------ real preflight runs (emulator + pack)


def worst_case_api(project: ScratchProject) -> None:
    """dev with its api rule declared to take the whole listener, and no traffic profile."""
    (project.path / "stacks" / "traffic.dev.yaml").unlink()
    cfg = project.config("dev")
    cfg["web-tier:routing"]["rules"]["api"]["expectedShare"] = 1.0
    project.write("dev", cfg)


@pytest.fixture(scope="module")
def june_first(tmp_path_factory):
    """dev (BASE) and with the api rule moved from 50/50 to 100% on blue (HEAD). The api rule
    is declared to take the whole listener (expectedShare 1, dev's profile removed): the
    worst case June 1 was, so the weight change alone funnels."""
    root = tmp_path_factory.mktemp("june1")
    project = ScratchProject(root / "project")
    worst_case_api(project)
    runner = CliRunner()
    base = root / "base.json"
    result = runner.invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(base)])
    assert result.exit_code == 0, result.output
    cfg = project.config("dev")
    cfg["web-tier:routing"]["rules"]["api"]["forward"]["weights"] = {"blue": 100, "green": 0}
    project.write("dev", cfg)
    head = root / "head.json"
    result = runner.invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(head)])
    assert result.exit_code == 1, result.output
    return base, head


def test_june_first_through_the_real_pack(june_first):
    base, head = june_first
    d = impact.diff(json.loads(base.read_text()), json.loads(head.read_text()))
    api = route(d, "web-routing-https/web-routing-rule-api")
    blue = pool(api, "blue")
    assert (blue["shareBefore"], blue["shareAfter"]) == (0.5, 1.0)
    assert (blue["perInstanceBefore"], blue["perInstanceAfter"]) == (pytest.approx(1 / 6), pytest.approx(1 / 3))
    assert pool(api, "green")["shareAfter"] == 0.0
    caps = {c["scenario"]: c for c in api["capacity"]}
    assert caps["instance-lost"]["before"] == pytest.approx(100 / 300)
    assert (caps["instance-lost"]["worstAfter"], caps["instance-lost"]["after"]) == ("instance-lost:blue",
                                                                                    pytest.approx(200 / 300))
    new = {(v["policy"], v["name"]) for v in d["verdicts"]["new"]}
    assert ("no-traffic-funnel", "web-routing-rule-api") in new
    changed = {r["name"]: r["properties"] for r in d["resources"]["changed"]}
    assert changed["web-routing-rule-api"] == ["actions[0].forward.targetGroups[0].weight",
                                               "actions[0].forward.targetGroups[1].weight"]
    assert "web-routing-https" not in changed and "web-pool-blue" not in str(changed)  # ARNs normalised away
    assert [r["route"] for r in d["routes"] if r["changed"]] == ["web-routing-https/web-routing-rule-api"]


def test_real_markdown_comment(june_first):
    base, head = june_first
    result = CliRunner().invoke(main, ["diff", str(base), str(head)])
    assert result.exit_code == 0
    md = result.output
    assert md.startswith(impact.MARKER)
    assert ("| https | api (10) | 100% | forward to blue, green | blue | **50% → 100%** "
            "| **16.7% → 33.3%** | 3 |") in md
    assert "🆕 **no-traffic-funnel** (mandatory) on rule api: rule api funnels traffic" in md
    assert '==>|"50% → 100%"|' in md and "```mermaid" in md
    assert "redirect HTTPS:443 (HTTP_301)" in md and "fixed response 503" in md


def test_two_real_runs_of_the_same_stack_compare_equal(june_first, tmp_path):
    base, _ = june_first
    again = tmp_path / "again.json"
    project = ScratchProject(tmp_path / "project")
    worst_case_api(project)
    result = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(again)])
    assert result.exit_code == 0
    a, b = json.loads(base.read_text()), json.loads(again.read_text())
    arns = lambda doc: {r["urn"]: r.get("arn") for r in doc["resources"] if r.get("arn")}
    assert sum(arns(a)[u] != arn for u, arn in arns(b).items()) > 10  # every run mints new ARNs
    d = impact.diff(a, b)
    assert d["resources"] == {"added": [], "changed": [], "removed": []}
    assert d["verdicts"] == {"new": [], "changed": [], "resolved": []}
    assert not any(r["changed"] for r in d["routes"])


def test_rule_with_an_expected_fraction_of_the_listener():
    def with_fraction(doc, fraction):
        rule = next(r for r in doc["resources"] if r["name"] == "rule-api")
        rule["inputs"]["tags"] = {"lbguard:traffic-fraction": str(fraction)}
        return doc
    pools = {"blue": 2, "api": 4}
    base = with_fraction(document(pools, {"blue": 1}, [("rule-api", 10, API, {"api": 1})], peak=1000), 0.4)
    head = with_fraction(document(pools, {"blue": 1}, [("rule-api", 10, API, {"api": 1, "blue": 1})], peak=1000,
                                  run="r2"), 0.4)
    d = impact.diff(base, head)
    api = route(d, "web-https/rule-api")
    assert api["fraction"] == 0.4
    assert [(p["pool"], p["shareBefore"], p["shareAfter"], p["perInstanceAfter"]) for p in api["pools"]] == [
        ("api", 0.4, 0.2, 0.05), ("blue", None, 0.2, 0.1)]
    caps = {c["scenario"]: c for c in api["capacity"]}
    # 400 req/s on 4 x 150 before; after, blue takes 200 req/s on 2 x 150.
    assert caps["all-healthy"]["before"] == pytest.approx(400 / 600)
    assert caps["all-healthy"]["after"] == pytest.approx(200 / 300)
    assert ("| web-https | rule-api (10) | 40% | **forward to api → forward to api, blue** | blue | **– → 20%** |"
            in impact.markdown(base, head, d))


def test_deterministic_ids_are_not_rewritten_and_new_arns_are_named():
    dash = "aws:cloudwatch/dashboard:Dashboard"
    base = document({"blue": 2}, {"blue": 1})
    head = document({"blue": 2, "red": 2}, {"blue": 1, "red": 1}, run="r2")
    for doc, name in ((base, "dash-old"), (head, "dash-new")):
        # A dashboard's id is its name, here equal to the load balancer's name; the
        # dashboard is renamed between the two, the load balancer is not.
        doc["resources"].append({"urn": f"urn:{name}", "type": dash, "name": name, "id": "web-tier-dev",
                                 "inputs": {"dashboardName": "web-tier-dev"}})
        next(r for r in doc["resources"] if r["name"] == "web-lb")["inputs"]["name"] = "web-tier-dev"
    d = impact.diff(base, head)
    changed = {r["name"]: r["values"] for r in d["resources"]["changed"]}
    assert "web-lb" not in changed
    assert changed["web-https"] == [{"property": "defaultActions[0].forward.targetGroups"}]  # one more entry
    assert {r["name"] for r in d["resources"]["added"]} == {"dash-new", "web-pool-red", "web-pool-red-asg"}
    head_inputs = impact._normalise(head["resources"][-3]["inputs"], impact._identifiers(base, head)[1])
    assert head_inputs["targetGroupArns"] == ["<web-pool-red.arn>"]


# ------------------------------------------------------------------ the June 1 change as it was


@pytest.fixture(scope="module")
def june_first_catch_all(tmp_path_factory):
    """dev as shipped (with its traffic profile) and with a `/*` rule at priority 5 sending
    everything to blue: the June 1 change."""
    root = tmp_path_factory.mktemp("june1-catch-all")
    project = ScratchProject(root / "project")
    runner = CliRunner()
    base = root / "base.json"
    result = runner.invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(base)])
    assert result.exit_code == 0, result.output
    cfg = project.config("dev")
    cfg["web-tier:routing"]["rules"] = {"performance": {"priority": 5, "conditions": {"path": ["/*"]},
                                                        "forward": {"weights": {"blue": 1}}},
                                        **cfg["web-tier:routing"]["rules"]}
    project.write("dev", cfg)
    head = root / "head.json"
    result = runner.invoke(main, ["preflight", "--stack", "dev", "--cwd", str(project.path), "--json", str(head)])
    assert result.exit_code == 1, result.output
    return base, head


def test_the_june_first_change_as_it_was(june_first_catch_all):
    base, head = june_first_catch_all
    result = CliRunner().invoke(main, ["diff", str(base), str(head)])
    assert result.exit_code == 0
    md = result.output
    assert "> [!CAUTION]\n> **Blocked:**" in md
    # The verdict names the capturing rule and what it starves, by the stack's keys.
    assert ("> - `api`, `maintenance` and the default action receive nothing: rule `performance` (priority 5) "
            "matches their requests first.") in md
    assert "> - 100% of `https` goes to `blue`'s 3 instances (33.3% each): 44.4% of their capacity at peak" in md
    # Shadowed routes: their share of the listener, profile-based before, 0% after, and why.
    assert "| https | api (10) | **28% → 0%** (shadowed by performance) |" in md
    assert "| https | maintenance (20) | **2% → 0%** (shadowed by performance) |" in md
    assert "| https | default | **70% → 0%** (shadowed by performance) |" in md
    # The captured pool: all of the listener on blue's three instances.
    assert "| blue | 100% | 3 | 33.3% |" in md
    mer = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    lines = mer.splitlines()
    routes = {l.split("(", 1)[0].strip(): l.split('"')[1].split("<br/>")[0] for l in lines
              if l.strip().startswith("n") and '("' in l and '(["' not in l and '[("' not in l}
    classes = {l.split()[2]: l.split()[1].split(",") for l in lines if l.strip().startswith("class ")}
    assert sorted(routes[i] for i in classes["dead"] if i in routes) == [
        "default action", "rule api · priority 10", "rule maintenance · priority 20"]
    # Listeners by port (http's redirect first), rules in ALB evaluation order, default last,
    # each reached from the one before by what it does not match.
    assert list(routes.values()) == ["default action", "rule performance · priority 5", "rule api · priority 10",
                                     "rule maintenance · priority 20", "default action"]
    ids = list(routes)
    for a, b in zip(ids[1:], ids[2:]):
        assert any(l.strip().startswith(f"{a} -.->|\"no match · 0%\"| {b}") for l in lines), (a, b)
    assert any("pool blue · 3 instances<br/>33.3% each" in l for l in lines)
    assert any("shadowed by performance" in l for l in lines if l.strip().startswith(ids[2] + "("))


def test_mermaids_own_parser_accepts_the_june_first_diagram_and_rejects_a_broken_one(june_first_catch_all, tmp_path):
    """The session check (tests/conftest.py) parses every diagram the tests render; this shows
    the parser it uses is real: it accepts the June 1 diagram and rejects a broken edge."""
    import shutil
    import subprocess

    from tests.conftest import MERMAID, node_tools

    if node_tools("run Mermaid's parser")[0] is None:
        pytest.skip("node and npm are missing (LBGUARD_REQUIRE_NODE=1 makes this a failure)")
    base, head = june_first_catch_all
    good = impact.mermaid(impact.diff(json.loads(base.read_text()), json.loads(head.read_text())))
    (tmp_path / "good.mmd").write_text(good)
    (tmp_path / "bad.mmd").write_text(good.replace("-.->", "-. ->", 1))
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        subprocess.run([shutil.which("npm"), "install", "--silent", "--no-audit", "--no-fund"], cwd=MERMAID,
                       check=True, capture_output=True, timeout=300)
    out = subprocess.run([shutil.which("node"), str(MERMAID / "parse.mjs"), str(tmp_path / "good.mmd"),
                          str(tmp_path / "bad.mmd")], capture_output=True, text=True, timeout=300)
    good_doc, bad_doc = (json.loads(line) for line in out.stdout.splitlines())
    assert good_doc["ok"] and good_doc["type"].startswith("flowchart"), good_doc
    assert not bad_doc["ok"] and "Parse error" in bad_doc["error"] and out.returncode == 1
