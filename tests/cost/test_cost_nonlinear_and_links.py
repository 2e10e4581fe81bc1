"""Non-linear ops fused on the DPU (issue 9 item 8) and die-to-die link contention (issue 14).

- A GELU traced as 4 distinct aten ops at fp32 (40 B read and 32 B written per element over its ~8
  aten calls) is one fused DPU kernel at fp16: its global-SRAM traffic is the traced bytes / 4 aten ops
  x 2 B / 4 B, and its element ops run at the DPU's energy per op.
- A die-to-die link's bytes in an iteration take bytes / bandwidth: the iteration can be no shorter
  (transfers queue on the link). On a chain of stages the senders' store-and-forward hop times already
  reach that bound, so the test loads one link as many sharing routes would.
"""

from __future__ import annotations

import pytest
from support.imc import HAND_SPEC, hand_graph, make_spec, plan_for

from llmimc.cost.actions import Action
from llmimc.cost.compile import Resource
from llmimc.cost.model import features
from llmimc.model.opgraph import Op, OpKind, Poly
from llmimc.sim.system import build_system


def _with_gelu():
    g = hand_graph()
    gelu = Op(
        name="layers.0.mlp.act",
        module_path="layers.0.mlp.act",
        layer=0,
        kind=OpKind.ACTIVATION,
        aten="aten.add.Tensor,aten.mul.Tensor,aten.pow.Tensor_Scalar,aten.tanh.default",
        flops=Poly(c_t=8 * 128),
        act_bytes_read=Poly(c_t=40 * 128),
        act_bytes_written=Poly(c_t=32 * 128),
    )
    ops = list(g.ops)
    ops.insert(2, gelu)
    info = g.info.model_copy(update={"dtype": "float32", "dtype_bytes": 4})
    return g.model_copy(update={"ops": ops, "info": info})


def test_gelu_is_one_fused_fp16_dpu_kernel():
    g = _with_gelu()
    s = build_system(g, make_spec(HAND_SPEC), plan_for(g))
    f = features([], [0])
    it = next(x for x in s.compiled.items if x.kind == "activation")
    counts = it.counts @ f
    assert counts[Action.GSRAM_READ] == pytest.approx(40 * 128 / 4 * 2 / 4 * 8)  # bits: 1,280 B
    assert counts[Action.GSRAM_WRITE] == pytest.approx(32 * 128 / 4 * 2 / 4 * 8)  # bits: 1,024 B
    assert counts[Action.DPU_OP] == pytest.approx(8 * 128)
    assert float(it.times[Resource.DPU] @ f) == pytest.approx(8 * 128 / 64e9)  # 64 lanes at 1 GHz


def test_link_load_bounds_the_iteration():
    g = hand_graph()
    s = build_system(g, make_spec(HAND_SPEC), plan_for(g))
    cm = s.cost_model
    from llmimc.cost.iteration import PrefillChunk

    f = features([PrefillChunk(16, 0)], [])
    sp = cm.spill(f)
    lat0, _, bound0 = cm.latency(f, sp)
    assert bound0 == "pipeline"
    # store-and-forward hop times on the senders' paths already cover a chain's links; load link 0->1
    # with 1000x the traffic (as transfers of many routes sharing it would) and it must bound the iteration
    i = cm.link_index[(0, 1)]
    cm.link_bytes_per_feature[i] *= 1000.0
    lat, _, bound = cm.latency(f, sp)
    link_s = float(cm.link_bytes_per_feature[i] @ f) / 128e9
    assert link_s > lat0
    assert bound == "link"
    assert lat == pytest.approx(link_s, rel=1e-9)
