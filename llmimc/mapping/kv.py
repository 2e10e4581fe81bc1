"""KV-cache residency: where each layer's KV cache lives and how many tokens fit (DESIGN.md §4).

Bytes per token of layer l: b_l = kv_elements_per_token_per_layer[l] x kv_bits / 8 (= 2 x kv_heads x
head_dim x kv_bits / 8 for standard attention). A layer's attention runs on the first chiplet of its
stage, its *KV chiplet* c; b_c = Sum over c's layers of b_l and B = Sum_c b_c (every token has KV in
every layer).

Pools. Every chiplet j that is powered anyway (it holds weights, runs attention or hosts the memory
controller; every chiplet without power gating) lends its free global SRAM

    F_j = max(0, global_sram.capacity_bytes - outlier weight bytes on j - activation reserve on j)

A chiplet with none of these is power-gated (``llmimc.cost.power``): its SRAM would stay on only for
KV, and an empty chiplet costs nothing, so it lends none. The activation reserve of a chiplet
is the largest per-op resident activation working set (bytes read + written, without the terms that
grow with the KV length: attention is computed tile by tile) of the ops it runs or holds a shard of,
for the token vectors in flight: vectors stream through a stage one at a time, so the reserve is
min(batch, 2) vectors (double buffering), not the whole batch. Every off-package memory stack s
offers M_s = capacity per stack - (embeddings + streamed weights) / stacks (interleaved over the
stacks, as memory channels are); a stack is reached through its attach chiplet(s) on the die-to-die
mesh (``OffPackageMemory.attached_chiplets``; the nearest attach point when a stack lists several).

Capacity (KV moves as bytes: a token's layers on c may straddle two pools, a fluid placement):

    capacity_tokens N = floor((Sum_j F_j + Sum_s M_s) / B)
    SRAM tokens       S = min(N, Sum_j F_j / B),  on_package_tokens = floor(S)

so more lending chiplets (more F_j) or more stacks (more M_s) never lower N. Placement rule, in two phases:
phase 1 places S tokens of every KV chiplet in SRAM (demand S x b_c bytes each), phase 2 the other
N - S tokens in the stacks ((N - S) x b_c each). Within a phase the (KV chiplet, pool) pairs are
visited in order of die-to-die hops from the pool to the KV chiplet (then pool chiplet, then KV
chiplet: deterministic), each taking min(demand left, pool bytes left); hop 0 is the chiplet's own
SRAM. Every pool is reachable, so the greedy places every byte: Sum of segment bytes = N x B. Each KV
chiplet's segments, in that order, hold its tokens 1..N: the nearest (cheapest) first.

Traffic. An iteration whose sequences hold Sum L tokens reads, on KV chiplet c, the KV of tokens
1..Sum L. Token t of segment k (pool p_k, h_k hops on the shortest route from p_k's chiplet to c)
costs per layer l, beyond a local token:

    SRAM of another chiplet: b_l x 8 x h_k die-to-die bits (b_l bytes on each link of the route);
                             time b_l / global_sram_bw + h_k x b_l / d2d_bw (read there, store and
                             forward to c, where the attention streams it through its buffer as it
                             does local KV: the local read time is kept)
    stack s:                 b_l x 8 off-package bits replace b_l x 8 global-SRAM read bits, plus the
                             die-to-die bits and link bytes as above; time b_l / stack_bw +
                             h_k x b_l / d2d_bw

The per-token cost C_k is piecewise constant in t, so the iteration's KV traffic is exactly

    Sum_k (C_k - C_{k-1}) x max(0, Sum L - T_k),   T_k = tokens of c before segment k, C_{-1} = 0

one *spill breakpoint* (threshold T_k, coefficient C_k - C_{k-1}) per segment that is not the
chiplet's own SRAM (``llmimc.cost.compile`` builds them; the cost model evaluates max(0, Sum L - T)
per breakpoint). A link that may carry such KV keeps its PHY powered (``llmimc.cost.power``: links
with traffic). New tokens are written to their KV chiplet's SRAM; the one-off move of an older token
to its segment (1/L of its per-step reads) is not charged.
"""

from __future__ import annotations

import math

from llmimc._base import Frozen

_EPS_BYTES = 1e-6  # fluid-placement slack: residues below this many bytes are rounding


class KvLayer(Frozen):
    layer: int
    chiplet: int  # physical chiplet holding this layer's KV (and running its attention)
    bytes_per_token: float


class KvSegment(Frozen):
    """A run of one KV chiplet's tokens held by one pool (module docstring)."""

    pool: str  # "sram" (a chiplet's global SRAM) or "stack" (an off-package memory stack)
    pool_index: int  # the chiplet (sram) or stack index (stack)
    pool_chiplet: int  # where it is reached: the SRAM's chiplet or the stack's nearest attach chiplet
    hops: int  # die-to-die hops from pool_chiplet to the KV chiplet
    start_token: float  # tokens of the KV chiplet held before this segment (the breakpoint T_k)
    tokens: float
    bytes: float  # tokens x the KV chiplet's bytes per token


class KvChiplet(Frozen):
    chiplet: int
    layers: list[int]
    bytes_per_token: float
    sram_capacity_bytes: int
    outlier_weight_bytes: float
    activation_reserve_bytes: float
    kv_sram_bytes: float  # free global SRAM of this chiplet (F_c)
    tokens_on_package: int  # tokens of its layers held in its own SRAM
    segments: list[KvSegment] = []  # where its tokens 1..N live, nearest first


class KvPool(Frozen):
    """Free bytes one chiplet's SRAM or one stack offers to the KV cache, and how many it holds."""

    pool: str  # "sram" or "stack"
    index: int  # chiplet (sram) or stack index (stack)
    attach_chiplets: list[int]  # the chiplet itself (sram) or the stack's attach chiplets
    free_bytes: float
    kv_bytes: float = 0.0  # KV bytes placed here at full capacity


class KvResidency(Frozen):
    """Where the KV cache lives (see module docstring)."""

    kv_bits: int
    bytes_per_token: float  # all layers
    layers: list[KvLayer]
    chiplets: list[KvChiplet]
    on_package_tokens: int  # tokens whose KV is all in some chiplet's SRAM
    offpkg_free_bytes: float
    offpkg_tokens: int  # capacity_tokens - on_package_tokens
    capacity_tokens: int
    pools: list[KvPool] = []

    def tokens_on(self, chiplet: int) -> int:
        for c in self.chiplets:
            if c.chiplet == chiplet:
                return c.tokens_on_package
        return 0

    @property
    def sram_holders(self) -> list[int]:
        """Chiplets whose global SRAM holds KV at full capacity."""
        return sorted(p.index for p in self.pools if p.pool == "sram" and p.kv_bytes > 0)

    @property
    def placed_bytes(self) -> float:
        """KV bytes placed at full capacity (= capacity_tokens x bytes_per_token)."""
        return sum(s.bytes for c in self.chiplets for s in c.segments)


def plan_kv(
    *,
    kv_bits: int,
    layer_elements: list[int],
    layer_chiplet: dict[int, int],
    sram_capacity_bytes: int,
    outlier_bytes_per_chiplet: dict[int, float],
    activation_reserve_per_chiplet: dict[int, float],
    offpkg_free_bytes: float,
    num_chiplets: int | None = None,
    sram_chiplets: list[int] | None = None,
    hops: list[list[int]] | None = None,
    stack_attach: list[list[int]] | None = None,
) -> KvResidency:
    """Capacity and placement of the KV cache (module docstring).

    The ``sram_chiplets`` (and the KV chiplets) offer SRAM (default: all ``num_chiplets`` chiplets, or
    only the KV chiplets without ``num_chiplets``); ``hops[a][b]`` are die-to-die
    hops between chiplets (default: 0 on the diagonal, 1 elsewhere); ``stack_attach[s]`` lists stack
    s's attach chiplets (default: one stack on chiplet 0); ``offpkg_free_bytes`` is split evenly over
    the stacks."""
    layers = [
        KvLayer(layer=li, chiplet=layer_chiplet[li], bytes_per_token=layer_elements[li] * kv_bits / 8.0)
        for li in sorted(layer_chiplet)
        if layer_elements[li] > 0
    ]
    kv_chips = sorted({k.chiplet for k in layers})
    n_chip = num_chiplets if num_chiplets is not None else (max(kv_chips, default=-1) + 1)
    chip_ids = (
        sorted(set(sram_chiplets) | set(kv_chips))
        if sram_chiplets is not None
        else (list(range(n_chip)) if num_chiplets is not None else kv_chips)
    )
    dist = hops if hops is not None else [[0 if a == b else 1 for b in range(n_chip)] for a in range(n_chip)]
    attach = stack_attach if stack_attach is not None else [[0]]
    bpt = {c: sum(k.bytes_per_token for k in layers if k.chiplet == c) for c in kv_chips}
    free = {
        c: max(
            0.0,
            sram_capacity_bytes
            - outlier_bytes_per_chiplet.get(c, 0.0)
            - activation_reserve_per_chiplet.get(c, 0.0),
        )
        for c in chip_ids
    }
    sram_pools, stack_pools = _pools(free, max(0.0, offpkg_free_bytes), attach, n_chip, kv_chips, dist)
    off_free = sum(p.free_bytes for p in stack_pools)
    total_bpt = sum(bpt.values())
    sram_total = sum(p.free_bytes for p in sram_pools)
    cap = math.floor((sram_total + off_free) / total_bpt + 1e-9) if total_bpt > 0 else 0
    sram_tokens = min(float(cap), sram_total / total_bpt) if total_bpt > 0 else 0.0
    segs: dict[int, list[KvSegment]] = {c: [] for c in kv_chips}
    left_pool = [p.free_bytes for p in sram_pools + stack_pools]
    for phase_pools, offset, tokens in (
        (sram_pools, 0, sram_tokens),
        (stack_pools, len(sram_pools), cap - sram_tokens),
    ):
        demand = {c: tokens * bpt[c] for c in kv_chips}
        _fill(phase_pools, offset, demand, bpt, dist, left_pool, segs)
    pools = [
        p.model_copy(update={"kv_bytes": p.free_bytes - left})
        for p, left in zip(sram_pools + stack_pools, left_pool, strict=True)
    ]
    chips = [
        KvChiplet(
            chiplet=c,
            layers=[k.layer for k in layers if k.chiplet == c],
            bytes_per_token=bpt[c],
            sram_capacity_bytes=sram_capacity_bytes,
            outlier_weight_bytes=outlier_bytes_per_chiplet.get(c, 0.0),
            activation_reserve_bytes=activation_reserve_per_chiplet.get(c, 0.0),
            kv_sram_bytes=free[c],
            tokens_on_package=math.floor(
                sum(s.tokens for s in segs[c] if s.pool == "sram" and s.pool_index == c) + 1e-9
            ),
            segments=segs[c],
        )
        for c in kv_chips
    ]
    on_pkg = math.floor(sram_tokens + 1e-9)
    return KvResidency(
        kv_bits=kv_bits,
        bytes_per_token=total_bpt,
        layers=layers,
        chiplets=chips,
        on_package_tokens=on_pkg,
        offpkg_free_bytes=off_free,
        offpkg_tokens=cap - on_pkg,
        capacity_tokens=cap,
        pools=pools,
    )


def _pools(
    free: dict[int, float],
    off_free: float,
    attach: list[list[int]],
    n_chip: int,
    kv_chips: list[int],
    dist: list[list[int]],
) -> tuple[list[KvPool], list[KvPool]]:
    """The SRAM and stack pools that every KV chiplet reaches (a disconnected explicit topology may
    leave some out); the stacks share the off-package bytes evenly."""
    sram = [KvPool(pool="sram", index=c, attach_chiplets=[c], free_bytes=f) for c, f in free.items()]
    stacks = [
        KvPool(
            pool="stack",
            index=s,
            attach_chiplets=[a for a in at if a < n_chip] or [0],
            free_bytes=off_free / len(attach),
        )
        for s, at in enumerate(attach)
    ]
    return (
        [p for p in sram if _reached(p, kv_chips, dist)],
        [p for p in stacks if _reached(p, kv_chips, dist)],
    )


def _reached(pool: KvPool, kv_chips: list[int], dist: list[list[int]]) -> bool:
    return all(any(dist[a][c] >= 0 for a in pool.attach_chiplets) for c in kv_chips)


def _fill(
    pools: list[KvPool],
    offset: int,
    demand: dict[int, float],
    bpt: dict[int, float],
    dist: list[list[int]],
    left_pool: list[float],
    segs: dict[int, list[KvSegment]],
) -> None:
    """One phase of the greedy: (KV chiplet, pool) pairs by hops, each taking what both have left."""
    pairs = []
    for i, p in enumerate(pools):
        for c in demand:
            reach = [(dist[a][c], a) for a in p.attach_chiplets if dist[a][c] >= 0]
            if reach:
                h, a = min(reach)
                pairs.append((h, a, c, i))
    for h, a, c, i in sorted(pairs):
        take = min(demand[c], left_pool[offset + i])
        if take <= _EPS_BYTES:
            continue
        demand[c] -= take
        left_pool[offset + i] -= take
        start = sum(s.tokens for s in segs[c])
        p = pools[i]
        segs[c].append(
            KvSegment(
                pool=p.pool,
                pool_index=p.index,
                pool_chiplet=a,
                hops=h,
                start_token=start,
                tokens=take / bpt[c],
                bytes=take,
            )
        )
