"""The layer contract (pyproject.toml [tool.importlinter], docs/architecture.md) holds, and breaks
when a module imports from a layer above its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def test_layers_hold():
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 kept, 0 broken" in out.stdout


def copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "lbguard", tmp_path / "lbguard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_upward_import_breaks_the_layers(tmp_path):
    root = copy_tree(tmp_path)
    traffic = root / "lbguard" / "core" / "traffic.py"
    traffic.write_text(traffic.read_text() + "\nfrom lbguard.live import rollback  # noqa\n")
    out = lint(root)
    assert out.returncode == 1
    assert "lbguard.core.traffic -> lbguard.live.rollback" in out.stdout


def test_boto3_in_the_core_breaks_the_purity_contract(tmp_path):
    root = copy_tree(tmp_path)
    shapes = root / "lbguard" / "core" / "shapes.py"
    shapes.write_text(shapes.read_text() + "\nimport boto3  # noqa\n")
    out = lint(root)
    assert out.returncode == 1
    assert "lbguard.core.shapes -> boto3" in out.stdout
