"""The accelerations on the newest releases of the libraries they patch (marker ``upstream``;
not part of .ci/run: it installs from the package index and takes minutes).

    .venv/bin/python -m pytest -m upstream -n 0 -s tests/accel/test_upstream.py

A scratch venv gets the locked set (requirements-dev.lock) with moto, boto3, botocore,
s3transfer, pulumi and pulumi-policy left free, plus the newest releases of those the index
has (``LBGUARD_UPSTREAM`` overrides the list, e.g. ``"moto==5.3.0 pulumi"``), then runs every
registry entry's equivalence test there with ``LBGUARD_ACCEL=force`` (on whatever the
release), and the check that every private name an entry replaces still exists. It prints
the installed releases against each entry's verified range. A pass on a newer release is
what allows widening that range in lbguard/accel/registry.py; a failure names the entry to
fix (off on that release until then: the gate already keeps it off there).
``LBGUARD_UPSTREAM_VENV=DIR`` keeps the venv for a second run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lbguard.accel.registry import REGISTRY, within

from tests.conftest import ROOT

pytestmark = pytest.mark.upstream
DEFAULT = "moto[server] boto3 botocore pulumi pulumi-policy"
ALWAYS_FREE = {"s3transfer"}  # pinned by botocore's release: free with it


def _name(spec: str) -> str:
    return re.split(r"[\[=<>!~ ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def _pins_without(free: set[str]) -> list[str]:
    """The lock's ``name==version`` pins, hashes dropped (the freed ones come unpinned)."""
    pins = []
    for line in (ROOT / "requirements-dev.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+==[^\s;\\]+)\s*(;[^\\]*)?", line)
        if match and _name(match.group(1)) not in free:  # environment markers kept
            pins.append(match.group(1) + (f" {match.group(2).strip()}" if match.group(2) else ""))
    return pins


def _venv(tmp_path: Path, specs: list[str]) -> Path:
    keep = os.environ.get("LBGUARD_UPSTREAM_VENV")
    venv = Path(keep) if keep else tmp_path / "venv"
    python, done = venv / "bin" / "python", venv / ".lbguard-installed"
    if not done.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        requirements = tmp_path / "pins.txt"
        requirements.write_text("\n".join(_pins_without({_name(s) for s in specs} | ALWAYS_FREE)) + "\n")
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements), *specs],
                             capture_output=True, text=True, timeout=1800)
        assert pip.returncode == 0, f"installing {' '.join(specs)} beside the lock failed:\n{pip.stderr[-3000:]}"
        done.write_text(" ".join(specs) + "\n")
    return python


def _installed(python: Path, names: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys\n"
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))")
    out = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, timeout=60, check=True)
    return __import__("json").loads(out.stdout)


def test_equivalence_tests_pass_on_the_newest_releases(tmp_path):
    specs = (os.environ.get("LBGUARD_UPSTREAM") or DEFAULT).split()
    python = _venv(tmp_path, specs)
    dists = sorted({d for a in REGISTRY for d, _, _ in a.verified} | {"boto3"})
    versions = _installed(python, dists)
    print("\nreleases in the scratch venv, against each acceleration's verified range:")
    for acc in REGISTRY:
        for dist, lowest, highest in acc.verified:
            where = "within" if within(versions[dist], lowest, highest) else "OUTSIDE"
            print(f"  {acc.name:28} {dist} {versions[dist]:10} {where} verified {lowest} to {highest}")
    tests = sorted({a.test for a in REGISTRY} | {
        "tests/accel/test_registry.py::test_every_entry_names_its_equivalence_test_and_what_it_replaces"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LBGUARD_ACCEL", "VIRTUAL_ENV"))}
    env.update(LBGUARD_ACCEL="force", PYTHONPATH=str(ROOT), LBGUARD_WORKER="0")
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-rf", *tests],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    print(run.stdout[-4000:])
    failed = sorted({a.name for a in REGISTRY for line in run.stdout.splitlines()
                     if line.startswith("FAILED") and a.test.split("::")[1] in line})
    assert run.returncode == 0, (
        f"on {', '.join(f'{d} {v}' for d, v in versions.items())}: equivalence fails for "
        f"{', '.join(failed) or 'see the output'}; those stay off outside their verified range until fixed\n"
        f"{run.stdout[-3000:]}{run.stderr[-1500:]}")
