"""Iteration-level continuous-batching scheduler with chunked prefill and preemption (DESIGN.md §5).

One loop step is one model iteration (Orca's iteration-level scheduling; Yu et al., OSDI 2022):

1. Requests that have arrived join the waiting queue (FCFS). When nothing is queued or running, the
   clock jumps to the next arrival (event-driven; idle time costs nothing to simulate).
2. Running requests are visited in admission order (vLLM v1 scheduler): a decoding request takes one
   token, a request still in prefill takes a chunk of min(remaining prompt, ``chunk_tokens``, budget
   left) tokens (chunked prefill, Agrawal et al., "Sarathi-Serve", OSDI 2024). The token budget
   ``max_tokens_per_iter`` bounds the tokens of one iteration.
3. If a request needs a KV block and none is available, the most recently admitted running request
   is preempted by *recompute* (vLLM's default policy): its blocks are freed and it goes back to the
   front of the waiting queue; when re-admitted it prefills its prompt plus the tokens it had already
   generated, then continues decoding. A request that would have to preempt itself waits.
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
    prefill_target: int = 0  # tokens to prefill before the next token can be emitted
    computed: int = 0  # tokens whose KV is in the cache
    generated: int = 0  # output tokens emitted
    private_blocks: int = 0
    refs: list[int] = field(default_factory=list)  # prefix-cache ids this request references
    energy_j: float = 0.0
    first_scheduled_at_s: float = -1.0
    first_token_at_s: float = -1.0
    last_token_at_s: float = -1.0
    finished_at_s: float = -1.0
    preemptions: int = 0
    cache_hit_tokens: int = 0  # prompt tokens skipped thanks to the prefix cache (all admissions)
    done: bool = False


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
    decode_tokens_computed: int = 0
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
    num_to_serve: int,
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
    kv_t_append = run.kv_time_s.append
    kv_u_append = run.kv_used_blocks.append

    waiting: deque[ReqState] = deque()
    running: list[ReqState] = []
    now = 0.0
    next_arrival = 0
    n = len(states)
    done = 0
    iterations = 0

    def release(r: ReqState) -> None:
        alloc.free(r.private_blocks)
        r.private_blocks = 0
        for prefix_id in reversed(r.refs):  # tail blocks become the least recently used
            alloc.release(prefix_id)
        r.refs.clear()

    def preempt(r: ReqState, at_s: float) -> None:
        release(r)
        r.prefill_target = r.prompt_tokens + r.generated
        r.computed = 0
        r.preemptions += 1
        run.preemptions += 1
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

    while done < num_to_serve:
        while next_arrival < n and states[next_arrival].arrived_at_s <= now:
            waiting.append(states[next_arrival])
            next_arrival += 1
        if not running and not waiting:
            now = states[next_arrival].arrived_at_s
            continue

        budget = budget_max
        prefill_reqs: list[ReqState] = []
        prefill_tokens: list[int] = []
        chunks: list[PrefillChunk] = []
        decode_reqs: list[ReqState] = []
        decode_past: list[int] = []
        preempted = False

        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            computed = r.computed
            remaining = r.prefill_target - computed
            tokens = (remaining if remaining < chunk_max else chunk_max) if remaining > 0 else 1
            if tokens > budget:
                tokens = budget
            need = -(-(computed + tokens) // bt) - r.private_blocks - len(r.refs) * bpp
            if need > 0:
                victim = None
                while alloc.available() < need:
                    victim = running.pop()
                    preempt(victim, now)
                    waiting.appendleft(victim)
                    preempted = True
                    if victim is r:
                        break
                if victim is r:
                    break
                alloc.allocate(need)
                r.private_blocks += need
            budget -= tokens
            if remaining > 0:
                prefill_reqs.append(r)
                prefill_tokens.append(tokens)
                chunks.append(PrefillChunk(tokens, computed))
            else:
                decode_reqs.append(r)
                decode_past.append(computed)
            i += 1

        if not preempted:
            while waiting and budget > 0 and len(running) < max_batch:
                r = waiting[0]
                if r.prefill_target == 0:
                    r.prefill_target = r.prompt_tokens
                if r.prefix_ids is not None:
                    for prefix_id in r.prefix_ids:
                        if not alloc.acquire(prefix_id):
                            break
                        r.refs.append(prefix_id)
                    hit = len(r.refs) * pbt
                    r.computed = hit if hit < r.prefill_target else r.prefill_target - 1
                computed = r.computed
                remaining = r.prefill_target - computed
                tokens = remaining if remaining < chunk_max else chunk_max
                if tokens > budget:
                    tokens = budget
                need = -(-(computed + tokens) // bt) - len(r.refs) * bpp
                if need > 0 and not alloc.allocate(need):
                    release(r)
                    r.computed = 0
                    break
                if need > 0:
                    r.private_blocks = need
                r.cache_hit_tokens += computed
                waiting.popleft()
                running.append(r)
                if r.first_scheduled_at_s < 0:
                    r.first_scheduled_at_s = now
                budget -= tokens
                prefill_reqs.append(r)
                prefill_tokens.append(tokens)
                chunks.append(PrefillChunk(tokens, computed))

        n_decode = len(decode_reqs)
        if not chunks and not n_decode:
            if preempted:
                continue  # freed KV; re-admission happens in the next pass at the same time
            raise RuntimeError(
                f"scheduler made no progress at t={now:.6g}s with {len(running)} running and "
                f"{len(waiting)} waiting requests (KV blocks available: {alloc.available()})"
            )

        kv_t_append(now)
        kv_u_append(alloc.used_blocks)
        cost = iteration_cost(chunks, decode_past)
        latency_s = cost.latency_s
        energy_j = cost.energy_j
        end = now + latency_s
        n_prefill_tokens = sum(prefill_tokens)
        energy_per_token_j = energy_j / (n_prefill_tokens + n_decode)
        finished_any = False

        for r, tokens in zip(prefill_reqs, prefill_tokens, strict=True):
            r.computed += tokens
            r.energy_j += energy_per_token_j * tokens
            if bpp and r.prefix_ids is not None and len(r.refs) < len(r.prefix_ids):
                register_prefix(r)
            if r.computed == r.prefill_target:
                r.generated += 1
                if r.first_token_at_s < 0:
                    r.first_token_at_s = end
                else:
                    tbt_append(end - r.last_token_at_s)
                r.last_token_at_s = end
                if r.generated == r.decode_tokens:
                    r.finished_at_s = end
                    r.done = True
                    finished_any = True

        for r in decode_reqs:
            r.computed += 1
            r.generated += 1
            r.energy_j += energy_per_token_j
            tbt_append(end - r.last_token_at_s)
            r.last_token_at_s = end
            if r.generated == r.decode_tokens:
                r.finished_at_s = end
                r.done = True
                finished_any = True

        if finished_any:
            keep = []
            for r in running:
                if r.done:
                    release(r)
                    done += 1
                else:
                    keep.append(r)
            running = keep
            kv_t_append(end)
            kv_u_append(alloc.used_blocks)

        run.energy_j += energy_j
        run.d2d_bytes += cost.d2d_bytes
        run.offpkg_bytes += cost.offpkg_bytes
        run.busy_time_s += latency_s
        run.prefill_tokens_computed += n_prefill_tokens
        run.decode_tokens_computed += n_decode
        if timeline:
            run.it_start_s.append(now)
            run.it_latency_s.append(latency_s)
            run.it_energy_j.append(energy_j)
            run.it_prefill_reqs.append(len(chunks))
            run.it_prefill_tokens.append(n_prefill_tokens)
            run.it_decode_reqs.append(n_decode)
        now = end
        iterations += 1
        if on_progress is not None and iterations % PROGRESS_EVERY_ITERATIONS == 0:
            on_progress(progress_offset + done, progress_total)

    run.iterations = iterations
    run.end_time_s = now
    run.cache_evictions = alloc.evictions
    return run
