"""Base and head scratch copies of the project: up base, edit the head's stack file, preview."""

from __future__ import annotations

import copy
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
