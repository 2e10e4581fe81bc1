"""The fast form of the iteration cost (llmimc.cost.fast_form) equals the reference path to rounding, and
the serving loop's two ways of costing a decode-only iteration (one step, or a stretch) agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.imc import plan_for, random_graph, random_spec, traced_tiny_llama_graph

from llmimc.compress import DEFAULT_POLICY, build_plan, load_policy
from llmimc.cost.fast_form import CHUNK_TOKENS
from llmimc.cost.iteration import PrefillChunk
from llmimc.errors import MappingError
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.model import load_opgraph
from llmimc.sim.system import build_system

CASES = {
    "tiny-2": ("tiny", 2, DEFAULT_POLICY),
    "gpt2-8": ("gpt2", 8, DEFAULT_POLICY),
    "llama2-64": ("meta-llama/Llama-2-7b-hf", 64, "w4a8-outlier"),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def model(request):
    name, chiplets, policy = CASES[request.param]
    graph = traced_tiny_llama_graph(vocab=256, context=4096) if name == "tiny" else load_opgraph(name)
    spec = load_spec(DEFAULT_IMC_SPEC).with_chiplets(chiplets)
    cm = build_system(graph, spec, build_plan(graph, load_policy(policy)), batch=64).cost_model
    assert cm.fast() is not None
    return cm


def _close(a, b) -> None:
    got = (a.latency_s, a.energy_j, a.d2d_bytes, a.offpkg_bytes)
    ref = (b.latency_s, b.energy_j, b.d2d_bytes, b.offpkg_bytes)
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-300)


def test_random_iterations_match_the_reference(model):
    rng = np.random.default_rng(7)
    on = int(model.kv_tokens_on_package.max()) if model.num_kv_chiplets else 1000
    for i in range(400):
        n_dec = int(rng.integers(0 if i % 2 else 1, 60))
        n_pre = int(rng.integers(1, 4)) if i % 2 else 0
        # contexts around and beyond the on-package KV capacity (spill or not)
        dec = rng.integers(0, max(2, 3 * on // max(n_dec, 1)), n_dec).tolist()
        pre = [PrefillChunk(int(rng.integers(1, 1024)), int(rng.integers(0, 2 * on))) for _ in range(n_pre)]
        _close(model.iteration_cost(pre, dec), model.iteration_cost_reference(pre, dec))


def test_decode_segments_cover_every_context_and_match(model):
    fast = model.fast()
    for n in (1, 3, 17):
        for length in range(n, 2 * CHUNK_TOKENS + 50, 97):
            last, _ = fast.segment((n, n, 0, 0), length)
            assert last >= length
            dec = [length // n - 1] * n
            dec[0] += length - sum(dec) - n
            _close(model.iteration_cost([], dec), model.iteration_cost_reference([], dec))
        for ((m, *_), chunk), (starts, ends, _) in fast._tables.items():
            if m == n:  # a partition of the chunk: contiguous, non-overlapping segments
                assert starts[0] == chunk * CHUNK_TOKENS and ends[-1] == (chunk + 1) * CHUNK_TOKENS - 1
                assert all(e + 1 == s for e, s in zip(ends[:-1], starts[1:], strict=True))


def test_stretch_is_bit_identical_to_one_iteration_at_a_time(model):
    pasts = [5, 900, 3000, 31, 64]
    lat, energy, d2d, off, ends = model.decode_stretch(len(pasts), sum(pasts) + len(pasts), 300, 1.5, np.inf)
    end = 1.5
    for k in range(300):
        c = model.iteration_cost([], [p + k for p in pasts])
        end = end + c.latency_s
        assert (lat[k], energy[k], d2d[k], off[k], ends[k]) == (
            c.latency_s,
            c.energy_j,
            c.d2d_bytes,
            c.offpkg_bytes,
            end,
        )


def test_stretch_stops_before_the_time_limit(model):
    lat, *_, ends = model.decode_stretch(4, 400, 100, 0.0, 0.0)
    assert len(lat) == 1  # the first iteration always runs
    full = model.decode_stretch(4, 400, 100, 0.0, np.inf)[4]
    limit = full[9]
    ends = model.decode_stretch(4, 400, 100, 0.0, limit)[4]
    assert len(ends) == 10 and ends == full[:10]  # iteration 11 would start at the limit


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 4),
    hidden=st.sampled_from([64, 128]),
    experts=st.sampled_from([1, 4]),
    chiplets=st.integers(1, 10),
    topology=st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all"]),
    sram_kib=st.sampled_from([64, 1024]),
    seed=st.integers(0, 2**16),
)
def test_random_systems_fast_form_matches_the_reference(
    layers, hidden, experts, chiplets, topology, sram_kib, seed
):
    """Random graphs and specs (tests/support/imc): wherever the fast form applies it equals the reference
    path to 1e-12 on random iterations, and a stretch equals its single steps bit for bit."""
    graph = random_graph(layers, hidden, experts)
    spec = random_spec(chiplets, topology, 64, 1, False, sram_kib)
    try:
        cm = build_system(graph, spec, plan_for(graph, outlier_fraction=0.02), batch=8).cost_model
    except MappingError:
        assume(False)
    if cm.fast() is None:  # split stages or weight reprogramming: the reference path serves
        pre = [PrefillChunk(17, 3)]
        _close(cm.iteration_cost(pre, [40]), cm.iteration_cost_reference(pre, [40]))
        return
    rng = np.random.default_rng(seed)
    for _ in range(30):
        dec = rng.integers(0, 5000, int(rng.integers(0, 20))).tolist()
        pre = (
            [PrefillChunk(int(rng.integers(1, 600)), int(rng.integers(0, 4000)))]
            if rng.random() < 0.5
            else []
        )
        if dec or pre:
            _close(cm.iteration_cost(pre, dec), cm.iteration_cost_reference(pre, dec))
    pasts = rng.integers(0, 3000, 3).tolist()
    lat, energy, d2d, off, _ = cm.decode_stretch(3, sum(pasts) + 3, 50, 0.0, np.inf)
    for k in range(50):
        c = cm.iteration_cost([], [p + k for p in pasts])
        assert (lat[k], energy[k], d2d[k], off[k]) == (c.latency_s, c.energy_j, c.d2d_bytes, c.offpkg_bytes)


def test_session_tables_a_repeated_prefill_family(model):
    """A run's session costs a prefill family from its segment table once it has seen it
    FAMILY_TABLE_AFTER times: equal to the reference path to 1e-12, before and after."""
    from llmimc.cost.session import FAMILY_TABLE_AFTER

    session = model.session()
    rng = np.random.default_rng(5)
    chunk = [PrefillChunk(256, 0)]
    for _ in range(3 * FAMILY_TABLE_AFTER):
        dec = rng.integers(0, 4000, 3).tolist()
        _close(session.iteration_cost(chunk, dec), model.iteration_cost_reference(chunk, dec))
    assert session.seen[(4, 259, 256, 256 * 256)] == FAMILY_TABLE_AFTER  # then the table served
    assert model.session().seen == {}  # a new run starts afresh
