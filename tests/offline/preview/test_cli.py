"""`lbguard preview` end to end: base from a git revision, the plan printed and written as JSON,
and `lbguard diff --preview` putting the plan above the traffic impact."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml
from click.testing import CliRunner

from lbguard.cli.app import main
from tests.conftest import ROOT
from tests.offline.test_impact import june_first_docs  # noqa: F401  (fixture)


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def swapped(tmp_path_factory):
    """A git repo holding the project at main; the working tree swaps two rule priorities."""
    repo = tmp_path_factory.mktemp("repo")
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, repo / name)
    for sub in ("components", "stacks"):
        shutil.copytree(ROOT / sub, repo / sub, ignore=shutil.ignore_patterns("__pycache__"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    stack = repo / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(stack.read_text())
    rules = doc["config"]["web-tier:routing"]["rules"]
    rules["api"]["priority"], rules["maintenance"]["priority"] = 20, 10
    stack.write_text(yaml.safe_dump(doc))
    out = repo / "plan.json"
    result = CliRunner().invoke(main, ["preview", "--stack", "dev", "--cwd", str(repo), "--no-policy",
                                       "--json", str(out)])
    return repo, result, json.loads(out.read_text())


def test_swap_exits_1_with_the_plan_and_the_refused_call(swapped):
    repo, result, doc = swapped
    assert result.exit_code == 1, result.output
    assert "Previewing update (dev): base " in result.output
    # old -> new per changed property (issue 29), the name first and never cut
    assert " ~  rule api  (lb:ListenerRule)" in result.output and "web-routing-rule-" not in result.output
    assert "priority: 10 -> 20" in result.output and "priority: 20 -> 10" in result.output
    assert "SetRulePriorities -> PriorityInUse" in result.output and "how to deploy it:" in result.output
    assert doc["summary"]["update"] >= 2 and doc["summary"]["create"] == 0 and doc["summary"]["delete"] == 0
    assert {f["error"] for f in doc["failures"]} == {"PriorityInUse"}
    assert set(doc) >= {"stack", "base", "steps", "failures", "violations", "summary"}
    st = next(s for s in doc["steps"] if s["name"] == "web-routing-rule-api")
    assert set(st) >= {"urn", "type", "name", "label", "op", "diffs", "replaceReasons", "changes"}
    assert st["label"] == "rule api"  # the settings key beside the Pulumi name
    assert {"path": "priority", "old": 10, "new": 20} in st["changes"] and doc["version"] == 2
    # the user's checkout is untouched: same status, no extra worktree
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status.split() == ["M", "stacks/Pulumi.dev.yaml", "??", "plan.json"]


def test_diff_puts_the_plan_above_the_traffic_impact(swapped, june_first_docs, tmp_path):  # noqa: F811
    _, _, plan = swapped
    base, head = june_first_docs
    files = {}
    for name, doc in (("base", base), ("head", head), ("plan", plan)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["diff", str(files["base"]), str(files["head"]), "--preview", str(files["plan"])])
    assert result.exit_code == 0, result.output
    text = result.output
    first_fold = text.index("<details>")
    # The verdict first, then the plan in one line naming what fails, the full plan folded.
    assert text.index("> **Blocked:**") < text.index("\n**Plan** (`lbguard preview`") < first_fold
    plan_line = next(line for line in text.splitlines() if line.startswith("**Plan** (`lbguard preview`"))
    assert "`SetRulePriorities` → `PriorityInUse`" in plan_line and "rule " in plan_line
    assert "step of the plan failing at apply time" in text[:first_fold] or \
        "steps of the plan failing at apply time" in text[:first_fold]
    assert "| `~` | rule " in text[first_fold:] and "`ListenerRule`" in text[first_fold:]


@pytest.mark.parametrize("args, needle", [
    (["--base", "no-such-rev"], "not a git revision"),
    (["--policy-pack", "/nonexistent"], "no PulumiPolicy.yaml"),
])
def test_bad_input_one_line_exit_2(swapped, args, needle):
    repo, _, _ = swapped
    result = CliRunner().invoke(main, ["preview", "--cwd", str(repo), *args])
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_diff_refuses_a_bad_preview_file(tmp_path, june_first_docs):  # noqa: F811
    base, head = june_first_docs
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    (tmp_path / "p.json").write_text(json.dumps({"steps": [{"name": "x", "op": "explode"}], "summary": {}}))
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"),
                                       "--preview", str(tmp_path / "p.json")])
    assert result.exit_code == 2 and "steps[0] needs a name and an op" in result.output


def test_base_state_from_an_earlier_run(swapped, tmp_path):
    """--save-state then --base-state: the saved head replayed into a fresh emulator is the base;
    previewing the same head against it is all `same` and writes nothing."""
    repo, _, _ = swapped
    state = tmp_path / "state.json"
    first = CliRunner().invoke(main, ["preview", "--cwd", str(repo), "--no-policy", "--base", "HEAD",
                                      "--save-state", str(state), "--json", str(tmp_path / "a.json")])
    assert first.exit_code == 1  # the swap still fails
    saved = json.loads(state.read_text())
    assert saved["version"] == 2 and len(saved["resources"]) > 50
    out = tmp_path / "b.json"
    second = CliRunner().invoke(main, ["preview", "--cwd", str(repo), "--no-policy", "--base-state", str(state),
                                       "--json", str(out)])
    doc = json.loads(out.read_text())
    assert second.exit_code == 0, second.output
    assert {s["op"] for s in doc["steps"]} == {"same"} and doc["writes"] == 0


def test_preview_refuses_the_routing_a_rollback_replaced(swapped, tmp_path):
    """Issue 11 (freeze): a freeze export whose rolled-back-from routing equals the head's
    `rollback` output makes `lbguard preview` refuse (exit 1, the reason on stderr, in the JSON);
    a record of other routing does not."""
    from lbguard.core import freeze

    repo, _, _ = swapped
    pre = tmp_path / "pre.json"
    assert CliRunner().invoke(main, ["preflight", "--cwd", str(repo), "--no-policy", "--json", str(pre)]).exit_code == 0
    head_routing = json.loads(pre.read_text())["outputs"]["rollback"]
    other = json.loads(json.dumps(head_routing))
    other["listeners"][0]["rules"] = other["listeners"][0]["rules"][:-1]
    for name, rolled in (("frozen", head_routing), ("other", other)):
        record = freeze.freeze_record(project="web-tier", stack="dev", rolled_back_from=[("live routing", rolled)],
                                      restored={"listeners": []}, by="oncall", at="2026-12-03T03:00:00Z",
                                      journal=None, summary="funnel removed")
        (tmp_path / f"{name}.json").write_text(json.dumps(freeze.export_document("web-tier", "dev", record)))
    out = tmp_path / "plan.json"
    frozen = CliRunner().invoke(main, ["preview", "--cwd", str(repo), "--no-policy", "--freeze",
                                       str(tmp_path / "frozen.json"), "--json", str(out)])
    doc = json.loads(out.read_text())
    assert frozen.exit_code == 1
    assert doc["freeze"]["refusal"] and "deploy freeze on web-tier/dev" in doc["freeze"]["refusal"]
    assert "lbguard unfreeze --stack dev" in frozen.stderr
    CliRunner().invoke(main, ["preview", "--cwd", str(repo), "--no-policy", "--freeze",
                              str(tmp_path / "other.json"), "--json", str(out)])
    assert json.loads(out.read_text())["freeze"] == {"file": str(tmp_path / "other.json"), "refusal": None}
    wrong = CliRunner().invoke(main, ["preview", "--cwd", str(repo), "--stack", "prod", "--freeze",
                                      str(tmp_path / "frozen.json")])
    assert wrong.exit_code == 2 and "is for web-tier/dev, not web-tier/prod" in wrong.output


@pytest.mark.stackruns
def test_preview_fits_80_columns_in_a_terminal_without_cutting_names(swapped):
    """Issue 29: in a pty of 80 columns no line is wider, every step's name is whole on its
    line, the changed values are shown old -> new."""
    from tests.cli.test_terminal import in_terminal

    repo, _, doc = swapped
    code, lines = in_terminal(["preview", "--stack", "dev", "--cwd", str(repo), "--no-policy"], 80)
    assert code == 1
    assert not [line for line in lines if len(line) > 80]
    shown = [s["label"] for s in doc["steps"] if s["op"] != "same"]  # the stack's keys (issue 29)
    assert shown and all(any(line.startswith(f" ~  {name}") for line in lines) for name in shown)
    assert any("priority: 10 -> 20" in line for line in lines)


def test_preview_steps_in_a_stable_order(swapped, tmp_path):
    """Issue 29: dependency order, ties by URN, the same on every run (registrations arrive in
    whatever order outputs resolve)."""
    repo, _, first = swapped
    out = tmp_path / "again.json"
    CliRunner().invoke(main, ["preview", "--stack", "dev", "--cwd", str(repo), "--no-policy", "--show-same",
                              "--json", str(out)])
    again = json.loads(out.read_text())
    assert [s["urn"] for s in again["steps"]] == [s["urn"] for s in first["steps"]]
    position = {s["urn"]: n for n, s in enumerate(again["steps"])}
    rule = next(s["urn"] for s in again["steps"] if s["name"] == "web-routing-rule-api")
    listener = next(s["urn"] for s in again["steps"] if s["name"] == "web-routing-https")
    assert position[listener] < position[rule]  # the rule waits for its listener
