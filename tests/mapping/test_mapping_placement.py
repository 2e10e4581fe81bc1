"""Placement by hand: MoE experts on chiplets with routed traffic, column-then-row split of a dense MLP,
the capacity bound, and the batch-1 minimum.

Hand numbers use HAND_SPEC (128 x 128 arrays of 1-bit cells, 16 arrays per tile, ring package) at
w8a8: 8 slices per weight, so a K x N weight takes ceil(K / 128) x ceil(8 N / 128) arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.imc import HAND_SPEC, info, linear, make_spec, plan_for

from llmimc.cost.actions import Action
from llmimc.cost.model import features
from llmimc.errors import MappingError
from llmimc.mapping import map_model
from llmimc.mapping.blocks import routed_probability
from llmimc.model.opgraph import Op, OpGraph, OpKind, Poly
from llmimc.sim.system import build_system

H = 128  # hidden size; the model dtype is fp16 (2 bytes), act_bits = 8


def _graph(mlp: list[Op]) -> OpGraph:
    embed = Op(
        name="embed",
        module_path="embed",
        layer=None,
        kind=OpKind.EMBEDDING,
        in_features=256,
        out_features=H,
        weight_params=256 * H,
        act_bytes_read=Poly(c_t=8),
        act_bytes_written=Poly(c_t=2 * H),
    )
    ops = [
        embed,
        linear("layers.0.attn.qkv", 0, H, 3 * H),  # 1 x 24 arrays
        linear("layers.0.attn.o", 0, H, H),  # 1 x 8
        *mlp,
        linear("lm_head", None, H, 256, per_token=False),  # 1 x 16
    ]
    return OpGraph(
        llmimc_version="test",
        config_hash="hand-placement",
        info=info(1, H),
        num_params=sum(op.weight_params for op in ops),
        kv_elements_per_token_per_layer=[2 * H],
        ops=ops,
    )


def tiny_mixtral() -> OpGraph:
    """4 experts, top-2 (load 0.5): gate_up 128 x 512 (32 arrays each), down 256 x 128 (2 x 8 = 16 each):
    one expert = 48 arrays; router 128 x 4 = 1 array."""
    return _graph(
        [
            linear("layers.0.mlp.gate", 0, H, 4),
            linear("layers.0.mlp.experts.gate_up", 0, H, 4 * H, experts=4, load=0.5),
            linear("layers.0.mlp.experts.down", 0, 2 * H, H, experts=4, load=0.5),
        ]
    )


def tiny_dense() -> OpGraph:
    """MLP up 128 x 512 (32 arrays), down 512 x 128 (4 x 8 = 32 arrays): a 64-array block."""
    return _graph([linear("layers.0.mlp.up", 0, H, 4 * H), linear("layers.0.mlp.down", 0, 4 * H, H)])


def _spec(tiles: int, chiplets: int):
    return make_spec({**HAND_SPEC, "chiplet.tiles": tiles, "package.num_chiplets": chiplets})


def _decode_d2d_bytes(system) -> float:
    return system.cost_model.iteration_cost([], [10]).d2d_bytes


def test_routed_probability_uniform_top_k():
    assert routed_probability(4, 2, 2) == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    assert routed_probability(4, 2, 1) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    assert routed_probability(8, 2, 1) == pytest.approx(2 / 8)  # one expert: its load k/E
    assert routed_probability(8, 2, 7) == 1.0 and routed_probability(8, 2, 0) == 0.0


def test_experts_whole_on_chiplets_and_routed_traffic_by_hand():
    """Chiplets of 96 arrays (6 tiles). Layer 0 = 32 + 1 + 4 x 48 = 225 arrays does not fit one chiplet,
    so it is packed block by block, experts whole: chiplet 0 = attention + router + expert 0 (81),
    chiplet 1 = experts 1, 2 (96), chiplet 2 = expert 3 + lm_head (64): 3 chiplets = ceil(241 / 96).

    Per decode token (ring of 3: every pair one hop): chiplet 1 gets the hidden vector when expert 1 or
    2 is in the top 2 (P = 5/6), chiplet 2 when expert 3 is (P = 1/2); each dispatch is H x 8 bit =
    128 B and each reduction (one combined partial output) 128 B. Plus the fp16 residual from the
    layer's home (0) to the head's home (2): 256 B, and the int32 token id back to chiplet 0: 4 B.
    """
    g = tiny_mixtral()
    s = build_system(g, _spec(6, 3), plan_for(g))
    m = s.mapping
    assert m.packing == "whole"
    assert m.arrays_per_chiplet == [81, 96, 64]
    assert [st.chiplets for st in m.stages] == [[0, 1, 2], [2]]
    up = next(p for p in m.ops if p.op_name == "layers.0.mlp.experts.gate_up")
    assert [(sh.chiplet, sh.fraction) for sh in up.shards] == [(0, 0.25), (1, 0.5), (2, 0.25)]
    moved = {(t.kind, t.dst if t.kind == "dispatch" else t.src): t.bytes_per_vector for t in up.transfers}
    assert moved == pytest.approx(
        {
            ("dispatch", 1): 128 * 5 / 6,
            ("reduction", 1): 128 * 5 / 6,
            ("dispatch", 2): 64.0,
            ("reduction", 2): 64.0,
        }
    )
    assert _decode_d2d_bytes(s) == pytest.approx(2 * 128 * 5 / 6 + 2 * 64 + 256 + 4, rel=1e-12)
    # the members' partial outputs are added on the home: H adds per reduction, times P
    adds = sum(
        float(it.counts[Action.SHIFT_ADD] @ features([], [10]))
        for it in s.compiled.items
        if it.kind == "reduction"
    )
    assert adds == pytest.approx(H * (5 / 6 + 1 / 2), rel=1e-12)


def test_dense_mlp_split_column_then_row_by_hand():
    """Chiplets of 48 arrays (3 tiles): attention 32 + MLP 64 + lm_head 16 = 112 arrays, 3 chiplets by
    capacity (ceil(112 / 48)); whole blocks would need 4. The stream puts attention and a quarter of
    the MLP (16 of 64 arrays: a quarter of up's columns and of down's rows) on chiplet 0, the other
    three quarters on chiplet 1, lm_head on chiplet 2.

    Column-then-row: chiplet 1 receives the MLP input once (128 x 8 bit = 128 B) and returns one
    partial output of down (128 x 8 bit = 128 B, 128 adds on the home) per token, whatever its share;
    a row split of both ops would instead return up's 512 partial sums and down's 128 at 8+8+7 and
    8+8+9 bits (and need up's full output on every member).
    """
    g = tiny_dense()
    s = build_system(g, _spec(3, 3), plan_for(g))
    m = s.mapping
    assert m.packing == "stream" and m.arrays_per_chiplet == [48, 48, 16]
    up, down = (next(p for p in m.ops if p.op_name == n) for n in ("layers.0.mlp.up", "layers.0.mlp.down"))
    for p in (up, down):
        assert [(sh.chiplet, sh.fraction) for sh in p.shards] == [(0, 0.25), (1, 0.75)]
    assert [(t.kind, t.src, t.dst, t.bytes_per_vector, t.adds_per_vector) for t in up.transfers] == [
        ("dispatch", 0, 1, 128.0, 0.0),
        ("reduction", 1, 0, 128.0, 128.0),
    ]
    assert not down.transfers
    assert _decode_d2d_bytes(s) == pytest.approx(128 + 128 + 256 + 4, rel=1e-12)
    # the shards' action counts add up to the unsplit op's
    f = features([], [10])
    items = [it for it in s.compiled.items if it.kind == "linear" and it.layer == "layer 0"]
    whole = build_system(g, _spec(8, 3), plan_for(g))
    w_items = [it for it in whole.compiled.items if it.kind == "linear" and it.layer == "layer 0"]
    assert sum(float(it.counts[Action.CELL_READ] @ f) for it in items) == pytest.approx(
        sum(float(it.counts[Action.CELL_READ] @ f) for it in w_items), rel=1e-12
    )


def _six_layers() -> OpGraph:
    """tiny_dense's layer six times: 96 arrays per layer (attention 32, MLP 64), plus lm_head 16."""
    g = tiny_dense()
    layers = 6
    ops = [g.ops[0]]
    for i in range(layers):
        ops += [
            op.model_copy(update={"name": op.name.replace("layers.0", f"layers.{i}"), "layer": i})
            for op in g.ops[1:-1]
        ]
    ops.append(g.ops[-1])
    return g.model_copy(
        update={"ops": ops, "info": info(layers, H), "kv_elements_per_token_per_layer": [2 * H] * layers}
    )


def test_whole_blocks_spread_split_blocks_pack_tight_at_batch1():
    """Whole blocks (112 arrays, chiplets of 128) spread over the package in balanced stages (finer
    pipeline stages and power-gating domains). Six 96-array layers on chiplets of 80 fit 10 chiplets
    only with split blocks (whole blocks need 13, the stream 8): batch 1 keeps the fewest, 8; with two
    sequences in flight the stream spreads in balanced stages (9 of the 10)."""
    g = tiny_dense()
    spread = map_model(g, _spec(8, 3), plan_for(g))
    assert spread.packing == "whole" and len(spread.stages) >= 2
    big = _six_layers()
    spec = make_spec({**HAND_SPEC, "chiplet.tiles": 5, "package.num_chiplets": 10})
    tight = map_model(big, spec, plan_for(big))
    assert tight.packing == "stream" and sum(1 for a in tight.arrays_per_chiplet if a) == 8
    assert any("fewest chiplets" in n for n in tight.notes)
    wide = map_model(big, spec, plan_for(big), batch=2)
    assert wide.packing == "stream" and sum(1 for a in wide.arrays_per_chiplet if a) > 8  # balanced: 9


def test_llama_like_layers_share_chiplets_at_the_capacity_bound():
    """Layers of 96 arrays (attention 32, MLP 64) on chiplets of 80: whole layers do not fit, whole
    blocks need 2 chiplets per layer (13); sharing chiplets between neighbours reaches ceil(total / 80)."""
    big = _six_layers()
    layers = 6
    spec = make_spec({**HAND_SPEC, "chiplet.tiles": 5, "package.num_chiplets": 8})
    m = map_model(big, spec, plan_for(big))
    assert m.packing == "stream"
    assert m.total_arrays == layers * 96 + 16
    assert sum(1 for a in m.arrays_per_chiplet if a) == math.ceil(m.total_arrays / 80)
    assert np.all(np.array(m.arrays_per_chiplet) <= 80)
    with pytest.raises(MappingError, match="--chiplets 8 or more"):
        map_model(big, spec.with_chiplets(7), plan_for(big))


def test_split_attention_returns_heads_and_partial_output_by_hand():
    """Chiplets of 16 arrays (1 tile): attention (qkv 24 + o 8 = 32 arrays) splits over 2 chiplets by
    heads, a half each. The attention core stays on the home (its KV lives there), so the member gets
    the input (128 B) and its half of the context (64 x 8 bit = 64 B), and returns its half of q/k/v
    (192 x 8 bit = 192 B) and a partial output of o (128 B, 128 adds on the home)."""
    g = tiny_dense()
    m = map_model(g, _spec(1, 8), plan_for(g))
    qkv = next(p for p in m.ops if p.op_name == "layers.0.attn.qkv")
    assert [(sh.chiplet, sh.fraction) for sh in qkv.shards] == [(0, 0.5), (1, 0.5)]
    assert [(t.kind, t.src, t.dst, t.bytes_per_vector, t.adds_per_vector) for t in qkv.transfers] == [
        ("dispatch", 0, 1, 128.0 + 64.0, 0.0),
        ("reduction", 1, 0, 128.0 + 192.0, 128.0),
    ]
    up = next(p for p in m.ops if p.op_name == "layers.0.mlp.up")  # 64 arrays: 4 chiplets of 16
    assert [sh.fraction for sh in up.shards] == [0.25] * 4 and 0 not in [sh.chiplet for sh in up.shards]
    assert [t.bytes_per_vector for t in up.transfers] == [128.0, 128.0] * 4
