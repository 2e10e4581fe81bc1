"""Measure real prefill and decode step latency of HF causal LMs on a GPU (random bf16 weights).

Used once to check llmimc's digital-baseline roofline (hw_specs h100) against a real H100; the
measured numbers and the comparison are recorded in benchmarks/results_gpu_baseline.md. Needs a CUDA
GPU with torch and transformers; it is not part of the test suite.

    python benchmarks/gpu_baseline_measure.py --out gpu_measure.json

Weights are random (no download): latency of a dense decoder does not depend on weight values.
Each point is the median of several timed repeats after warm-up, timed with CUDA events.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

MODELS = {
    # Published config facts (meta-llama/Llama-2-7b-hf config.json).
    "llama-2-7b": dict(
        arch="llama",
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        max_position_embeddings=4096,
    ),
    # openai-community/gpt2 config.json.
    "gpt2": dict(arch="gpt2", n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024),
}


def build(name: str, torch, transformers):
    cfg = dict(MODELS[name])
    arch = cfg.pop("arch")
    if arch == "llama":
        config = transformers.LlamaConfig(**cfg)
    else:
        config = transformers.GPT2Config(**cfg)
    config._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    return model.eval()


def timed(torch, fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return statistics.median(samples)


def measure(name: str, prompt_lens: list[int], contexts: list[int], batches: list[int], repeats: int):
    import torch
    import transformers

    model = build(name, torch, transformers)
    vocab = model.config.vocab_size
    rows = []
    with torch.inference_mode():
        for batch in batches:
            for s in prompt_lens:
                if batch * s > 16_384:
                    continue
                ids = torch.randint(0, vocab, (batch, s), device="cuda")
                t = timed(torch, lambda ids=ids: model(input_ids=ids, use_cache=True), repeats)
                rows.append(dict(model=name, phase="prefill", batch=batch, tokens=s, context=0, latency_s=t))
            for c in contexts:
                if batch * c > 40_000:  # keep the KV cache well inside 80 GB
                    continue
                # Eager decode step (HF DynamicCache, cropped back to c tokens after each step).
                # Eager HF decode includes Python and kernel-launch overhead; a CUDA-graph capture
                # of HF's StaticCache path hit a device-side index assert on transformers 5.17, so
                # the decode numbers are upper bounds on what a graph-replaying server achieves.
                ids = torch.randint(0, vocab, (batch, c), device="cuda")
                out = model(input_ids=ids, use_cache=True)
                past = out.past_key_values
                nxt = torch.randint(0, vocab, (batch, 1), device="cuda")

                def step(nxt=nxt, past=past, c=c):
                    model(input_ids=nxt, past_key_values=past, use_cache=True)
                    past.crop(c)

                t = timed(torch, step, repeats)
                rows.append(dict(model=name, phase="decode", batch=batch, tokens=1, context=c, latency_s=t))
                del past, out
            torch.cuda.empty_cache()
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    import torch

    t0 = time.time()
    rows = []
    rows += measure("llama-2-7b", [128, 512, 2048], [128, 1024, 4000], [1, 8, 32], args.repeats)
    rows += measure("gpt2", [128, 512], [128, 1000], [1, 8], args.repeats)
    info = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, wall_s=time.time() - t0)
    with open(args.out, "w") as f:
        json.dump(dict(info=info, rows=rows), f, indent=1)
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
