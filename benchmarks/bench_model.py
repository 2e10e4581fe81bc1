"""Benchmark model ingestion: `llmimc model show gpt2` cold and warm, and a Llama-2-70b cold trace.

Each run is a fresh subprocess (so interpreter start-up and imports are included). Cold runs use a
fresh XDG_CACHE_HOME; warm runs reuse one that already holds the graph and also check that torch was
not imported. Prints the median wall time of each scenario. Targets (2-core machine): cold <= 3 s,
warm <= 0.5 s, 70B cold <= 10 s.

Usage: python benchmarks/bench_model.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

SHOW = [sys.executable, "-m", "llmimc_cli.main", "model", "show", "gpt2"]
TRACE_70B = [
    sys.executable,
    "-c",
    "from llmimc.model import load_opgraph; g = load_opgraph('llama-2-70b'); print(len(g.ops))",
]
WARM_NO_TORCH = [
    sys.executable,
    "-c",
    "import sys; from llmimc.model import load_opgraph; load_opgraph('gpt2'); "
    "assert 'torch' not in sys.modules, 'warm load imported torch'",
]


def _run(cmd: list[str], cache_home: str) -> float:
    env = dict(os.environ, XDG_CACHE_HOME=cache_home, HF_HUB_OFFLINE="1", COLUMNS="160")
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {
        "show gpt2 cold": [],
        "show gpt2 warm": [],
        "llama-2-70b trace cold": [],
    }
    with tempfile.TemporaryDirectory() as warm_home:
        _run(SHOW, warm_home)  # fill the warm cache
        _run(WARM_NO_TORCH, warm_home)  # raises if a warm load imports torch
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cold_home:
                results["show gpt2 cold"].append(_run(SHOW, cold_home))
            results["show gpt2 warm"].append(_run(SHOW, warm_home))
            with tempfile.TemporaryDirectory() as cold_home:
                results["llama-2-70b trace cold"].append(_run(TRACE_70B, cold_home))
    for name, times in results.items():
        print(
            f"{name:26s} median {statistics.median(times):6.2f} s  (n={len(times)}, min {min(times):.2f} s)"
        )


if __name__ == "__main__":
    main()
