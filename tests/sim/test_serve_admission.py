"""vLLM v1 admission: full-prompt gate with watermark, newest-running victim, prefix hits at first admission."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from support.serve_fakes import FakeCostModel

from llmimc.sim.sched_state import ReqState, SchedulerParams
from llmimc.sim.scheduler import Scheduler
from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.traces.request import Request


def test_full_prompt_gate_waits_instead_of_thrashing():
    """150 one-token blocks, chunks of 50: A (100 + 10) is admitted; at iteration 3 A holds 101 blocks,
    so B's whole 100-token prompt does not fit in the 49 left and B waits for A instead of being admitted
    on its first chunk and preempted later."""
    reqs = [
        Request(request_id=i, arrived_at=0.0, num_prefill_tokens=100, num_decode_tokens=10) for i in range(2)
    ]
    config = ServeConfig(block_tokens=1, chunk_size=50, max_tokens_per_iter=50, watermark_fraction=0.0)
    result = run_serve(FakeCostModel(kv_capacity=150), reqs, config)
    a, b = result.requests
    assert result.preemptions == 0
    assert b.scheduled_at_s == a.finished_at_s
    assert result.prefill_tokens_computed == 200


def test_watermark_holds_back_blocks_at_admission():
    """100 blocks, 10 % watermark: a 95-token prompt is rejected up front (it could never be admitted)."""
    req = Request(request_id=0, arrived_at=0.0, num_prefill_tokens=95, num_decode_tokens=1)
    kept = run_serve(
        FakeCostModel(kv_capacity=100), [req], ServeConfig(block_tokens=1, watermark_fraction=0.1)
    )
    assert kept.requests[0].reason == "kv_exceeds_capacity"
    ok = run_serve(
        FakeCostModel(kv_capacity=100), [req], ServeConfig(block_tokens=1, watermark_fraction=0.05)
    )
    assert ok.requests[0].status == "finished"


def _state(i: int, seq: int, blocks: int, prefilling: bool) -> ReqState:
    s = ReqState(
        index=i, arrived_at_s=0.0, prompt_tokens=8, decode_tokens=4, prefix_ids=None, left=4, prefill_target=8
    )
    s.seq, s.private_blocks, s.computed = seq, blocks, (blocks - 1 if prefilling else blocks)
    return s


def _scheduler(decoding: list[ReqState], prefilling: list[ReqState], total: int) -> Scheduler:
    params = SchedulerParams(
        max_batch=8,
        max_tokens_per_iter=64,
        chunk_tokens=64,
        block_tokens=1,
        total_blocks=total,
        prefix_block_tokens=0,
        record_timeline=False,
    )
    sched = Scheduler(FakeCostModel(), decoding + prefilling, params)
    sched.decoding, sched.prefilling = decoding, prefilling
    sched.alloc.free_blocks = total - sum(s.private_blocks for s in decoding + prefilling)
    return sched


def test_victim_is_newest_other_running_request_not_the_requester():
    """A decode (seq 1) short of a block while an older prefill (seq 0) is unscheduled: the prefill goes,
    not the requester, even though the requester is the newest."""
    older_prefill, requester = _state(0, 0, 6, True), _state(1, 1, 4, False)
    sched = _scheduler([requester], [older_prefill], total=10)
    assert sched._make_room(requester, 1, 0)
    assert sched.decoding == [requester] and sched.prefilling == []
    assert list(sched.waiting) == [older_prefill] and older_prefill.preemptions == 1
    assert sched.alloc.available() == 6


def test_newest_of_several_is_preempted_first_and_requester_only_when_alone():
    a, b, c = _state(0, 0, 3, False), _state(1, 1, 3, False), _state(2, 2, 4, True)
    sched = _scheduler([a, b], [c], total=10)
    assert sched._make_room(a, 5, 0)  # needs 5: c (newest, 4 blocks) then b (3 blocks)
    assert list(sched.waiting) == [b, c]
    alone = _scheduler([a], [], total=3)
    assert not alone._make_room(a, 1, 0)
    assert list(alone.waiting) == [a] and alone.decoding == []


def _ideal_hits(requests: list[Request], pbt: int) -> int:
    """Independent reference: an unbounded cache fed in arrival order, longest leading run of seen ids."""
    seen: set[int] = set()
    total = 0
    for r in sorted(requests, key=lambda r: (r.arrived_at, r.request_id)):
        ids = (r.prefix_block_ids or [])[: r.num_prefill_tokens // pbt]
        k = 0
        for x in ids:
            if x not in seen:
                break
            k += 1
        total += min(k * pbt, r.num_prefill_tokens - 1)
        seen.update(ids)
    return total


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    kv_blocks=st.integers(40, 400),
    families=st.integers(1, 4),
)
def test_reported_prefix_hit_rate_never_exceeds_unbounded_cache_ideal(seed, n, kv_blocks, families):
    rng = np.random.default_rng(seed)
    pbt = 32
    requests = []
    t = 0.0
    for i in range(n):
        t += float(rng.exponential(0.005))
        fam = int(rng.integers(0, families))
        shared = int(rng.integers(0, 5))
        own = int(rng.integers(0, 4))
        ids = [fam * 100 + k for k in range(shared)] + [10_000 + 10 * i + k for k in range(own)]
        prompt = max(1, pbt * len(ids) + int(rng.integers(-20, 20)))
        requests.append(
            Request(
                request_id=i,
                arrived_at=t,
                num_prefill_tokens=prompt,
                num_decode_tokens=int(rng.integers(1, 60)),
                prefix_block_ids=ids or [99_999],
                prefix_block_tokens=pbt,
            )
        )
    config = ServeConfig(enable_prefix_caching=True, block_tokens=16, watermark_fraction=0.0)
    result = run_serve(FakeCostModel(kv_capacity=16 * kv_blocks), requests, config)
    served = [q for q, r in zip(requests, result.requests, strict=True) if r.status == "finished"]
    ideal = _ideal_hits(served, pbt)
    assert result.prefix_cache_ideal_hit_tokens == ideal
    assert result.prefix_cache_hit_tokens <= ideal
    assert result.prefix_cache_hit_rate <= ideal / max(1, result.prompt_tokens) + 1e-12
    assert sum(r.prefix_cache_hit_tokens for r in result.requests) == result.prefix_cache_hit_tokens
    assert (
        sum(r.prefix_cache_readmit_hit_tokens for r in result.requests)
        == result.prefix_cache_readmit_hit_tokens
    )
    if result.preemptions == 0:
        assert result.prefix_cache_readmit_hit_tokens == 0
