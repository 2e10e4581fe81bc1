"""KV-cache quantisation of the emulated model: the plan's ``kv_bits`` applied to every K/V entry.

Each key and each value vector of one KV head at one position -- keys after RoPE, as a cache stores
them -- is rounded symmetrically to b = kv_bits bits with its own scale (per-token, per-head
round-to-nearest):  s = max_d |v_d| / (2^(b-1) - 1),  v^ = s round(v / s).  The attention scores and
the value mix then read the rounded entries, as they would from a quantised cache. 16 bits = float
(no rounding). KIVI (Liu et al., ICML 2024) quantises keys per channel instead; per-token/per-head
is the simpler, more pessimistic choice for keys with outlier channels.

Mechanism: an attention function registered in transformers' ``AttentionInterface`` (its public
extension point) under ``llmimc_kv_quant``; it rounds key/value and calls the model's own attention
implementation (sdpa when the model runs eager). :func:`kv_quantised` switches a model to it for the
duration of a block and restores the configured implementation afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from llmimc.errors import LlmimcError

FLOAT_BITS = 16
_NAME = "llmimc_kv_quant"
_BITS_ATTR = "_llmimc_kv_bits"
_INNER_ATTR = "_llmimc_kv_inner"


def quantise_kv(t: torch.Tensor, bits: int) -> torch.Tensor:
    """Round every vector along the last dim (one head's K or V at one position) to ``bits``."""
    if bits >= FLOAT_BITS:
        return t
    qmax = 2 ** (bits - 1) - 1
    if qmax < 1:
        raise LlmimcError(
            f"kv_bits must be >= 2 for symmetric rounding (got {bits}): set the policy's kv_bits >= 2"
        )
    scale = t.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / qmax
    return torch.round(t / scale).clamp(-qmax, qmax) * scale


def _attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,  # transformers' attention-interface signature (dropout, scaling, ...), passed through
) -> tuple[torch.Tensor, torch.Tensor | None]:
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    bits = int(getattr(module, _BITS_ATTR, FLOAT_BITS))
    inner = ALL_ATTENTION_FUNCTIONS[str(getattr(module, _INNER_ATTR, "sdpa"))]
    out: tuple[torch.Tensor, torch.Tensor | None] = inner(
        module, query, quantise_kv(key, bits), quantise_kv(value, bits), attention_mask, **kwargs
    )
    return out


@contextmanager
def kv_quantised(model: torch.nn.Module, bits: int) -> Iterator[None]:
    """Within the block, every attention layer of ``model`` reads K/V rounded to ``bits`` (16 = no-op)."""
    if bits >= FLOAT_BITS:
        yield
        return
    from transformers import AttentionInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if _NAME not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(_NAME, _attention)
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("KV-cache quantisation needs a transformers model (no .config)")
    configured = config._attn_implementation
    inner = configured if configured in ALL_ATTENTION_FUNCTIONS and configured != _NAME else "sdpa"
    layers = [m for m in model.modules() if hasattr(m, "layer_idx") and hasattr(m, "k_proj")]
    for m in layers:
        setattr(m, _BITS_ATTR, bits)
        setattr(m, _INNER_ATTR, inner)
    config._attn_implementation = _NAME
    try:
        yield
    finally:
        config._attn_implementation = configured
        for m in layers:
            delattr(m, _BITS_ATTR)
            delattr(m, _INNER_ATTR)
