"""A project as it was at a git revision, without touching the user's checkout.

``preview --base REF`` and ``rehearse --base REF`` run the base program from an earlier
revision. The revision's tree is exported with ``git archive`` into a temporary
directory: no worktree is registered, no file of the checkout, its index or HEAD is
changed, and the directory is removed afterwards.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

from lbguard.core.model import LbguardError

DEFAULT_BRANCHES = ("main", "origin/main", "master", "origin/master")


def _git(cwd: Path, *args: str, binary: bool = False) -> str | bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)
    except FileNotFoundError as err:
        raise LbguardError("git is not installed: --base needs git (or use --base-state FILE)") from err
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        raise LbguardError(f"git {' '.join(args)}: {why[-1] if why else 'failed'}")
    return proc.stdout if binary else proc.stdout.decode().strip()


def repo_root(project_dir: Path) -> Path:
    try:
        return Path(_git(project_dir, "rev-parse", "--show-toplevel"))
    except LbguardError as err:
        raise LbguardError(f"{project_dir} is not inside a git repository: --base needs one "
                           f"(or use --base-state FILE)") from err


def default_base(project_dir: Path) -> str:
    """The merge base of HEAD with the first of main / origin/main / master that exists."""
    for branch in DEFAULT_BRANCHES:
        with contextlib.suppress(LbguardError):
            return str(_git(project_dir, "merge-base", "HEAD", branch))
    raise LbguardError("no main branch to take the base from: pass --base REF")


def resolve(project_dir: Path, rev: str) -> str:
    """The commit id ``rev`` names; one clear line if it names none."""
    try:
        return str(_git(project_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"))
    except LbguardError as err:
        raise LbguardError(f"--base {rev}: not a git revision of {project_dir} "
                           f"(try a branch, tag or commit id)") from err


@contextlib.contextmanager
def project_at(project_dir: Path, rev: str) -> Iterator[Path]:
    """Yield the directory of ``project_dir`` as it was at ``rev`` (a temporary copy)."""
    project_dir = Path(project_dir).resolve()
    root = repo_root(project_dir).resolve()
    commit = resolve(project_dir, rev)
    sub = project_dir.relative_to(root)
    data = _git(root, "archive", "--format=tar", commit, binary=True)
    tmp = Path(tempfile.mkdtemp(prefix="lbguard-base-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        base = tmp / sub
        if not (base / "Pulumi.yaml").is_file():
            raise LbguardError(f"--base {rev}: {sub or '.'} has no Pulumi.yaml at that revision")
        yield base
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
