"""Plain state of the serving scheduler: per-request state, knobs and the raw measurements of a run.

Hot-loop data only (ints, floats, lists, ``array('d')``; no pydantic): ``llmimc.sim.scheduler`` mutates
these and ``llmimc.sim.serve_metrics`` turns them into typed results.

Time between tokens (TBT) is kept as an exact histogram ``{gap_s: count}``: every decoding request of
one iteration shares the same gap unless it joined late, so the histogram holds about one entry per
iteration instead of one per token (bounded memory on million-request runs), and it does not depend
on the order in which the gaps were recorded (event skipping records a stretch at once).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from llmimc.sim.swap import SwapCost, SwapStats


@dataclass(slots=True)
class ReqState:
    """Mutable per-request simulation state (one per input request)."""

    index: int  # position in the caller's request list
    arrived_at_s: float
    prompt_tokens: int
    decode_tokens: int
    prefix_ids: list[int] | None  # full prefix blocks only (prefix caching on), else None
    left: int  # output tokens still to emit
    prefill_target: int  # tokens to prefill before the next token can be emitted (P, or P + emitted)
    seq: int = 0  # admission order of the latest admission (preemption victims: highest first)
    computed: int = 0  # tokens whose KV is in the cache
    private_blocks: int = 0
    refs: list[int] = field(default_factory=list)  # prefix-cache ids this request references
    energy_j: float = 0.0
    first_scheduled_at_s: float = -1.0
    first_token_at_s: float = -1.0
    last_token_at_s: float = -1.0
    finished_at_s: float = -1.0
    preemptions: int = 0
    admissions: int = 0
    cache_hit_tokens: int = 0  # prompt tokens skipped thanks to the prefix cache at first admission
    readmit_hit_tokens: int = 0  # tokens skipped at re-admissions after preemption (own blocks, mostly)
    ready_at_s: float = -1.0  # when it may join this package's queue (arrival, or KV delivered); -1: arrival
    kv_ready: bool = False  # KV of the whole prefill target delivered by another package (disaggregation)
    kv_transfer_s: float = 0.0  # link queueing + transfer time of its KV (disaggregation)

    def __post_init__(self) -> None:
        if self.ready_at_s < 0:
            self.ready_at_s = self.arrived_at_s


@dataclass(frozen=True, slots=True)
class SchedulerParams:
    max_batch: int
    max_tokens_per_iter: int
    chunk_tokens: int
    block_tokens: int
    total_blocks: int
    prefix_block_tokens: int  # 0 when prefix caching is off
    record_timeline: bool
    watermark_blocks: int = 0  # blocks an admission must leave free (vLLM watermark)
    event_skipping: bool = True  # advance decode-only stretches in closed form
    swap: SwapCost | None = None  # swap preemption to off-package memory (llmimc.sim.swap); None: recompute


@dataclass(slots=True)
class RawRun:
    """What the loop measured; plain columns, turned into a ServeResult by serve_metrics."""

    iterations: int = 0
    end_time_s: float = 0.0
    energy_j: float = 0.0
    d2d_bytes: float = 0.0
    offpkg_bytes: float = 0.0
    busy_time_s: float = 0.0
    prefill_tokens_computed: int = 0
    preemptions: int = 0
    cache_evictions: int = 0
    stretches: int = 0  # decode-only stretches advanced at once (event skipping)
    stretch_iterations: int = 0  # iterations inside those stretches
    tbt_hist: dict[float, int] = field(default_factory=dict)  # gap between tokens (s) -> count
    # KV blocks in use as a step function: (iteration start, blocks during it), plus (iteration end,
    # blocks after finished requests released theirs) when some finished.
    kv_time_s: array = field(default_factory=lambda: array("d"))
    kv_used_blocks: array = field(default_factory=lambda: array("d"))
    # Timeline columns (only with record_timeline), one entry per iteration.
    it_start_s: array = field(default_factory=lambda: array("d"))
    it_latency_s: array = field(default_factory=lambda: array("d"))
    it_energy_j: array = field(default_factory=lambda: array("d"))
    it_prefill_reqs: array = field(default_factory=lambda: array("l"))
    it_prefill_tokens: array = field(default_factory=lambda: array("l"))
    it_decode_reqs: array = field(default_factory=lambda: array("l"))
    preempt_events: list[tuple[float, int]] = field(default_factory=list)  # (time_s, request index)
    swap: SwapStats = field(default_factory=SwapStats)  # swap preemption (llmimc.sim.swap)


def add_gaps(hist: dict[float, int], gaps: list[float]) -> None:
    """Count each gap in ``hist`` (fast path: all gaps of one iteration equal)."""
    if not gaps:
        return
    g0 = gaps[0]
    if gaps.count(g0) == len(gaps):
        hist[g0] = hist.get(g0, 0) + len(gaps)
        return
    for g in gaps:
        hist[g] = hist.get(g, 0) + 1
