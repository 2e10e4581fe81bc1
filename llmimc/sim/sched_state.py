"""Plain state of the serving scheduler: per-request state, knobs and the raw measurements of a run.

Hot-loop data only (ints, floats, lists, ``array('d')``; no pydantic): ``llmimc.sim.scheduler`` mutates
these and ``llmimc.sim.serve_metrics`` turns them into typed results.

Time between tokens (TBT) is kept as an exact multiset, ``GapCounts``: every decoding request of one
iteration shares the same gap unless it joined late, so a gap is stored once with the number of
tokens that share it, in one ``array('d')`` per share count: 8 bytes per iteration (a dict of
{gap: count} took ~60), and read back independent of the order in which the gaps were recorded (event
skipping records a stretch at once).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from llmimc.sim.swap import SwapCost, SwapStats


@dataclass(slots=True, eq=False)
class ReqState:
    """Mutable per-request simulation state (one per input request); equal only to itself (the
    scheduler's lists find and remove a request by identity)."""

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
    clock_k: int = 0  # decode-clock value its decode fields are as of (llmimc.sim.decode_clock)

    def __post_init__(self) -> None:
        if self.ready_at_s < 0:
            self.ready_at_s = self.arrived_at_s


class LazyStates:
    """Requests not yet joined, in arrival order, as a queue whose ReqState is built when first looked at
    (``[0]``, ``popleft``): a million-request run keeps states only for requests in flight."""

    __slots__ = ("_order", "_make", "_next", "_head")

    def __init__(self, order: list[int], make: Callable[[int], ReqState]) -> None:
        self._order = order  # request positions, sorted by arrival
        self._make = make
        self._next = 0
        self._head: ReqState | None = None

    def __len__(self) -> int:
        return len(self._order) - self._next

    def __bool__(self) -> bool:
        return self._next < len(self._order)

    def __getitem__(self, i: int) -> ReqState:
        head = self._head
        if head is not None and i == 0:
            return head
        if i != 0 or self._next >= len(self._order):
            raise IndexError("LazyStates gives its head only")
        head = self._head = self._make(self._order[self._next])
        return head

    def pop_ready(self, now_s: float, out: deque[ReqState]) -> float:
        """Move every state ready by ``now_s`` to ``out`` (in order); the next one's ready time (inf:
        none left). One call per arrival batch instead of a ``[0]`` and a ``popleft`` per request."""
        order, make, i, head = self._order, self._make, self._next, self._head
        n = len(order)
        while i < n:
            if head is None:
                head = make(order[i])
            if head.ready_at_s > now_s:
                break
            out.append(head)
            head = None
            i += 1
        self._next, self._head = i, head
        return head.ready_at_s if head is not None else math.inf

    def popleft(self) -> ReqState:
        head = self._head if self._head is not None else self[0]
        self._head = None
        self._next += 1
        return head


StateQueue = deque[ReqState] | LazyStates  # what a scheduler, router or disaggregator consumes


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


class GapCounts:
    """A multiset of gaps (s): each gap recorded with the number of tokens sharing it (module docstring)."""

    __slots__ = ("by_count",)

    def __init__(self) -> None:
        self.by_count: dict[int, array] = {}  # tokens sharing a gap -> the gaps (s)

    def add(self, gap_s: float, count: int) -> None:
        gaps = self.by_count.get(count)
        if gaps is None:
            gaps = self.by_count[count] = array("d")
        gaps.append(gap_s)

    def extend(self, gaps_s: Iterable[float], count: int) -> None:
        """``add`` of each gap with the same count."""
        gaps = self.by_count.get(count)
        if gaps is None:
            gaps = self.by_count[count] = array("d")
        gaps.extend(gaps_s)

    def merge(self, other: GapCounts) -> None:
        for count, gaps in other.by_count.items():
            mine = self.by_count.get(count)
            if mine is None:
                mine = self.by_count[count] = array("d")
            mine.extend(gaps)

    def __len__(self) -> int:
        """Distinct (gap, count) records (not tokens)."""
        return sum(len(g) for g in self.by_count.values())


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
    tbt_hist: GapCounts = field(default_factory=lambda: GapCounts())  # gaps between tokens (s)
    # KV blocks in use as a step function: (iteration start, blocks during it), plus (iteration end,
    # blocks after finished requests released theirs) when some finished; a point that repeats the
    # last recorded count is not stored (the same step function; ``kv_point``).
    kv_time_s: array = field(default_factory=lambda: array("d"))
    kv_used_blocks: array = field(default_factory=lambda: array("d"))
    kv_last_blocks: float = -1.0
    # Timeline columns (only with record_timeline), one entry per iteration.
    it_start_s: array = field(default_factory=lambda: array("d"))
    it_latency_s: array = field(default_factory=lambda: array("d"))
    it_energy_j: array = field(default_factory=lambda: array("d"))
    it_prefill_reqs: array = field(default_factory=lambda: array("l"))
    it_prefill_tokens: array = field(default_factory=lambda: array("l"))
    it_decode_reqs: array = field(default_factory=lambda: array("l"))
    preempt_events: list[tuple[float, int]] = field(default_factory=list)  # (time_s, request index)
    # a cluster's merged run (``cluster.merge_raw``): the package of each iteration / preemption event
    it_package: array = field(default_factory=lambda: array("l"))
    preempt_packages: array = field(default_factory=lambda: array("l"))
    swap: SwapStats = field(default_factory=SwapStats)  # swap preemption (llmimc.sim.swap)


def kv_point(raw: RawRun, time_s: float, used_blocks: float) -> None:
    """Record KV blocks in use from ``time_s`` on, unless the count did not change."""
    if used_blocks != raw.kv_last_blocks:
        raw.kv_time_s.append(time_s)
        raw.kv_used_blocks.append(used_blocks)
        raw.kv_last_blocks = used_blocks


_last_token = attrgetter("last_token_at_s")
computed_of = attrgetter("computed")  # C-level field readers for the hot loops (map(computed_of, reqs))
left_of = attrgetter("left")
seq_of = attrgetter("seq")  # admission order: the key of the sorted ``decoding`` lists


def add_token_gaps(hist: GapCounts, end_s: float, reqs: list[ReqState]) -> None:
    """Count the gap end_s - last token of each request (fast path: one shared last token)."""
    if not reqs:
        return
    lasts = set(map(_last_token, reqs))
    if len(lasts) == 1:
        hist.add(end_s - lasts.pop(), len(reqs))
        return
    for r in reqs:
        hist.add(end_s - r.last_token_at_s, 1)
