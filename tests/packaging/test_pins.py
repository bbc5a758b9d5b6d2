"""The pins agree (default run, no installs): every requirement of pyproject.toml,
requirements.txt and policies/requirements.txt is satisfied by the version locked in
requirements-dev.lock, the deployment lock is the same versions, and the floors are not
below what the locked Pulumi packages themselves require."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?==([^ ;\\]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _requirements(path) -> list[Requirement]:
    return [Requirement(line.split("#", 1)[0].strip()) for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip() and not line.lstrip().startswith("-")]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_declared_requirement_is_satisfied_by_the_lock():
    dev = _lock("requirements-dev.lock")
    project = _project()
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    reqs += _requirements(ROOT / "requirements.txt") + _requirements(ROOT / "policies" / "requirements.in")
    assert len(reqs) > 15
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name in dev, f"{req} is not in requirements-dev.lock: run tools/lock.sh"
        assert req.specifier.contains(dev[name], prereleases=True), f"{req} vs locked {dev[name]}: run tools/lock.sh"


def test_deployment_lock_is_the_dev_lock_subset_without_the_bench():
    dev, deploy = _lock("requirements-dev.lock"), _lock("requirements.lock")
    assert {"pulumi", "pulumi-aws", "pydantic", "pyyaml"} <= set(deploy)
    assert {n: dev.get(n) for n in deploy} == deploy  # one version of each package everywhere
    assert not set(deploy) & {"moto", "rich", "click", "pytest", "boto3", "jsonschema", "pulumi-policy"}


def test_pulumi_floor_covers_what_the_locked_providers_need():
    """pulumi-aws and pulumi-policy declare the Pulumi SDK they need: our floor is not lower."""
    floors = {canonicalize_name(r.name): r for r in map(Requirement, _project()["optional-dependencies"]["cli"])}
    ours = floors["pulumi"].specifier
    for dist in ("pulumi-aws", "pulumi-policy"):
        needs = [Requirement(r) for r in importlib.metadata.requires(dist) or []
                 if canonicalize_name(Requirement(r).name) == "pulumi"]
        for need in needs:
            for spec in need.specifier:
                if spec.operator in (">=", "~="):
                    floor = next(s.version for s in ours if s.operator == ">=")
                    assert tuple(map(int, floor.split(".")[:2])) >= tuple(map(int, spec.version.split(".")[:2])), \
                        (dist, str(need), str(ours))


def test_pack_requirements_are_public_packages_pinned_with_hashes():
    """policies/requirements.txt (what `pulumi policy publish` uploads and enforcement installs)
    names only packages of the tested set, each at its locked version with its sha256 (pip then
    runs in hash-checking mode), and nothing else: no lbguard (its core travels as source), no
    index, link or path lines that would reach beyond the public index."""
    dev = _lock("requirements-dev.lock")
    pack = _lock("policies/requirements.txt")
    text = (ROOT / "policies" / "requirements.txt").read_text()
    assert {"pulumi", "pulumi-policy", "pydantic", "pyyaml", "grpcio", "protobuf"} <= set(pack)
    assert "lbguard" not in pack and "lbguard" not in {canonicalize_name(r.name) for r in
                                                       _requirements(ROOT / "policies" / "requirements.in")}
    assert {n: dev.get(n) for n in pack} == pack  # one version of each package everywhere
    options = [l.strip() for l in text.splitlines() if l.strip().startswith("-") and not l.strip().startswith("--hash=")]
    assert options == [], options
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    for entry in entries:
        if entry.strip() and not entry.startswith("#"):
            assert "--hash=sha256:" in entry, entry.splitlines()[0]
