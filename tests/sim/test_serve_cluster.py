"""Replicas behind a global router: accounting, routing policies, and a collapse that replicas fix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.serve_fakes import FakeCostModel, make_requests, prefixed_requests

from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.traces.request import Request


def long_prompt_trace(n: int, rate_qps: float, seed: int) -> list[Request]:
    """Conversations: 8 families share 4 prefix blocks of 512 tokens; prompts of 3-6k tokens."""
    rng = np.random.default_rng(seed)
    t = 0.0
    out = []
    for i in range(n):
        t += float(rng.exponential(1.0 / rate_qps))
        fam = int(rng.integers(0, 8))
        own = int(rng.integers(2, 8))
        ids = [fam * 10 + k for k in range(4)] + [1000 + 10 * i + k for k in range(own)]
        out.append(
            Request(
                request_id=i,
                arrived_at=t,
                num_prefill_tokens=512 * len(ids) - int(rng.integers(0, 400)),
                num_decode_tokens=int(rng.integers(10, 60)),
                prefix_block_ids=ids,
                prefix_block_tokens=512,
            )
        )
    first = out[0].arrived_at
    return [dataclasses.replace(r, arrived_at=r.arrived_at - first) for r in out]


MODEL = FakeCostModel(kv_capacity=60_000, latency_per_token_s=2e-5)


def test_long_prompt_collapse_on_one_package_is_sustainable_with_replicas():
    config = ServeConfig(enable_prefix_caching=True)
    # per-package throughput, measured at saturation
    saturated = run_serve(MODEL, long_prompt_trace(150, 1000.0, seed=1), config)
    capacity_rps = saturated.throughput_requests_per_s
    rate = 2.5 * capacity_rps
    trace = long_prompt_trace(400, rate, seed=2)
    last_arrival = max(r.arrived_at for r in trace)
    one = run_serve(MODEL, trace, config)
    assert one.simulated_time_s > 2.0 * last_arrival  # queueing collapse
    for router in ("round-robin", "least-loaded", "prefix-affinity"):
        four = run_serve(MODEL, trace, config.model_copy(update={"replicas": 4, "router": router}))
        assert 4 * capacity_rps > rate
        assert four.num_finished == 400
        assert four.simulated_time_s <= 1.5 * last_arrival, router
        assert four.ttft_s.p50 < one.ttft_s.p50 / 10


def test_prefix_affinity_hits_more_than_round_robin():
    trace = long_prompt_trace(300, 30.0, seed=3)
    base = ServeConfig(enable_prefix_caching=True, replicas=4)
    rr = run_serve(MODEL, trace, base)
    aff = run_serve(MODEL, trace, base.model_copy(update={"router": "prefix-affinity"}))
    assert aff.prefix_cache_hit_tokens > rr.prefix_cache_hit_tokens
    assert aff.prefix_cache_hit_tokens <= aff.prefix_cache_ideal_hit_tokens


def test_round_robin_alternates_and_summaries_add_up():
    requests = make_requests(41, seed=4, rate_qps=5.0)
    result = run_serve(FakeCostModel(), requests, ServeConfig(replicas=3))
    assert [r.num_requests for r in result.replicas] == [14, 14, 13]
    assert sum(r.num_finished for r in result.replicas) == result.num_finished == 41
    assert sum(r.output_tokens for r in result.replicas) == result.output_tokens
    assert sum(r.iterations for r in result.replicas) == result.iterations
    assert sum(r.energy_j for r in result.replicas) == pytest.approx(result.energy_j)
    assert result.load_imbalance_requests == pytest.approx(14 / (41 / 3))
    assert result.kv_total_blocks == 3 * (1_000_000 // 16)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    replicas=st.integers(1, 4),
    router=st.sampled_from(["round-robin", "least-loaded", "prefix-affinity"]),
    kv_capacity=st.integers(300, 5000),
    caching=st.booleans(),
)
def test_every_request_is_accounted_for_across_replicas(seed, n, replicas, router, kv_capacity, caching):
    requests = prefixed_requests(n, seed, 0.01, 800, 60, 64 if caching else None)
    config = ServeConfig(
        replicas=replicas, router=router, enable_prefix_caching=caching, max_context_tokens=700
    )
    result = run_serve(FakeCostModel(kv_capacity=kv_capacity), requests, config)
    assert result.num_finished + result.num_rejected == n
    assert [r.request_id for r in result.requests] == list(range(n))
    assert sum(1 for r in result.requests if r.status == "finished") == result.num_finished
    if replicas > 1:
        assert sum(r.num_requests for r in result.replicas) == result.num_finished
        assert sum(r.num_finished for r in result.replicas) == result.num_finished
    assert result.tbt_s.count == sum(
        r.num_decode_tokens - 1 for r in result.requests if r.status == "finished"
    )
    assert sum(r.energy_j for r in result.requests) == pytest.approx(result.energy_j, rel=1e-9)
    assert result.kv_occupancy.peak_used_fraction <= 1.0 + 1e-12
    assert result.prefix_cache_hit_tokens <= result.prefix_cache_ideal_hit_tokens
