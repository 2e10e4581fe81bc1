"""A layer split over chiplets (tensor parallel) is not faster per tile than the same layer on one
chiplet with as many tiles, and the home waits for the member's outputs.

hand_graph at 16-bit weights: fc 256x128 -> 16 slices, 2 row blocks x 16 column blocks = 32 arrays.
Whole: one chiplet of 2 tiles x 16 arrays holds it (2 tiles). Split: chiplets of 1 tile x 16 arrays,
so fc (a single-op block) is split by columns over 2 chiplets, 1 tile each. Per tile the work is the
same, so the local-SRAM time of the op (made the binding resource here) is the same as whole; the two
shards run in parallel, so the op's time is charged once (on the home's shard). The member receives
the input (K x a = 256 B) and returns its column slice of the output (64 x a = 64 B, no adds): both
transfers are on the home's path.
"""

from __future__ import annotations

import pytest
from support.imc import HAND_SPEC, hand_graph, make_spec, plan_for

from llmimc.cost.actions import NUM_ACTIONS, Action
from llmimc.cost.compile import Resource
from llmimc.cost.model import features
from llmimc.sim.system import build_system

SLOW_TILE_SRAM = {"chiplet.tile.local_sram.bw_bytes_per_s": 1e9}  # 1 GB/s per tile: binds


def _systems():
    g = hand_graph()
    plan = plan_for(g, weight_bits=16)
    whole = build_system(
        g,
        make_spec({**HAND_SPEC, **SLOW_TILE_SRAM, "chiplet.tiles": 2, "package.num_chiplets": 2}),
        plan,
    )
    split = build_system(g, make_spec({**HAND_SPEC, **SLOW_TILE_SRAM, "package.num_chiplets": 4}), plan)
    return whole, split


def _fc_items(system):
    return [it for it in system.compiled.items if it.layer == "layer 0" and it.kind == "linear"]


def test_split_op_keeps_per_tile_time():
    whole, split = _systems()
    assert [st.split for st in whole.mapping.stages] == [False, False]
    assert split.mapping.stages[0].split and len(split.mapping.stages[0].chiplets) == 2
    f = features([], [10])
    (w_item,) = _fc_items(whole)
    s_items = _fc_items(split)
    assert len(s_items) == 2
    t_whole = float(w_item.times[Resource.LOCAL_SRAM] @ f)
    # tile-buffer bits per vector: reads K x a, writes N x a (partial sums of the 2 row blocks add in the
    # adder tree, not through the buffer: issue 9 physics change)
    bits = 256 * 8 + 128 * 8
    assert t_whole == pytest.approx(bits / 8 / (2 * 1e9), rel=1e-12)  # 2 tiles in parallel
    home, member = s_items  # half the bits on one tile, the shards in parallel: one op time
    assert float(home.times[Resource.LOCAL_SRAM] @ f) == pytest.approx(t_whole, rel=1e-12)
    assert float(home.times[Resource.ANALOG] @ f) == pytest.approx(float(w_item.times[Resource.ANALOG] @ f))
    assert not member.times.any() and member.chiplet != home.chiplet and member.slot == home.slot
    # same actions, except NoC bits: the whole op's 2 tiles (column blocks spread over the free tiles)
    # each receive the whole input, a split member's tile only its half of the rows
    keep = [i for i in range(NUM_ACTIONS) if i != Action.NOC]
    assert sum(float(it.counts[keep].sum(axis=0) @ f) for it in s_items) == pytest.approx(
        float(w_item.counts[keep].sum(axis=0) @ f), rel=1e-12
    )


def test_gather_is_on_the_root_path():
    _, split = _systems()
    st0 = split.mapping.stages[0]
    moved = [
        it for it in split.compiled.items if it.kind in ("dispatch", "reduction") and it.layer == "layer 0"
    ]
    assert sorted(it.kind for it in moved) == ["dispatch", "reduction"]
    assert all(it.slot == st0.index for it in moved)  # on the home's (critical) path
    f = features([], [10])
    for it in moved:
        nbytes = 256 if it.kind == "dispatch" else 64  # K x 8 bit in, the 64-column slice x 8 bit back
        assert it.chiplet == (st0.chiplets[0] if it.kind == "dispatch" else st0.chiplets[1])
        assert float(it.times[Resource.TRANSFER] @ f) == pytest.approx(2e-9 + nbytes / 128e9, rel=1e-12)
        assert float(it.counts[Action.D2D] @ f) == pytest.approx(
            nbytes * 8.0, rel=1e-12
        )  # one hop, one vector
    cm = split.cost_model
    slot_t = cm.slot_times(f, cm.no_spill())
    on_slot = [it for it in split.compiled.items if it.slot == st0.index]
    item_t = [float((it.times @ f).max()) for it in on_slot]
    assert slot_t[st0.index] == pytest.approx(sum(item_t), rel=1e-12)
