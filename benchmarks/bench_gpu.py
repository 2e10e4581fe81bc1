"""Benchmark GPU targets (issue 10): medians of the acceptance commands (prints, never asserts).

- in-process: ``llmimc.api.profile`` of Llama-2-7B, B 16 x 4,096 prompt + 2 generated tokens, w16a16,
  on h100 / h100-hf-eager / a100 (the OpGraph already loaded: what "warm" costs per run);
- CLI: the same ``llmimc profile ... --json`` in a fresh subprocess (imports included), and
  ``llmimc serve gpt2 --hw h100 --rate 4 --num-requests 50 --prompt-len 256 --gen-len 64``.

Usage: python benchmarks/bench_gpu.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmimc import api

PROFILE = ["llama-2-7b", "--precision", "w16a16", "--batch", "16", "--prompt-len", "4096", "--gen-len", "2"]
SERVE = [
    "serve",
    "gpt2",
    "--hw",
    "h100",
    "--rate",
    "4",
    "--num-requests",
    "50",
    "--prompt-len",
    "256",
    "--gen-len",
    "64",
]


def _cli(args: list[str]) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="120")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "llmimc_cli.main", *args], env=env, capture_output=True, text=True
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.strip() or proc.stdout.strip()[-300:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    n = ap.parse_args().repeats
    graph = api.load_model("llama-2-7b")
    for hw in ("h100", "h100-hf-eager", "a100"):
        api.profile(graph, hw=hw, precision="w16a16", batch=16, prompt_len=4096, gen_len=2)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            api.profile(graph, hw=hw, precision="w16a16", batch=16, prompt_len=4096, gen_len=2)
            times.append(time.perf_counter() - t0)
        print(f"api.profile llama-2-7b --hw {hw:14s} median {statistics.median(times) * 1e3:7.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "r.json")
        for hw in ("h100", "h100-hf-eager", "a100"):
            times = [_cli(["profile", *PROFILE, "--hw", hw, "--json", out]) for _ in range(n)]
            print(f"CLI profile llama-2-7b --hw {hw:14s} median {statistics.median(times):6.3f} s")
    times = [_cli(SERVE) for _ in range(n)]
    print(f"CLI serve gpt2 --hw h100 (50 requests)      median {statistics.median(times):6.3f} s")


if __name__ == "__main__":
    main()
