"""Copy lbguard's pure core into the policy pack: policies/lbguard/core/ = lbguard/core/.

    .venv/bin/python tools/vendor_core.py          # rewrite the copy
    .venv/bin/python tools/vendor_core.py --check  # exit 1 if it differs (tests/packaging runs this)

Why a copy: `pulumi policy publish` uploads the pack directory and every enforcement host builds
the pack's virtualenv from its requirements.txt alone. A requirement on `lbguard` would name a
distribution that is not on the public index (install fails, and whoever publishes that name runs
code in every policy evaluation). A hash-pinned wheel of lbguard would put pip in hash mode for
the whole file and is not byte-reproducible, so each rebuild would change the pins. The core is
pure Python (stdlib, pydantic, PyYAML), so its source travels in the pack instead.

The engine starts the pack with the pack directory as working directory and first on sys.path,
so `import lbguard.core...` finds this copy before anything installed. lbguard's in-process pack
(lbguard.offline.policy_runner) uses its own, identical, core and falls back to a pack process
when a pack's copy differs.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "lbguard" / "core"
PACKAGE = ROOT / "policies" / "lbguard"
TARGET = PACKAGE / "core"
INIT = '"""lbguard\'s pure core, vendored into the lb-safety pack by tools/vendor_core.py; do not edit."""\n'
SUFFIXES = (".py", ".json")


def files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts}


def differences(source: Path = SOURCE, package: Path = PACKAGE) -> list[str]:
    """What differs between lbguard/core and the pack's copy (empty: identical)."""
    target = package / "core"
    src, dst = files(source), files(target) if target.is_dir() else {}
    out = [f"missing in the pack: {n}" for n in sorted(src.keys() - dst.keys())]
    out += [f"not in lbguard/core: {n}" for n in sorted(dst.keys() - src.keys())]
    out += [f"differs: {n}" for n in sorted(src.keys() & dst.keys()) if not filecmp.cmp(src[n], dst[n], shallow=False)]
    init = package / "__init__.py"
    if not init.is_file() or init.read_text() != INIT:
        out.append("policies/lbguard/__init__.py is not the vendoring marker")
    return out


def vendor() -> None:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    for name, path in files(SOURCE).items():
        dest = TARGET / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    (PACKAGE / "__init__.py").write_text(INIT)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        diff = differences()
        if diff:
            print("policies/lbguard/core is not lbguard/core (run .venv/bin/python tools/vendor_core.py): "
                  + "; ".join(diff), file=sys.stderr)
            return 1
        return 0
    vendor()
    print(f"copied {len(files(SOURCE))} files of lbguard/core into {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
