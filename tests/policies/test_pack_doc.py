"""docs/pack.md's configuration table says what the pack itself declares (GetAnalyzerInfo): every
policy with its default level and every property of its config schema with its default."""

from __future__ import annotations

import json
import re

from google.protobuf import json_format

from lbguard.offline.policy_runner import LEVEL_NAMES
from tests.conftest import ROOT


def test_every_policy_level_and_property_is_documented(pack):
    text = (ROOT / "docs" / "pack.md").read_text()
    rows = {m.group(1): line for line in text.splitlines() if (m := re.match(r"^\| `([a-z0-9-]+)` \|", line))}
    names = [p.name for p in pack.info.policies]
    assert set(rows) == set(names), sorted(set(rows) ^ set(names))
    for policy in pack.info.policies:
        row = rows[policy.name]
        assert row.split("|")[2].strip() == LEVEL_NAMES[policy.enforcementLevel], policy.name
        schema = json_format.MessageToDict(policy.configSchema.properties) if policy.HasField("configSchema") else {}
        for key, spec in schema.items():
            assert f"`{key}` {spec.get('type')}, default " in row, (policy.name, key)
            default = spec.get("default")
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                shown = json.dumps(int(default) if float(default).is_integer() else default)
                assert f"default {shown}:" in row, (policy.name, key, shown)
