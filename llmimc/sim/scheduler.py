"""Iteration-level continuous-batching scheduler with chunked prefill and preemption (DESIGN.md §5).

One loop step is one model iteration (Orca's iteration-level scheduling; Yu et al., OSDI 2022):

1. Requests that have arrived join the waiting queue (FCFS). When nothing is queued or running, the
   clock jumps to the next arrival (event-driven; idle time costs nothing to simulate).
2. Stall-free batching (Agrawal et al., "Sarathi-Serve", OSDI 2024): first every decoding request
   takes one token, then requests part-way through their prefill take a chunk of
   min(remaining prompt, ``chunk_tokens``, budget left) tokens (chunked prefill), each group in
   admission order. The token budget ``max_tokens_per_iter`` bounds the tokens of one iteration.
3. If a request needs a KV block and none is available, the newest running request not yet scheduled
   in this iteration, other than the requester, is preempted by *recompute* (vLLM v1:
   ``running.pop()``; the requester itself only when no other candidate is left): its blocks are freed
   and it goes back to the front of the waiting queue; when re-admitted it prefills its prompt plus
   the tokens it had already generated, then continues decoding. With swap preemption
   (``SchedulerParams.swap``, ``llmimc.sim.swap``) its KV is copied out to off-package memory instead
   (when the swap space has room) and copied back when it is re-admitted, keeping its progress.
4. If nothing was preempted, waiting requests are admitted in order while the batch has fewer than
   ``max_batch`` requests and the budget is not spent, gated on the *full* prompt (vLLM v1
   ``full_sequence_must_fit``; Vidur reserves ceil(P / block) at admission): the blocks of its whole
   prefill target, less prefix-cache hits, must fit in the available blocks minus a watermark of
   ``watermark_blocks`` (vLLM ``watermark``, Vidur ``watermark_blocks_fraction``). Only the first
   chunk's blocks are allocated; later chunks allocate as they go (head-of-line blocking, as vLLM).
   Prefix-cache hits count at the first admission; hits at re-admissions are kept apart.
5. The iteration is costed by ``cost_model.iteration_cost`` for exactly that batch composition; the
   clock advances by its latency. A request whose prefill completes emits its first token at the end
   of that iteration (as vLLM/Vidur: the prefill samples the first output token), so a request with D
   output tokens takes D - 1 decode iterations after its prefill and peaks at P + D - 1 KV tokens.

Decode clock (``llmimc.sim.decode_clock``): decoding requests' progress (tokens, blocks, energy, last
token) is kept as offsets from counters they share, so an iteration costs O(requests that change state),
not O(batch); a request's fields are brought up to date (its energy from a compensated running sum,
equal to the one-by-one additions up to rounding) when it finishes, is preempted, or an iteration
cannot give every decoding request its token and block (then every request is updated one by one, as
``Scheduler.decode_clock = False`` does for every iteration).
Admission (pass 3) is in ``llmimc.sim.admission``.

Event skipping (``llmimc.sim.decode_stretch``): when the batch is decode-only and nothing can be
admitted, whole stretches of iterations up to the next event are advanced at once; the schedule and
every measured number are those of the step-by-step loop.

Iteration energy is attributed to the requests of that iteration in proportion to the tokens each
processed in it (prefill chunk tokens, or 1 for a decode), so per-request energies sum to the total.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import deque
from collections.abc import Callable
from itertools import compress
from operator import not_

from llmimc.cost.iteration import IterationCostModel, PrefillChunk
from llmimc.sim.admission import admission_blocked, admit, admit_ready, resume_swapped
from llmimc.sim.decode_clock import DecodeClock
from llmimc.sim.decode_stretch import try_stretch
from llmimc.sim.kv_blocks import KVBlockAllocator
from llmimc.sim.sched_state import (
    LazyStates,
    RawRun,
    ReqState,
    SchedulerParams,
    StateQueue,
    add_token_gaps,
    computed_of,
    kv_point,
    left_of,
    seq_of,
)
from llmimc.sim.swap import SwapSpace

__all__ = ["RawRun", "ReqState", "Scheduler", "SchedulerParams", "simulate"]

PROGRESS_EVERY_ITERATIONS = 2048  # how often on_progress is called (it also fires at the end)


class Scheduler:
    """One serving package: queues, KV blocks and the clock; ``run`` simulates to the last finish."""

    # False: every iteration updates each decoding request's fields one by one (the reference the
    # decode clock is tested against; llmimc.sim.decode_clock)
    decode_clock = True

    def __init__(
        self,
        cost_model: IterationCostModel,
        states: list[ReqState] | StateQueue,
        params: SchedulerParams,
        on_finish: Callable[[ReqState], None] | None = None,
        on_handoff: Callable[[ReqState, float], None] | None = None,
    ) -> None:
        # a compiled model gives each run its own session (llmimc.cost.session): what it tables
        # depends only on this run's iterations
        session = getattr(cost_model, "session", None)
        self.cost_model: IterationCostModel = session() if session is not None else cost_model
        # prefill-only package (disaggregation): a finished prefill leaves here via on_handoff(r, t)
        self.on_handoff = on_handoff
        # not yet joined, sorted by arrival; joined requests leave it (finished ones can be freed)
        self.pending: StateQueue = states if isinstance(states, deque | LazyStates) else deque(states)
        # when the head of ``pending`` may join (inf: none); kept by _join_arrivals and add
        self.next_ready_s = self.pending[0].ready_at_s if self.pending else math.inf
        self.p = params
        bpp = params.prefix_block_tokens // params.block_tokens if params.prefix_block_tokens else 0
        self.bpp = bpp
        self.alloc = KVBlockAllocator(params.total_blocks, bpp)
        self.on_finish = on_finish
        self.run_data = RawRun()
        self.waiting: deque[ReqState] = deque()
        self.decoding: list[ReqState] = []  # prefill done; ordered by seq
        self.prefilling: list[ReqState] = []  # admitted, prefill not done; ordered by seq
        self.now = 0.0
        self.done = 0
        self.seq = 0
        self.preempted = False
        self.admitted_ready = False
        # swap preemption (llmimc.sim.swap): preempted KV copied out and back instead of recomputed
        self.swap = SwapSpace(params.swap, self.run_data.swap) if params.swap is not None else None
        # decoding requests' shared progress (llmimc.sim.decode_clock); late: admitted straight to
        # decoding during this step (they join the clock after its iteration)
        self.clock = DecodeClock(params.block_tokens)
        self.late: list[ReqState] = []
        self._summed = getattr(self.cost_model, "summed_cost", None)
        self.stretch_costs = getattr(self.cost_model, "decode_stretch", None)  # llmimc.sim.decode_stretch

    # -- driver -------------------------------------------------------------------------------------
    def run(self, on_progress: Callable[[int], None] | None = None) -> RawRun:
        """Simulate until every request has finished; ``on_progress(done)`` now and then."""
        self.advance(math.inf, on_progress)
        return self.finish_run()

    def advance(self, until_s: float, on_progress: Callable[[int], None] | None = None) -> None:
        """Run every iteration that starts before ``until_s`` (a cluster router's next arrival)."""
        raw = self.run_data
        next_report = raw.iterations + PROGRESS_EVERY_ITERATIONS
        skipping = self.p.event_skipping
        while True:
            if self.next_ready_s <= self.now:
                self._join_arrivals()
            if not self.decoding and not self.prefilling and not self.waiting:
                if self.next_ready_s < until_s:
                    self.now = self.next_ready_s
                    continue
                return
            if self.now >= until_s:
                return
            if not (skipping and try_stretch(self, until_s)):
                self.step()
            if on_progress is not None and raw.iterations >= next_report:
                next_report = raw.iterations + PROGRESS_EVERY_ITERATIONS
                on_progress(self.done)

    def add(self, state: ReqState) -> None:
        """Route one more request here (arrivals must come in time order)."""
        if not isinstance(self.pending, deque):  # a router's package starts from an empty deque
            raise TypeError("add() needs a scheduler built on a deque of states")
        self.pending.append(state)
        if len(self.pending) == 1:
            self.next_ready_s = state.ready_at_s

    def finish_run(self) -> RawRun:
        raw = self.run_data
        raw.end_time_s = self.now
        raw.cache_evictions = self.alloc.evictions
        return raw

    def _join_arrivals(self) -> None:
        pending, now = self.pending, self.now
        if isinstance(pending, LazyStates):
            self.next_ready_s = pending.pop_ready(now, self.waiting)
            return
        while pending:
            head = pending[0]
            if head.ready_at_s > now:
                self.next_ready_s = head.ready_at_s
                return
            self.waiting.append(pending.popleft())
        self.next_ready_s = math.inf

    # -- one iteration ------------------------------------------------------------------------------
    def step(self) -> None:
        """Schedule, cost and apply one iteration.

        Decodes go through the decode clock (``llmimc.sim.decode_clock``: O(1) per iteration) when every
        decoding request takes its token and its block; otherwise every request is synced, updated one
        by one, and the clock restarted from their fields."""
        self.preempted = False
        self.admitted_ready = False
        budget = self.p.max_tokens_per_iter
        decoding, clock, alloc = self.decoding, self.clock, self.alloc
        n_dec = len(decoding)
        need = clock.residue[clock.k % clock.bt]
        clocked = n_dec <= budget and need <= alloc.free_blocks and self.decode_clock
        dec_sched: list[ReqState] = []
        decode_past: list[int] = []
        if clocked:
            alloc.free_blocks -= need
            clock.scheduled = n_dec
        else:
            clock.scheduled = 0
            clock.sync_all(decoding)
            dec_sched, decode_past = self._schedule_decodes(budget)
            n_dec = len(dec_sched)
        budget -= n_dec
        pre_sched: list[ReqState] = []
        pre_tokens: list[int] = []
        chunks: list[PrefillChunk] = []
        if self.prefilling:
            budget = self._schedule_prefills(budget, pre_sched, pre_tokens, chunks)
        if self.waiting and not self.preempted:
            self._admit(budget, pre_sched, pre_tokens, chunks)
        if not chunks and not n_dec:
            self._join_late(clocked)
            if self.preempted or self.admitted_ready:
                return  # freed KV or admitted delivered KV: the next pass at the same time runs them
            raise RuntimeError(
                f"scheduler made no progress at t={self.now:.6g}s with "
                f"{len(self.decoding) + len(self.prefilling)} running and {len(self.waiting)} waiting "
                f"requests (KV blocks available: {self.alloc.available()})"
            )
        raw = self.run_data
        kv_point(raw, self.now, alloc.used_blocks)
        latency_s, energy_j, d2d_bytes, offpkg_bytes = self._cost(clocked, chunks, n_dec, decode_past)
        end = self.now + latency_s
        n_prefill_tokens = sum(pre_tokens)
        e_tok = energy_j / (n_prefill_tokens + n_dec)
        finished_any = False
        if clocked:
            if n_dec:
                if clock.fresh:
                    clock.add_gaps(raw.tbt_hist, end, decoding, n_dec)
                else:  # every last token at the clock's latest iteration end
                    raw.tbt_hist.add(end - clock.last_end_s, n_dec)
                clock.tick(e_tok, end, decoding)
            if self.late:
                self._join_late(True)
            if clock.k in clock.finish:
                self._retire_clocked(end)
                finished_any = True
        else:
            add_token_gaps(raw.tbt_hist, end, dec_sched)
            for r in dec_sched:
                r.computed += 1
                r.energy_j += e_tok
                r.last_token_at_s = end
                r.left -= 1
                if not r.left:
                    finished_any = True
            if finished_any:
                self.retire_decodes(end)
        finished_any = self._advance_prefills(end, e_tok, pre_sched, pre_tokens) or finished_any
        if not clocked:
            self._join_late(False)
        if finished_any:
            kv_point(raw, end, alloc.used_blocks)
        raw.energy_j += energy_j
        raw.d2d_bytes += d2d_bytes
        raw.offpkg_bytes += offpkg_bytes
        raw.busy_time_s += latency_s
        raw.prefill_tokens_computed += n_prefill_tokens
        if self.p.record_timeline:
            raw.it_start_s.append(self.now)
            raw.it_latency_s.append(latency_s)
            raw.it_energy_j.append(energy_j)
            raw.it_prefill_reqs.append(len(chunks))
            raw.it_prefill_tokens.append(n_prefill_tokens)
            raw.it_decode_reqs.append(n_dec)
        self.now = end
        raw.iterations += 1

    def _cost(
        self, clocked: bool, chunks: list[PrefillChunk], n_dec: int, decode_past: list[int]
    ) -> tuple[float, float, float, float]:
        """(latency_s, energy_j, d2d_bytes, offpkg_bytes) of this iteration; a clocked iteration's decodes
        are the whole ``decoding`` list (their past tokens from the clock)."""
        clock = self.clock
        summed = self._summed
        if summed is not None:
            past_sum = clock.offset_sum + n_dec * clock.k if clocked else sum(decode_past)
            costs = summed(chunks, n_dec, past_sum)
            if costs is not None:
                return costs  # Python floats (llmimc.cost.session.fast_cost)
        if clocked:
            k = clock.k
            # decoding[:n_dec]: a request admitted with its KV during this step waits for the next
            decode_past = [r.computed + k - r.clock_k for r in self.decoding[:n_dec]]
        cost = self.cost_model.iteration_cost(chunks, decode_past)
        # cost models may return numpy scalars
        return float(cost.latency_s), float(cost.energy_j), float(cost.d2d_bytes), float(cost.offpkg_bytes)

    def _join_late(self, clocked: bool) -> None:
        """Requests admitted straight to decoding in this step join the clock (or it restarts)."""
        if clocked:
            for r in self.late:
                self.clock.join(r)
        else:
            self.clock.rebuild(self.decoding)
        self.late.clear()

    def _retire_clocked(self, end: float) -> None:
        """Finish the clocked requests that emitted their last token at ``end``."""
        done = self.clock.finishing()
        decoding = self.decoding
        if len(done) == 1:
            decoding.remove(done[0])  # by identity (ReqState)
        else:
            self.decoding = list(filter(left_of, decoding))  # the finished have none left
        for r in done:
            self._finish(r, end)

    def _schedule_decodes(self, budget: int) -> tuple[list[ReqState], list[int]]:
        """Pass 1: one token for every decoding request; a new KV block every block_tokens tokens."""
        decoding, alloc, bt = self.decoding, self.alloc, self.p.block_tokens
        n_dec = len(decoding) if len(decoding) < budget else budget
        dec_sched = decoding[:n_dec]
        decode_past = list(map(computed_of, dec_sched))
        # requests at a block boundary (past % bt == 0), found by C-level iterators (hot path)
        for k in list(compress(range(n_dec), map(not_, map(bt.__rmod__, decode_past)))):
            if k >= n_dec:
                break
            r = dec_sched[k]
            if alloc.free_blocks:
                alloc.free_blocks -= 1
            elif not alloc.allocate(1):
                if not self._make_room(r, 1, k):
                    n_dec = len(decoding) if len(decoding) < n_dec else n_dec
                    break
                n_dec = len(decoding) if len(decoding) < n_dec else n_dec
                alloc.allocate(1)
            r.private_blocks += 1
        if n_dec < len(dec_sched):
            del dec_sched[n_dec:]
            del decode_past[n_dec:]
        return dec_sched, decode_past

    def _make_room(self, r: ReqState, need: int, dec_index: int) -> bool:
        """Preempt newest unscheduled running requests until ``need`` blocks are available.

        ``dec_index`` is r's position in ``decoding`` (pass 1) or -1 (r is prefilling, pass 2, and
        every decode is already scheduled). Returns False when r itself had to be preempted.
        """
        decoding, prefilling, alloc = self.decoding, self.prefilling, self.alloc
        while alloc.available() < need:
            dec_cand = decoding[-1] if dec_index >= 0 and len(decoding) - 1 > dec_index else None
            pre_cand = prefilling[-1] if prefilling and prefilling[-1] is not r else None
            if dec_cand is not None and (pre_cand is None or dec_cand.seq > pre_cand.seq):
                decoding.pop()
                self._preempt(dec_cand)
            elif pre_cand is not None:
                prefilling.pop()
                self._preempt(pre_cand)
            else:  # r is the only unscheduled running request: it waits
                (decoding if dec_index >= 0 else prefilling).pop()
                self._preempt(r)
                return False
        return True

    def _schedule_prefills(
        self, budget: int, pre_sched: list[ReqState], pre_tokens: list[int], chunks: list[PrefillChunk]
    ) -> int:
        """Pass 2: the next chunk of every request part-way through its prefill (admission order)."""
        prefilling, alloc = self.prefilling, self.alloc
        bt, bpp, chunk_max = self.p.block_tokens, self.bpp, self.p.chunk_tokens
        j = 0
        while j < len(prefilling) and budget > 0:
            r = prefilling[j]
            c = r.computed
            tokens = min(r.prefill_target - c, chunk_max, budget)
            need = -(-(c + tokens) // bt) - r.private_blocks - len(r.refs) * bpp
            if need > 0:
                if not self._make_room(r, need, -1):
                    break
                alloc.allocate(need)
                r.private_blocks += need
            budget -= tokens
            pre_sched.append(r)
            pre_tokens.append(tokens)
            chunks.append(PrefillChunk(tokens, c))
            j += 1
        return budget

    # pass 3 (llmimc.sim.admission)
    _admit = admit
    _admit_ready = admit_ready
    _resume_swapped = resume_swapped
    admission_blocked = admission_blocked

    # -- retiring -----------------------------------------------------------------------------------
    def retire_decodes(self, end: float) -> None:
        """Finish the decoding requests that emitted their last token at ``end``."""
        decoding = self.decoding
        done = [r for r in decoding if not r.left]
        self.decoding = [r for r in decoding if r.left]
        for r in done:
            self._finish(r, end)

    def _advance_prefills(
        self, end: float, e_tok: float, pre_sched: list[ReqState], pre_tokens: list[int]
    ) -> bool:
        """Apply this iteration's prefill chunks; completed prefills emit a token. True if any finished."""
        hist = self.run_data.tbt_hist
        prefill_done = False
        for r, tokens in zip(pre_sched, pre_tokens, strict=True):
            r.computed += tokens
            r.energy_j += e_tok * tokens
            if self.bpp and r.prefix_ids is not None and len(r.refs) < len(r.prefix_ids):
                self._register_prefix(r)
            if r.computed == r.prefill_target:
                prefill_done = True
                r.left -= 1
                if r.first_token_at_s < 0:
                    r.first_token_at_s = end
                else:
                    hist.add(end - r.last_token_at_s, 1)
                r.last_token_at_s = end
        if not prefill_done:
            return False
        finished_any = False
        keep = []
        for r in self.prefilling:
            if r.computed < r.prefill_target:
                keep.append(r)
            elif r.left and self.on_handoff is not None:
                self._release(r)
                self.done += 1
                self.on_handoff(r, end)
                finished_any = True
            elif r.left:
                insort(self.decoding, r, key=seq_of)
                self.clock.join(r)
            else:
                self._finish(r, end)
                finished_any = True
        self.prefilling = keep
        return finished_any

    def _finish(self, r: ReqState, at_s: float) -> None:
        r.finished_at_s = at_s
        self._release(r)
        self.done += 1
        if self.on_finish is not None:
            self.on_finish(r)

    # -- KV bookkeeping -----------------------------------------------------------------------------
    def _release(self, r: ReqState) -> None:
        self.alloc.free(r.private_blocks)
        r.private_blocks = 0
        for prefix_id in reversed(r.refs):  # tail blocks become the least recently used
            self.alloc.release(prefix_id)
        r.refs.clear()

    def _preempt(self, r: ReqState) -> None:
        swapped = self.swap is not None and self.swap.swap_out(self, r)
        self._release(r)
        if not swapped:  # recompute: re-prefill the prompt and the tokens emitted so far
            r.prefill_target = r.prompt_tokens + r.decode_tokens - r.left
            r.computed = 0
        r.preemptions += 1
        self.run_data.preemptions += 1
        self.waiting.appendleft(r)
        self.preempted = True
        if self.p.record_timeline:
            self.run_data.preempt_events.append((self.now, r.index))

    def _register_prefix(self, r: ReqState) -> None:
        ids = r.prefix_ids
        assert ids is not None
        upto = min(len(ids), r.computed // self.p.prefix_block_tokens)
        for i in range(len(r.refs), upto):
            if not self.alloc.register(ids[i]):
                self.alloc.free(self.bpp)  # an equal entry exists: drop our duplicate copy
            r.private_blocks -= self.bpp
            r.refs.append(ids[i])


def simulate(
    cost_model: IterationCostModel,
    states: list[ReqState] | StateQueue,
    params: SchedulerParams,
    on_progress: Callable[[int, int], None] | None,
    progress_total: int,
    progress_offset: int,
    on_finish: Callable[[ReqState], None] | None = None,
) -> RawRun:
    """Run the scheduler until every state in ``states`` (sorted by arrival) has finished.

    A deque is consumed (joined requests leave it, so finished ones can be freed); a list is copied.
    """
    sched = Scheduler(cost_model, states, params, on_finish)
    report = None
    if on_progress is not None:
        progress = on_progress

        def report(done: int) -> None:
            progress(progress_offset + done, progress_total)

    return sched.run(report)
