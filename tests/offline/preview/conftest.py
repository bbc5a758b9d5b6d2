"""Base and head scratch copies of the project: up base, edit the head's stack file, preview."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Callable

import boto3
import pytest

from lbguard.offline.emulator import emulated_aws
from lbguard.offline.preview import PreviewResult, run_preview
from tests.conftest import ScratchProject


class Change:
    def __init__(self, tmp: Path, stack: str = "dev"):
        self.stack = stack
        self.base = ScratchProject(tmp / "base")
        self.head = ScratchProject(tmp / "head")
        self.config = copy.deepcopy(self.head.config(stack))

    def edit(self, fn: Callable[[dict], None]) -> "Change":
        fn(self.config)
        self.head.write(self.stack, self.config)
        return self

    def program(self, which: str, path: str, old: str, new: str) -> "Change":
        """Edit a program file of ``which`` (base, head or both): the components become a copy."""
        for project in ([self.base, self.head] if which == "both" else [getattr(self, which)]):
            components = project.path / "components"
            if components.is_symlink():
                target = components.resolve()
                components.unlink()
                shutil.copytree(target, components, ignore=shutil.ignore_patterns("__pycache__"))
            f = project.path / path
            text = f.read_text()
            assert old in text, f"{path}: {old!r} not found"
            f.write_text(text.replace(old, new))
        return self

    def preview(self, between=None, after: Callable[[PreviewResult], None] | None = None) -> PreviewResult:
        """Run base then head in one emulator; ``after`` reads back what AWS holds."""
        with emulated_aws("us-east-1"):
            result = run_preview(self.base.path, self.head.path, self.stack, between=between)
            if after is not None:
                after(result)
        return result


@pytest.fixture
def change(tmp_path) -> Change:
    return Change(tmp_path)


def elbv2():
    return boto3.client("elbv2", region_name="us-east-1")


def step(result: PreviewResult, name: str):
    return next(s for s in result.steps if s.name == name)
