"""What AWS accepts as an instance type, an AMI id, a host-condition value and a header name.

One home for each rule: the stack settings (components/settings.py), ``lbguard route`` and
anything else that takes these values ask here. Each function returns None when AWS would
accept the value, else the reason in words (the caller names the key it came from).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

# RFC 9110 section 5.1: field-name = token; section 5.6.2: token = 1*tchar,
# tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
TCHAR = "!#$%&'*+-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# ELBv2 API reference, HttpHeaderConditionConfig.HttpHeaderName: "The maximum size is 40 characters."
HEADER_NAME_MAX = 40
# ELBv2 API reference, HostHeaderConditionConfig.Values: "The maximum length of each string is 128
# characters ... wildcard characters ... * ... and ? ... You must include at least one "." character.
# You can include only alphabetical characters after the final "." character." The characters allowed
# besides the wildcards are the ALB user guide's (Listener rules, "Host conditions"): A-Z a-z 0-9 - .
HOST_VALUE_MAX = 128
_HOST_CHARS = re.compile(r"^[A-Za-z0-9.*?-]+$")
# EC2 resource ids: "ami-" and 8 hex digits (older ids) or 17 (since 2016-2018, "Longer EC2 and EBS
# resource IDs"); nothing in between exists.
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")

OFFERINGS_FILE = Path(__file__).with_name("provider_facts") / "instance_types.json"


def header_name_problem(name: str) -> str | None:
    if name and _TOKEN.match(name) and len(name) <= HEADER_NAME_MAX:
        return None
    if len(name) > HEADER_NAME_MAX:
        return f"header names must be 1..{HEADER_NAME_MAX} token characters, got {name!r}"
    return (f"header names must be 1..{HEADER_NAME_MAX} token characters (RFC 9110: letters, digits and "
            f"{TCHAR[:15]}; no spaces, ':' or separators), got {name!r}")


def host_value_problem(value: str) -> str | None:
    if not 1 <= len(value) <= HOST_VALUE_MAX:
        return f"host values must be 1..{HOST_VALUE_MAX} characters, got {len(value)} in {value[:40]!r}"
    if not _HOST_CHARS.match(value):
        return f"host values may only use A-Z a-z 0-9 - . * ?, got {value!r}"
    if "." not in value:
        return f"a host value needs at least one '.' (AWS refuses a bare name), got {value!r}"
    tail = value.rsplit(".", 1)[1]
    if not tail.isalpha() and tail:
        return f"a host value may have only letters after its last '.', got {value!r}"
    return None


def ami_problem(ami: str) -> str | None:
    if _AMI.match(ami):
        return None
    digits = ami[4:] if ami.startswith("ami-") else None
    if digits is not None and re.fullmatch(r"[0-9a-f]+", digits):
        return f"AMI ids are ami- and 8 or 17 hex digits, {ami!r} has {len(digits)}"
    return f"AMI ids look like ami-0123456789abcdef0 (ami- and 8 or 17 lowercase hex digits), got {ami!r}"


@functools.lru_cache(maxsize=1)
def _offerings() -> tuple[list[str], dict[str, int], str]:
    doc = json.loads(OFFERINGS_FILE.read_text())
    return doc["types"], {r: int(bits, 16) for r, bits in doc["regions"].items()}, doc["source"]


def offered_types(region: str | None = None) -> set[str] | None:
    """Instance types offered in ``region`` (any region when None); None for a region the data lacks."""
    types, regions, _ = _offerings()
    if region is None:
        return set(types)
    bits = regions.get(region)
    if bits is None:
        return None
    return {t for i, t in enumerate(types) if bits >> i & 1}


def instance_type_problem(instance_type: str, region: str | None) -> str | None:
    """Why ``instance_type`` cannot be launched in ``region`` (any region when None), or None.

    A region the data does not know is checked against every region's types."""
    offered = offered_types(region)
    where = f"region {region}" if offered is not None and region else "any region"
    if offered is None:
        offered = offered_types(None)
    if instance_type in offered:
        return None
    family = instance_type.split(".", 1)[0]
    near = sorted(t for t in offered if t.split(".", 1)[0] == family)[:4]
    hint = f" ({family} there: {', '.join(near)})" if near else ""
    return (f"instance type {instance_type!r} is not offered in {where}{hint}, per the offerings data of "
            f"{_offerings()[2].split(',')[0]}")
