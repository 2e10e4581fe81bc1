"""Benchmark `llmimc profile`: medians of wall time in fresh subprocesses (prints, never asserts).

Cases (targets on a 2-core machine from the project brief):
- gpt2 on 8 chiplets, cold: a fresh XDG_CACHE_HOME; the OpGraph shipped with the package is used, so
  torch is never imported (target <= 2 s);
- gpt2 on 8 chiplets with --no-cache: a real meta-device trace (imports torch and transformers);
- gpt2 on 8 chiplets, warm: cached OpGraph, torch never imported (target <= 0.7 s);
- Llama-2-70b on 256 chiplets (w4a8-outlier), warm (target <= 3 s).

Usage: python benchmarks/bench_profile.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [
    ("gpt2 x8 cold", ["gpt2", "--chiplets", "8"], True),
    ("gpt2 x8 --no-cache trace", ["gpt2", "--chiplets", "8", "--no-cache"], True),
    ("gpt2 x8 warm", ["gpt2", "--chiplets", "8"], False),
    ("llama-2-70b x256 warm", ["llama-2-70b", "--chiplets", "256", "--precision", "w4a8-outlier"], False),
]


def _run(args: list[str], cache_dir: str) -> float:
    env = dict(os.environ, XDG_CACHE_HOME=cache_dir, HF_HUB_OFFLINE="1", COLUMNS="120")
    cmd = [sys.executable, "-m", "llmimc_cli.main", "profile", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as warm_cache:
        for _, args, cold in CASES:  # warm the shared cache once
            if not cold:
                _run(args, warm_cache)
        for name, args, cold in CASES:
            times = []
            for _ in range(opts.repeats):
                if cold:
                    with tempfile.TemporaryDirectory() as fresh:
                        times.append(_run(args, fresh))
                else:
                    times.append(_run(args, warm_cache))
            print(
                f"{name:24s} median {statistics.median(times):6.3f} s  (min {min(times):.3f}, n={len(times)})"
            )


if __name__ == "__main__":
    main()
