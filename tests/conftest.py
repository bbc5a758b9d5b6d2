"""Shared fixtures: a scratch copy of the project whose stack files tests may edit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Never let a developer's real credentials or endpoint leak into tests.
for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(var, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def load_stack(stack: str, root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text())


class ScratchProject:
    """This project's program with stack files in a temporary directory."""

    def __init__(self, path: Path):
        self.path = path
        (path / "stacks").mkdir(parents=True)
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(ROOT / name, path / name)
        (path / "components").symlink_to(ROOT / "components", target_is_directory=True)
        for pattern in ("Pulumi.*.yaml", "traffic.*.yaml"):  # the stacks and their traffic profiles
            for f in (ROOT / "stacks").glob(pattern):
                shutil.copy(f, path / "stacks" / f.name)

    def config(self, stack: str) -> dict:
        return load_stack(stack, self.path)["config"]

    def write(self, stack: str, config: dict) -> None:
        (self.path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


@pytest.fixture
def scratch(tmp_path) -> ScratchProject:
    return ScratchProject(tmp_path / "project")
