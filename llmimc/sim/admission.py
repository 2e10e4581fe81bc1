"""Pass 3 of a scheduler step: admitting waiting requests (``llmimc.sim.scheduler`` step 4).

FCFS while the batch has fewer than ``max_batch`` requests and the token budget is not spent, gated
on the *full* prompt (vLLM v1 ``full_sequence_must_fit``; Vidur reserves ceil(P / block) at
admission): the blocks of the whole prefill target, less prefix-cache hits, must fit in the available
blocks minus ``watermark_blocks``. Only the first chunk's blocks are allocated; later chunks allocate
as they go. A request whose KV another package computed (disaggregation) takes all its blocks at once
and decodes from the next iteration; a swapped-out request (``llmimc.sim.swap``) takes its blocks and
its KV is copied back. Prefix-cache hits count at the first admission, re-admission hits apart.

Functions of the scheduler (``self``), bound as its methods.
"""

from __future__ import annotations

from bisect import insort
from typing import TYPE_CHECKING

from llmimc.cost.iteration import PrefillChunk
from llmimc.sim.sched_state import ReqState, seq_of

if TYPE_CHECKING:
    from llmimc.sim.scheduler import Scheduler


def admit(
    self: Scheduler, budget: int, pre_sched: list[ReqState], pre_tokens: list[int], chunks: list[PrefillChunk]
) -> None:
    """Pass 3: admit waiting requests FCFS behind the full-prompt + watermark gate."""
    waiting, alloc, p = self.waiting, self.alloc, self.p
    bt, bpp, pbt = p.block_tokens, self.bpp, p.prefix_block_tokens
    while waiting and budget > 0 and len(self.decoding) + len(self.prefilling) < p.max_batch:
        r = waiting[0]
        if self.swap is not None and r.index in self.swap.swapped:
            if not self._resume_swapped(r):
                break
            continue
        if r.prefix_ids is not None:
            for prefix_id in r.prefix_ids:
                if not alloc.acquire(prefix_id):
                    break
                r.refs.append(prefix_id)
            hit = len(r.refs) * pbt
            r.computed = hit if hit < r.prefill_target else r.prefill_target - 1
        if r.kv_ready:
            if not self._admit_ready(r):
                break
            continue
        c = r.computed
        shared = len(r.refs) * bpp
        if -(-r.prefill_target // bt) - shared > alloc.available() - p.watermark_blocks:
            if r.refs or r.private_blocks:
                self._release(r)
            r.computed = 0
            break
        tokens = min(r.prefill_target - c, p.chunk_tokens, budget)
        need = -(-(c + tokens) // bt) - shared
        if need > 0:
            alloc.allocate(need)  # fits: need <= the full-prompt need checked above
        r.private_blocks = need if need > 0 else 0
        if r.admissions:
            r.readmit_hit_tokens += c
        else:
            r.cache_hit_tokens += c
            r.first_scheduled_at_s = self.now
        r.admissions += 1
        waiting.popleft()
        r.seq = self.seq
        self.seq += 1
        self.prefilling.append(r)
        budget -= tokens
        pre_sched.append(r)
        pre_tokens.append(tokens)
        chunks.append(PrefillChunk(tokens, c))


def admit_ready(self: Scheduler, r: ReqState) -> bool:
    """Admit a request whose prompt KV another package computed: it holds all its blocks at once."""
    need = -(-r.prefill_target // self.p.block_tokens)
    if need > self.alloc.available() - self.p.watermark_blocks:
        return False
    self.alloc.allocate(need)
    r.private_blocks = need
    r.computed = r.prefill_target
    r.kv_ready = False  # a later preemption recomputes here
    r.admissions += 1
    self.waiting.popleft()
    r.seq = self.seq
    self.seq += 1
    insort(self.decoding, r, key=seq_of)
    self.late.append(r)
    self.admitted_ready = True
    return True


def resume_swapped(self: Scheduler, r: ReqState) -> bool:
    """Admit a swapped-out request: its blocks at once (beside the watermark), its KV copied back."""
    assert self.swap is not None
    need = self.swap.blocks_to_resume(r, self.p.block_tokens)
    if need > self.alloc.available() - self.p.watermark_blocks:
        return False
    self.alloc.allocate(need)
    r.private_blocks = need
    self.swap.swap_in(self, r)
    r.admissions += 1
    self.waiting.popleft()
    r.seq = self.seq
    self.seq += 1
    if r.computed >= r.prefill_target:
        insort(self.decoding, r, key=seq_of)
        self.late.append(r)
    else:
        self.prefilling.append(r)
    self.admitted_ready = True
    return True


def admission_blocked(self: Scheduler) -> bool:
    """True when the head of the queue cannot be admitted now nor before a request finishes."""
    p = self.p
    if len(self.decoding) + len(self.prefilling) >= p.max_batch:
        return True
    if p.prefix_block_tokens:
        return False  # hits depend on the cache; not worth predicting
    r = self.waiting[0]
    need = -(-r.prefill_target // p.block_tokens)  # also a delivered request's whole KV
    if self.swap is not None and r.index in self.swap.swapped:
        need = self.swap.blocks_to_resume(r, p.block_tokens)
    return need > self.alloc.available() - p.watermark_blocks
