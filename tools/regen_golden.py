"""Regenerate the golden CLI outputs in tests/golden/ (see tests/support/golden.py).

Run it after a deliberate change of numbers or layout, and say why in the commit.
Usage: python tools/regen_golden.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.golden import CASES, GOLDEN_DIR, run_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    changed = 0
    for name in sorted(CASES):
        code, out = run_case(name)
        if code != 0:
            print(f"{name}: exit {code}\n{out}", file=sys.stderr)
            return 2
        path = GOLDEN_DIR / f"{name}.txt"
        if path.exists() and path.read_text(encoding="utf-8") == out:
            continue
        changed += 1
        print(f"{name}: {'differs' if args.check else 'written'}")
        if not args.check:
            path.write_text(out, encoding="utf-8")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
