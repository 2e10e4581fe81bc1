"""Compare llmimc's digital-baseline roofline with latencies measured on a real GPU.

Reads the JSON written by ``gpu_baseline_measure.py`` (default: the H100 measurement shipped in
benchmarks/data/) and prints, per point, the measured latency, the h100 roofline prediction at fp16
(dense, weights and KV in bf16, as measured) and their ratio.

    python benchmarks/compare_gpu_baseline.py [--measured benchmarks/data/h100_hf_eager_measured.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from llmimc.compress import build_plan, load_policy
from llmimc.cost.baseline import baseline_model
from llmimc.hw import load_spec
from llmimc.model import load_opgraph

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--measured", type=Path, default=HERE / "data" / "h100_hf_eager_measured.json")
    p.add_argument("--hw", default="h100")
    args = p.parse_args()
    data = json.loads(args.measured.read_text())
    spec = load_spec(args.hw)
    policy = load_policy("w16a16")
    models = {}
    print(
        f"measured on {data['info']['device']} (torch {data['info']['torch']}) vs llmimc '{args.hw}' roofline"
    )
    print(
        f"{'model':<11} {'phase':<8} {'B':>3} {'T':>5} {'ctx':>5} {'measured':>10} {'roofline':>10} {'meas/pred':>9} bound"
    )
    ratios: dict[str, list[float]] = {"prefill": [], "decode": []}
    for r in data["rows"]:
        name = r["model"]
        if name not in models:
            graph = load_opgraph(name)
            models[name] = baseline_model(graph, build_plan(graph, policy), spec)
        bm = models[name]
        if r["phase"] == "prefill":
            step = bm.step(r["tokens"], r["tokens"], r["batch"])
        else:
            step = bm.step(1, r["context"] + 1, r["batch"])
        ratio = r["latency_s"] / step.latency_s
        ratios[r["phase"]].append(ratio)
        print(
            f"{name:<11} {r['phase']:<8} {r['batch']:>3} {r['tokens']:>5} {r['context']:>5} "
            f"{r['latency_s'] * 1e3:>8.2f}ms {step.latency_s * 1e3:>8.2f}ms {ratio:>9.2f} {step.bound}"
        )
    for phase, vals in ratios.items():
        if vals:
            print(
                f"{phase}: median measured/predicted = {statistics.median(vals):.2f} over {len(vals)} points"
            )


if __name__ == "__main__":
    main()
