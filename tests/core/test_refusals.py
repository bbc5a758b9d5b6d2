"""Issue 27, refusals: values AWS refuses are refused first, one line, exit 2, nothing written.
An instance type the region does not offer (moto's offerings data, with an explicit override for
newer types), an AMI id of a length AWS never issues, a host value without a '.', and a header
name that is not an HTTP token, in the settings and in `lbguard route` (one rule for both)."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from components.settings import SettingsError, parse_settings
from lbguard.cli.app import main
from lbguard.core import aws_names
from tests.conftest import load_stack

F = "stacks/Pulumi.dev.yaml: web-tier:"


def _raw() -> dict:
    cfg = load_stack("dev")["config"]
    return {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("web-tier:")}


def _refused(edit, region="us-east-1") -> str:
    raw = copy.deepcopy(_raw())
    edit(raw)
    with pytest.raises(SettingsError) as err:
        parse_settings(raw, stack="dev", stack_file="stacks/Pulumi.dev.yaml", region=region)
    assert "\n" not in str(err.value)
    return str(err.value)


def _accepted(edit, region="us-east-1"):
    raw = copy.deepcopy(_raw())
    edit(raw)
    return parse_settings(raw, stack="dev", region=region)


def _pool(**values):
    return lambda r: r["pools"]["blue"].update(values)


def _conditions(**values):
    return lambda r: r["routing"]["rules"]["api"]["conditions"].update(values)


# ------------------------------------------------------------------ instance types


def test_a_misspelt_instance_type_is_refused_naming_the_key_and_close_types():
    msg = _refused(_pool(instanceType="t3.mciro"))
    assert msg.startswith(F + "pools.blue.instanceType: instance type 't3.mciro' is not offered in region us-east-1")
    assert "t3.micro" in msg and "instanceTypeUnlisted: true" in msg and "moto 5." in msg


def test_a_type_another_region_offers_is_refused_where_it_is_not():
    only_east = sorted(aws_names.offered_types("us-east-1") - aws_names.offered_types("eu-south-2"))[0]
    _accepted(_pool(instanceType=only_east), region="us-east-1")
    msg = _refused(_pool(instanceType=only_east), region="eu-south-2")
    assert f"'{only_east}' is not offered in region eu-south-2" in msg


def test_without_a_region_any_regions_offering_counts():
    _accepted(_pool(instanceType="m6i.large"), region=None)
    assert "in any region" in _refused(_pool(instanceType="t3.mciro"), region=None)


def test_the_override_accepts_a_type_newer_than_the_data():
    settings = _accepted(_pool(instanceType="z9x.large", instanceTypeUnlisted=True))
    assert settings.pools["blue"].instance_type == "z9x.large"


def test_every_shipped_stack_uses_offered_types():
    for stack in ("dev", "staging", "prod"):
        doc = load_stack(stack)["config"]
        region = doc["aws:region"]
        for key, pool in doc["web-tier:pools"].items():
            assert aws_names.instance_type_problem(pool.get("instanceType", "t3.small"), region) is None, (stack, key)


def test_the_offerings_data_is_what_moto_ships():
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "tools/instance_types.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ AMI ids


@pytest.mark.parametrize("ami, digits", [("ami-0123456789abcdef", 16), ("ami-0123456", 7), ("ami-0123456789", 10)])
def test_ami_ids_of_other_lengths_are_refused(ami, digits):
    assert _refused(_pool(ami=ami)) == F + f"pools.blue.ami: AMI ids are ami- and 8 or 17 hex digits, '{ami}' has {digits}"


@pytest.mark.parametrize("ami", ["ami-12c6146b", "ami-0123456789abcdef0"])
def test_ami_ids_of_8_and_17_digits_are_accepted(ami):
    _accepted(_pool(ami=ami))


# ------------------------------------------------------------------ host values


@pytest.mark.parametrize("host, needle", [
    ("localhost", "needs at least one '.'"),
    ("*", "needs at least one '.'"),
    ("api.example.c0m", "only letters after its last '.'"),
    ("bad_host.example.com", "may only use A-Z a-z 0-9 - . * ?"),
    ("a" * 126 + ".io", "must be 1..128 characters"),
])
def test_host_values_aws_refuses(host, needle):
    msg = _refused(_conditions(host=[host]))
    assert msg.startswith(F + "routing.rules.api.conditions.host: ") and needle in msg


@pytest.mark.parametrize("host", ["*.example.com", "api.example.com", "shop-?.example.org", "EXAMPLE.COM"])
def test_host_values_aws_accepts(host):
    _accepted(_conditions(host=[host]))


# ------------------------------------------------------------------ header names


@pytest.mark.parametrize("name", ["X Canary", "X-Canary:", "x(y)", "é", ""])
def test_header_names_that_are_not_tokens_are_refused_in_settings(name):
    msg = _refused(_conditions(headers={name: ["yes"]}))
    assert msg.startswith(F + "routing.rules.api.conditions.headers: header names must be 1..40 token characters")


@pytest.mark.parametrize("name", ["X-Canary", "x_canary", "X.Y~Z!#$%&'*+^`|"])
def test_token_header_names_are_accepted(name):
    _accepted(_conditions(headers={name: ["yes"]}))


@pytest.mark.parametrize("name", ["X Canary", "X-Canary:", "x(y)"])
def test_route_refuses_the_same_header_names(tmp_path, name):
    out = tmp_path / "route.json"
    result = CliRunner().invoke(main, ["route", "--stack", "dev", "--header", f"{name}=yes", "--json", str(out)])
    assert result.exit_code == 2
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert lines == [f"lbguard: error: --header {name!r}: {aws_names.header_name_problem(name)}"]
    assert not out.exists()


def test_route_and_settings_apply_one_rule():
    """The route command's check is the settings' check: a name one accepts the other accepts."""
    for name in ("X-Canary", "X Canary", "a" * 41, "x@y"):
        problem = aws_names.header_name_problem(name)
        raw = copy.deepcopy(_raw())
        _conditions(headers={name: ["v"]})(raw)
        try:
            parse_settings(raw, stack="dev")
            settings_ok = True
        except SettingsError:
            settings_ok = False
        assert settings_ok == (problem is None), name


# ------------------------------------------------------------------ through the CLI: exit 2, nothing written


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["web-tier:pools"]["blue"].update(instanceType="t3.mciro"), "pools.blue.instanceType"),
    (lambda c: c["web-tier:pools"]["blue"].update(ami="ami-0123456789abcdef"), "pools.blue.ami"),
    (lambda c: c["web-tier:routing"]["rules"]["api"]["conditions"].update(host=["intranet"]),
     "routing.rules.api.conditions.host"),
])
def test_preflight_refuses_with_one_line_and_writes_nothing(scratch, edit, key):
    cfg = scratch.config("dev")
    edit(cfg)
    scratch.write("dev", cfg)
    out = scratch.path / "result.json"
    result = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--cwd", str(scratch.path), "--no-policy",
                                       "--json", str(out)])
    assert result.exit_code == 2, result.output
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"lbguard: error: {F}{key}: "), lines
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists()
    json.dumps(lines)
