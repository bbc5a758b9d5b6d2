"""Write lbguard/core/provider_facts/instance_types.json: the EC2 instance types each region offers.

    .venv/bin/python tools/instance_types.py          # rewrite the file from the installed moto
    .venv/bin/python tools/instance_types.py --check  # exit 1 if it differs (tests run this)

The source is the data moto ships (``moto/ec2/resources/instance_type_offerings/region/
<region>.json.gz``: DescribeInstanceTypeOfferings answers with LocationType=region, recorded
from AWS by moto's maintainers), so the settings check needs neither moto nor boto3 at deploy
time. Types newer than that data are accepted with ``pools.<pool>.instanceTypeUnlisted: true``.

Layout: every type once, sorted; per region a bitmap over that list (hex, bit i = type i), so
30 regions cost a few KB instead of 30 lists.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "lbguard" / "core" / "provider_facts" / "instance_types.json"


def build() -> str:
    import moto

    where = Path(moto.__file__).parent / "ec2" / "resources" / "instance_type_offerings" / "region"
    offered: dict[str, set[str]] = {}
    for path in sorted(where.glob("*.json.gz")):
        region = path.name.removesuffix(".json.gz")
        offered[region] = {o["InstanceType"] for o in json.loads(gzip.decompress(path.read_bytes()))}
    types = sorted(set().union(*offered.values()))
    index = {t: i for i, t in enumerate(types)}
    regions = {}
    for region, have in sorted(offered.items()):
        bits = 0
        for t in have:
            bits |= 1 << index[t]
        regions[region] = format(bits, "x")
    doc = {
        "about": "EC2 instance types offered per region (DescribeInstanceTypeOfferings, LocationType=region). "
                 "regions[r] is a hex bitmap over types: bit i set = types[i] is offered in r.",
        "source": f"moto {importlib.metadata.version('moto')}, moto/ec2/resources/instance_type_offerings/region/"
                  f"<region>.json.gz; regenerate with tools/instance_types.py",
        "types": types,
        "regions": regions,
    }
    return json.dumps(doc, indent=0, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run .venv/bin/python tools/instance_types.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
