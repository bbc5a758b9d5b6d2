"""The component provider's interface (default run, no installs): the schema the Pulumi SDK infers
from components/provider.py is the one in docs/, and the provider's args follow the settings
model: the same fields at every level, the same required ones, every property described, every
default stated in its description and equal to the model's, names plain, outputs as the program
exports them (rollback included)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
import typing

import pytest
from pydantic import BaseModel

from components import provider
from components.settings import WebTierSettings
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "docs" / "component-schema.json").read_text())
RESOURCE = SCHEMA["resources"]["web-tier:index:WebTier"]
PROVIDER_ONLY = {"project"}  # the provider's default differs: the consuming program's project name
NOT_ARGS = {"stack"}  # the consuming program's stack, never an input


def _strip(hint):
    """NotRequired[X], Optional[X], pulumi.Input[X] -> X."""
    while True:
        origin = typing.get_origin(hint)
        if origin in (typing.NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)
                    and typing.get_origin(a) is not typing.get_origin(typing.Awaitable[int])
                    and "Output" not in repr(a)]
            hint = args[0]
        else:
            return hint


def _inner(hint):
    """The element type of list[X] / dict[str, X], else the type itself."""
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        return typing.get_args(hint)[-1]
    return hint


def _pairs():
    """(TypedDict, pydantic model) for the args and every nested settings type."""
    seen, todo = [], [(provider.WebTierArgs, WebTierSettings)]
    while todo:
        td, model = todo.pop()
        if any(td is s for s, _ in seen):
            continue
        seen.append((td, model))
        hints = dict(td.__annotations__)
        for name, field in model.model_fields.items():
            if name not in hints:
                continue
            sub_model = _inner(_strip(field.annotation))
            sub_td = _inner(_strip(hints[name]))
            if isinstance(sub_model, type) and issubclass(sub_model, BaseModel):
                assert typing.is_typeddict(sub_td), (td.__name__, name)
                todo.append((sub_td, sub_model))
    return seen


PAIRS = _pairs()


def test_the_schema_in_docs_is_what_the_analyzer_infers():
    result = subprocess.run([sys.executable, "tools/component_schema.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_every_settings_type_has_its_args_type():
    assert len(PAIRS) == 16
    names = {td.__name__ for td, _ in PAIRS}
    assert {"Pool", "HealthCheck", "Rule", "Condition", "Listeners", "Observability"} <= names


@pytest.mark.parametrize("td, model", PAIRS, ids=[td.__name__ for td, _ in PAIRS])
def test_args_have_the_models_fields_and_required_ones(td, model):
    fields = set(model.model_fields) - NOT_ARGS
    assert set(td.__annotations__) == fields, (sorted(fields ^ set(td.__annotations__)))
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    assert set(td.__required_keys__) == required


def _documented_default(description: str) -> str:
    m = re.search(r"Default: (.+?)\.?$", description)
    assert m, f"no 'Default: ...' in {description!r}"
    return re.sub(r" \(.*\)$", "", m.group(1))


def _spelled(value, td_field_hint) -> str:
    if isinstance(value, BaseModel):
        return f"every {_inner(_strip(td_field_hint)).__name__} default"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if value == "":
        return '""'
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


@pytest.mark.parametrize("td, model", PAIRS, ids=[td.__name__ for td, _ in PAIRS])
def test_every_default_is_documented_as_the_model_has_it(td, model):
    schema_type = RESOURCE["inputProperties"] if td is provider.WebTierArgs else \
        SCHEMA["types"][f"web-tier:index:{td.__name__}"]["properties"]
    hints = dict(td.__annotations__)
    from pulumi.provider.experimental.util import camel_case

    for name, field in model.model_fields.items():
        if name in NOT_ARGS:
            continue
        prop = schema_type[camel_case(name)]
        assert prop.get("description"), (td.__name__, name)
        if field.is_required():
            assert prop["description"].rstrip(".").endswith("Required") or "Required" in prop["description"]
            continue
        if name in PROVIDER_ONLY:
            continue
        default = field.get_default(call_default_factory=True)
        assert _documented_default(prop["description"]) == _spelled(default, hints[name]), (td.__name__, name)


def test_required_inputs_and_types():
    assert sorted(RESOURCE["requiredInputs"]) == ["listeners", "peakRequestsPerSecond", "pools", "routing"]
    props = RESOURCE["inputProperties"]
    assert props["peakRequestsPerSecond"]["type"] == "number"
    assert props["pools"]["additionalProperties"]["$ref"] == "#/types/web-tier:index:Pool"
    pool = SCHEMA["types"]["web-tier:index:Pool"]
    assert sorted(pool["required"]) == ["ami", "capacityRps"]
    assert pool["properties"]["minSize"]["type"] == "integer" and pool["properties"]["capacityRps"]["type"] == "number"
    rule = SCHEMA["types"]["web-tier:index:Rule"]
    assert {"forward", "fixedResponse", "priority", "conditions", "expectedShare"} == set(rule["properties"])
    headers = SCHEMA["types"]["web-tier:index:Condition"]["properties"]["headers"]
    assert headers["additionalProperties"]["type"] == "array"
    assert headers["additionalProperties"]["items"]["type"] == "string"
    for t in SCHEMA["types"].values():
        assert t.get("description"), t


def test_what_names_resources_is_plain_and_the_certificate_may_be_an_output():
    props = RESOURCE["inputProperties"]
    for key in ("project", "pools", "routing", "tags", "network", "loadBalancer", "listeners"):
        assert props[key].get("plain") is True, key
    pool = SCHEMA["types"]["web-tier:index:Pool"]["properties"]
    assert pool["port"].get("plain") is True and pool["protocol"].get("plain") is True
    assert SCHEMA["types"]["web-tier:index:LoadBalancer"]["properties"]["internal"].get("plain") is True
    assert "plain" not in SCHEMA["types"]["web-tier:index:Listeners"]["properties"]["certificateArn"]


def test_outputs_are_what_the_program_exports():
    outputs = RESOURCE["properties"]
    assert {"dnsName", "loadBalancerArn", "zoneId", "listenerArns", "ruleArns", "targetGroupArns",
            "autoScalingGroupNames", "logBucket", "alarmTopicArn", "dashboardName", "alarmNames", "rollback"} \
        <= set(outputs)
    assert outputs["rollback"]["type"] == "object" and "snapshot" in outputs["rollback"]["description"]
    assert outputs["targetGroupArns"]["additionalProperties"]["type"] == "string"
    assert all(p.get("description") for p in outputs.values())
    # Everything the program exports, except what only the program knows (the traffic profile),
    # is an output of the component.
    program = (ROOT / "__main__.py").read_text()
    exported = set(re.findall(r'pulumi\.export\("(\w+)"', program)) - {"trafficProfile", "securityGroupIds",
                                                                         "alarms"}
    assert exported <= set(outputs), sorted(exported - set(outputs))
    assert {"alarmNames", "loadBalancerSecurityGroupId", "poolSecurityGroupIds"} <= set(outputs)


def test_a_bad_argument_is_one_line_naming_the_schema_key():
    args = {"listeners": {"insecure_http_only": True}, "peak_requests_per_second": 100,
            "pools": {"web": {"ami": "ami-0123456789abcdef", "capacity_rps": 100, "health_check": {"interval_seconds": 4}}},
            "routing": {"default": {"forward": {"weights": {"web": 1}}}}}
    with pytest.raises(provider.SettingsError) as err:  # the module's own class (runs re-import components)
        provider.settings_from_args(args, name="shop", stack="dev", project="shop", region="us-east-1")
    text = str(err.value)
    assert "\n" not in text and text.startswith("WebTier shop args: ")
    assert "web-tier:pools.web.ami: AMI ids are ami- and 8 or 17 hex digits" in text
    assert "pools.web.healthCheck.intervalSeconds: Input should be greater than or equal to 5" in text
