"""KV-cache residency: where each layer's KV cache lives and how many tokens fit (DESIGN.md §4).

Bytes per token of layer l: kv_elements_per_token_per_layer[l] x kv_bits / 8 (= 2 x kv_heads x head_dim
x kv_bits / 8 for standard attention). A layer's KV lives in the global SRAM of the chiplet that runs
its attention (the first chiplet of its stage). SRAM left for KV on chiplet c:

    kv_sram_c = global_sram.capacity_bytes - outlier weight bytes on c - activation reserve on c

where the activation reserve is the largest per-op resident activation working set (bytes read +
written, without the terms that grow with the KV length: attention is computed tile by tile) of the
chiplet's ops for the token vectors in flight: vectors stream through a stage one at a time, so
the reserve is min(batch, 2) vectors (double buffering), not the whole batch. Tokens on package:
on_c = floor(kv_sram_c / kv_bytes_per_token_c) and on_package = min over KV-holding chiplets (every
token has KV in every layer). Beyond that, the oldest tokens of chiplet c live in off-package memory:
when the sequences of an iteration hold Sum L tokens, chiplet c reads max(0, Sum L - on_c) tokens' KV
from off-package memory each step (the spill traffic), over the die-to-die route from the memory's
attached chiplet. Total capacity = on_package + floor(free off-package bytes / kv_bytes_per_token),
where the off-package bytes are every stack's (``OffPackageMemory.total_capacity_bytes`` = stacks x
capacity per stack) less embeddings and streamed weights: more stacks give more KV.
"""

from __future__ import annotations

import math

from llmimc._base import Frozen


class KvLayer(Frozen):
    layer: int
    chiplet: int  # physical chiplet holding this layer's KV (and running its attention)
    bytes_per_token: float


class KvChiplet(Frozen):
    chiplet: int
    layers: list[int]
    bytes_per_token: float
    sram_capacity_bytes: int
    outlier_weight_bytes: float
    activation_reserve_bytes: float
    kv_sram_bytes: float
    tokens_on_package: int


class KvResidency(Frozen):
    """Where the KV cache lives (see module docstring)."""

    kv_bits: int
    bytes_per_token: float  # all layers
    layers: list[KvLayer]
    chiplets: list[KvChiplet]
    on_package_tokens: int
    offpkg_free_bytes: float
    offpkg_tokens: int
    capacity_tokens: int

    def tokens_on(self, chiplet: int) -> int:
        for c in self.chiplets:
            if c.chiplet == chiplet:
                return c.tokens_on_package
        return 0


def plan_kv(
    *,
    kv_bits: int,
    layer_elements: list[int],
    layer_chiplet: dict[int, int],
    sram_capacity_bytes: int,
    outlier_bytes_per_chiplet: dict[int, float],
    activation_reserve_per_chiplet: dict[int, float],
    offpkg_free_bytes: float,
) -> KvResidency:
    layers = [
        KvLayer(layer=li, chiplet=layer_chiplet[li], bytes_per_token=layer_elements[li] * kv_bits / 8.0)
        for li in sorted(layer_chiplet)
        if layer_elements[li] > 0
    ]
    chips: list[KvChiplet] = []
    for c in sorted({k.chiplet for k in layers}):
        mine = [k for k in layers if k.chiplet == c]
        bpt = sum(k.bytes_per_token for k in mine)
        outl = outlier_bytes_per_chiplet.get(c, 0.0)
        act = activation_reserve_per_chiplet.get(c, 0.0)
        free = max(0.0, sram_capacity_bytes - outl - act)
        chips.append(
            KvChiplet(
                chiplet=c,
                layers=[k.layer for k in mine],
                bytes_per_token=bpt,
                sram_capacity_bytes=sram_capacity_bytes,
                outlier_weight_bytes=outl,
                activation_reserve_bytes=act,
                kv_sram_bytes=free,
                tokens_on_package=math.floor(free / bpt) if bpt > 0 else 0,
            )
        )
    total_bpt = sum(k.bytes_per_token for k in layers)
    on_pkg = min((c.tokens_on_package for c in chips), default=0)
    off_tokens = math.floor(max(0.0, offpkg_free_bytes) / total_bpt) if total_bpt > 0 else 0
    return KvResidency(
        kv_bits=kv_bits,
        bytes_per_token=total_bpt,
        layers=layers,
        chiplets=chips,
        on_package_tokens=on_pkg,
        offpkg_free_bytes=max(0.0, offpkg_free_bytes),
        offpkg_tokens=off_tokens,
        capacity_tokens=on_pkg + off_tokens,
    )
