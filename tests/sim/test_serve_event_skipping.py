"""Event skipping gives the step-by-step loop's results exactly; the vectorised compiled cost agrees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.imc import traced_tiny_llama_graph
from support.serve_fakes import FakeCostModel, make_requests

from llmimc.compress import DEFAULT_POLICY, build_plan, load_policy
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.sim.decode_clock import DecodeClock
from llmimc.sim.decode_stretch import stretch_costs
from llmimc.sim.sched_state import ReqState
from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.sim.system import build_system
from llmimc.traces.request import Request


def both(model, requests, **config):
    on = run_serve(model, requests, ServeConfig(event_skipping=True, record_timeline=True, **config))
    off = run_serve(model, requests, ServeConfig(event_skipping=False, record_timeline=True, **config))
    return on, off


def same(on, off) -> None:
    a = on.model_dump(exclude={"stretch_iterations", "config"})
    b = off.model_dump(exclude={"stretch_iterations", "config"})
    assert a == b  # exact: every float equal, not approximately
    assert off.stretch_iterations == 0


def test_long_decodes_skip_most_iterations_with_identical_results():
    requests = make_requests(60, seed=11, max_prompt=300, max_decode=400, rate_qps=5.0)
    on, off = both(FakeCostModel(), requests, slo_ttft_s=0.05, slo_tpot_s=0.002)
    same(on, off)
    assert on.stretch_iterations > on.iterations / 2


def test_kv_pressure_and_blocked_queue_stretch_identically():
    """Tiny KV: stretches stop before an allocation would preempt; the blocked queue waits."""
    requests = make_requests(50, seed=12, max_prompt=400, max_decode=300, rate_qps=300.0)
    on, off = both(FakeCostModel(kv_capacity=2_000), requests, block_tokens=4, max_batch=16)
    same(on, off)
    assert on.preemptions > 0 and on.stretch_iterations > 0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    kv_capacity=st.integers(64, 5000),
    max_batch=st.integers(1, 12),
    budget=st.integers(1, 500),
    block=st.sampled_from([1, 4, 16]),
    rate=st.sampled_from([1.0, 50.0, 1000.0]),
)
def test_random_workloads_match_step_by_step(seed, n, kv_capacity, max_batch, budget, block, rate):
    requests = make_requests(n, seed=seed, max_prompt=400, max_decode=120, rate_qps=rate)
    model = FakeCostModel(kv_capacity=kv_capacity, kv_on_package=kv_capacity // 3)
    on, off = both(
        model,
        requests,
        max_batch=max_batch,
        max_tokens_per_iter=budget,
        chunk_size=budget,
        block_tokens=block,
    )
    same(on, off)


def _clocked(pasts: list[int], block_tokens: int, steps: int) -> tuple[DecodeClock, list[ReqState]]:
    """Decoding requests with these past tokens on a decode clock, ``steps`` iterations later, synced."""
    clock = DecodeClock(block_tokens)
    reqs = []
    for i, past in enumerate(pasts):
        r = ReqState(
            index=i,
            arrived_at_s=0.0,
            prompt_tokens=past,
            decode_tokens=20,
            prefix_ids=None,
            left=19,
            prefill_target=past,
        )
        r.computed = past
        clock.join(r)
        reqs.append(r)
    for _ in range(steps):
        clock.tick(0.0, 0.0, reqs)
    for r in reqs:
        clock.sync(r)
    return clock, reqs


def test_block_allocations_by_hand():
    """The residue histogram a stretch reads (allocations at iteration k = residue[k mod b]) and the
    blocks a synced request gained."""
    # block 4; pasts 4 (needs a block now), 6 (in 2 steps), 7 (in 1 step)
    clock, _ = _clocked([4, 6, 7], 4, 0)
    assert [clock.residue[k % 4] for k in range(9)] == [1, 1, 1, 0, 1, 1, 1, 0, 1]
    assert [r.private_blocks for r in _clocked([4, 6, 7], 4, 5)[1]] == [2, 1, 1]
    assert [r.private_blocks for r in _clocked([4, 6, 7], 4, 1)[1]] == [1, 0, 0]


@pytest.fixture(scope="module")
def tiny_cost_model():
    graph = traced_tiny_llama_graph(vocab=256, context=4096)
    spec = load_spec(DEFAULT_IMC_SPEC).with_chiplets(2)
    plan = build_plan(graph, load_policy(DEFAULT_POLICY))
    return build_system(graph, spec, plan, batch=8).cost_model


@pytest.mark.parametrize("pasts", [[5], [100, 7, 3000], list(range(1, 200, 13))])
def test_stretch_costs_match_iteration_cost(tiny_cost_model, pasts):
    """The stretch path costs each iteration exactly as a single step does (the same fast-form segment)."""
    computed = np.array(pasts)
    lat, energy, d2d, offpkg, ends = stretch_costs(tiny_cost_model, computed, 40, 0.0, float("inf"))
    assert len(lat) == 40 and ends[-1] == pytest.approx(lat.sum())
    for k in range(40):
        ref = tiny_cost_model.iteration_cost([], [p + k for p in pasts])
        assert (lat[k], energy[k], d2d[k], offpkg[k]) == (
            ref.latency_s,
            ref.energy_j,
            ref.d2d_bytes,
            ref.offpkg_bytes,
        )
        full = tiny_cost_model.iteration_cost_reference([], [p + k for p in pasts])  # the reference path
        expected = (full.latency_s, full.energy_j, full.d2d_bytes, full.offpkg_bytes)
        assert (lat[k], energy[k], d2d[k], offpkg[k]) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_compiled_model_serving_agrees_with_step_by_step(tiny_cost_model):
    requests = [
        Request(
            request_id=i, arrived_at=0.01 * i, num_prefill_tokens=50 + 37 * i, num_decode_tokens=80 + 11 * i
        )
        for i in range(12)
    ]
    on, off = both(tiny_cost_model, requests)
    assert on.stretch_iterations > 0
    # a decode-only iteration costs the same through a stretch or a step (CompiledCostModel.decode_stretch
    # and iteration_cost read one fast-form segment): every figure equal, not approximately
    same(on, off)


@pytest.mark.parametrize(
    ("chunks", "pasts"),
    [([(64, 0)], []), ([(30, 100), (7, 0)], [5, 900]), ([], [1, 2, 3000]), ([(500, 2500)], list(range(40)))],
)
def test_batched_iteration_costs_match_iteration_cost(tiny_cost_model, chunks, pasts):
    from llmimc.cost.iteration import PrefillChunk
    from llmimc.cost.model import features

    cases = [([PrefillChunk(t, p + k) for t, p in chunks], [p + k for p in pasts]) for k in range(5)]
    f = np.stack([features(pre, dec) for pre, dec in cases], axis=1)
    lat, energy, d2d, offpkg = tiny_cost_model.iteration_costs(f)
    for k, (pre, dec) in enumerate(cases):
        ref = tiny_cost_model.iteration_cost(pre, dec)
        expected = (ref.latency_s, ref.energy_j, ref.d2d_bytes, ref.offpkg_bytes)
        assert (lat[k], energy[k], d2d[k], offpkg[k]) == pytest.approx(expected, rel=1e-12, abs=1e-12)
