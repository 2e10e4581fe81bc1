"""Physical bounds over 500 random configurations (issue 14): no die-to-die link is busy longer than
the run, no chiplet holds more arrays than it has, and every figure is finite.

Random hand-built models (1-4 layers, dense or 4-expert MoE) on random small packages (topology,
chiplet count, link bandwidth, SRAM, tiles), batch 1-8, with and without reprogramming, through the
whole profile (mapping, cost, rows). Marked slow: 500 profiles take about a minute on 2 cores.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.imc import make_spec, plan_for, random_graph

from llmimc.errors import MappingError
from llmimc.sim.profile import run_profile

pytestmark = pytest.mark.slow


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 4),
    hidden=st.sampled_from([64, 128, 512]),
    experts=st.sampled_from([1, 4]),
    chiplets=st.integers(1, 12),
    topology=st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all"]),
    d2d_bw=st.sampled_from([1e7, 1e9, 128e9]),
    sram=st.sampled_from([1 << 14, 1 << 20, 1 << 24]),
    tiles=st.sampled_from([1, 2, 8]),
    batch=st.integers(1, 8),
    weight_bits=st.sampled_from([4, 8]),
    reprogram=st.booleans(),
)
def test_links_arrays_and_figures_stay_physical(
    layers, hidden, experts, chiplets, topology, d2d_bw, sram, tiles, batch, weight_bits, reprogram
):
    g = random_graph(layers, hidden, experts)
    spec = make_spec(
        {
            "chiplet.tiles": tiles,
            "chiplet.tile.arrays_per_tile": 16,
            "chiplet.global_sram.capacity_bytes": sram,
            "package.num_chiplets": chiplets,
            "package.topology": topology,
            "package.d2d.bw_bytes_per_s": d2d_bw,
        }
    )
    plan = plan_for(g, weight_bits=weight_bits)
    try:
        r = run_profile(g, spec, plan, batch=batch, prompt_len=32, gen_len=4, allow_reprogramming=reprogram)
    except MappingError:
        return  # does not fit (said in one line): nothing to bound
    for link in r.links:
        assert link.utilisation <= 1.0 + 1e-9, (link.src, link.dst, link.utilisation)
    if r.reprogramming_endurance_iterations is None:  # stationary weights: arrays are physical arrays
        assert all(c.arrays_used <= c.arrays_capacity for c in r.chiplets)
        assert r.summary.arrays_used <= r.summary.arrays_capacity
    s = r.summary
    for name in ("ttft_s", "mean_tpot_s", "energy_j", "energy_per_output_token_j", "tokens_per_s"):
        value = getattr(s, name)
        assert math.isfinite(value) and value >= 0, (name, value)
