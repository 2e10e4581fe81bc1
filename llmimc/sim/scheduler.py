"""Iteration-level continuous-batching scheduler with chunked prefill and preemption (DESIGN.md §5).

One loop step is one model iteration (Orca's iteration-level scheduling; Yu et al., OSDI 2022):

1. Requests that have arrived join the waiting queue (FCFS). When nothing is queued or running, the
   clock jumps to the next arrival (event-driven; idle time costs nothing to simulate).
2. Stall-free batching (Agrawal et al., "Sarathi-Serve", OSDI 2024): first every decoding request
   takes one token, then requests part-way through their prefill take a chunk of
   min(remaining prompt, ``chunk_tokens``, budget left) tokens (chunked prefill), each group in
   admission order. The token budget ``max_tokens_per_iter`` bounds the tokens of one iteration.
3. If a request needs a KV block and none is available, the most recently admitted request not yet
   scheduled in this iteration is preempted by *recompute* (vLLM's default policy): its blocks are
   freed and it goes back to the front of the waiting queue; when re-admitted it prefills its prompt
   plus the tokens it had already generated, then continues decoding. If that victim is the request
   itself, it simply waits.
4. If nothing was preempted, waiting requests are admitted in order while the batch has fewer than
   ``max_batch`` requests, the budget is not spent and their first chunk's blocks can be allocated
   (head-of-line blocking, as vLLM).
5. The iteration is costed by ``cost_model.iteration_cost`` for exactly that batch composition; the
   clock advances by its latency. A request whose prefill completes emits its first token at the end
   of that iteration (as vLLM/Vidur: the prefill samples the first output token), so a request with D
   output tokens takes D - 1 decode iterations after its prefill and peaks at P + D - 1 KV tokens.

Iteration energy is attributed to the requests of that iteration in proportion to the tokens each
processed in it (prefill chunk tokens, or 1 for a decode), so per-request energies sum to the total.

The hot loop uses plain ints, lists and ``array('d')`` columns (no pydantic); results are turned into
typed models by ``llmimc.sim.serve_metrics``.
"""

from __future__ import annotations

from array import array
from bisect import insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from llmimc.cost.iteration import IterationCostModel, PrefillChunk
from llmimc.sim.kv_blocks import KVBlockAllocator

PROGRESS_EVERY_ITERATIONS = 2048  # how often on_progress is called (it also fires at the end)


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
    cache_hit_tokens: int = 0  # prompt tokens skipped thanks to the prefix cache (all admissions)


@dataclass(frozen=True, slots=True)
class SchedulerParams:
    max_batch: int
    max_tokens_per_iter: int
    chunk_tokens: int
    block_tokens: int
    total_blocks: int
    prefix_block_tokens: int  # 0 when prefix caching is off
    record_timeline: bool


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
    tbt_s: array = field(default_factory=lambda: array("d"))  # one entry per token after the first
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


def simulate(
    cost_model: IterationCostModel,
    states: list[ReqState],
    params: SchedulerParams,
    on_progress: Callable[[int, int], None] | None,
    progress_total: int,
    progress_offset: int,
) -> RawRun:
    """Run the scheduler until every state in ``states`` (sorted by arrival) has finished."""
    run = RawRun()
    bt = params.block_tokens
    pbt = params.prefix_block_tokens
    bpp = pbt // bt if pbt else 0
    alloc = KVBlockAllocator(params.total_blocks, bpp)
    budget_max = params.max_tokens_per_iter
    chunk_max = params.chunk_tokens
    max_batch = params.max_batch
    timeline = params.record_timeline
    iteration_cost = cost_model.iteration_cost
    tbt_append = run.tbt_s.append
    tbt_extend = run.tbt_s.extend
    kv_t_append = run.kv_time_s.append
    kv_u_append = run.kv_used_blocks.append

    waiting: deque[ReqState] = deque()
    decoding: list[ReqState] = []  # prefill done; ordered by seq
    prefilling: list[ReqState] = []  # admitted, prefill not done; ordered by seq
    now = 0.0
    next_arrival = 0
    n = len(states)
    done = 0
    iterations = 0
    seq = 0
    energy_j_total = d2d_bytes = offpkg_bytes = busy_time_s = 0.0
    prefill_tokens_total = 0

    def release(r: ReqState) -> None:
        alloc.free(r.private_blocks)
        r.private_blocks = 0
        for prefix_id in reversed(r.refs):  # tail blocks become the least recently used
            alloc.release(prefix_id)
        r.refs.clear()

    def preempt(r: ReqState, at_s: float) -> None:
        release(r)
        r.prefill_target = r.prompt_tokens + r.decode_tokens - r.left
        r.computed = 0
        r.preemptions += 1
        run.preemptions += 1
        waiting.appendleft(r)
        if timeline:
            run.preempt_events.append((at_s, r.index))

    def register_prefix(r: ReqState) -> None:
        ids = r.prefix_ids
        upto = min(len(ids), r.computed // pbt)
        for i in range(len(r.refs), upto):
            if not alloc.register(ids[i]):
                alloc.free(bpp)  # an equal entry exists: drop our duplicate copy
            r.private_blocks -= bpp
            r.refs.append(ids[i])

    def finish(r: ReqState, at_s: float) -> None:
        r.finished_at_s = at_s
        release(r)

    while done < n:
        while next_arrival < n and states[next_arrival].arrived_at_s <= now:
            waiting.append(states[next_arrival])
            next_arrival += 1
        if not decoding and not prefilling and not waiting:
            now = states[next_arrival].arrived_at_s
            continue

        budget = budget_max
        preempted = False

        # Pass 1: one token for every decoding request; a new KV block every bt tokens.
        n_dec = len(decoding) if len(decoding) < budget else budget
        dec_sched = decoding[:n_dec]
        decode_past = [r.computed for r in dec_sched]
        for k in [k for k, c in enumerate(decode_past) if not c % bt]:
            if k >= n_dec:
                break
            r = dec_sched[k]
            if alloc.free_blocks:
                alloc.free_blocks -= 1
            elif not alloc.allocate(1):
                victim = None
                while alloc.available() < 1:
                    if prefilling and prefilling[-1].seq > decoding[-1].seq:
                        victim = prefilling.pop()
                    else:
                        victim = decoding.pop()
                    preempt(victim, now)
                    preempted = True
                    if victim is r:
                        break
                if len(decoding) < n_dec:
                    n_dec = len(decoding)
                if victim is r:
                    break
                alloc.allocate(1)
            r.private_blocks += 1
        if n_dec < len(dec_sched):
            del dec_sched[n_dec:]
            del decode_past[n_dec:]
        budget -= n_dec

        # Pass 2: prefill chunks of admitted requests, then admit waiting ones (FCFS).
        pre_sched: list[ReqState] = []
        pre_tokens: list[int] = []
        chunks: list[PrefillChunk] = []
        j = 0
        while j < len(prefilling) and budget > 0:
            r = prefilling[j]
            c = r.computed
            tokens = r.prefill_target - c
            if tokens > chunk_max:
                tokens = chunk_max
            if tokens > budget:
                tokens = budget
            need = -(-(c + tokens) // bt) - r.private_blocks - len(r.refs) * bpp
            if need > 0:
                victim = None
                while alloc.available() < need:
                    victim = prefilling.pop()
                    preempt(victim, now)
                    preempted = True
                    if victim is r:
                        break
                if victim is r:
                    break
                alloc.allocate(need)
                r.private_blocks += need
            budget -= tokens
            pre_sched.append(r)
            pre_tokens.append(tokens)
            chunks.append(PrefillChunk(tokens, c))
            j += 1

        if not preempted:
            while waiting and budget > 0 and len(decoding) + len(prefilling) < max_batch:
                r = waiting[0]
                if r.prefix_ids is not None:
                    for prefix_id in r.prefix_ids:
                        if not alloc.acquire(prefix_id):
                            break
                        r.refs.append(prefix_id)
                    hit = len(r.refs) * pbt
                    r.computed = hit if hit < r.prefill_target else r.prefill_target - 1
                c = r.computed
                tokens = r.prefill_target - c
                if tokens > chunk_max:
                    tokens = chunk_max
                if tokens > budget:
                    tokens = budget
                need = -(-(c + tokens) // bt) - len(r.refs) * bpp
                if need > 0 and not alloc.allocate(need):
                    release(r)
                    r.computed = 0
                    break
                r.private_blocks = need if need > 0 else 0
                r.cache_hit_tokens += c
                waiting.popleft()
                r.seq = seq
                seq += 1
                prefilling.append(r)
                if r.first_scheduled_at_s < 0:
                    r.first_scheduled_at_s = now
                budget -= tokens
                pre_sched.append(r)
                pre_tokens.append(tokens)
                chunks.append(PrefillChunk(tokens, c))

        n_decode = len(dec_sched)
        if not chunks and not n_decode:
            if preempted:
                continue  # freed KV; re-admission happens in the next pass at the same time
            raise RuntimeError(
                f"scheduler made no progress at t={now:.6g}s with {len(decoding) + len(prefilling)} "
                f"running and {len(waiting)} waiting requests (KV blocks available: {alloc.available()})"
            )

        kv_t_append(now)
        kv_u_append(alloc.used_blocks)
        cost = iteration_cost(chunks, decode_past)
        latency_s = float(cost.latency_s)
        energy_j = float(cost.energy_j)  # cost models may return numpy scalars
        end = now + latency_s
        n_prefill_tokens = sum(pre_tokens)
        e_tok = energy_j / (n_prefill_tokens + n_decode)
        finished_any = False

        tbt_extend([end - r.last_token_at_s for r in dec_sched])
        for r in dec_sched:
            r.computed += 1
            r.energy_j += e_tok
            r.last_token_at_s = end
            r.left -= 1
            if not r.left:
                finished_any = True
        if finished_any:
            keep = []
            for r in decoding:
                if r.left:
                    keep.append(r)
                else:
                    finish(r, end)
                    done += 1
            decoding = keep

        prefill_done = False
        for r, tokens in zip(pre_sched, pre_tokens, strict=True):
            r.computed += tokens
            r.energy_j += e_tok * tokens
            if bpp and r.prefix_ids is not None and len(r.refs) < len(r.prefix_ids):
                register_prefix(r)
            if r.computed == r.prefill_target:
                prefill_done = True
                r.left -= 1
                if r.first_token_at_s < 0:
                    r.first_token_at_s = end
                else:
                    tbt_append(end - r.last_token_at_s)
                r.last_token_at_s = end
        if prefill_done:
            keep = []
            for r in prefilling:
                if r.computed < r.prefill_target:
                    keep.append(r)
                elif r.left:
                    insort(decoding, r, key=_by_seq)
                else:
                    finish(r, end)
                    done += 1
                    finished_any = True
            prefilling = keep

        if finished_any:
            kv_t_append(end)
            kv_u_append(alloc.used_blocks)
        energy_j_total += energy_j
        d2d_bytes += cost.d2d_bytes
        offpkg_bytes += cost.offpkg_bytes
        busy_time_s += latency_s
        prefill_tokens_total += n_prefill_tokens
        if timeline:
            run.it_start_s.append(now)
            run.it_latency_s.append(latency_s)
            run.it_energy_j.append(energy_j)
            run.it_prefill_reqs.append(len(chunks))
            run.it_prefill_tokens.append(n_prefill_tokens)
            run.it_decode_reqs.append(n_decode)
        now = end
        iterations += 1
        if on_progress is not None and not iterations % PROGRESS_EVERY_ITERATIONS:
            on_progress(progress_offset + done, progress_total)

    run.iterations = iterations
    run.end_time_s = now
    run.energy_j = energy_j_total
    run.d2d_bytes = d2d_bytes
    run.offpkg_bytes = offpkg_bytes
    run.busy_time_s = busy_time_s
    run.prefill_tokens_computed = prefill_tokens_total
    run.cache_evictions = alloc.evictions
    return run


def _by_seq(r: ReqState) -> int:
    return r.seq
