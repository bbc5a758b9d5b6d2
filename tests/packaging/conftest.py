"""Fresh virtualenvs with what users install: the built wheel, the deployment requirements,
the policy pack alone. Marker group ``packaging`` (outside the default run; .ci/run runs it).

Every install is constrained to the versions in requirements-dev.lock (the tested set), so
these venvs hold what the suite ran with and pip reuses its cache between them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

# The project files a Pulumi user has (no lbguard/ source, no tests).
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "stacks", "policies")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands run from a venv: nothing pointing back at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run(args, *, cwd: Path, timeout: float = 600, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def lock_constraints(lock: Path, out: Path) -> Path:
    """requirements-dev.lock as a pip constraints file (name==version [; marker], no hashes)."""
    pins = [line.rstrip(" \\") for line in lock.read_text().splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    out.write_text("\n".join(pins) + "\n")
    return out


class Venv:
    def __init__(self, path: Path, constraints: Path):
        self.path, self.constraints = path, constraints
        run([sys.executable, "-m", "venv", path], cwd=path.parent, timeout=120)
        self.python = path / "bin" / "python"
        self.bin = path / "bin"

    def pip(self, *args, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return run([self.python, "-m", "pip", "install", "-q", "-c", self.constraints, *args],
                   cwd=cwd or self.path.parent, timeout=900)

    def distributions(self) -> set[str]:
        """Every distribution installed in this venv (importlib.metadata), normalised names."""
        code = ("import importlib.metadata as m, re;"
                "print('\\n'.join(sorted({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() "
                "for d in m.distributions()})))")
        return set(run([self.python, "-c", code], cwd=self.path.parent).stdout.split())


@pytest.fixture(scope="session")
def pkg_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="session")
def constraints(pkg_tmp) -> Path:
    return lock_constraints(ROOT / "requirements-dev.lock", pkg_tmp / "constraints.txt")


@pytest.fixture(scope="session")
def source(pkg_tmp) -> Path:
    """The distribution's sources alone, copied (a build writes build/ and egg-info beside them)."""
    src = pkg_tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "requirements.txt", "requirements.lock"):
        shutil.copy(ROOT / name, src / name)
    for package in ("lbguard", "components"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    return src


@pytest.fixture(scope="session")
def wheel(pkg_tmp, source, constraints) -> Path:
    """lbguard's wheel, built by pip from the copied sources (isolated build, setuptools)."""
    out = pkg_tmp / "wheelhouse"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, source], cwd=pkg_tmp)
    (built,) = out.glob("lbguard-*.whl")
    return built


@pytest.fixture(scope="session")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


@pytest.fixture(scope="session")
def project_copy(pkg_tmp) -> Path:
    """A Pulumi user's project directory: the program, components, stacks and the pack."""
    dest = pkg_tmp / "project"
    dest.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "venv"))
        else:
            shutil.copy(src, dest / name)
    return dest


@pytest.fixture(scope="session")
def cli_venv(pkg_tmp, wheel, constraints) -> Venv:
    """A fresh venv with the wheel installed non-editable with its cli and emulator extras."""
    venv = Venv(pkg_tmp / "cli-venv", constraints)
    venv.pip(f"lbguard[cli,emulator] @ {wheel.as_uri()}")
    return venv
