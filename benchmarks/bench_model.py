"""Benchmark model ingestion from the command line, each run a fresh subprocess (imports included).

Scenarios (HF_HUB_OFFLINE=1):
- `llmimc model show gpt2` cold: fresh, empty XDG_CACHE_HOME; the shipped pre-traced graph is used
  (llmimc.model.shipped), so no torch import — checked once before timing;
- the same command warm: a second run against the same XDG_CACHE_HOME (OS file cache warm);
- `llmimc profile gpt2 --chiplets 8` cold (fresh XDG_CACHE_HOME, shipped graph);
- a real cold trace with `--no-cache` (imports torch + transformers, traces on the meta device) of
  gpt2 and of Llama-2-70b, via `llmimc model show MODEL --no-cache`.
Prints the median (and min) wall time of each. Targets on the 2-core dev box: show cold <= 3 s,
warm <= 0.5 s, profile cold <= 2 s, 70B trace cold <= 10 s.

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

CLI = [sys.executable, "-m", "llmimc_cli.main"]
SCENARIOS: dict[str, list[str]] = {
    "show gpt2 cold (shipped)": [*CLI, "model", "show", "gpt2"],
    "show gpt2 warm": [*CLI, "model", "show", "gpt2"],
    "profile gpt2 -n 8 cold (shipped)": [*CLI, "profile", "gpt2", "--chiplets", "8"],
    "show gpt2 --no-cache (trace)": [*CLI, "model", "show", "gpt2", "--no-cache"],
    "show llama-2-70b --no-cache (trace)": [*CLI, "model", "show", "llama-2-70b", "--no-cache"],
}
NO_TORCH = [
    sys.executable,
    "-c",
    "import sys; from llmimc.model import load_opgraph; load_opgraph('gpt2'); "
    "load_opgraph('meta-llama/Llama-2-70b-hf'); "
    "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'shipped load imported torch'",
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
    results: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory() as home:
        _run(NO_TORCH, home)  # raises if loading a shipped graph imported torch
    with tempfile.TemporaryDirectory() as warm_home:
        _run(SCENARIOS["show gpt2 warm"], warm_home)  # first run: fills the OS file cache
        for _ in range(args.repeats):
            for name, cmd in SCENARIOS.items():
                if name.endswith("warm"):
                    results[name].append(_run(cmd, warm_home))
                else:
                    with tempfile.TemporaryDirectory() as cold_home:
                        results[name].append(_run(cmd, cold_home))
    for name, times in results.items():
        print(
            f"{name:36s} median {statistics.median(times):6.2f} s  (n={len(times)}, min {min(times):.2f} s)"
        )


if __name__ == "__main__":
    main()
