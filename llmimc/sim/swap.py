"""Swap preemption to off-package memory (``ServeConfig.preemption = "swap"``).

vLLM's scheduler (v0 ``PreemptionMode.SWAP``, ``swap_space`` GiB per device) can copy a preempted
sequence's KV blocks out to a swap space and copy them back when the sequence is resumed, instead of
freeing them and recomputing the prefix (``RECOMPUTE``, vLLM v1's only mode and llmimc's default).
Here the swap space is a region of the package's off-package memory stacks, ``swap_space_bytes``
reserved out of the KV capacity (the stacks otherwise hold KV, ``llmimc.mapping.kv``): capacity =
kv_capacity_tokens - ceil(swap_space_bytes / B) tokens, B = KV bytes per token over all layers.

A preempted request holding n tokens' KV (``computed``) is swapped out when n x B bytes fit in the
free swap space, else it falls back to recompute (counted in ``swap_fallbacks``). Its blocks are freed
at once; it waits at the head of the queue as a recomputed request would; when admitted again (its n
tokens' blocks must fit beside the watermark, as vLLM's ``can_swap_in``) the KV is copied back, it keeps
its progress (no prefix recompute, no prefix-cache hits counted) and continues where it stopped.

Cost of moving n tokens (one direction; KV chiplet c holds b_c bytes per token, B = Sum_c b_c; the
swap region is interleaved over the S stacks, so c's bytes go b_c / S to each stack s over the
shortest route between c and s's nearest attach chiplet, h_cs hops):

    t(n)  = n x max( B / (S x bw_stack),                        the stacks' bandwidth
                     max over links of Sum_{c,s: link on route} b_c / S / bw_d2d,   each link
                     max_c b_c / bw_global_sram )                each chiplet's SRAM port
            + latency_mem + max_{c,s} h_cs x latency_d2d
    E_out(n) = n x ( Sum_c 8 b_c e_sram_read  + 8 B e_mem + Sum_{c,s} 8 b_c / S x h_cs x e_d2d )
               + P_static x t(n)
    E_in(n)  = the same with e_sram_write

(e: the spec's energies per bit, ``llmimc.cost.actions``; P_static: the package's always-on power).
The scheduler advances its clock by t(n) before the iteration that preempts or resumes (vLLM runs the
swap before the model step), the time counts as busy, and the energy is charged to the swapped
request and to the run's energy. KV already held away from its chiplet (other SRAM, a stack) is
costed as if it left from the chiplet: an upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmimc.cost.actions import Action, energy_per_action
from llmimc.errors import LlmimcError

if TYPE_CHECKING:
    from llmimc.hw.spec import ImcSystemSpec
    from llmimc.mapping.model import Mapping
    from llmimc.sim.sched_state import ReqState
    from llmimc.sim.scheduler import Scheduler

__all__ = ["SwapCost", "SwapSpace", "SwapStats", "swap_cost"]


class SwapError(LlmimcError):
    """Swap preemption cannot work on this system."""


@dataclass(frozen=True)
class SwapCost:
    """Per-token cost of moving KV between the chiplets and the swap region (module docstring)."""

    bytes_per_token: float  # B
    space_bytes: float  # the reserved swap region
    time_per_token_s: float
    latency_s: float  # per swap operation
    energy_out_per_token_j: float
    energy_in_per_token_j: float
    static_power_w: float

    @property
    def reserved_tokens(self) -> int:
        """KV capacity given up for the swap region."""
        return math.ceil(self.space_bytes / self.bytes_per_token - 1e-9) if self.bytes_per_token > 0 else 0

    def time_s(self, tokens: int) -> float:
        return tokens * self.time_per_token_s + self.latency_s if tokens else 0.0

    def energy_j(self, tokens: int, out: bool) -> float:
        per = self.energy_out_per_token_j if out else self.energy_in_per_token_j
        return tokens * per + self.static_power_w * self.time_s(tokens)


def swap_cost(mapping: Mapping, spec: ImcSystemSpec, static_power_w: float, space_bytes: float) -> SwapCost:
    """The :class:`SwapCost` of a mapped IMC package; ``SwapError`` when it cannot hold the region."""
    from llmimc.hw import shortest_paths
    from llmimc.mapping.placement import route_hops

    mem = spec.package.memory
    free = mapping.kv.offpkg_free_bytes
    if mem.total_capacity_bytes <= 0 or free <= 0:
        raise SwapError(
            f"swap preemption needs off-package memory, but '{spec.name}' has none free for KV "
            "(package.memory.capacity_bytes); use --preemption recompute or a spec with memory stacks"
        )
    if space_bytes > free:
        raise SwapError(
            f"swap space of {space_bytes / 2**30:.3g} GiB exceeds the {free / 2**30:.3g} GiB of off-package "
            "memory free for KV; lower --swap-space or add --memory-stacks"
        )
    n_chip = mapping.num_chiplets
    stacks = mem.num_stacks
    attach = [a for a in mem.attached_chiplets if a < n_chip] or [0]
    stack_attach = [[a] for a in attach] if len(attach) == stacks > 1 else [attach] * stacks
    kv_chips = [(c.chiplet, c.bytes_per_token) for c in mapping.kv.chiplets]
    pairs = sorted({(c, a) for c, _ in kv_chips for at in stack_attach for a in at})
    paths = shortest_paths(mapping.links, pairs) if pairs else {}
    e = energy_per_action(spec)
    link_bytes: dict[tuple[int, int], float] = {}
    d2d_bits_hops = 0.0
    max_hops = 0
    for c, b_c in kv_chips:
        for at in stack_attach:
            hops = min((route_hops(paths[(c, a)]) for a in at), key=len)
            max_hops = max(max_hops, len(hops))
            d2d_bits_hops += 8.0 * b_c / stacks * len(hops)
            for lk in hops:
                link_bytes[lk] = link_bytes.get(lk, 0.0) + b_c / stacks
    bpt = mapping.kv.bytes_per_token
    per_token_s = max(
        bpt / mem.total_bw_bytes_per_s,
        max(link_bytes.values(), default=0.0) / spec.package.d2d.bw_bytes_per_s,
        max((b for _, b in kv_chips), default=0.0) / spec.chiplet.global_sram.bw_bytes_per_s,
    )
    moved = 8.0 * bpt * e[Action.OFFPKG] + d2d_bits_hops * e[Action.D2D]
    return SwapCost(
        bytes_per_token=bpt,
        space_bytes=space_bytes,
        time_per_token_s=per_token_s,
        latency_s=mem.latency_s + max_hops * spec.package.d2d.latency_s,
        energy_out_per_token_j=moved + 8.0 * bpt * e[Action.GSRAM_READ],
        energy_in_per_token_j=moved + 8.0 * bpt * e[Action.GSRAM_WRITE],
        static_power_w=static_power_w,
    )


@dataclass(slots=True)
class SwapStats:
    """What swapping did in one run (summed over packages in a cluster)."""

    swap_outs: int = 0
    swap_ins: int = 0
    fallbacks: int = 0  # preemptions that recomputed because the swap space was full
    out_bytes: float = 0.0
    in_bytes: float = 0.0
    time_s: float = 0.0
    energy_j: float = 0.0
    peak_used_bytes: float = 0.0

    def add(self, other: SwapStats) -> None:
        self.swap_outs += other.swap_outs
        self.swap_ins += other.swap_ins
        self.fallbacks += other.fallbacks
        self.out_bytes += other.out_bytes
        self.in_bytes += other.in_bytes
        self.time_s += other.time_s
        self.energy_j += other.energy_j
        self.peak_used_bytes = max(self.peak_used_bytes, other.peak_used_bytes)


class SwapSpace:
    """One package's swap region: which requests are swapped out (request index -> tokens)."""

    __slots__ = ("cost", "stats", "swapped", "used_bytes")

    def __init__(self, cost: SwapCost, stats: SwapStats) -> None:
        self.cost = cost
        self.stats = stats
        self.swapped: dict[int, int] = {}
        self.used_bytes = 0.0

    def swap_out(self, sched: Scheduler, r: ReqState) -> bool:
        """Copy r's KV out if it fits (the caller then frees r's blocks); False: recompute instead."""
        tokens = r.computed
        nbytes = tokens * self.cost.bytes_per_token
        if tokens == 0 or self.used_bytes + nbytes > self.cost.space_bytes:
            self.stats.fallbacks += 1 if tokens > 0 else 0
            return False
        self.swapped[r.index] = tokens
        self.used_bytes += nbytes
        st = self.stats
        st.swap_outs += 1
        st.out_bytes += nbytes
        st.peak_used_bytes = max(st.peak_used_bytes, self.used_bytes)
        self._charge(sched, r, tokens, out=True)
        return True

    def blocks_to_resume(self, r: ReqState, block_tokens: int) -> int:
        return -(-self.swapped[r.index] // block_tokens)

    def swap_in(self, sched: Scheduler, r: ReqState) -> None:
        """Copy r's KV back (the caller has allocated its blocks)."""
        tokens = self.swapped.pop(r.index)
        nbytes = tokens * self.cost.bytes_per_token
        self.used_bytes -= nbytes
        self.stats.swap_ins += 1
        self.stats.in_bytes += nbytes
        self._charge(sched, r, tokens, out=False)

    def _charge(self, sched: Scheduler, r: ReqState, tokens: int, out: bool) -> None:
        t = self.cost.time_s(tokens)
        e = self.cost.energy_j(tokens, out)
        sched.now += t
        raw = sched.run_data
        raw.busy_time_s += t
        raw.energy_j += e
        r.energy_j += e
        self.stats.time_s += t
        self.stats.energy_j += e
