"""The mutation run's summary from ``mutmut results --all true`` on stdin: per module the
mutants killed, survived and not reached by any test, the score (killed / all checked: a
timeout counts as killed, as mutmut counts it), and every survivor by name."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def main() -> int:
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors: list[str] = []
    for line in sys.stdin:
        m = re.match(r"\s*(\S+): (.+)$", line)
        if not m:
            continue
        name, status = m.group(1), m.group(2).strip()
        module = re.split(r"\.x_|\.xǁ", name, maxsplit=1)[0]
        by_module[module][status] += 1
        if status in ("survived", "no tests"):
            survivors.append(f"{name}: {status}")
    total = Counter()
    print(f"{'module':40} {'killed':>7} {'survived':>8} {'no tests':>8} {'unchecked':>9} {'score':>6}")
    for module, c in sorted(by_module.items()):
        total.update(c)
        print(_row(module, c))
    print(_row("all", total))
    print(f"\nsurvivors and mutants no test reaches ({len(survivors)}):")
    print("\n".join(f"  {s}" for s in survivors))
    return 0


def _row(module: str, c: Counter) -> str:
    killed = sum(c[s] for s in KILLED)
    checked = killed + c["survived"] + c["no tests"]
    score = f"{killed / checked:.1%}" if checked else "-"
    return f"{module:40} {killed:7} {c['survived']:8} {c['no tests']:8} {c['not checked']:9} {score:>6}"


if __name__ == "__main__":
    sys.exit(main())
