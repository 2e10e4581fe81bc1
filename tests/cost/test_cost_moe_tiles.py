"""A routed (top-k) token vector runs on its own expert's tiles only.

Layer 0 is one MoE linear op, 4 experts of 256x128 at 8-bit weights on 128x128 1-bit cells, top-2
(expert_load 0.5): per expert 2 row blocks x 8 column blocks = 16 arrays = one 16-array tile, 4 tiles
in all. Local SRAM per vector: reads 256 x 8 + psum, writes 128 x 8 + psum, psum = 1 x 128 x
(8 + 8 + 8) bits -> 9216 bits = 1152 B. With 1 GB/s per tile:

- one decode token: each of its 2 experts streams 1152 B through its single tile -> 1.152 us (the
  expected-load spread over all 4 tiles would claim 2 x 1152 B / 4 GB/s = 0.576 us);
- a 16-token prefill chunk: 32 vectors spread evenly over the 4 experts -> 32 x 1152 B / 4 GB/s.
"""

from __future__ import annotations

import pytest
from imc_testkit import HAND_SPEC, hand_graph, linear, make_spec, plan_for

from llmimc.cost import actions as A
from llmimc.cost.compile import R
from llmimc.cost.model import features
from llmimc.sim.system import build_system


def _moe_system():
    g = hand_graph()
    ops = [
        linear("layers.0.moe", 0, 256, 128, experts=4, load=0.5) if op.name == "layers.0.fc" else op
        for op in g.ops
    ]
    g = g.model_copy(update={"ops": ops})
    spec = make_spec({**HAND_SPEC, "chiplet.tiles": 4, "chiplet.tile.local_sram.bw_bytes_per_s": 1e9})
    return build_system(g, spec, plan_for(g))


def _item_time(system, f):
    it = next(i for i in system.compiled.items if i.layer == "layer 0" and i.kind == "linear")
    return float((it.times @ f).max()), it


def test_one_token_runs_on_one_experts_tile():
    s = _moe_system()
    f = features([], [5])
    t, it = _item_time(s, f)
    assert float(it.times[R["local_sram"]] @ f) == pytest.approx(2 * 1152 / 4e9)
    assert t == pytest.approx(1152 / 1e9, rel=1e-12)
    # the floor is time only: the action counts are still 2 expert vectors' worth
    assert float((it.counts[A.LSRAM_R] + it.counts[A.LSRAM_W]) @ f) == pytest.approx(2 * 9216)


def test_prefill_spreads_over_experts():
    s = _moe_system()
    from llmimc.cost.iteration import PrefillChunk

    f = features([PrefillChunk(16, 0)], [])
    t, _ = _item_time(s, f)
    assert t == pytest.approx(32 * 1152 / 4e9, rel=1e-12)
