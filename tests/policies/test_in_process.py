"""The pack in this interpreter answers exactly as the pack in its own process (issue 15)."""

from __future__ import annotations

import json

import pytest

from lbguard.offline.policy_runner import InProcessPack, PackProcess, run_pack
from tests.policies.test_runner import PACK, june_1


def _as_json(violations):
    return json.dumps([v.to_json() for v in violations], sort_keys=True)


@pytest.mark.parametrize("config", [None, {"all": "mandatory"}])
def test_same_violations_as_the_subprocess(tmp_path, monkeypatch, config):
    config_file = None
    if config:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config))
    run = june_1()
    in_process = run_pack(PACK, run, config_file=config_file)
    monkeypatch.setenv("LBGUARD_PACK_PROCESS", "1")
    subprocess_ = run_pack(PACK, run, config_file=config_file)
    assert in_process, "the June 1 stack must have findings for this comparison to mean anything"
    assert any(v.enforcement_level == "mandatory" for v in in_process)
    assert _as_json(in_process) == _as_json(subprocess_)


def test_in_process_pack_leaves_cwd_path_and_env_as_they_were(monkeypatch):
    import os
    import sys

    cwd, path = os.getcwd(), list(sys.path)
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    run_pack(PACK, june_1())
    assert os.getcwd() == cwd and sys.path == path and "PULUMI_STACK" not in os.environ
    assert not any(name.split(".")[0] == "lb_safety" for name in sys.modules)


def test_selection():
    from lbguard.offline.policy_runner import open_pack

    with open_pack(PACK, project="web-tier", stack="dev") as pack:
        assert isinstance(pack, InProcessPack)
    with open_pack(PACK, project="web-tier", stack="dev", python=__import__("sys").executable) as pack:
        assert isinstance(pack, PackProcess)
