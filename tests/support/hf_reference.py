"""Independent reference for the model tests: a real CPU forward of a tiny randomly initialised model.

One prefill of ``prompt`` tokens then one decode step through a real ``DynamicCache``, each under
``torch.utils.flop_counter.FlopCounterMode``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForCausalLM, DynamicCache, PretrainedConfig


@dataclass(frozen=True)
class RealForward:
    num_params: int  # Hugging Face's model.num_parameters()
    prefill_counts: dict[str, int]  # FLOPs per aten op of the prefill
    decode_counts: dict[str, int]  # FLOPs per aten op of the decode step
    kv_elements_per_token_per_layer: list[int]  # from the real cache after both steps


def real_forward(config: PretrainedConfig, prompt: int) -> RealForward:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        config, attn_implementation="eager", experts_implementation="batched_mm", dtype=torch.float32
    ).eval()
    ids = torch.randint(0, config.vocab_size, (1, prompt + 1))
    cache = DynamicCache(config=config)
    counts = []
    # the same keyword choice as llmimc.model.trace (``cache`` in newer transformers, else the old name)
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.no_grad():
        for step in (ids[:, :prompt], ids[:, prompt:]):
            counter = FlopCounterMode(display=False)
            with counter:
                model(input_ids=step, use_cache=True, logits_to_keep=1, **{cache_kw: cache})
            counts.append({str(k): v for k, v in counter.get_flop_counts()["Global"].items()})
    kv = [
        sum(t.numel() // t.shape[-2] for t in (layer.keys, layer.values) if t.shape[-2])
        for layer in cache.layers
    ]
    return RealForward(model.num_parameters(), counts[0], counts[1], kv)
