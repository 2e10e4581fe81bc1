"""Invariants of traced OpGraphs: attention linear in context, KV closed form, replication = full trace."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import GPT2Config, LlamaConfig, MixtralConfig

from llmimc.model import OpGraph, OpKind, Poly, opgraph_from_config
from llmimc.model import graph as graph_mod
from llmimc.model.fit import FitError, check_points, fit_poly

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
]  # traces with torch/transformers (slow: real forwards or every bundled model)


def _llama(layers: int = 4) -> LlamaConfig:
    return LlamaConfig(
        num_hidden_layers=layers,
        hidden_size=64,
        num_attention_heads=8,
        num_key_value_heads=2,
        intermediate_size=96,
        vocab_size=100,
        max_position_embeddings=64,
    )


@pytest.fixture(scope="module")
def llama_graph() -> OpGraph:
    return opgraph_from_config(_llama(), "tiny-llama", "test")


@settings(max_examples=30, deadline=None)
@given(context=st.integers(min_value=0, max_value=200_000))
def test_decode_attention_flops_linear_in_context(llama_graph, context):
    attn = [op for op in llama_graph.ops if op.kind in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT)]
    per_token = sum(op.flops.at(1, 1) for op in attn)
    # closed form: score + context = 2 x (2 x heads x head_dim) FLOPs per (query, key) pair, per layer
    assert per_token == 4 * 8 * 8 * 4
    assert sum(op.flops.at(1, context + 1) for op in attn) == per_token * (context + 1)


def test_kv_bytes_closed_form(llama_graph):
    info = llama_graph.info
    assert info.num_kv_heads == 2 and info.head_dim == 8
    assert llama_graph.kv_elements_per_token_per_layer == [2 * 2 * 8] * 4
    assert llama_graph.kv_bytes_per_token() == 2 * 4 * 2 * 8 * info.dtype_bytes
    assert llama_graph.kv_bytes_per_token(kv_bits=8) == 2 * 4 * 2 * 8


def test_attention_reads_the_kv_cache_not_its_gqa_copy(llama_graph):
    """Decode: the score op reads q (T) and the K cache (L x kv_heads x head_dim), not 8/2 copies."""
    score = next(op for op in llama_graph.ops if op.kind == OpKind.ATTN_SCORE)
    b = llama_graph.info.dtype_bytes
    assert score.act_bytes_read.c_l == 2 * 8 * b  # kv_heads x head_dim per cached token
    assert score.act_bytes_read.c_t == 64 * b  # heads x head_dim per query token


def test_linear_ops_scale_with_tokens_and_lm_head_is_last_token_only(llama_graph):
    for op in llama_graph.linear_ops():
        if op.name == "lm_head":
            assert op.flops == Poly(c0=2 * 64 * 100)
        else:
            assert op.flops == Poly(c_t=2 * op.in_features * op.out_features)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _llama(5),
        lambda: GPT2Config(
            n_layer=4, n_embd=32, n_head=4, vocab_size=50, n_positions=32, bos_token_id=0, eos_token_id=0
        ),
        lambda: MixtralConfig(
            num_hidden_layers=3,
            hidden_size=32,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=48,
            vocab_size=50,
            num_local_experts=4,
            num_experts_per_tok=2,
        ),
    ],
)
def test_replicated_layers_equal_full_trace(make, monkeypatch):
    replicated = opgraph_from_config(make(), "m", "test")
    monkeypatch.setattr(graph_mod, "TRACE_LAYERS", 1000)  # forces tracing every layer
    full = opgraph_from_config(make(), "m", "test")
    assert replicated.ops == full.ops
    assert replicated.num_params == full.num_params
    assert replicated.kv_elements_per_token_per_layer == full.kv_elements_per_token_per_layer


def test_graph_is_plain_json_round_trip(llama_graph):
    again = OpGraph.model_validate_json(llama_graph.model_dump_json())
    assert again == llama_graph
    assert len({op.name for op in llama_graph.ops}) == len(llama_graph.ops)


def test_fit_is_exact_and_rejects_non_bilinear_costs():
    points = [(3, 3), (2, 5), (1, 6), (4, 10), (1, 11), (2, 13)]
    check_points(points)
    poly = fit_poly(points, [7 + 2 * t + 3 * kv + 5 * t * kv for t, kv in points], "ok")
    assert poly == Poly(c0=7, c_t=2, c_l=3, c_tl=5)
    with pytest.raises(FitError, match="quadratic"):
        fit_poly(points, [t * t for t, _ in points], "quadratic op")
    with pytest.raises(FitError):
        check_points([(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)])
