"""run_serve with a deterministic fake cost model: completion, policies, conservation, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.serve_fakes import FakeCostModel, make_requests

from llmimc.cost.iteration import PrefillChunk
from llmimc.sim.serve import ServeConfig, ServeConfigError, run_serve
from llmimc.sim.serve_models import RequestRecord
from llmimc.traces.request import Request


def check_invariants(result, requests) -> None:
    assert result.num_requests == len(requests)
    assert [r.request_id for r in result.requests] == [q.request_id for q in requests]
    assert result.num_finished + result.num_rejected == len(requests)
    for rec, req in zip(result.requests, requests, strict=True):
        assert rec.status in ("finished", "rejected")
        if rec.status == "rejected":
            assert rec.reason
            assert rec.energy_j == 0.0
            continue
        assert rec.reason is None
        assert rec.ttft_s >= 0
        assert req.arrived_at <= rec.scheduled_at_s <= rec.first_token_at_s <= rec.finished_at_s
        assert rec.e2e_s == pytest.approx(rec.finished_at_s - req.arrived_at)
    finished = [r for r in result.requests if r.status == "finished"]
    assert result.output_tokens == sum(r.num_decode_tokens for r in finished)
    # one time-between-tokens sample per output token after each request's first
    assert result.tbt_s.count == sum(r.num_decode_tokens - 1 for r in finished)
    assert sum(r.energy_j for r in result.requests) == pytest.approx(result.energy_j, rel=1e-9)
    assert sum(result.rejected_by_reason.values()) == result.num_rejected
    assert result.simulated_time_s >= result.busy_time_s - 1e-9


def test_every_request_finishes_and_tokens_are_conserved():
    requests = make_requests(150, seed=1)
    result = run_serve(FakeCostModel(), requests, ServeConfig())
    assert result.num_finished == 150
    check_invariants(result, requests)
    # without preemption or caching every prompt token is computed exactly once
    assert result.preemptions == 0
    assert result.prefill_tokens_computed == sum(r.num_prefill_tokens for r in requests)


def test_single_request_matches_hand_computed_costs():
    """One request alone: TTFT = its prefill chunks' costs; every later token = one decode iteration."""
    model = FakeCostModel()
    prompt, decode, chunk = 1000, 5, 384
    req = Request(request_id=7, arrived_at=2.5, num_prefill_tokens=prompt, num_decode_tokens=decode)
    result = run_serve(model, [req], ServeConfig(chunk_size=chunk, record_timeline=True))
    ttft = 0.0
    for past in range(0, prompt, chunk):
        ttft += model.iteration_cost([PrefillChunk(min(chunk, prompt - past), past)], []).latency_s
    steps = [model.iteration_cost([], [prompt + k]).latency_s for k in range(decode - 1)]
    rec = result.requests[0]
    assert rec.ttft_s == pytest.approx(ttft)
    assert rec.tpot_s == pytest.approx(sum(steps) / len(steps))
    assert rec.finished_at_s == pytest.approx(2.5 + ttft + sum(steps))
    assert result.iterations == math.ceil(prompt / chunk) + decode - 1
    assert result.timeline.prefill_tokens[:3] == [384, 384, 232]
    assert result.tbt_s.p50 == pytest.approx(float(np.median(steps)))


def test_same_inputs_give_byte_identical_json():
    requests = make_requests(120, seed=3)
    config = ServeConfig(record_timeline=True, slo_ttft_s=0.5, slo_tpot_s=0.05)
    a = run_serve(FakeCostModel(kv_capacity=30_000), requests, config).model_dump_json()
    b = run_serve(FakeCostModel(kv_capacity=30_000), make_requests(120, seed=3), config).model_dump_json()
    assert a == b


def test_tiny_kv_capacity_preempts_and_recovers():
    requests = make_requests(80, seed=4, max_prompt=600, max_decode=300, rate_qps=200.0)
    result = run_serve(FakeCostModel(kv_capacity=2_000), requests, ServeConfig(record_timeline=True))
    check_invariants(result, requests)
    assert result.num_finished == 80
    assert result.preemptions > 0
    assert result.preemptions == sum(r.preemptions for r in result.requests)
    assert len(result.timeline.preemptions) == result.preemptions
    # recompute: preempted requests prefill again
    assert result.prefill_tokens_computed > sum(r.num_prefill_tokens for r in requests)
    assert result.kv_occupancy.peak_used_fraction <= 1.0
    assert result.kv_occupancy.peak_used_fraction > 0.9


def test_batch_and_token_budget_limits_hold():
    requests = make_requests(100, seed=5, rate_qps=500.0)
    config = ServeConfig(max_batch=8, max_tokens_per_iter=256, chunk_size=100, record_timeline=True)
    result = run_serve(FakeCostModel(), requests, config)
    check_invariants(result, requests)
    tl = result.timeline
    for n_pre, tok_pre, n_dec in zip(tl.prefill_requests, tl.prefill_tokens, tl.decode_requests, strict=True):
        assert n_pre + n_dec <= 8
        assert tok_pre + n_dec <= 256
        assert tok_pre <= 100 * n_pre
        assert n_pre + n_dec > 0
    assert sum(tl.prefill_tokens) == result.prefill_tokens_computed
    assert sum(tl.iteration_energy_j) == pytest.approx(result.energy_j)


def test_impossible_requests_are_rejected_with_reasons():
    requests = [
        Request(request_id=0, arrived_at=0.0, num_prefill_tokens=5000, num_decode_tokens=10),
        Request(request_id=1, arrived_at=0.1, num_prefill_tokens=4000, num_decode_tokens=200),
        Request(request_id=2, arrived_at=0.2, num_prefill_tokens=100, num_decode_tokens=20),
        Request(request_id=3, arrived_at=0.3, num_prefill_tokens=3000, num_decode_tokens=10),
    ]
    config = ServeConfig(max_context_tokens=4096)
    result = run_serve(FakeCostModel(kv_capacity=2048), requests, config)
    check_invariants(result, requests)
    reasons = [r.reason for r in result.requests]
    assert reasons == [
        "prompt_exceeds_context",
        "prompt_plus_decode_exceeds_context",
        None,
        "kv_exceeds_capacity",
    ]
    assert result.rejected_by_reason == {
        "kv_exceeds_capacity": 1,
        "prompt_exceeds_context": 1,
        "prompt_plus_decode_exceeds_context": 1,
    }


def test_kv_capacity_boundary_is_peak_tokens_in_whole_blocks():
    """P + D - 1 tokens rounded up to blocks must fit: 2032 + 17 - 1 = 2048 fits 2048 tokens, +1 does not."""
    fits = Request(request_id=0, arrived_at=0.0, num_prefill_tokens=2032, num_decode_tokens=17)
    too_big = Request(request_id=1, arrived_at=0.0, num_prefill_tokens=2032, num_decode_tokens=18)
    result = run_serve(FakeCostModel(kv_capacity=2048), [fits, too_big], ServeConfig(watermark_fraction=0.0))
    assert [r.status for r in result.requests] == ["finished", "rejected"]
    # the default 1 % watermark keeps floor(0.01 x 128) = 1 block back: 2048 tokens no longer fit
    watermarked = run_serve(FakeCostModel(kv_capacity=2048), [fits], ServeConfig())
    assert watermarked.requests[0].reason == "kv_exceeds_capacity"


def shared_prefix_trace(n: int, seed: int) -> list[Request]:
    """Mooncake-like: 4 system prompts of 3 blocks (512 tokens) shared by many requests."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        family = int(rng.integers(0, 4))
        own_blocks = int(rng.integers(1, 3))
        ids = [family * 3 + k for k in range(3)] + [1000 + 10 * i + k for k in range(own_blocks)]
        prompt = 512 * (3 + own_blocks) - int(rng.integers(0, 300))
        out.append(
            Request(
                request_id=i,
                arrived_at=0.05 * i,
                num_prefill_tokens=prompt,
                num_decode_tokens=int(rng.integers(1, 50)),
                prefix_block_ids=ids,
                prefix_block_tokens=512,
            )
        )
    return out


def test_prefix_caching_skips_shared_prefill():
    requests = shared_prefix_trace(60, seed=6)
    off = run_serve(FakeCostModel(), requests, ServeConfig())
    on = run_serve(FakeCostModel(), requests, ServeConfig(enable_prefix_caching=True))
    check_invariants(on, requests)
    assert on.num_finished == off.num_finished == 60
    assert off.prefix_cache_hit_tokens == 0
    assert on.prefix_cache_hit_tokens >= (60 - 4) * 3 * 512 * 0.5
    assert on.prefill_tokens_computed + on.prefix_cache_hit_tokens == off.prefill_tokens_computed
    assert on.energy_j < off.energy_j
    assert on.ttft_s.mean < off.ttft_s.mean


def test_prefix_cache_evicts_under_pressure_and_still_finishes():
    requests = shared_prefix_trace(80, seed=7)
    result = run_serve(
        FakeCostModel(kv_capacity=6 * 512 + 512), requests, ServeConfig(enable_prefix_caching=True)
    )
    check_invariants(result, requests)
    assert result.num_finished == 80
    assert result.prefix_cache_evictions > 0


def test_prefix_block_size_must_be_whole_kv_blocks():
    req = Request(
        request_id=0,
        arrived_at=0.0,
        num_prefill_tokens=100,
        num_decode_tokens=2,
        prefix_block_ids=[1],
        prefix_block_tokens=50,
    )
    with pytest.raises(ServeConfigError, match="block size"):
        run_serve(FakeCostModel(), [req], ServeConfig(enable_prefix_caching=True))


def test_goodput_counts_only_requests_within_slos():
    requests = make_requests(100, seed=8, rate_qps=100.0)
    loose = run_serve(FakeCostModel(), requests, ServeConfig(slo_ttft_s=1e6, slo_tpot_s=1e6))
    assert loose.goodput_requests_per_s == pytest.approx(loose.throughput_requests_per_s)
    assert loose.slo_attainment == 1.0
    p50 = loose.ttft_s.p50
    tight = run_serve(FakeCostModel(), requests, ServeConfig(slo_ttft_s=p50))
    meets = sum(1 for r in tight.requests if r.ttft_s <= p50)
    assert tight.slo_attainment == pytest.approx(meets / 100)
    assert tight.goodput_requests_per_s == pytest.approx(meets / tight.simulated_time_s)
    assert run_serve(FakeCostModel(), requests, ServeConfig()).goodput_requests_per_s is None


def test_idle_gaps_jump_to_next_arrival():
    requests = [
        Request(request_id=0, arrived_at=0.0, num_prefill_tokens=10, num_decode_tokens=3),
        Request(request_id=1, arrived_at=1000.0, num_prefill_tokens=10, num_decode_tokens=3),
    ]
    result = run_serve(FakeCostModel(), requests, ServeConfig())
    assert result.iterations == 6
    assert result.requests[1].ttft_s == pytest.approx(result.requests[0].ttft_s)
    assert result.simulated_time_s == pytest.approx(1000.0 + result.requests[1].e2e_s)
    assert result.kv_occupancy.mean_used_fraction < 1e-3


def test_progress_callback_reaches_total():
    calls: list[tuple[int, int]] = []
    requests = make_requests(40, seed=9)
    run_serve(FakeCostModel(), requests, ServeConfig(), on_progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (40, 40)
    assert all(t == 40 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    kv_capacity=st.integers(16, 6000),
    max_batch=st.integers(1, 16),
    budget=st.integers(1, 600),
    chunk=st.integers(1, 600),
    block=st.sampled_from([1, 4, 16, 32]),
    caching=st.booleans(),
)
def test_invariants_hold_for_random_workloads(seed, n, kv_capacity, max_batch, budget, chunk, block, caching):
    rng = np.random.default_rng(seed)
    requests = []
    t = 0.0
    for i in range(n):
        t += float(rng.exponential(0.01))
        prompt = int(rng.integers(1, 700))
        ids = [int(x) for x in rng.integers(0, 3, size=prompt // 64 + 1)] if caching else None
        requests.append(
            Request(
                request_id=i,
                arrived_at=t,
                num_prefill_tokens=prompt,
                num_decode_tokens=int(rng.integers(1, 80)),
                prefix_block_ids=ids,
                prefix_block_tokens=64 if caching else None,
            )
        )
    config = ServeConfig(
        max_batch=max_batch,
        max_tokens_per_iter=budget,
        chunk_size=chunk,
        block_tokens=block,
        enable_prefix_caching=caching,
        max_context_tokens=700,
    )
    result = run_serve(FakeCostModel(kv_capacity=kv_capacity), requests, config)
    check_invariants(result, requests)
    for rec in result.requests:
        if rec.status == "rejected":
            assert rec.reason == "kv_exceeds_capacity" or rec.num_prefill_tokens + rec.num_decode_tokens > 700
    # every prompt token of a finished request was computed or hit in the cache, at its first
    # admission or at a re-admission after preemption (hits are reported apart since issue 11)
    hits = result.prefix_cache_hit_tokens + result.prefix_cache_readmit_hit_tokens
    assert result.prefill_tokens_computed + hits >= result.prompt_tokens
    assert result.kv_occupancy.peak_used_fraction <= 1.0 + 1e-12


def test_preemption_recomputes_prompt_plus_generated_tokens():
    """Hand-worked: 10 one-token blocks, two 4+5 requests. Both prefill (8 blocks), both decode (10);
    at the third iteration A needs a block, so B (admitted last, 2 tokens out) is preempted; A runs to
    its peak of 4 + 5 - 1 = 8 blocks and finishes; B then re-prefills 4 + 2 = 6 tokens in one chunk."""
    reqs = [
        Request(request_id=i, arrived_at=0.0, num_prefill_tokens=4, num_decode_tokens=5) for i in range(2)
    ]
    result = run_serve(FakeCostModel(kv_capacity=10), reqs, ServeConfig(block_tokens=1, record_timeline=True))
    check_invariants(result, reqs)
    tl = result.timeline
    assert tl.prefill_tokens == [8, 0, 0, 0, 0, 6, 0, 0]
    assert tl.decode_requests == [0, 2, 1, 1, 1, 0, 1, 1]
    assert [(rid) for _, rid in tl.preemptions] == [1]
    assert [r.preemptions for r in result.requests] == [0, 1]
    assert result.prefill_tokens_computed == 4 + 4 + 6
    # exact KV step function: blocks in use at each iteration start (and 0 after each finish)
    assert tl.kv_used_fraction == pytest.approx([0.8, 1.0, 0.6, 0.7, 0.8, 0.0, 0.6, 0.7, 0.8, 0.0])
    assert result.kv_occupancy.peak_used_fraction == 1.0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    block=st.sampled_from([1, 4, 16]),
    blocks_per_prefix=st.sampled_from([1, 2, 4]),
    caching=st.booleans(),
)
def test_block_accounting_matches_tokens_every_iteration(seed, block, blocks_per_prefix, caching):
    """Before every iteration: each running request holds between ceil(cached tokens / block) and what
    this iteration's tokens need; requests' private blocks plus referenced prefix entries are exactly
    the allocator's used blocks; reference counts equal the requests holding each entry."""
    import llmimc.sim.scheduler as scheduler
    from llmimc.sim.kv_blocks import KVBlockAllocator
    from llmimc.sim.scheduler import ReqState, Scheduler, SchedulerParams, simulate

    allocators: list[KVBlockAllocator] = []
    scheds: list[Scheduler] = []

    class RecordingScheduler(Scheduler):
        def __init__(self, *args, **kw) -> None:
            super().__init__(*args, **kw)
            scheds.append(self)

    class Recording(KVBlockAllocator):
        __slots__ = ()

        def __init__(self, total_blocks: int, blocks_per_prefix_block: int = 0) -> None:
            super().__init__(total_blocks, blocks_per_prefix_block)
            allocators.append(self)

    rng = np.random.default_rng(seed)
    pbt = block * blocks_per_prefix
    states = []
    t = 0.0
    for i in range(int(rng.integers(1, 30))):
        t += float(rng.exponential(0.005))
        p, d = int(rng.integers(1, 300)), int(rng.integers(1, 60))
        ids = [int(x) for x in rng.integers(0, 3, size=p // pbt)] if caching else []
        states.append(
            ReqState(
                index=i,
                arrived_at_s=t,
                prompt_tokens=p,
                decode_tokens=d,
                left=d,
                prefill_target=p,
                prefix_ids=ids or None,
            )
        )
    peak_blocks = max(-(-(s.prompt_tokens + s.decode_tokens - 1) // block) for s in states)
    params = SchedulerParams(
        max_batch=int(rng.integers(1, 16)),
        max_tokens_per_iter=int(rng.integers(1, 400)),
        chunk_tokens=int(rng.integers(1, 400)),
        block_tokens=block,
        total_blocks=int(rng.integers(peak_blocks, 4 * peak_blocks + 2)),
        prefix_block_tokens=pbt if caching else 0,
        record_timeline=False,
        event_skipping=False,  # the check below runs inside every costed iteration
    )

    class Checking(FakeCostModel):
        def iteration_cost(self, prefill, decode_past_tokens):
            alloc = allocators[-1]
            sched = scheds[-1]
            bpp = alloc.blocks_per_prefix_block
            private = 0
            holders: dict[int, int] = {}
            for s in states:
                # a decoding request's fields lag behind the decode clock (llmimc.sim.decode_clock)
                computed, blocks = sched.clock.view(s, sched.decoding)
                held = blocks + len(s.refs) * bpp
                if s.finished_at_s >= 0:
                    assert held == 0
                    continue
                assert blocks >= 0
                for prefix_id in s.refs:
                    holders[prefix_id] = holders.get(prefix_id, 0) + 1
                private += blocks
                if held or computed:
                    assert held >= -(-computed // block)
                    step = 1 if computed >= s.prefill_target else params.chunk_tokens
                    assert held <= -(-(computed + step) // block)
            assert alloc.used_blocks == private + len(holders) * bpp
            assert alloc.free_blocks >= 0
            assert {k: v for k, v in alloc._refs.items() if v} == holders
            return super().iteration_cost(prefill, decode_past_tokens)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scheduler, "KVBlockAllocator", Recording)
        patch.setattr(scheduler, "Scheduler", RecordingScheduler)
        simulate(Checking(), states, params, None, len(states), 0)
    assert all(s.left == 0 and s.finished_at_s >= 0 for s in states)


def test_idle_gaps_draw_static_power():
    # two requests far apart: the package idles between them and draws its static power
    reqs = [
        Request(request_id=0, arrived_at=0.0, num_prefill_tokens=10, num_decode_tokens=3),
        Request(request_id=1, arrived_at=5.0, num_prefill_tokens=10, num_decode_tokens=3),
    ]
    cm = FakeCostModel(static_power=2.0)
    res = run_serve(cm, reqs, ServeConfig())
    idle_s = res.simulated_time_s - res.busy_time_s
    assert idle_s > 4.9
    assert res.idle_energy_j == pytest.approx(2.0 * idle_s, rel=1e-12)
    assert res.total_energy_j == pytest.approx(res.energy_j + res.idle_energy_j, rel=1e-12)
    # per-request energies still add up to the iteration energy alone
    assert sum(r.energy_j for r in res.requests) == pytest.approx(res.energy_j, rel=1e-9)


def test_requests_join_in_arrival_order_then_input_position():
    """States are built lazily as requests join (LazyStates); the order is still arrival, then position,
    whatever the input order."""
    requests = [
        Request(request_id=10, arrived_at=1.0, num_prefill_tokens=20, num_decode_tokens=3),
        Request(request_id=11, arrived_at=0.0, num_prefill_tokens=20, num_decode_tokens=3),
        Request(request_id=12, arrived_at=0.0, num_prefill_tokens=20, num_decode_tokens=3),
    ]
    result = run_serve(FakeCostModel(), requests, ServeConfig(max_batch=1))
    first = {r.request_id: r.first_token_at_s for r in result.requests}
    assert first[11] < first[12] < first[10]
    assert result.num_finished == 3


def test_kept_records_equal_the_streamed_ones():
    """The records a run keeps (stored compactly, validated at the end) are the ones it streams to
    on_record, field for field, in input order, rejected requests included."""
    requests = make_requests(40, seed=5)
    requests.append(Request(request_id=40, arrived_at=0.01, num_prefill_tokens=5000, num_decode_tokens=3))
    streamed: list[dict] = []
    result = run_serve(FakeCostModel(kv_capacity=2048), requests, ServeConfig(), on_record=streamed.append)
    assert result.num_rejected >= 1 and len(streamed) == len(requests)
    by_id = {row["request_id"]: RequestRecord(**row) for row in streamed}  # rejected rows omit defaults
    assert result.requests == [by_id[q.request_id] for q in requests]
