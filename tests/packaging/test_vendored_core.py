"""The lb-safety pack carries lbguard's core as source (tools/vendor_core.py): the copy is the
core, byte for byte, and each way of running the pack imports the copy it should (default run)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

from lbguard.offline import policy_runner
from tests.conftest import ROOT

PACK = ROOT / "policies"


def _tool():
    spec = importlib.util.spec_from_file_location("vendor_core", ROOT / "tools" / "vendor_core.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pack_carries_the_core_unchanged():
    result = subprocess.run([sys.executable, "tools/vendor_core.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert not policy_runner.vendored_core_differs(PACK)


def test_a_copy_that_differs_is_caught(tmp_path):
    tool = _tool()
    package = tmp_path / "lbguard"
    shutil.copytree(PACK / "lbguard", package, ignore=shutil.ignore_patterns("__pycache__"))
    assert tool.differences(package=package) == []
    edited = package / "core" / "traffic.py"
    edited.write_text(edited.read_text().replace("MAX_WEIGHT = 999", "MAX_WEIGHT = 998"))
    (package / "core" / "extra.py").write_text("")
    (package / "core" / "memo.py").unlink()
    assert tool.differences(package=package) == ["missing in the pack: memo.py", "not in lbguard/core: extra.py",
                                                 "differs: traffic.py"]
    pack = tmp_path
    (pack / "PulumiPolicy.yaml").write_text("name: x\nruntime: python\n")
    assert policy_runner.vendored_core_differs(pack)


def test_a_pack_with_a_different_core_runs_in_its_own_process(tmp_path):
    """In process the host's core would answer for the pack's: a pack whose copy differs (published
    from another version) is started as the engine starts it, where its own copy is imported."""
    pack = tmp_path / "policies"
    shutil.copytree(PACK, pack, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    with policy_runner.open_pack(pack, project="web-tier", stack="dev") as same:
        assert isinstance(same, policy_runner.InProcessPack)
    marker = pack / "lbguard" / "core" / "memo.py"
    marker.write_text(marker.read_text() + "\n# another version\n")
    with policy_runner.open_pack(pack, project="web-tier", stack="dev") as other:
        assert isinstance(other, policy_runner.PackProcess)


def test_the_engines_pack_process_imports_the_packs_copy():
    """cwd = the pack directory, as the engine starts it: `lbguard.core` is the pack's own copy,
    even in an interpreter where lbguard is installed."""
    code = "import lbguard.core.topology as t, lbguard; print(t.__file__); print(lbguard.__doc__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=PACK, capture_output=True, text=True, check=True).stdout
    where, doc = out.splitlines()[:2]
    assert where.startswith(str(PACK / "lbguard" / "core")) and "vendored" in doc
