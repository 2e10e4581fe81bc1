"""Adding a sequence to an iteration never makes it faster or cheaper (decode and prefill).

Per-iteration floors (one MVM per op, one vector on one expert's tiles) must not be amortised over
the vectors of the pipeline: with them charged once per iteration but divided by V, a top-k MoE
model decoded 2 sequences faster than 1.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.imc import HAND_SPEC, make_spec, plan_for, random_graph

from llmimc.cost.iteration import PrefillChunk
from llmimc.errors import MappingError
from llmimc.sim.system import build_system


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(2, 6),
    experts=st.sampled_from([1, 4, 8]),
    chiplets=st.integers(2, 8),
    past=st.integers(0, 3000),
)
def test_latency_and_energy_monotone_in_batch(layers, experts, chiplets, past):
    g = random_graph(layers, 64, experts)
    spec = make_spec(
        {
            **HAND_SPEC,
            "package.num_chiplets": chiplets,
            "chiplet.tile.arrays_per_tile": 64,
            "chiplet.tiles": 4,
            "chiplet.tile.local_sram.bw_bytes_per_s": 2e9,
        }
    )
    try:
        cm = build_system(g, spec, plan_for(g), allow_reprogramming=True).cost_model
    except MappingError:
        return
    dec = [cm.iteration_cost([], [past] * b) for b in range(1, 7)]
    pre = [cm.iteration_cost([PrefillChunk(t, 0)], []) for t in (1, 2, 3, 8, 32)]
    for costs in (dec, pre):
        assert all(y.latency_s >= x.latency_s * (1 - 1e-12) for x, y in zip(costs, costs[1:], strict=False))
        assert all(y.energy_j >= x.energy_j * (1 - 1e-12) for x, y in zip(costs, costs[1:], strict=False))
