"""The server path: resources land in a moto server at AWS_ENDPOINT_URL (boto3 honours it)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from lbguard.offline.emulator import emulated_aws, run_program
from tests.offline.emulator.conftest import PROGRAMS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_program_applies_into_moto_server(moto_server, monkeypatch):
    with emulated_aws("us-east-1", endpoint=moto_server):
        run = run_program(PROGRAMS / "behaviour", "dev")
        # A fresh client (no in-process mock is active) talks to the server and sees the listener.
        elbv2 = boto3.client("elbv2", region_name="us-east-1")
        listener = elbv2.describe_listeners(ListenerArns=[run.outputs["listenerArn"]])["Listeners"][0]
    assert listener["Port"] == 80
    assert listener["DefaultActions"][0]["TargetGroupArn"] == run.outputs["pool"]["arn"]
    # Nothing went to an in-process mock: the server's own state API lists the load balancer.
    data = urllib.request.urlopen(f"{moto_server}/moto-api/data.json", timeout=5).read().decode()
    assert run.outputs["pool"]["arn"] in data
    with emulated_aws("us-east-1"):  # a fresh in-process moto does not hold it
        assert boto3.client("elbv2", region_name="us-east-1").describe_load_balancers()["LoadBalancers"] == []


def test_offline_runs_ignore_an_exported_endpoint(moto_server, monkeypatch):
    """A game-day `export AWS_ENDPOINT_URL=...` must not turn preflight into a deploy."""
    from click.testing import CliRunner

    from lbguard.cli.app import main
    from tests.conftest import ROOT

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", moto_server)
    result = CliRunner().invoke(main, ["preflight", "--stack", "prod", "--cwd", str(ROOT), "--no-policy"])
    assert result.exit_code == 0, result.output
    data = json.loads(urllib.request.urlopen(f"{moto_server}/moto-api/data.json", timeout=30).read())
    held = {svc: {k: v for k, v in models.items() if v} for svc, models in data.items()}
    assert not any(held.values()), {k: list(v) for k, v in held.items() if v}
    import os
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server  # the caller's shell is restored
