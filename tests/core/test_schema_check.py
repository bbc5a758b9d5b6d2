"""lbguard.core.schema_check (the snapshot schema in the Lambda runtime) agrees with jsonschema,
and the auto-rollback function's bundle runs with only the stdlib and boto3."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import textwrap

import jsonschema
import pytest

from components.known_good import lambda_bundle
from lbguard.core import schema_check
from lbguard.core.snapshot import SCHEMA, build_snapshot

ELB = "arn:aws:elasticloadbalancing:us-east-1:123456789012"


def snapshot() -> dict:
    tg = {k: {"arn": f"{ELB}:targetgroup/dev-{k}/{i:016x}", "name": f"dev-{k}"} for i, k in enumerate(("blue", "green"))}
    fwd = [{"type": "forward", "forward": {"targetGroups": [{"arn": tg["blue"]["arn"], "weight": 50},
                                                            {"arn": tg["green"]["arn"], "weight": 50}]}}]
    return build_snapshot(
        project="web-tier", stack="dev", load_balancer={"arn": f"{ELB}:loadbalancer/app/web-tier-dev/abc", "name": "x"},
        target_groups=tg,
        listeners=[{"key": "https", "arn": f"{ELB}:listener/app/web-tier-dev/abc/1", "port": 443, "protocol": "HTTPS",
                    "defaultActions": fwd,
                    "rules": [{"key": "api", "arn": f"{ELB}:listener-rule/app/web-tier-dev/abc/1/2", "priority": 10,
                               "conditions": [{"pathPattern": {"values": ["/api/*"]}}], "actions": fwd},
                              {"key": "maintenance", "arn": f"{ELB}:listener-rule/app/web-tier-dev/abc/1/3",
                               "priority": 20, "conditions": [{"hostHeader": {"values": ["m.example.com"]}}],
                               "actions": [{"type": "fixed-response", "fixedResponse": {"statusCode": "503", "contentType": "text/plain"}}]}]}])


def _jsonschema_ok(doc) -> bool:
    return not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))


def _lite_ok(doc) -> bool:
    return schema_check.first_error(SCHEMA, doc) is None


REPLACEMENTS = [None, True, 0, 10.0, 10.5, -1, 70000, "", "x", "HTTP_301", [], [{}], {}, {"Values": []},
                "arn:aws:elasticloadbalancing:x", "123456789012", "us-east-1", "forward", "path-pattern"]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _mutants(doc, rng: random.Random, n: int):
    paths = [p for p in _paths(doc) if p]
    for _ in range(n):
        out = copy.deepcopy(doc)
        path = rng.choice(paths)
        parent = out
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
        yield path, out


def test_the_snapshot_schema_uses_only_supported_keywords():
    schema_check.check_schema(SCHEMA)
    with pytest.raises(schema_check.UnsupportedSchema):
        schema_check.check_schema({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}})


def test_agrees_with_jsonschema_on_valid_and_2000_mutated_snapshots():
    base = snapshot()
    assert _jsonschema_ok(base) and _lite_ok(base)
    rng = random.Random(20261203)
    invalid = 0
    for path, doc in _mutants(base, rng, 2000):
        want = _jsonschema_ok(doc)
        assert _lite_ok(doc) == want, (path, json.dumps(doc)[:300])
        invalid += not want
    assert invalid > 1000  # the mutations exercise the refusals, not only the passes


def test_errors_name_the_field():
    doc = snapshot()
    del doc["listeners"][0]["rules"][0]["conditions"][0]["PathPatternConfig"]
    path, message = schema_check.first_error(SCHEMA, doc)
    assert path == ("listeners", 0, "rules", 0, "conditions", 0) and "PathPatternConfig" in message


def test_lambda_bundle_runs_with_only_the_stdlib_and_boto3(tmp_path):
    """The function's code as components/known_good.py ships it, imported with every module
    outside the stdlib, boto3/botocore (the Lambda runtime's) and the bundle blocked."""
    for name, source in lambda_bundle().items():
        (tmp_path / "bundle" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "bundle" / name).write_text(source.read_text())
    good = snapshot()
    bad = copy.deepcopy(good)
    bad["listeners"][0]["rules"][1]["priority"] = 0
    script = textwrap.dedent(f"""
        import importlib.abc, json, sys
        ALLOWED = set(sys.stdlib_module_names) | {{"boto3", "botocore", "jmespath", "dateutil", "s3transfer",
                                                   "urllib3", "six", "lbguard", "_distutils_hack"}}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] not in ALLOWED:
                    raise ImportError("not in the Lambda runtime: " + name)
        sys.meta_path.insert(0, Block())
        from lbguard.live import lambda_handler
        from lbguard.core import snapshot
        from lbguard.core.model import LbguardError
        snapshot.validate_snapshot(json.loads({json.dumps(json.dumps(good))}))
        try:
            snapshot.validate_snapshot(json.loads({json.dumps(json.dumps(bad))}))
        except LbguardError as err:
            print("refused:", err)
        for event in (None, [], "x", {{"Records": None}}):
            print("result:", lambda_handler.handler(event)["action"])
        assert "jsonschema" not in sys.modules
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "bundle", capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "bundle"),
                              "LBGUARD_PROJECT": "web-tier", "LBGUARD_STACK": "dev",
                              "LBGUARD_LOAD_BALANCER_ARN": good["loadBalancer"]["arn"]})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("refused: snapshot: listeners[0].rules[1].priority: 0 is less than the minimum")
    assert [line for line in lines if line.startswith("result:")] == ["result: none"] * 4  # malformed: no action
