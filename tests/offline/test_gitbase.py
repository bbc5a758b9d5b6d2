"""lbguard.offline.gitbase: a project at a revision, exported without touching the checkout."""

import subprocess

import pytest

from lbguard.offline import gitbase
from lbguard.core.model import LbguardError


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path):
    proj = tmp_path / "repo" / "proj"
    proj.mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (proj / "__main__.py").write_text("VALUE = 1\n")
    _git(tmp_path / "repo", "init", "-q", "-b", "main")
    _git(tmp_path / "repo", "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(tmp_path / "repo", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    (proj / "__main__.py").write_text("VALUE = 2\n")  # uncommitted edit: the head
    return proj


def test_project_at_revision_leaves_checkout_alone(repo):
    status_before = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True).stdout
    with gitbase.project_at(repo, "main") as base:
        assert (base / "__main__.py").read_text() == "VALUE = 1\n"
        kept = base
    assert not kept.exists()
    assert (repo / "__main__.py").read_text() == "VALUE = 2\n"
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True).stdout == status_before
    assert subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout.count("\n") == 1


def test_default_base_is_merge_base_with_main(repo):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert gitbase.default_base(repo) == head


def test_bad_revision_and_no_repo(repo, tmp_path):
    with pytest.raises(LbguardError, match="not a git revision"):
        with gitbase.project_at(repo, "no-such-branch"):
            pass
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(LbguardError, match="not inside a git repository"):
        with gitbase.project_at(lonely, "main"):
            pass
