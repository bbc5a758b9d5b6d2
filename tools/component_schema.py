"""Write docs/component-schema.json: the Pulumi package schema of the web-tier component provider.

    .venv/bin/python tools/component_schema.py          # rewrite it
    .venv/bin/python tools/component_schema.py --check  # exit 1 if stale (tests run this)

The schema is what `pulumi package add .../provider` reads from the plugin (GetSchema): inferred
by the Pulumi SDK's analyzer from components/provider.py, here without starting the plugin, so a
reviewer sees the interface other languages get and a change to it shows in the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "component-schema.json"
NAME = "web-tier"


def schema(version: str = "0.1.0") -> dict:
    sys.path.insert(0, str(ROOT))
    from pulumi.provider.experimental.component import ComponentProvider

    from components.provider import WebTier

    return json.loads(ComponentProvider([WebTier], NAME, None, version).schema)


def main(argv: list[str]) -> int:
    text = json.dumps(schema(), indent=2, sort_keys=True) + "\n"
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run .venv/bin/python tools/component_schema.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
