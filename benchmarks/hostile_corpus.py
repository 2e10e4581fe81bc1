"""Run the hostile-input corpus of issue 14 through the installed `llmimc` command, one subprocess each.

    python benchmarks/hostile_corpus.py [--jobs 2] [--timeout 120] [--only CLASS]

Each case (tests/fuzz/hostile_cases.py) runs with a wall-clock timeout and a 16 GiB address-space
limit, so hangs and runaway memory are caught rather than suffered. Outcomes per case:
``ok`` (exit 0, clean), ``refused`` (exit 2, a one-line error), and the failures ``traceback``,
``bad-exit`` (any other exit code), ``hang`` (timeout), ``oom`` (killed or MemoryError),
``nan-json`` (exit 0 with NaN/Infinity in a JSON output), ``file-left`` (an output file after an
error) and ``multi-line`` (exit 2 with more than one error line). Prints counts by input class and
outcome, the median wall time, and every failure; exit 1 if any case failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))
from hostile_cases import Case, build_cases  # noqa: E402

FAILURES = ("traceback", "bad-exit", "hang", "oom", "nan-json", "file-left", "multi-line")


def _limit_memory() -> None:
    cap = 16 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _has_non_finite(text: str) -> bool:
    def refuse(token: str) -> float:
        raise ValueError(token)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return "NaN" in text or "Infinity" in text
    return False


def classify(case: Case, rc: int | None, out: str, err: str) -> str:
    text = out + err
    if rc is None:
        return "hang"
    if rc < 0 or rc == 137 or "MemoryError" in text:
        return "oom"
    if "Traceback" in text:
        return "traceback"
    if rc not in (0, 2):
        return "bad-exit"
    if rc != 0 and case.out is not None and case.out.exists():
        return "file-left"
    if rc == 0 and case.out is not None and case.out.exists() and _has_non_finite(case.out.read_text()):
        return "nan-json"
    if rc == 0 and out.lstrip().startswith("{") and _has_non_finite(out):
        return "nan-json"
    if rc == 2:
        errors = [ln for ln in err.splitlines() if ln.startswith(("error:", "invalid:"))]
        other = [
            ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("error:", "invalid:", "ok:"))
        ]
        if len(errors) != 1 or other:
            return "multi-line"
        return "refused"
    return "ok"


def run_case(case: Case, timeout_s: float) -> tuple[Case, str, float, str]:
    start = time.perf_counter()
    try:
        p = subprocess.run(
            ["llmimc", *case.args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            preexec_fn=_limit_memory,
            env={
                "COLUMNS": "80",
                "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                "HF_HUB_OFFLINE": "1",
            },
        )
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = None, "", ""
    wall = time.perf_counter() - start
    outcome = classify(case, rc, out, err)
    return case, outcome, wall, (err or out).strip().splitlines()[-1][:160] if (err or out).strip() else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--only", default=None, help="run one input class only")
    ap.add_argument("--show-ok", action="store_true", help="also list the cases that exit 0")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="llmimc-hostile-"))
    cases = [c for c in build_cases(root) if args.only in (None, c.klass)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda c: run_case(c, args.timeout), cases))
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case, outcome, _, _ in results:
        table[case.klass][outcome] += 1
    cols = ("ok", "refused", *FAILURES)
    print(
        f"{len(results)} hostile inputs; median wall {statistics.median(r[2] for r in results):.2f} s per case"
    )
    print(f"{'class':<16}" + "".join(f"{c:>11}" for c in cols))
    for klass, counts in sorted(table.items()):
        print(f"{klass:<16}" + "".join(f"{counts[c]:>11}" for c in cols))
    failed = [r for r in results if r[1] in FAILURES]
    for case, outcome, wall, last in failed:
        print(
            f"FAIL {outcome}: {case.klass} / {case.name}: llmimc {' '.join(case.args)[:120]} ({wall:.1f} s) -> {last}"
        )
    if args.show_ok:
        for case, outcome, wall, _ in results:
            if outcome == "ok":
                print(f"ok: {case.klass} / {case.name}: llmimc {' '.join(case.args)[:120]} ({wall:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
