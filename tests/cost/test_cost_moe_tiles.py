"""A routed (top-k) token vector runs on its own expert's tiles only.

Layer 0 is one MoE linear op, 4 experts of 256x128 at 8-bit weights on 128x128 1-bit cells, top-2
(expert_load 0.5): per expert 2 row blocks x 8 column blocks = 16 arrays, 64 in all, on a chiplet of
64 tiles: ops spread over the free tiles, one array per tile, so each expert sits on 16 tiles. Tile
buffer per vector: reads 256 x 8, writes 128 x 8 bits -> 384 B (partial sums stay in the adder trees).
With 10 MB/s per tile (so that the buffers bind, not the 0.8 us MVM):

- one decode token: each of its 2 experts streams 384 B through its own 16 tiles -> 2.4 us (the
  expected-load spread over all 64 tiles would claim 2 x 384 B / 640 MB/s = 1.2 us);
- a 16-token prefill chunk: 32 vectors spread evenly over the 4 experts -> 32 x 384 B / 640 MB/s.
"""

from __future__ import annotations

import pytest
from support.imc import HAND_SPEC, hand_graph, linear, make_spec, plan_for

from llmimc.cost.actions import Action
from llmimc.cost.compile import Resource
from llmimc.cost.model import features
from llmimc.sim.system import build_system


def _moe_system():
    g = hand_graph()
    ops = [
        linear("layers.0.moe", 0, 256, 128, experts=4, load=0.5) if op.name == "layers.0.fc" else op
        for op in g.ops
    ]
    g = g.model_copy(update={"ops": ops})
    spec = make_spec({**HAND_SPEC, "chiplet.tiles": 64, "chiplet.tile.local_sram.bw_bytes_per_s": 1e7})
    return build_system(g, spec, plan_for(g))


def _item_time(system, f):
    it = next(i for i in system.compiled.items if i.layer == "layer 0" and i.kind == "linear")
    return float((it.times @ f).max()), it


def test_one_token_runs_on_one_experts_tile():
    s = _moe_system()
    f = features([], [5])
    t, it = _item_time(s, f)
    assert float(it.times[Resource.LOCAL_SRAM] @ f) == pytest.approx(2 * 384 / 64e7)
    assert t == pytest.approx(384 / 16e7, rel=1e-12)
    # the floor is time only: the action counts are still 2 expert vectors' worth
    assert float((it.counts[Action.LSRAM_READ] + it.counts[Action.LSRAM_WRITE]) @ f) == pytest.approx(
        2 * 3072
    )


def test_prefill_spreads_over_experts():
    s = _moe_system()
    from llmimc.cost.iteration import PrefillChunk

    f = features([PrefillChunk(16, 0)], [])
    t, _ = _item_time(s, f)
    assert t == pytest.approx(32 * 384 / 64e7, rel=1e-12)
