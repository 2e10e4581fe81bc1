"""Mapping invariants: tiling equations, weights mapped once, balanced partition, placement, capacity."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.imc import HAND_SPEC, hand_graph, linear, make_spec, plan_for, random_graph, random_spec

from llmimc.compress.plan import OpCompression
from llmimc.errors import MappingError
from llmimc.mapping import map_model, tile_op
from llmimc.mapping.partition import BlockLoad, chiplets_needed, pack_stream, pack_whole, partition
from llmimc.mapping.placement import stage_order


def test_tiling_outliers_sparsity_differential():
    """K=300, N=100, 3 outlier rows, 2:4:array, 8-bit weights on 2-bit differential cells, 128x128 arrays:
    K_analog = 297, rows = ceil(297/2) = 149 -> 2 row blocks; slices = ceil(8/2) x 2 = 8 -> 800 columns
    -> 7 column blocks; 2 experts -> 28 arrays; metadata = 149 x 7 x 2 x 3/2 bits.
    Per-channel 2:4 keeps all 297 rows (zero cells): 3 row blocks, 42 arrays, no crossbar metadata."""
    spec = make_spec({**HAND_SPEC, "chiplet.array.bits_per_cell": 2, "chiplet.array.differential": True})
    op = linear("x", 0, 300, 100, experts=2, load=0.5)
    comp = OpCompression(
        op_name="x",
        weight_bits=8,
        act_bits=6,
        outlier_rows=3,
        sparsity_n=2,
        sparsity_m=4,
        sparsity_pattern="array",
    )
    per_channel = tile_op(op, comp.model_copy(update={"sparsity_pattern": "channel"}), spec.chiplet.array)
    assert (per_channel.rows_stored, per_channel.row_blocks, per_channel.arrays) == (297, 3, 42)
    assert per_channel.metadata_bits == 0 and per_channel.cells_used == 297 * 100 * 8 * 2
    t = tile_op(op, comp, spec.chiplet.array)
    assert (t.analog_rows, t.rows_stored, t.slices, t.row_blocks, t.col_blocks, t.arrays) == (
        297,
        149,
        8,
        2,
        7,
        28,
    )
    assert t.cells_used == 149 * 100 * 8 * 2
    assert t.metadata_bits == pytest.approx(149 * 7 * 2 * 1.5)
    assert t.weights_on_crossbar + t.weights_on_dpu == 300 * 100 * 2
    assert t.timing.input_cycles == 6 and t.timing.mvm_time_s == pytest.approx(6 * 100e-9)


cases = st.fixed_dictionaries(
    {
        "layers": st.integers(1, 5),
        "hidden": st.sampled_from([64, 128]),
        "experts": st.sampled_from([1, 4]),
        "chiplets": st.integers(1, 10),
        "topology": st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all"]),
        "rows": st.sampled_from([64, 128]),
        "bpc": st.sampled_from([1, 2]),
        "diff": st.booleans(),
        "sram_kib": st.sampled_from([64, 1024]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_every_weight_mapped_exactly_once(c):
    g = random_graph(c["layers"], c["hidden"], c["experts"])
    spec = random_spec(c["chiplets"], c["topology"], c["rows"], c["bpc"], c["diff"], c["sram_kib"])
    plan = plan_for(g, outlier_fraction=0.02)
    try:
        m = map_model(g, spec, plan)
    except MappingError as e:
        assert "--chiplets" in str(e) and "arrays" in str(e)
        need = int(str(e).split("--chiplets ")[1].split()[0])
        assert need > c["chiplets"]
        map_model(g, spec.with_chiplets(need), plan)  # the suggested count fits
        return
    names = [p.op_name for p in m.ops]
    assert names == [op.name for op in g.ops]  # every op placed once, in order
    for op, p in zip(g.ops, m.ops, strict=True):
        if op.kind.value == "linear":
            t = p.tiling
            assert (
                t is not None
                and t.weights_on_crossbar + t.weights_on_dpu
                == op.in_features * op.out_features * op.num_experts
            )
    assert sum(p.tiling.arrays for p in m.ops if p.tiling) == m.total_arrays == sum(m.arrays_per_chiplet)
    assert sum(sum(s.arrays_per_chiplet) for s in m.stages) == m.total_arrays
    assert all(a <= m.arrays_capacity_per_chiplet for a in m.arrays_per_chiplet)
    stage_idx = [p.stage for p in m.ops]
    assert stage_idx == sorted(stage_idx)  # contiguous pipeline
    assert sorted(k.layer for k in m.kv.layers) == list(range(c["layers"]))  # every layer's KV has a home
    for a, b in zip(m.stages, m.stages[1:], strict=False):  # consecutive stages are routed
        assert m.route(a.chiplets[0], b.chiplets[0])[0] == a.chiplets[0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_adding_chiplets_never_loses_capacity(c):
    g = random_graph(c["layers"], c["hidden"], 1)
    plan = plan_for(g)
    prev = None
    for n in range(1, 9):
        spec = random_spec(n, c["topology"], c["rows"], c["bpc"], c["diff"], c["sram_kib"])
        try:
            m = map_model(g, spec, plan, max_context_tokens=256)
        except MappingError:
            assert prev is None  # once it fits, more chiplets keep fitting
            continue
        cap = (m.arrays_capacity_per_chiplet * n, m.kv.on_package_tokens, m.kv.capacity_tokens)
        if prev is not None:
            assert cap[0] > prev[0] and cap[1] >= prev[1] and cap[2] >= prev[2]
        prev = cap


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=7),
    st.lists(st.floats(0.0, 10.0), min_size=7, max_size=7),
    st.integers(1, 7),
)
def test_partition_is_min_max_balanced(loads, work, chiplets):
    """Against brute force over every contiguous cut (one block per unit, each fits a chiplet of 40)."""
    work = work[: len(loads)]
    cap = 40
    blocks = [BlockLoad(u, x, w) for u, (x, w) in enumerate(zip(loads, work, strict=True))]
    if chiplets_needed(blocks, cap) > chiplets:
        return
    packing, chips = partition(blocks, cap, chiplets)
    assert len(chips) <= chiplets
    assert all(sum(p.arrays for p in c) <= cap for c in chips)
    for b, x in enumerate(loads):  # every block placed exactly once, in order
        assert sum(p.arrays for c in chips for p in c if p.block == b) == x
        assert sum(p.fraction for c in chips for p in c if p.block == b) == pytest.approx(1.0)
    order = [p.block for c in chips for p in c]
    assert order == sorted(order)
    if len(pack_whole(blocks, cap, math.inf)) > chiplets:
        assert packing == "stream"  # only splitting blocks makes it fit
        return
    assert packing == "whole" and all(p.fraction == 1.0 for c in chips for p in c)
    got = max(sum(work[p.block] for p in c) for c in chips)
    best = math.inf
    n = len(loads)
    for k in range(min(n, chiplets)):
        for cuts in itertools.combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            groups = [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
            if all(sum(loads[u] for u in grp) <= cap for grp in groups):
                best = min(best, max(sum(work[u] for u in grp) for grp in groups))
    assert got <= best * (1 + 1e-9) + 1e-12


def test_whole_packing_splits_only_oversized_blocks():
    blocks = [BlockLoad(0, 10, 1.0), BlockLoad(1, 95, 1.0), BlockLoad(2, 10, 1.0)]
    chips = pack_whole(blocks, 40, math.inf)
    assert [[(p.block, p.arrays) for p in c] for c in chips] == [
        [(0, 10)],
        [(1, 32)],
        [(1, 32)],
        [(1, 31)],
        [(2, 10)],
    ]


def test_stream_packing_reaches_the_capacity_bound():
    """Units of 30 arrays (two blocks of 15) on chiplets of 40: whole units need one chiplet each (5),
    the stream shares chiplets between neighbouring units: ceil(150 / 40) = 4."""
    blocks = [BlockLoad(u, 15, 1.0) for u in range(5) for _ in range(2)]
    assert len(pack_whole(blocks, 40, math.inf)) == 5
    assert chiplets_needed(blocks, 40) == 4
    chips = pack_stream(blocks, 40, math.inf)
    assert [sum(p.arrays for p in c) for c in chips] == [40, 40, 40, 30]
    assert [(p.block, p.arrays, p.fraction) for p in chips[1]] == [
        (2, 5, 1 / 3),
        (3, 15, 1.0),
        (4, 15, 1.0),
        (5, 5, 1 / 3),
    ]
    packing, balanced = partition(blocks, 40, 4)  # same count, work balanced: 3.5 block-works at most
    assert packing == "stream" and len(balanced) == 4
    assert max(sum(p.fraction for p in c) for c in balanced) <= 3.5 + 1e-9


def test_snake_placement_on_mesh_and_ring_order():
    from llmimc.hw import topology_links

    mesh = make_spec({**HAND_SPEC, "package.topology": "mesh2d", "package.num_chiplets": 9}).package
    assert stage_order(9, topology_links(mesh, 9), 0) == [0, 1, 2, 5, 4, 3, 6, 7, 8]
    ring = make_spec({**HAND_SPEC, "package.topology": "ring", "package.num_chiplets": 6}).package
    assert stage_order(6, topology_links(ring, 6), 0) == [0, 1, 2, 3, 4, 5]


def test_consecutive_stages_one_hop_on_mesh():
    g = random_graph(6, 64, 1)
    spec = random_spec(9, "mesh2d", 64, 1, False, 1024)
    m = map_model(g, spec, plan_for(g))
    for a, b in zip(m.stages, m.stages[1:], strict=False):
        assert len(m.route(a.chiplets[0], b.chiplets[0])) == 2


def test_mapping_error_is_one_line_with_numbers():
    g = hand_graph()
    spec = make_spec({**HAND_SPEC, "package.num_chiplets": 1})
    with pytest.raises(MappingError) as e:
        map_model(g, spec, plan_for(g))
    msg = str(e.value)
    assert "\n" not in msg and "32 crossbar arrays" in msg and "--chiplets 2" in msg and "16 arrays" in msg
