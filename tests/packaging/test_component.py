"""The web tier as a component others install (issue 27): from the built wheel into a fresh venv,
the example consumer runs offline with `lbguard preflight` (no mandatory violation), and the
component provider, started as the language host starts it, serves its schema and a Construct
through a resource monitor this test serves over gRPC, creating the same resources in the emulator
as this repository's program. Marker ``packaging`` (fresh venvs; .ci/run runs it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
import yaml
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import provider_pb2

from lbguard.offline.emulator import emulated_aws, run_program
from tests.conftest import ROOT
from tests.packaging.conftest import Venv, clean_env, run
from tests.packaging.grpc_engine import Engine

pytestmark = pytest.mark.packaging


@pytest.fixture(scope="module")
def component_venv(pkg_tmp, wheel, constraints) -> Venv:
    """What another team installs: the wheel with the component extra (and the CLI to preflight)."""
    venv = Venv(pkg_tmp / "component-venv", constraints)
    venv.pip(f"lbguard[component,cli,emulator] @ {wheel.as_uri()}")
    return venv


def test_example_consumer_preflights_clean_from_the_wheel(component_venv, pkg_tmp):
    example = pkg_tmp / "consumer" / "shop"
    shutil.copytree(ROOT / "examples" / "shop-consumer", example, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    pack = pkg_tmp / "consumer" / "policies"
    shutil.copytree(ROOT / "policies", pack, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    where = run([component_venv.python, "-c", "import webtier, lbguard; print(webtier.__file__); print(lbguard.__file__)"],
                cwd=example).stdout.split()
    assert all("site-packages" in w and Path(w).is_relative_to(component_venv.path) for w in where), where
    out = pkg_tmp / "consumer" / "preflight.json"
    result = run([component_venv.bin / "lbguard", "preflight", "--stack", "dev", "--cwd", example, "--policy-pack", pack,
                  "--json", out], cwd=pkg_tmp, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert [v for v in doc["violations"] if v["enforcementLevel"] == "mandatory"] == []
    types = {r["type"] for r in doc["resources"]}
    assert {"web-tier:index:WebTier", "aws:lb/loadBalancer:LoadBalancer", "aws:autoscaling/group:Group"} <= types
    # Its own settings: its project's names, its pools, its rollback snapshot.
    tgs = {r["inputs"]["name"] for r in doc["resources"] if r["type"] == "aws:lb/targetGroup:TargetGroup"}
    assert {n.rsplit("-", 1)[0] for n in tgs} == {"dev-store", "dev-api"}
    assert doc["outputs"]["rollback"]["project"] == "shop" and doc["outputs"]["dnsName"].startswith("shop-dev")


def _dev_args() -> dict:
    """The repository's dev stack settings, as another language would pass them (camelCase)."""
    cfg = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("web-tier:")}


def _struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def test_provider_schema_and_construct_through_grpc(component_venv, pkg_tmp):
    plugin = pkg_tmp / "plugin" / "provider"
    shutil.copytree(ROOT / "provider", plugin, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    with emulated_aws("us-east-1"):
        program = run_program(ROOT, "dev")
    expected = {r.urn: r for r in program.resources if r.type != "pulumi:pulumi:Stack"}

    with emulated_aws("us-east-1"):
        engine = Engine("web-tier", "dev")
        try:
            provider = engine.start_provider(component_venv.python, plugin, clean_env())
            schema = json.loads(provider.GetSchema(provider_pb2.GetSchemaRequest(version=0)).schema)
            assert schema == json.loads((ROOT / "docs" / "component-schema.json").read_text())
            response = provider.Construct(provider_pb2.ConstructRequest(
                project="web-tier", stack="dev", organization="organization", config={"aws:region": "us-east-1"},
                dryRun=False, parallel=4, monitorEndpoint=engine.address, type="web-tier:index:WebTier", name="web",
                parent=engine.root_urn, inputs=_struct(_dev_args())), timeout=300)
        finally:
            engine.close()
        assert engine.monitor_servicer.errors == []
        got = {r.urn: r for r in engine.monitor.records}
        # The same resources as the program: every URN (type, name, parent chain) ...
        assert response.urn == "urn:pulumi:dev::web-tier::web-tier:index:WebTier::web"
        assert len(got) > 50 and sorted(got) == sorted(expected)
        # ... with the same inputs, except what AWS generated differently in each run.
        for urn, rec in got.items():
            assert sorted(rec.inputs) == sorted(expected[urn].inputs), urn
            if rec.type == "aws:lb/targetGroup:TargetGroup":
                for key in ("name", "port", "protocol", "healthCheck", "tags"):
                    assert rec.inputs[key] == expected[urn].inputs[key], (urn, key)
        state = MessageToDict(response.state)
        assert state["rollback"]["schemaVersion"] == 2 and state["rollback"]["stack"] == "dev"
        assert set(state["targetGroupArns"]) == {"blue", "green"}
        # What AWS holds afterwards, read back through boto3.
        elbv2 = boto3.client("elbv2", region_name="us-east-1")
        held = {tg["TargetGroupName"]: tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]}
        program_names = {r.inputs["name"] for r in expected.values() if r.type == "aws:lb/targetGroup:TargetGroup"}
        assert set(held) == program_names and set(held.values()) == set(state["targetGroupArns"].values())
        [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
        assert lb["LoadBalancerArn"] == state["loadBalancerArn"] and lb["DNSName"] == state["dnsName"]
        listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        assert sorted(l["Port"] for l in listeners) == [80, 443]


def test_a_bad_argument_fails_the_construct_with_one_line(component_venv, pkg_tmp):
    plugin = pkg_tmp / "plugin-bad" / "provider"
    shutil.copytree(ROOT / "provider", plugin, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    args = _dev_args()
    args["pools"]["blue"]["instanceType"] = "t3.mciro"
    with emulated_aws("us-east-1"):
        engine = Engine("web-tier", "dev")
        try:
            provider = engine.start_provider(component_venv.python, plugin, clean_env())
            with pytest.raises(Exception) as err:
                provider.Construct(provider_pb2.ConstructRequest(
                    project="web-tier", stack="dev", config={"aws:region": "us-east-1"}, monitorEndpoint=engine.address,
                    type="web-tier:index:WebTier", name="web", parent=engine.root_urn, inputs=_struct(args)), timeout=120)
        finally:
            engine.close()
    assert "WebTier web args: web-tier:pools.blue.instanceType: instance type 't3.mciro' is not offered" in str(err.value)
    assert engine.monitor.records == []  # nothing registered, nothing created
