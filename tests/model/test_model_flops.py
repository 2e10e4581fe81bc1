"""OpGraph matmul FLOPs equal torch's FlopCounterMode on a real CPU forward of tiny random models.

Both sides run the same transformers code path (eager attention; MoE experts via ``batched_mm``;
logits for the last token only). For the MoE, ``batched_mm`` multiplies exactly T*top_k
token-expert pairs whatever the router picks, so the OpGraph's expected-load model (each of the E
experts sees top_k/E of the tokens) gives the exact total even though the per-expert split of a
real forward depends on the random router.
"""

from __future__ import annotations

import pytest
from support.hf_reference import real_forward
from transformers import (
    GemmaConfig,
    GPT2Config,
    LlamaConfig,
    MixtralConfig,
    OPTConfig,
    PhiConfig,
)

from llmimc.model import OpKind, opgraph_from_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
]  # traces with torch/transformers (slow: real forwards or every bundled model)

TINY = {
    "gpt2": lambda: GPT2Config(
        n_layer=3, n_embd=64, n_head=4, vocab_size=128, n_positions=64, bos_token_id=0, eos_token_id=0
    ),
    "llama_gqa": lambda: LlamaConfig(
        num_hidden_layers=3,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=96,
        vocab_size=128,
        max_position_embeddings=64,
    ),
    "opt": lambda: OPTConfig(
        num_hidden_layers=3,
        hidden_size=64,
        num_attention_heads=4,
        ffn_dim=128,
        vocab_size=128,
        max_position_embeddings=64,
        word_embed_proj_dim=64,
    ),
    "mixtral_moe": lambda: MixtralConfig(
        num_hidden_layers=3,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=96,
        vocab_size=128,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=64,
    ),
    "phi": lambda: PhiConfig(
        num_hidden_layers=3,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=128,
        max_position_embeddings=64,
    ),
    "gemma": lambda: GemmaConfig(
        num_hidden_layers=3,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        intermediate_size=128,
        vocab_size=128,
        max_position_embeddings=64,
    ),
}
PROMPT = 7
MATMUL_KINDS = (OpKind.LINEAR, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT)


def _graph_flops(graph, tokens: int, kv_len: int, kinds) -> float:
    return sum(op.flops.at(tokens, kv_len) for op in graph.ops if op.kind in kinds)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_matmul_flops_match_flop_counter(arch):
    config = TINY[arch]()
    graph = opgraph_from_config(TINY[arch](), arch, "test")
    ref = real_forward(config, PROMPT)
    prefill, decode = ref.prefill_counts, ref.decode_counts
    for (t, kv), real in (((PROMPT, PROMPT), prefill), ((1, PROMPT + 1), decode)):
        assert _graph_flops(graph, t, kv, MATMUL_KINDS) == pytest.approx(sum(real.values()), rel=1e-12)
        attn = _graph_flops(graph, t, kv, (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT))
        linear = _graph_flops(graph, t, kv, (OpKind.LINEAR,))
        if arch == "mixtral_moe":  # experts use bmm too: attention is the rest of the bmm count
            assert attn + linear == pytest.approx(sum(real.values()), rel=1e-12)
        else:
            assert attn == pytest.approx(real.get("aten.bmm", 0), rel=1e-12)
            assert linear == pytest.approx(real.get("aten.mm", 0) + real.get("aten.addmm", 0), rel=1e-12)
        assert attn > 0 and linear > 0


def test_moe_expert_ops_carry_expected_routing():
    config = TINY["mixtral_moe"]()
    graph = opgraph_from_config(config, "moe", "test")
    experts = [op for op in graph.linear_ops() if op.num_experts > 1]
    assert len(experts) == 2 * config.num_hidden_layers
    for op in experts:
        assert op.num_experts == 4 and op.expert_load == pytest.approx(2 / 4)
        assert op.weight_params == 4 * op.in_features * op.out_features
        assert op.flops.at(5, 9) == pytest.approx(2 * 5 * op.macs_per_token)
    routers = [op for op in graph.ops if op.kind == OpKind.MOE_ROUTER]
    assert routers and all(op.layer is not None for op in routers)
