"""Fix 10 (and the settings of 7 and 8): what AWS would refuse at apply time is refused
before the program runs, one line naming the key, the rule and the value."""

from __future__ import annotations

import copy

import pytest
import yaml
from click.testing import CliRunner

from components.settings import CONFIG_KEYS, SettingsError, WebTierSettings, parse_settings
from lbguard.cli.app import main
from tests.conftest import ROOT, load_stack

F = "stacks/Pulumi.dev.yaml: web-tier:"


def _raw() -> dict:
    cfg = load_stack("dev")["config"]
    return {k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("web-tier:")}


def _conditions(**values):
    return lambda r: r["routing"]["rules"]["api"]["conditions"].update(values)


# (id, edit of the dev settings, the exact one-line error)
REFUSED = [
    ("weighted-random-with-slow-start", lambda r: r["pools"]["blue"].update(algorithm="weighted_random", slowStartSeconds=60),
     F + "pools.blue: slowStartSeconds (60) cannot be used with algorithm weighted_random (AWS refuses it); "
         "set slowStartSeconds: 0 or another algorithm"),
    ("bare-ip-source", _conditions(sourceIps=["10.1.2.3"]),
     F + "routing.rules.api.conditions.sourceIps: source IPs must be CIDR blocks, got the bare address '10.1.2.3' "
         "(write 10.1.2.3/32 for one host)"),
    ("bare-ipv6-source", _conditions(sourceIps=["2001:db8::1"]),
     F + "routing.rules.api.conditions.sourceIps: source IPs must be CIDR blocks, got the bare address '2001:db8::1' "
         "(write 2001:db8::1/128 for one host)"),
    ("not-an-ip", _conditions(sourceIps=["office"]),
     F + "routing.rules.api.conditions.sourceIps: source IPs must be CIDR blocks like 203.0.113.0/24, got 'office'"),
    ("path-over-128", _conditions(path=["/" + "a" * 130]),
     F + "routing.rules.api.conditions.path: path values must be 1..128 characters, got 131 in '/" + "a" * 39 + "'"),
    ("host-bad-character", _conditions(host=["bad_host.example.com"]),
     F + "routing.rules.api.conditions.host: host values may only use A-Z a-z 0-9 - . * ?, got 'bad_host.example.com'"),
    ("header-name-over-40", _conditions(headers={"X-" + "a" * 45: ["v"]}),
     F + "routing.rules.api.conditions.headers: header names must be 1..40 token characters, got 'X-" + "a" * 45 + "'"),
    ("header-value-over-128", _conditions(headers={"X-Env": ["v" * 129]}),
     F + "routing.rules.api.conditions.headers: header X-Env values must be 1..128 characters, got 129 in '"
         + "v" * 40 + "'"),
    ("six-condition-values", _conditions(path=["/a", "/b", "/c"], host=["a.example.com", "b.example.com", "c.example.com"]),
     F + "routing.rules.api.conditions: ALB allows at most 5 condition values per rule, got 6"),
    ("matcher-500", lambda r: r["pools"]["blue"]["healthCheck"].update(matcher="200-599"),
     F + "pools.blue.healthCheck.matcher: ALB health-check codes must be 200..499, got '200-599'"),
    ("reserved-without-automatic", lambda r: r.update(rollback={"reservedConcurrency": 1}),
     F + "rollback.reservedConcurrency: is only used with automatic: true (automatic is false, reservedConcurrency is 1)"),
    ("reserved-above-900", lambda r: r.update(rollback={"automatic": True, "reservedConcurrency": 950}),
     F + "rollback.reservedConcurrency: Input should be less than or equal to 900 (got 950)"),
    ("reserved-zero", lambda r: r.update(rollback={"automatic": True, "reservedConcurrency": 0}),
     F + "rollback.reservedConcurrency: Input should be greater than or equal to 1 (got 0)"),
    ("root-device-not-a-device", lambda r: r["pools"]["blue"].update(rootDeviceName="sda1"),
     F + "pools.blue.rootDeviceName: String should match pattern '^/dev/(sd[a-z][0-9]*|xvd[a-z]+|nvme[0-9]+n[0-9]+)$' "
         "(got \"sda1\")"),
    ("user-data-over-16k", lambda r: r["pools"]["blue"].update(userData="x" * 20000),
     F + "pools.blue.userData: user data must be at most 16384 bytes before base64 encoding, got 20000"),
    ("aws-tag-prefix", lambda r: r.update(tags={"aws:owner": "x"}),
     F + "tags: tag keys must be 1..128 characters and not start with 'aws:', got 'aws:owner'"),
]


@pytest.mark.parametrize("case,edit,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_one_line(case, edit, message):
    raw = copy.deepcopy(_raw())
    edit(raw)
    with pytest.raises(SettingsError) as err:
        parse_settings(raw, stack="dev", stack_file="stacks/Pulumi.dev.yaml")
    assert str(err.value) == message


@pytest.mark.parametrize("edit", [
    lambda r: r["pools"]["blue"].update(algorithm="weighted_random"),  # without slow start: fine
    _conditions(sourceIps=["10.1.2.3/32", "2001:db8::/64"]),
    _conditions(host=["*.example.com"], path=["/api/*"]),
    lambda r: r.update(rollback={"automatic": True, "reservedConcurrency": 1}),
    lambda r: r["pools"]["blue"].update(rootDeviceName="/dev/sda1"),
    lambda r: r.update(peakRequestsPerSecond=2.5),
])
def test_accepted(edit):
    raw = copy.deepcopy(_raw())
    edit(raw)
    parse_settings(raw, stack="dev")


def test_bare_ip_via_cli_exit_2_nothing_written(scratch):
    cfg = scratch.config("dev")
    cfg["web-tier:routing"]["rules"]["api"]["conditions"]["sourceIps"] = ["192.0.2.7"]
    scratch.write("dev", cfg)
    out = scratch.path / "result.json"
    result = CliRunner().invoke(main, ["preflight", "--stack", "dev", "--cwd", str(scratch.path), "--no-policy",
                                       "--json", str(out)])
    assert result.exit_code == 2
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert lines == ["lbguard: error: " + F + "routing.rules.api.conditions.sourceIps: source IPs must be CIDR blocks, got the bare "
                         "address '192.0.2.7' (write 192.0.2.7/32 for one host)"]
    assert not out.exists()


_PULUMI_TYPES = {"number": (int, float), "integer": (int,), "boolean": (bool,), "string": (str,)}


def test_pulumi_yaml_types_match_the_settings():
    """Every typed key of Pulumi.yaml is typed as the settings field accepts it (the engine
    checks these types before the program runs: integer would refuse 2.5)."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = WebTierSettings.model_fields
    assert set(declared) <= set(CONFIG_KEYS)
    for key, spec in declared.items():
        if not isinstance(spec, dict) or "type" not in spec:
            continue
        annotation = fields[CONFIG_KEYS[key]].annotation
        accepted = {"float": "number", "int": "integer", "bool": "boolean", "str": "string"}[annotation.__name__]
        assert spec["type"] == accepted, f"Pulumi.yaml {key}: type {spec['type']}, settings accept {accepted}"
    assert declared["peakRequestsPerSecond"]["type"] == "number"
