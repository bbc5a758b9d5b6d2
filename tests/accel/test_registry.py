"""The fence around the accelerations (lbguard.accel.registry): nothing applied at import,
everything restored after a run, off outside the verified releases with one line said once,
LBGUARD_ACCEL=0 turns all off, bad switch values are one line and exit 2."""

from __future__ import annotations

import ast
import gc
import json
import os
import subprocess
import sys

import pytest

from lbguard.accel import registry
from lbguard.accel.registry import REGISTRY, applied
from tests.conftest import ROOT

INSTALLED = [a for a in REGISTRY if a.install]


@pytest.fixture
def versions(monkeypatch):
    """Installed releases as a test says (the rest as installed); the notice said afresh."""
    fake = dict(registry._VERSIONS)
    monkeypatch.setattr(registry, "_VERSIONS", fake)
    monkeypatch.setattr(registry, "_SAID", set())
    for dist in ("moto", "botocore", "pulumi", "pulumi_policy"):
        registry.installed_version(dist)
    return fake


def _current(acc):
    return [registry.resolve(name) for name in acc.replaces]


def test_every_entry_names_its_equivalence_test_and_what_it_replaces():
    assert len({a.name for a in REGISTRY}) == len(REGISTRY)
    for acc in REGISTRY:
        file, _, function = acc.test.partition("::")
        tree = ast.parse((ROOT / file).read_text())
        assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, acc.test
        for dist, lowest, highest in acc.verified:
            assert registry.within(lowest, lowest, highest) and registry.within(highest, lowest, highest)
        assert acc.scope in ("botocore", "moto", "program", "call site", "process")
        for name in acc.replaces:
            assert registry.resolve(name) is not None, name  # the private name exists in this release
        if acc.install:
            assert callable(registry._installer(acc))


def test_release_ranges():
    assert registry.within("5.2.5", "5.2.5", "5.2.6") and registry.within("5.2.6", "5.2.5", "5.2.6")
    assert not registry.within("5.2.7", "5.2.5", "5.2.6") and not registry.within("5.2.4", "5.2.5", "5.2.6")
    assert not registry.within("5.2.6rc1", "5.2.5", "5.2.6") and not registry.within("5.2.6+local", "5.2.5", "5.2.6")
    assert not registry.within(None, "5.2.5", "5.2.6") and not registry.within("6.0.0", "5.2.5", "5.2.6")
    assert registry.within("3.272", "3.272.0", "3.272.0") and registry.within("1.44.10", "1.44.8", "1.44.18")
    assert not registry.within("1.44.100", "1.44.8", "1.44.18")


def test_nothing_is_replaced_by_importing_lbguard():
    """A fresh interpreter: every replaced name is the library's own object before and after
    importing the emulator, the pack runner, the worker and the command line; no import hook."""
    names = [n for a in REGISTRY for n in a.replaces if not n.startswith("gc ")]
    script = f"""
import json, sys
from lbguard.accel.registry import resolve
names = {names!r}
before = [id(resolve(n)) for n in names]
hooks = list(sys.meta_path)
import lbguard.offline.emulator, lbguard.offline.policy_runner, lbguard.offline.preflight, lbguard.cli.worker
import lbguard.cli.app
after = [id(resolve(n)) for n in names]
print(json.dumps({{"changed": [n for n, a, b in zip(names, before, after) if a != b],
                   "hooks": [repr(h) for h in sys.meta_path if h not in hooks]}}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {"changed": [], "hooks": []}


def test_installed_inside_their_scope_and_restored_after_a_preflight():
    """During a preflight every installer's names are replaced (each installed once more);
    afterwards each is the object it was before, the import hook gone."""
    from pulumi.runtime import resource

    from lbguard.offline.preflight import default_pack, run_preflight

    before = {a.name: _current(a) for a in INSTALLED if a.name != "moto-offerings-on-demand"}
    hooks = list(sys.meta_path)
    installs = dict(registry.INSTALLS)
    with applied("botocore", "moto"):  # the emulator's own scope nests inside this one
        inside = {a.name: _current(a) for a in INSTALLED if a.scope in ("botocore", "moto")
                  and a.name != "moto-offerings-on-demand"}
        run, violations = run_preflight(ROOT, "dev", policy_pack=default_pack(ROOT), policy_config=None)
    assert len(run.resources) > 40
    for name, objects in inside.items():
        assert all(o is not b for o, b in zip(objects, before[name])), name
    assert resource._get_stack_trace is before["pulumi-stack-trace"][0]
    for acc in INSTALLED:
        assert registry.INSTALLS[acc.name] > installs.get(acc.name, 0), acc.name
    after = {a.name: _current(a) for a in INSTALLED if a.name != "moto-offerings-on-demand"}
    for name, objects in after.items():
        assert all(o is b for o, b in zip(objects, before[name])), f"{name} not restored"
    assert sys.meta_path == hooks


def test_accel_0_turns_every_acceleration_off(monkeypatch):
    """LBGUARD_ACCEL=0: inside the emulator and a program run nothing is replaced, the
    emulator's calls are signed, the monitor decodes, the pack runs in its own process, the
    collector is left alone."""
    from lbguard.accel import gcpause
    from lbguard.offline.emulator import emulated_aws
    from lbguard.offline.emulator.core import AwsEmulator
    from lbguard.offline.emulator.monitor import RecordingMonitor
    from lbguard.offline.policy_runner import PackProcess, in_process, open_pack
    from tests.policies.conftest import PACK

    monkeypatch.setenv("LBGUARD_ACCEL", "0")
    installs = dict(registry.INSTALLS)
    before = {a.name: _current(a) for a in INSTALLED}
    with emulated_aws(), applied("program"):
        for acc in INSTALLED:
            assert all(o is b for o, b in zip(_current(acc), before[acc.name])), acc.name
        em = AwsEmulator()
        assert em.client("elbv2").meta.config.signature_version != __import__("botocore").UNSIGNED
        assert RecordingMonitor(em)._decode_inputs
        with gcpause.paused():
            assert gc.isenabled()
    assert dict(registry.INSTALLS) == installs
    assert not in_process()
    with open_pack(PACK, project="web-tier", stack="dev") as pack:
        assert isinstance(pack, PackProcess)
    assert not any(registry.active(a.name) for a in REGISTRY)


def test_one_acceleration_off_by_name(monkeypatch):
    monkeypatch.setenv("LBGUARD_ACCEL_OFF", "moto-serializer-keys, pulumi-mock-inputs")
    assert not registry.active("moto-serializer-keys") and not registry.active("pulumi-mock-inputs")
    assert registry.active("moto-lookups-by-key") and registry.active("gc-pause")
    from moto.core.serialize import XFormedAttributePicker

    own = XFormedAttributePicker.get_possible_keys
    with applied("moto"):
        assert XFormedAttributePicker.get_possible_keys is own


def test_outside_the_verified_releases_off_with_one_line_once(versions, capsys):
    from moto.ec2.models.instances import InstanceBackend

    versions["moto"] = "5.3.0"
    own = InstanceBackend.get_instance
    with applied("botocore", "moto"):
        assert InstanceBackend.get_instance is own
        assert registry.active("botocore-shared-loader") and not registry.active("moto-unsigned-calls")
    assert registry.active("pulumi-stack-trace")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lbguard: accelerations off")]
    assert len(lines) == 1 and err.count("\n") == 1
    assert "moto 5.3.0 (verified 5.2.5 to 5.2.6): moto-offerings-on-demand, moto-method-names-once" in lines[0]
    assert "botocore-shared-loader" not in lines[0] and "pulumi-stack-trace" not in lines[0]
    with applied("moto"):
        pass
    assert capsys.readouterr().err == ""


def test_force_installs_outside_the_verified_releases_and_says_so(versions, capsys, monkeypatch):
    from moto.ec2.models.instances import InstanceBackend

    versions["pulumi_policy"] = "1.22.0"
    versions["moto"] = "5.9.0"
    monkeypatch.setenv("LBGUARD_ACCEL", "force")
    own = InstanceBackend.get_instance
    with applied("moto"):
        assert InstanceBackend.get_instance is not own
    assert registry.active("pulumi_policy-decode-once")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("lbguard: LBGUARD_ACCEL=force")
    assert "pulumi_policy 1.22.0 (verified 1.21.0): pulumi_policy-in-process, pulumi_policy-decode-once" in err[0]


def test_preflight_says_so_in_one_line(versions, tmp_path):
    """`lbguard preflight` on an unverified moto: the same result, and one line on stderr."""
    from click.testing import CliRunner

    from lbguard.cli.app import main

    versions["moto"] = "5.3.0"
    out = tmp_path / "dev.json"
    result = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--cwd", str(ROOT), "--json", str(out)])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "accelerations off" in line]
    assert len(said) == 1 and "moto 5.3.0" in said[0]
    assert len(json.loads(out.read_text())["resources"]) > 40


@pytest.mark.parametrize("env", [{"LBGUARD_ACCEL": "yes"}, {"LBGUARD_ACCEL_OFF": "moto-everything"}])
def test_a_bad_switch_is_one_line_exit_2_nothing_written(tmp_path, env):
    out = tmp_path / "dev.json"
    proc = subprocess.run([sys.executable, "-m", "lbguard", "preflight", "--stack", "dev", "--json", str(out)],
                          cwd=ROOT, env={**os.environ, **env, "LBGUARD_WORKER": "0"}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-1000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lbguard: error")]
    assert len(errors) == 1 and next(iter(env)) in errors[0] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_the_docs_table_is_the_registry():
    """docs/internals.md lists the accelerations as the registry has them (regenerate the block
    between the accelerations markers with lbguard.accel.registry.markdown())."""
    text = (ROOT / "docs" / "internals.md").read_text()
    begin = text.index("\n", text.index("<!-- accelerations:begin")) + 1
    end = text.index("<!-- accelerations:end -->")
    assert text[begin:end].strip() == registry.markdown()


def test_installed_versions_are_the_metadata(monkeypatch):
    """The release each gate reads (from the package itself where it states it) is the one
    the installed metadata names."""
    from importlib import metadata

    import moto  # noqa: F401 - imported packages state their release
    import pulumi_policy.policy  # noqa: F401

    monkeypatch.setattr(registry, "_VERSIONS", {})
    for dist in sorted({d for a in REGISTRY for d, _, _ in a.verified}):
        assert registry.installed_version(dist) == metadata.version(dist), dist
