"""Fusion rules: each software stack changes the kernel count the way it says (llmimc.gpu.stack)."""

from __future__ import annotations

import pytest
from support.gpu import hand_spec, layer_graph, plan16

from llmimc.cost.iteration import PrefillChunk
from llmimc.gpu import HF_EAGER, SERVING, build_gpu_system
from llmimc.gpu.kernels import features
from llmimc.gpu.lower import STREAM, lower
from llmimc.model import load_opgraph

# hf-eager, hand layer: norm 8 + q,k,v 3 + RoPE 7 + rotate_half cats 2 + attention 1 + o 1
# + residual adds 2 + norm 8 + gate 1 + silu 1 + up 1 + mul 1 + down 1 + lm_head 1 = 38;
# decode adds the K and V cache concats (2) and cuDNN's reduction kernel (1).
EAGER_PREFILL, EAGER_DECODE = 38, 41
# serving: norm | qkv | RoPE | KV write | attention | o | residual+norm | gate_up | silu*mul | down | lm_head
SERVING_ANY = 11


@pytest.mark.parametrize(
    ("stack", "prefill", "decode"),
    [("hf-eager", EAGER_PREFILL, EAGER_DECODE), ("serving", SERVING_ANY, SERVING_ANY)],
)
def test_kernel_counts_per_stack(stack, prefill, decode):
    g = layer_graph()
    cm = build_gpu_system(g, hand_spec(stack), plan16(g)).cost_model
    assert cm.evaluate(features([PrefillChunk(10, 0)], [])).kernels == prefill
    assert cm.evaluate(features([], [10])).kernels == decode


def test_serving_is_never_slower_than_eager():
    for model in ("gpt2", "llama-2-7b"):
        g = load_opgraph(model)
        plan = plan16(g)
        from support.gpu import gpu_spec

        eager = build_gpu_system(g, gpu_spec({"software_stack": "hf-eager"}), plan).cost_model
        serve = build_gpu_system(g, gpu_spec(), plan).cost_model
        for f in (features([PrefillChunk(256, 0)] * 2, []), features([], [512] * 4)):
            assert serve.evaluate(f).latency_s <= eager.evaluate(f).latency_s
            assert serve.evaluate(f).kernels < eager.evaluate(f).kernels


def test_eager_logits_for_every_prompt_position():
    g = layer_graph()
    plan = plan16(g)
    eager = lower(g, plan, HF_EAGER)
    serving = lower(g, plan, SERVING)
    i_e, i_s = eager.labels.index("lm_head"), serving.labels.index("lm_head")
    assert eager.flops[i_e][1] > 0 and eager.flops[i_e][0] == 0  # x sum of T
    assert serving.flops[i_s][0] > 0 and serving.flops[i_s][1] == 0  # x number of sequences


def test_activations_at_run_precision():
    g = layer_graph()
    a16 = lower(g, plan16(g, act_bits=16), HF_EAGER)
    a8 = lower(g, plan16(g, act_bits=8), HF_EAGER)
    s16 = (a16.bytes[a16.cls == STREAM] * a16.count[a16.cls == STREAM, None]).sum()
    s8 = (a8.bytes[a8.cls == STREAM] * a8.count[a8.cls == STREAM, None]).sum()
    assert s8 == pytest.approx(0.5 * s16)


def test_gpt2_traced_fp32_costed_at_fp16():
    g = load_opgraph("gpt2")
    assert g.info.dtype_bytes == 4
    table = lower(g, plan16(g), HF_EAGER)
    norm = [i for i, lab in enumerate(table.labels) if lab == "norm"]
    op = next(o for o in g.ops if o.name.endswith("ln_1.norm"))
    per_kernel = (op.act_bytes_read.c_t + op.act_bytes_written.c_t) / 2  # one kernel, half the bytes
    assert any(table.bytes[i][1] == pytest.approx(per_kernel) for i in norm)
