"""The PR comment's first screen (issue 29), checked on the parsed Markdown (markdown-it-py, as
GitHub parses CommonMark + tables): the verdict block first, on the June 1 change (a one-instance
pool `fast`, a rule at priority 5 on `/*`) the text before the first table or <details> names
every blocking policy, the share on one instance and its utilisation at peak; with the preview,
the plan in one line there and the full plan folded; the size limit and its notice."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from click.testing import CliRunner
from markdown_it import MarkdownIt

from lbguard.cli.app import main
from lbguard.offline import impact
from tests.conftest import ScratchProject
from tests.offline.rehearse.june1 import git_project
from tests.offline.test_impact import API, document

MD = MarkdownIt("commonmark", {"html": True}).enable("table")


def june1(config: dict) -> dict:
    """The June 1 change on dev: a new one-instance pool `fast` (150 req/s, so dev's 200 req/s
    peak is 133% of it) and a catch-all rule at priority 5 sending everything there."""
    pools = config["web-tier:pools"]
    pools["fast"] = {"ami": pools["blue"]["ami"], "instanceType": "c5.large", "minSize": 1, "desiredCapacity": 1,
                     "maxSize": 1, "capacityRps": 150, "healthCheck": {"path": "/health"}}
    config["web-tier:routing"]["rules"]["performance"] = {
        "priority": 5, "conditions": {"path": ["/*"]}, "forward": {"weights": {"fast": 1}}}
    return config


@pytest.fixture(scope="module")
def june1_files(tmp_path_factory):
    """dev in a git repository (base), the June 1 change in its working tree (head): both
    preflights and `lbguard preview --base main`, as JSON files."""
    root = tmp_path_factory.mktemp("june1-comment")
    repo = git_project(root / "repo")
    runner = CliRunner()
    files = {name: root / f"{name}.json" for name in ("base", "head", "plan")}
    result = runner.invoke(main, ["preflight", "--cwd", str(repo), "--stack", "dev", "--json", str(files["base"])])
    assert result.exit_code == 0, result.output
    stack_file = repo / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"] = june1(doc["config"])
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = runner.invoke(main, ["preflight", "--cwd", str(repo), "--stack", "dev", "--json", str(files["head"])])
    assert result.exit_code == 1, result.output
    files["preflight output"] = result.output
    result = runner.invoke(main, ["preview", "--cwd", str(repo), "--stack", "dev", "--base", "main",
                                  "--json", str(files["plan"])])
    assert result.exit_code == 1, result.output  # deployable steps, but mandatory violations
    files["preview output"] = result.output
    files["repo"] = repo
    return files


def comment(files, *extra: str) -> str:
    result = CliRunner().invoke(main, ["diff", str(files["base"]), str(files["head"]), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def first_screen(md: str) -> tuple[list, str]:
    """The tokens after the comment's heading up to the first table or <details>, and their text."""
    tokens = MD.parse(md)
    start = next(i for i, t in enumerate(tokens) if t.type == "heading_close") + 1
    end = next(i for i, t in enumerate(tokens) if t.type == "table_open" or
               (t.type == "html_block" and "<details" in t.content))
    part = tokens[start:end]
    return part, "\n".join(t.content for t in part if t.type == "inline")


def test_the_verdict_block_is_the_first_element_after_the_heading(june1_files):
    tokens = MD.parse(comment(june1_files))
    assert [t.type for t in tokens[:4]] == ["html_block", "heading_open", "inline", "heading_close"]
    assert tokens[0].content.strip() == impact.MARKER and tokens[2].content == "lbguard: change impact on stack `dev`"
    assert tokens[4].type == "blockquote_open"
    assert tokens[6].content.startswith("[!CAUTION]\n**Blocked:** 4 mandatory policy violations, all new.")


def test_june1_first_screen_names_policies_share_on_one_instance_and_utilisation(june1_files):
    head = json.loads(june1_files["head"].read_text())
    blocking = {v["policy"] for v in head["violations"] if v["enforcementLevel"] == "mandatory"}
    assert blocking == {"capacity-covers-share", "listener-rule-shadowing", "no-traffic-funnel"}
    tokens, text = first_screen(comment(june1_files))
    assert tokens[0].type == "blockquote_open"
    for policy in blocking:
        assert re.search(rf"\*\*{policy}\*\* on rule (performance|api and rule maintenance): \S", text), policy
    # dev's peak is 200 req/s; `fast` serves 150 req/s with its one instance: 133.3% at peak.
    assert "100% of `https` goes to 1 instance of `fast`: 133.3% of its capacity at peak (200 req/s)" in text
    assert "Losing one instance of `fast` fails 100% of `https`." in text
    assert ("`api`, `maintenance` and the default action receive nothing: rule `performance` (priority 5) matches "
            "their requests first.") in text
    assert "web-routing" not in text  # the stack's keys, never Pulumi names


def test_with_the_preview_the_plan_is_one_line_there_and_folded_in_full(june1_files):
    plan = json.loads(june1_files["plan"].read_text())
    md = comment(june1_files, "--preview", str(june1_files["plan"]))
    tokens, text = first_screen(md)
    [line] = [t for t in tokens if t.type == "inline" and t.content.startswith("**Plan**")]
    assert "\n" not in line.content and not any(c.type in ("softbreak", "hardbreak") for c in line.children)
    s = plan["summary"]
    assert f"`+{s['create']} ~{s['update']} +-{s['replace']} -{s['delete']}`" in line.content  # `+14 ~3 +-0 -0`
    assert (s["create"], s["update"]) == (14, 3) and "every step applies" in line.content
    assert "| rule performance |" not in text and "<summary><b>Plan</b>" not in text
    # The full plan: a table inside the Plan <details>, one row per step that changes something.
    all_tokens = MD.parse(md)
    opened = next(i for i, t in enumerate(all_tokens) if t.type == "html_block" and "<summary><b>Plan</b>" in t.content)
    closed = next(i for i, t in enumerate(all_tokens) if i > opened and t.type == "html_block" and
                  "</details>" in t.content)
    rows = [t for t in all_tokens[opened:closed] if t.type == "tr_open"]
    assert len(rows) - 1 == sum(st["op"] != "same" for st in plan["steps"])  # header row + one per step
    folded = "\n".join(t.content for t in all_tokens[opened:closed] if t.type == "inline")
    assert "rule performance" in folded and "pool fast (Auto Scaling group)" in folded


def test_traffic_windows_from_the_preview_are_named_when_present(june1_files, tmp_path):
    plan = json.loads(june1_files["plan"].read_text())
    assert "windows" not in plan or plan["windows"] == [] or isinstance(plan["windows"], list)
    plan["windows"] = [{"listener": "web-routing-https", "share": 1.0, "seconds": 30,
                        "cause": "web-routing-rule-performance forwards to pool fast before its instance is healthy",
                        "fix": "create the pool in one deploy, route to it in the next"}]
    with_windows = tmp_path / "plan.json"
    with_windows.write_text(json.dumps(plan))
    _, text = first_screen(comment(june1_files, "--preview", str(with_windows)))
    assert ("traffic windows during the apply: 100% of listener https for ~30 s (rule performance forwards to pool "
            "fast before its instance is healthy)") in text


def test_prod_with_every_route_changed_stays_under_the_limit(tmp_path):
    project = ScratchProject(tmp_path / "project")
    runner = CliRunner()
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    assert runner.invoke(main, ["preflight", "--cwd", str(project.path), "--stack", "prod", "--json",
                                str(base)]).exit_code == 0
    cfg = project.config("prod")
    routing = cfg["web-tier:routing"]
    routing["default"]["forward"]["weights"] = {"blue": 60, "green": 40}
    for rule in routing["rules"].values():
        rule["forward"]["weights"] = {**{k: 1 for k in rule["forward"]["weights"]}, "blue": 1}
    project.write("prod", cfg)
    runner.invoke(main, ["preflight", "--cwd", str(project.path), "--stack", "prod", "--json", str(head)])
    d = impact.diff(json.loads(base.read_text()), json.loads(head.read_text()))
    https = [r for r in d["routes"] if r["listenerKey"] == "https"]
    assert len(https) >= 2 and all(r["changed"] for r in https)
    md = impact.markdown(json.loads(base.read_text()), json.loads(head.read_text()), d)
    assert len(md.encode()) < impact.COMMENT_LIMIT and "left out" not in md
    assert MD.parse(md)[4].type == "blockquote_open"


def test_a_comment_over_the_limit_is_cut_with_a_notice():
    """300 rules, every one changed: rows are left out (resources first, the verdict never), the
    Markdown stays well formed, the notice says where the rest is."""
    rules = [(f"r{i:03d}", i + 1, [{"pathPattern": {"values": [f"/p{i}/*"]}}], {"blue": 1, "green": 1})
             for i in range(300)]
    changed = [(n, p, c, {"blue": 3, "green": 1}) for n, p, c, _ in rules]
    base = document({"blue": 4, "green": 4}, {"blue": 1, "green": 1}, rules, run="r1")
    head = document({"blue": 4, "green": 4}, {"blue": 1, "green": 1}, changed, run="r2")
    d = impact.diff(base, head)
    md = impact.markdown(base, head, d)
    assert len(md.encode()) <= impact.COMMENT_LIMIT
    assert "more row(s) left out to keep this comment under GitHub's 65,536-character limit" in md
    assert md.count("<details") == md.count("</details>") and md.count("```") % 2 == 0
    tokens = MD.parse(md)
    assert tokens[4].type == "blockquote_open"
    uncut = impact.markdown(base, head, d, limit=10 ** 9)
    assert len(uncut.encode()) > impact.COMMENT_LIMIT and "left out" not in uncut
    # What was cut is the tail of the least-read sections: resources before anything else.
    res_rows = lambda text: sum(line.startswith("- changed ") for line in text.splitlines())  # noqa: E731
    assert res_rows(md) < res_rows(uncut)


@pytest.mark.parametrize("limit", [6000, 12000, 30000])
def test_any_limit_is_kept_and_the_verdict_survives(limit):
    pools = {"blue": 1, "green": 3}
    base = document(pools, {"blue": 1, "green": 1}, [("rule-api", 10, API, {"blue": 50, "green": 50})], run="r1")
    head = document(pools, {"blue": 1, "green": 1}, [("rule-api", 10, API, {"blue": 100, "green": 0})], run="r2")
    md = impact.markdown(base, head, limit=limit)
    assert len(md.encode()) <= limit and md.startswith(impact.MARKER)
    assert "Traffic after this change:" in md


# ------------------------------------------------------------------ the rendering script


@pytest.mark.stackruns  # chromium and Mermaid: kept out of the default run for time (.ci/run runs it)
def test_render_script_writes_a_screenshot(june1_files, tmp_path):
    """tools/render_comment.py: the comment as GitHub renders it (GFM, alerts, Mermaid) in Debian's
    chromium, headless. Skipped where chromium is not installed (apt-get install -y chromium)."""
    import os
    import shutil
    import sys

    from tests.conftest import MERMAID, ROOT, node_tools

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        assert os.environ.get("LBGUARD_REQUIRE_NODE") != "1", "no chromium: .ci/run installs it"
        pytest.skip("no chromium (Debian: apt-get install -y chromium)")
    _, npm = node_tools("install Mermaid for the screenshot")
    if npm is None:
        pytest.skip("node and npm are missing (LBGUARD_REQUIRE_NODE=1 makes this a failure)")
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund"], cwd=MERMAID,
                       check=True, capture_output=True, timeout=300)
    md = tmp_path / "comment.md"
    md.write_text(comment(june1_files, "--preview", str(june1_files["plan"])))
    png, page = tmp_path / "comment.png", tmp_path / "comment.html"
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "render_comment.py"), str(md), "-o", str(png),
                          "--html", str(page)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png.read_bytes()[16:20], "big"), int.from_bytes(png.read_bytes()[20:24], "big")
    assert width == 1012 and height > 800
    html = page.read_text()
    assert 'class="markdown-alert markdown-alert-caution"' in html and '<pre class="mermaid">' in html


# ------------------------------------------------------------------ one name per thing


PULUMI_RULE_NAME = "web-routing-rule-"


def test_offline_commands_name_things_by_their_keys(june1_files):
    """The text output of preflight, route and diff on the June 1 change never shows a rule by
    its Pulumi name (the JSON keeps it beside the key)."""
    runner = CliRunner()
    outputs = {"preflight": june1_files["preflight output"],
               "diff": comment(june1_files),
               "diff --preview": comment(june1_files, "--preview", str(june1_files["plan"]))}
    for path in ("/", "/maintenance", "/api/v1/items"):
        result = runner.invoke(main, ["route", "--from", str(june1_files["head"]), "--host", "dev.example.com",
                                      "--path", path])
        assert result.exit_code == 0, result.output
        outputs[f"route {path}"] = result.output
    assert "rule performance" in outputs["route /maintenance"]
    assert "[mandatory] listener-rule-shadowing: rule api: rule api (priority 10) can never match: rule " \
           "performance (priority 5)" in " ".join(outputs["preflight"].split())
    leaks = {cmd: [line for line in text.splitlines() if PULUMI_RULE_NAME in line] for cmd, text in outputs.items()}
    assert leaks == {cmd: [] for cmd in outputs}
    doc = json.loads(june1_files["head"].read_text())
    funnel = next(v for v in doc["violations"] if v["policy"] == "no-traffic-funnel")
    assert (funnel["name"], funnel["label"]) == ("web-routing-rule-performance", "rule performance")


def test_preview_names_things_by_their_keys(june1_files):
    assert PULUMI_RULE_NAME not in june1_files["preview output"]
