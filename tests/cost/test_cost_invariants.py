"""Invariants of the compiled cost model and run_profile over random small models, specs and chiplet counts."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.imc import HAND_SPEC, hand_graph, make_spec, plan_for, random_graph, random_spec

from llmimc.cost.iteration import PrefillChunk
from llmimc.errors import MappingError
from llmimc.sim.profile import run_profile
from llmimc.sim.system import build_system

cases = st.fixed_dictionaries(
    {
        "layers": st.integers(1, 4),
        "hidden": st.sampled_from([64, 128]),
        "experts": st.sampled_from([1, 1, 4]),
        "chiplets": st.integers(1, 9),
        "topology": st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all"]),
        "rows": st.sampled_from([64, 128]),
        "bpc": st.sampled_from([1, 2]),
        "diff": st.booleans(),
        "sram_kib": st.sampled_from([64, 256, 4096]),
        "wbits": st.sampled_from([4, 8]),
        "sparse": st.booleans(),
    }
)


def _build(c):
    g = random_graph(c["layers"], c["hidden"], c["experts"])
    spec = random_spec(c["chiplets"], c["topology"], c["rows"], c["bpc"], c["diff"], c["sram_kib"])
    plan = plan_for(
        g,
        weight_bits=c["wbits"],
        n=2 if c["sparse"] else 1,
        m=4 if c["sparse"] else 1,
        outlier_fraction=0.01,
        pattern="array",  # the row-dropping pattern exercises the most of the cost model
    )
    return g, spec, plan


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_breakdowns_sum_to_totals(c):
    g, spec, plan = _build(c)
    try:
        r = run_profile(g, spec, plan, prompt_len=24, gen_len=6, allow_reprogramming=True)
    except (
        MappingError
    ) as e:  # only the KV capacity check may refuse (tiny SRAM and memory are not used here)
        pytest.fail(str(e))
    total = r.summary.energy_j
    for rows in (r.energy_table, r.layers, r.op_kinds, r.chiplets, r.phases):
        assert sum(x.energy_j for x in rows) == pytest.approx(total, rel=1e-9)
    for a, b, p in (
        (r.energy_table_prefill, r.phases[0], "prefill"),
        (r.energy_table_decode, r.phases[1], "decode"),
    ):
        assert sum(x.energy_j for x in a) == pytest.approx(b.energy_j, rel=1e-9), p
    assert r.summary.ttft_s + sum(r.per_token_latency_s) == pytest.approx(
        r.summary.total_latency_s, rel=1e-12
    )
    link_total = sum(ln.prefill_bytes + ln.decode_bytes for ln in r.links)
    assert link_total == pytest.approx(r.phases[0].d2d_bytes + r.phases[1].d2d_bytes, rel=1e-9)
    for ch in r.chiplets:  # a stage's chiplets are never busier than the iteration
        assert ch.prefill_utilisation <= 1 + 1e-9 and ch.decode_utilisation <= 1 + 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_fast_path_matches_detailed_profile(c):
    """Sum of iteration_cost over the steps equals run_profile's detailed totals (energy, bytes, time)."""
    g, spec, plan = _build(c)
    r = run_profile(g, spec, plan, batch=2, prompt_len=20, gen_len=5, allow_reprogramming=True)
    cm = build_system(g, spec, plan, batch=2, max_context_tokens=25, allow_reprogramming=True).cost_model
    costs = [cm.iteration_cost([PrefillChunk(20, 0)] * 2, [])] + [
        cm.iteration_cost([], [20 + k - 1] * 2) for k in range(1, 5)
    ]
    assert sum(x.energy_j for x in costs) == pytest.approx(r.summary.energy_j, rel=1e-9)
    assert sum(x.latency_s for x in costs) == pytest.approx(r.summary.total_latency_s, rel=1e-12)
    assert sum(x.d2d_bytes for x in costs) == pytest.approx(
        r.phases[0].d2d_bytes + r.phases[1].d2d_bytes, rel=1e-9
    )
    assert sum(x.offpkg_bytes for x in costs) == pytest.approx(r.summary.offpkg_bytes, rel=1e-9)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases, st.lists(st.integers(0, 20000), min_size=2, max_size=6), st.integers(1, 4))
def test_decode_latency_non_decreasing_in_context(c, pasts, batch):
    g, spec, plan = _build(c)
    cm = build_system(g, spec, plan, allow_reprogramming=True).cost_model
    lat = [cm.iteration_cost([], [p] * batch).latency_s for p in sorted(pasts)]
    en = [cm.iteration_cost([], [p] * batch).energy_j for p in sorted(pasts)]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(lat, lat[1:], strict=False))
    assert all(b >= a * (1 - 1e-12) for a, b in zip(en, en[1:], strict=False))


def test_monotone_in_bit_widths():
    g = hand_graph()
    spec = make_spec({**HAND_SPEC, "chiplet.tile.arrays_per_tile": 64})
    prev = None
    for w in (2, 3, 4, 6, 8):
        for a in (2, 4, 8):
            c = build_system(g, spec, plan_for(g, weight_bits=w, act_bits=a)).cost_model.iteration_cost(
                [], [100]
            )
            if prev is not None and prev[0] == w:
                assert c.latency_s >= prev[2].latency_s and c.energy_j >= prev[2].energy_j  # more act bits
            prev = (w, a, c)
    for a in (4, 8):  # more weight bits: more slices, never cheaper
        costs = [
            build_system(g, spec, plan_for(g, weight_bits=w, act_bits=a)).cost_model.iteration_cost([], [100])
            for w in (2, 3, 4, 6, 8)
        ]
        assert all(
            y.energy_j >= x.energy_j and y.latency_s >= x.latency_s * (1 - 1e-12)
            for x, y in zip(costs, costs[1:], strict=False)
        )


def test_sparsity_2_4_hand_computed():
    """fc 256x128 at 8 bits on 128x128 1-bit arrays: dense 2 row blocks x 8 column blocks = 16 arrays;
    array-shared 2:4 keeps ceil(256 x 2/4) = 128 rows -> 1 row block = 8 arrays (per-channel 2:4 keeps
    all 256 rows as zero cells: the dense counts). Per vector (8 input cycles):
    cell reads 8x256x1024 -> 8x128x1024 (1/2), conversions 8x2x1024 -> 8x1x1024 (1/2), row drives
    8x256x8 -> 8x128x8 (1/2), plus 128 x 8 mux selections and 128 x 8 x 1.5 metadata bits read."""
    g = hand_graph()
    spec = make_spec({**HAND_SPEC, "chiplet.tile.arrays_per_tile": 64})
    dense = build_system(g, spec, plan_for(g))
    sparse = build_system(g, spec, plan_for(g, n=2, m=4, pattern="array"))
    per_channel = build_system(g, spec, plan_for(g, n=2, m=4))
    assert per_channel.cost_model.energy_per_feature_j == pytest.approx(
        dense.cost_model.energy_per_feature_j, rel=1e-12
    )  # zero cells stay
    td = next(p.tiling for p in dense.mapping.ops if p.op_name == "layers.0.fc")
    ts = next(p.tiling for p in sparse.mapping.ops if p.op_name == "layers.0.fc")
    assert (td.arrays, ts.arrays) == (16, 8)
    assert ts.metadata_bits == pytest.approx(128 * 8 * 1.5)

    import numpy as np

    from llmimc.cost.actions import Action
    from llmimc.cost.model import features

    f = features([], [0])

    def fc_counts(system):
        i = next(
            k for k, it in enumerate(system.compiled.items) if it.layer == "layer 0" and it.kind == "linear"
        )
        return system.cost_model.item_counts(f, system.cost_model.no_spill())[i]

    cd, cs = fc_counts(dense), fc_counts(sparse)
    assert (cd[Action.CELL_READ], cs[Action.CELL_READ]) == (8 * 256 * 1024, 8 * 128 * 1024)
    assert (cd[Action.CONVERSION], cs[Action.CONVERSION]) == (8 * 2 * 1024, 8 * 1 * 1024)
    assert (cd[Action.ROW_DRIVE], cs[Action.ROW_DRIVE]) == (8 * 256 * 8, 8 * 128 * 8)
    assert (cd[Action.MUX], cs[Action.MUX]) == (0, 128 * 8)
    # tile buffers: both read the 256 x 8-bit input once; the sparse op also reads its index metadata.
    # No partial sum passes the buffer (row blocks sum in the adder tree; issue 9 physics change: the
    # dense op used to write and read back 128 x 24-bit partial sums here)
    assert (cd[Action.LSRAM_READ], cs[Action.LSRAM_READ]) == (256 * 8, 256 * 8 + 128 * 8 * 1.5)
    e = np.array(dense.compiled.energy_per_action_j)
    # shift-adds: one per conversion, plus the 128 cross-block adds of the dense op's 2 row blocks
    e_dense = (
        8 * 256 * 1024 * 1e-15 + 8 * 2 * 1024 * 1e-12 + 8 * 256 * 8 * 2e-15 + (8 * 2 * 1024 + 128) * 5e-14
    )
    e_sparse = (
        8 * 128 * 1024 * 1e-15 + 8 * 1024 * 1e-12 + 8 * 128 * 8 * 2e-15 + 8 * 1024 * 5e-14 + 128 * 8 * 1e-13
    )
    assert float(cd @ e) == pytest.approx(e_dense, rel=1e-12)  # SRAM and NoC energies are 0 in HAND_SPEC
    assert float(cs @ e) == pytest.approx(e_sparse, rel=1e-12)
    assert e_sparse / e_dense == pytest.approx(0.5, abs=0.01)


def test_split_layer_when_it_does_not_fit():
    """A unit of 32 arrays on 16-array chiplets is split over 2 chiplets with reduction traffic."""
    g = hand_graph()
    spec = make_spec({**HAND_SPEC, "package.num_chiplets": 4, "package.topology": "ring"})
    s = build_system(g, spec, plan_for(g, weight_bits=16))  # fc and lm_head double to 32 arrays
    assert [st.split for st in s.mapping.stages] == [True, True]
    assert [len(st.chiplets) for st in s.mapping.stages] == [2, 2]
    kinds = {it.kind for it in s.compiled.items}
    assert "reduction" in kinds
    with pytest.raises(MappingError, match="--chiplets 4"):
        build_system(g, spec.with_chiplets(3), plan_for(g, weight_bits=16))


def test_reprogramming_charges_program_energy():
    g = hand_graph()
    spec = make_spec({**HAND_SPEC, "package.num_chiplets": 1})
    with pytest.raises(MappingError, match="needs 32 crossbar arrays, 2 chiplets"):
        build_system(g, spec, plan_for(g))
    s = build_system(g, spec, plan_for(g), allow_reprogramming=True)
    rp = s.mapping.reprogramming
    assert rp is not None and rp.rounds == 2
    cells = (256 * 128 + 128 * 256) * 8
    assert rp.cells_per_iteration == cells
    fit = build_system(g, make_spec(HAND_SPEC), plan_for(g)).cost_model.iteration_cost([], [10])
    c = s.cost_model.iteration_cost([], [10])
    iters = spec.chiplet.array.program_verify_iterations or 1  # program-and-verify iterations per cell
    assert iters > 1
    prog_e = cells * spec.chiplet.array.program_energy_per_cell_j * iters
    assert c.energy_j > fit.energy_j + prog_e * (1 - 1e-9) - 1.0 * fit.latency_s  # fewer chiplets leak less
    # same compute without the two die-to-die hops (4 ns + 2.03125 ns), plus 2 rounds x 128 rows programmed,
    # each row in `iters` program-and-verify iterations
    t_prog = 2 * 128 * spec.chiplet.array.program_time_per_row_s * iters
    assert c.latency_s == pytest.approx(fit.latency_s - (4 + 2.03125) * 1e-9 + t_prog, rel=1e-9)
    assert math.isfinite(c.latency_s)
