"""What users install, outside this editable checkout (issue 14): the wheel with its extras,
the deployment requirements, the policy pack alone. Each builds fresh venvs: marker
``packaging``, run by .ci/run (``pytest -m packaging``), not by the default run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbguard.offline.emulator import emulated_aws, run_program
from lbguard.offline.policy_runner import pack_config_for_stack, run_pack
from tests.conftest import ROOT
from tests.packaging.conftest import Venv, clean_env, run

pytestmark = pytest.mark.packaging

# The test bench and the CLI's own dependencies: never in what `pulumi up` installs.
NOT_DEPLOYED = {"moto", "rich", "click", "pytest", "hypothesis", "boto3", "jsonschema", "flask", "docker",
                "cfn-lint", "matplotlib", "pulumi-policy"}


def test_wheel_ships_every_subpackage_and_its_data(wheel_names):
    tree = {str(p.relative_to(ROOT)) for p in (ROOT / "lbguard").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json")}
    assert tree and tree <= set(wheel_names), sorted(tree - set(wheel_names))
    assert {"lbguard/cli/commands/__init__.py", "lbguard/offline/emulator/__init__.py",
            "lbguard/core/provider_facts/replacements.json"} <= set(wheel_names)
    # The components ship as the package webtier (setup.py maps it onto components/), every module.
    components = {f"webtier/{p.name}" for p in (ROOT / "components").glob("*.py")}
    assert "webtier/provider.py" in components and components <= set(wheel_names), sorted(components - set(wheel_names))
    # The tests, the pack and the directory name components/ stay in the project.
    assert not [n for n in wheel_names if n.startswith(("components/", "tests/", "policies/"))]


def test_wheel_cli_runs_preflight_outside_the_checkout(cli_venv, project_copy, pkg_tmp):
    lbguard = cli_venv.bin / "lbguard"
    version = run([lbguard, "--version"], cwd=pkg_tmp)
    assert version.stdout.strip() == "lbguard 0.1.0"
    where = run([cli_venv.python, "-c", "import lbguard; print(lbguard.__file__)"], cwd=pkg_tmp).stdout.strip()
    assert Path(where).is_relative_to(cli_venv.path) and "site-packages" in where  # not editable, not the checkout
    out = pkg_tmp / "wheel-preflight-dev.json"
    result = run([lbguard, "preflight", "--stack", "dev", "--cwd", project_copy, "--json", out], cwd=pkg_tmp,
                 check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    wheel_run = json.loads(out.read_text())
    # The same program as the checkout's run: the same resources and stack outputs.
    with emulated_aws("us-east-1"):
        tree_run = run_program(ROOT, "dev")
    assert sorted((r["type"], r["name"]) for r in wheel_run["resources"]) == \
        sorted((r.type, r.name) for r in tree_run.resources)
    assert set(wheel_run["outputs"]) == set(tree_run.outputs)
    assert wheel_run["violations"] == []


def test_base_install_without_the_cli_extra_says_which_extra(pkg_tmp, wheel, constraints):
    venv = Venv(pkg_tmp / "base-venv", constraints)
    venv.pip(wheel)
    assert {"pydantic", "pyyaml", "lbguard"} <= venv.distributions()
    assert not venv.distributions() & (NOT_DEPLOYED | {"pulumi", "grpcio"})
    result = run([venv.bin / "lbguard", "--version"], cwd=pkg_tmp, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert re.fullmatch(r"lbguard: error: the command line needs \w+, .*pip install 'lbguard\[cli,emulator\]'\n",
                        result.stderr), result.stderr
    # The pure core imports with the base install alone.
    run([venv.python, "-c", "import lbguard.core.traffic, lbguard.core.topology, lbguard.core.matching, lbguard.core.snapshot, "
                            "lbguard.core.model, lbguard.core.shapes, lbguard.live.state, lbguard.core.aws_facts"], cwd=pkg_tmp)


def test_deployment_requirements_leave_out_the_bench_and_the_cli(pkg_tmp, source, project_copy, constraints):
    """What `pulumi up` installs (Pulumi.yaml: toolchain pip): `pip install -r requirements.txt`
    in the project directory; the program's modules import from it."""
    venv = Venv(pkg_tmp / "deploy-venv", constraints)
    venv.pip("-r", "requirements.txt", cwd=source)
    installed = venv.distributions()
    assert {"pulumi", "pulumi-aws", "pydantic", "pyyaml", "lbguard"} <= installed
    assert not installed & NOT_DEPLOYED, sorted(installed & NOT_DEPLOYED)
    # Every module of the program imports from this venv (components import lbguard's core).
    run([venv.python, "-c", "import components.web_tier, components.known_good, components.settings"],
        cwd=project_copy)
    # requirements.lock is the same set, pinned with hashes.
    locked = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
              for line in (ROOT / "requirements.lock").read_text().splitlines() if re.match(r"^[A-Za-z]", line)}
    assert installed - {"lbguard", "pip", "setuptools"} == locked


def _verdicts(violations) -> list[tuple]:
    return sorted((v.policy, v.enforcement_level, v.type, v.name, v.message) for v in violations)


# What the pack is judged on: each shipped stack with its own pack config, and the June 1 replay
# (raw pulumi_aws, both token families) with the pack's defaults and with prod's config.
PACK_CASES = [(ROOT, "dev", "dev"), (ROOT, "staging", "staging"), (ROOT, "prod", "prod"),
              (ROOT / "examples" / "june-1-replay", "replay", None),
              (ROOT / "examples" / "june-1-replay", "replay-alb", None),
              (ROOT / "examples" / "june-1-replay", "replay", "prod")]


def test_policy_pack_alone_installs_from_its_own_requirements(pkg_tmp):
    """policies/ copied alone (what `pulumi policy publish` uploads); its venv (PulumiPolicy.yaml:
    virtualenv venv) created from its own requirements.txt, public packages only, in hash-checking
    mode, with nothing of this repository reachable; started as the engine starts it (its venv's
    python -m pulumi.policy, cwd = the pack), it gives the in-tree pack's verdicts."""
    pack = pkg_tmp / "alone" / "policies"
    shutil.copytree(ROOT / "policies", pack, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    assert "virtualenv: venv" in (pack / "PulumiPolicy.yaml").read_text()
    run([sys.executable, "-m", "venv", pack / "venv"], cwd=pack.parent, timeout=120)
    python = pack / "venv" / "bin" / "python"
    # The pip an enforcement host runs: no constraints, no find-links, only the index.
    env = {k: v for k, v in clean_env().items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=_index_url(), PIP_EXTRA_INDEX_URL=_extra_index_urls(),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    installing = subprocess.run([python, "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=pack, env=env,
                                capture_output=True, text=True, timeout=900)
    assert installing.returncode == 0, installing.stderr[-3000:]
    installed = Venv.__new__(Venv)
    installed.python, installed.path = python, pack / "venv"
    dists = installed.distributions()
    assert {"pulumi-policy", "pulumi", "pydantic", "pyyaml"} <= dists
    assert "lbguard" not in dists and not dists & {"moto", "rich", "click", "boto3", "jsonschema"}
    # Nothing of this checkout on the pack's path: the core it imports is its own copy.
    where = run([python, "-c", "import lbguard.core.topology as t; print(t.__file__)"], cwd=pack).stdout.strip()
    assert Path(where).is_relative_to(pack), where
    compared = 0
    for project, stack, config_stack in PACK_CASES:
        with emulated_aws("us-east-1"):
            program = run_program(project, stack)
        config = pack_config_for_stack(ROOT / "policies", config_stack) if config_stack else None
        alone = run_pack(pack, program, config_file=pack / "config" / config.name if config else None,
                         python=str(python))
        in_tree = run_pack(ROOT / "policies", program, config_file=config)
        assert _verdicts(alone) == _verdicts(in_tree), (stack, config_stack)
        if stack.startswith("replay"):
            # The funnel violates: the comparison is not between two empty lists.
            assert any(v.policy == "no-traffic-funnel" and v.enforcement_level == "mandatory" for v in alone)
        compared += 1
    assert compared == len(PACK_CASES)


def _index_url() -> str:
    """The index pip uses here (pip's own configuration), passed on explicitly."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True,
                         text=True)
    return out.stdout.strip() or "https://pypi.org/simple"


def _extra_index_urls() -> str:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.extra-index-url"], capture_output=True,
                         text=True)
    return out.stdout.strip()
