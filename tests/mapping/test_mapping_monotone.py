"""Smaller weights never cost more at batch 1: fewer weight bits and array-shared N:M (issue 9).

The partition rule switches regime with the weights' size (blocks that fit whole are spread over the
package, blocks that must be split are packed tight), so before the placement reference
(``llmimc.mapping.model`` docstring) array-shared 2:4 could move a model onto a costlier layout
(mixtral-8x7b x256 w4a8-outlier: TPOT 606 -> 641 us). With the reference the smaller weights take
the larger weights' layout piece by piece, and every decode step and prefill is no slower and no
costlier. Checked over random hand-built models and packages (hypothesis) and on a small MoE model
whose dense weights fit only split while its 2:4 weights fit whole (the regime switch).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.imc import make_spec, plan_for, random_graph

from llmimc.cost.iteration import IterationCost, PrefillChunk
from llmimc.errors import MappingError
from llmimc.mapping.partition import BlockLoad, Piece, pack_whole, transfer_pieces
from llmimc.sim.system import System, build_system

EPS = 1e-9


def _steps(system: System, past: int) -> tuple[IterationCost, IterationCost]:
    cm = system.cost_model
    return cm.iteration_cost([], [past]), cm.iteration_cost([PrefillChunk(tokens=64, past_tokens=0)], [])


def _no_costlier(small: System, large: System, past: int) -> None:
    for s, d in zip(_steps(small, past), _steps(large, past), strict=True):
        assert s.latency_s <= d.latency_s * (1 + EPS)
        assert s.energy_j <= d.energy_j * (1 + EPS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 3),
    hidden=st.sampled_from([256, 512, 768]),
    experts=st.sampled_from([1, 4]),
    chiplets=st.integers(2, 16),
    arrays_per_tile=st.sampled_from([16, 24]),
    outliers=st.sampled_from([0.0, 0.03]),
    past=st.integers(0, 1000),
)
def test_fewer_bits_and_array_sparsity_never_cost_more(
    layers, hidden, experts, chiplets, arrays_per_tile, outliers, past
):
    g = random_graph(layers, hidden, experts)
    spec = make_spec(
        {
            "chiplet.tiles": 8,
            "chiplet.tile.arrays_per_tile": arrays_per_tile,
            "package.topology": "ring",
            "package.num_chiplets": chiplets,
        }
    )

    def system(bits: int, sparse: bool) -> System | None:
        nm = {"n": 2, "m": 4, "pattern": "array"} if sparse else {}
        try:
            return build_system(g, spec, plan_for(g, weight_bits=bits, outlier_fraction=outliers, **nm))
        except MappingError:
            return None

    w8, w8s, w4, w4s = system(8, False), system(8, True), system(4, False), system(4, True)
    pairs = [(w8s, w8), (w4, w8), (w4s, w4)]
    if w8 is not None or w4 is None:  # the documented gap (llmimc.mapping.model docstring)
        pairs.append((w4s, w8s))
    for small, large in pairs:
        if large is not None:
            assert small is not None, "smaller weights fit wherever larger ones do"
            _no_costlier(small, large, past)


def test_regime_switch_no_longer_costs_energy():
    # dense 4-bit weights fit 11 chiplets only with split blocks (stream packing); with 2:4:array they
    # fit whole, which the size rule alone spread over 10 chiplets at a higher decode-step energy
    g = random_graph(3, 768, 4)
    spec = make_spec(
        {
            "chiplet.tiles": 8,
            "chiplet.tile.arrays_per_tile": 16,
            "package.topology": "ring",
            "package.num_chiplets": 11,
        }
    )
    dense_plan = plan_for(g, weight_bits=4, outlier_fraction=0.03)
    sparse_plan = plan_for(g, weight_bits=4, outlier_fraction=0.03, n=2, m=4, pattern="array")
    dense, sparse = build_system(g, spec, dense_plan), build_system(g, spec, sparse_plan)
    cap = 8 * 16
    assert dense.mapping.packing == "stream"
    sparse_arrays = sum(op.tiling.arrays for op in sparse.mapping.ops if op.tiling is not None)
    dense_arrays = sum(op.tiling.arrays for op in dense.mapping.ops if op.tiling is not None)
    assert sparse_arrays < dense_arrays
    # the same stages on the same chiplets: only the arrays per piece shrink
    assert [(s.layers, s.chiplets) for s in sparse.mapping.stages] == [
        (s.layers, s.chiplets) for s in dense.mapping.stages
    ]
    assert max(sparse.mapping.arrays_per_chiplet) <= cap
    for past in (0, 100, 1000):
        _no_costlier(sparse, dense, past)


def test_transfer_keeps_chiplets_and_fractions():
    ref = [[Piece(0, 60, 0.6)], [Piece(0, 40, 0.4), Piece(1, 30, 1.0)], [Piece(2, 0, 1.0)]]
    small = [BlockLoad(0, 25, 0.0), BlockLoad(0, 15, 0.0), BlockLoad(1, 0, 0.0)]
    out = transfer_pieces(ref, small, 100)
    assert out == [[Piece(0, 15, 0.6)], [Piece(0, 10, 0.4), Piece(1, 15, 1.0)], [Piece(2, 0, 1.0)]]
    assert transfer_pieces(ref, small, 20) is None  # chiplet 1 would hold 25 > 20 arrays


@pytest.mark.parametrize("capacity", [100, 150])
def test_whole_packing_fits_smaller_blocks(capacity):
    # the reference's layout is only carried over; smaller blocks always fit wherever larger ones did
    large = [BlockLoad(u, 70, 1.0) for u in range(6)]
    small = [BlockLoad(u, 35, 1.0) for u in range(6)]
    assert len(pack_whole(small, capacity, float("inf"))) <= len(pack_whole(large, capacity, float("inf")))
