"""Parameter counts of every bundled model equal HF's count (the published table), plus closed forms."""

from __future__ import annotations

import pytest

from llmimc.model import OpKind, list_bundled_models

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
]  # traces with torch/transformers (slow: real forwards or every bundled model)

BUNDLED = list_bundled_models()


def test_at_least_the_required_models_are_bundled():
    ids = {m.id for m in BUNDLED}
    for required in (
        "gpt2",
        "gpt2-medium",
        "gpt2-large",
        "gpt2-xl",
        "facebook/opt-125m",
        "facebook/opt-6.7b",
        "meta-llama/Llama-2-7b-hf",
        "meta-llama/Llama-2-13b-hf",
        "meta-llama/Llama-2-70b-hf",
        "meta-llama/Llama-3.1-8B",
        "meta-llama/Llama-3.1-70B",
        "meta-llama/Llama-3.2-1B",
        "mistralai/Mistral-7B-v0.1",
        "mistralai/Mixtral-8x7B-v0.1",
        "Qwen/Qwen2.5-0.5B",
        "Qwen/Qwen2.5-7B",
        "microsoft/phi-2",
        "google/gemma-2b",
    ):
        assert required in ids
    for m in BUNDLED:
        assert m.num_params and m.config_source.startswith("https://huggingface.co/") and m.num_params_source


@pytest.mark.parametrize("model", BUNDLED, ids=[m.id for m in BUNDLED])
def test_num_params_equals_hf_count(model, fresh_trace):
    graph = fresh_trace(model.id)  # a real trace (use_cache=False), shared with test_model_shipped.py
    assert graph.num_params == model.num_params
    info = graph.info
    # KV bytes per token: 2 x layers x kv_heads x head_dim x bytes
    assert (
        graph.kv_bytes_per_token()
        == 2 * info.num_layers * info.num_kv_heads * info.head_dim * info.dtype_bytes
    )
    # static weights of the ops cover the model: everything but norms/biases (<1%), tied matrix counted twice
    tied_extra = info.vocab_size * info.hidden_size if info.tie_word_embeddings else 0
    weights = graph.weight_params() - tied_extra
    assert 0.985 * graph.num_params <= weights <= graph.num_params
    lm_heads = [op for op in graph.ops if op.name == "lm_head"]
    assert len(lm_heads) == 1 and lm_heads[0].kind == OpKind.LINEAR and lm_heads[0].layer is None
    assert lm_heads[0].in_features == info.hidden_size and lm_heads[0].out_features == info.vocab_size
    assert len({op.layer for op in graph.ops if op.layer is not None}) == info.num_layers


def test_published_counts_match_closed_forms():
    """Independent closed forms (embeddings + layers + final norm) for three architectures."""
    counts = {m.id: m.num_params for m in BUNDLED}
    v, h, n_layers, pos = 50257, 768, 12, 1024  # gpt2: LayerNorm + Conv1D with biases, tied lm_head
    layer = 2 * 2 * h + (h * 3 * h + 3 * h) + (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h)
    assert counts["gpt2"] == v * h + pos * h + n_layers * layer + 2 * h == 124_439_808
    v, h, inter, n_layers = 32000, 4096, 11008, 32  # Llama-2-7b: RMSNorm, no biases, untied lm_head
    layer = 4 * h * h + 3 * h * inter + 2 * h
    assert counts["meta-llama/Llama-2-7b-hf"] == 2 * v * h + n_layers * layer + h == 6_738_415_616
    kv = 8 * 128  # Mixtral-8x7B: GQA with 8 KV heads, 8 experts of 3 matrices, router h x 8
    layer = 2 * h * h + 2 * h * kv + 8 * 3 * h * 14336 + h * 8 + 2 * h
    assert counts["mistralai/Mixtral-8x7B-v0.1"] == 2 * v * h + 32 * layer + h == 46_702_792_704


def test_hf_count_on_meta_device_matches_graph():
    import torch
    from transformers import AutoModelForCausalLM

    from llmimc.model.api import config_from_dict
    from llmimc.model.bundled import find_bundled, load_bundled_config

    bundled = find_bundled("llama-3.2-1b")
    config = config_from_dict(load_bundled_config(bundled), "test")
    with torch.device("meta"):
        hf = AutoModelForCausalLM.from_config(config)
    assert hf.num_parameters() == bundled.num_params == 1_235_814_400
