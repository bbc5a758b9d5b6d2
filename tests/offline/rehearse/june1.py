"""The June 1 change on the dev stack, as a git history: base = dev as it is, head = a new
one-instance pool and a catch-all rule (priority 1, path /*) forwarding everything to it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import ROOT



def june1_change(config: dict) -> dict:
    pools = config["web-tier:pools"]
    pools["perf"] = {"ami": pools["blue"]["ami"], "instanceType": "c5.large", "minSize": 1, "desiredCapacity": 1,
                     "maxSize": 1, "capacityRps": 150, "healthCheck": {"path": "/health"}}
    config["web-tier:routing"]["rules"]["performance"] = {
        "priority": 1, "conditions": {"path": ["/*"]}, "forward": {"weights": {"perf": 1}}}
    return config


def git_project(dest: Path) -> Path:
    """A copy of this project in its own git repository (one commit: main as it is)."""
    dest.mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "components", dest / "components", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "stacks", dest / "stacks")
    git = ["git", "-C", str(dest), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "base"], check=True)
    return dest


def apply_june1(project: Path, stack: str = "dev") -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"] = june1_change(doc["config"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
