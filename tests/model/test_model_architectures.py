"""Many decoder-only architectures through the generic tracer, checked against real CPU forwards.

For every tiny config (hidden 64, 2 layers, vocab 128) built from transformers' own config classes:
HF's parameter count, torch's FlopCounterMode on a real prefill + decode forward (matmul FLOPs), and
the KV elements per token that the real DynamicCache holds. Architectures that cannot be modelled
(recurrent / state-space layers, no KV cache) must fail with one clear ModelResolutionError line.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import transformers
from support.hf_reference import real_forward
from transformers import AutoModelForCausalLM

from llmimc.errors import ModelResolutionError
from llmimc.model import OpKind, opgraph_from_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
]  # traces with torch/transformers (slow: real forwards or every bundled model)

BASE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 128,
    "max_position_embeddings": 64,
}
MOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}
MLA = {
    "num_key_value_heads": 4,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "n_shared_experts": 1,
    "first_k_dense_replace": 1,
    "kv_lora_rank": 16,
    "q_lora_rank": 32,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 16,
    "n_group": 2,
    "topk_group": 1,
}
ROPE_DIM = {"rotary_dim": 8}
# config class name -> overrides of BASE
ARCHS: dict[str, dict] = {
    "GPTNeoXConfig": {},
    "GPTJConfig": ROPE_DIM,
    "CodeGenConfig": ROPE_DIM,
    "FalconConfig": {"new_decoder_architecture": False},
    "BloomConfig": {},
    "StableLmConfig": {},
    "Phi3Config": {"pad_token_id": 0},
    "Qwen2Config": {},
    "Qwen3Config": {"head_dim": 16},
    "Qwen2MoeConfig": {**MOE, "shared_expert_intermediate_size": 64},
    "Qwen3MoeConfig": {**MOE, "head_dim": 16},
    "Gemma2Config": {"head_dim": 16, "sliding_window": 32},
    "Gemma3TextConfig": {"head_dim": 16, "sliding_window": 32},
    "Starcoder2Config": {},
    "OlmoConfig": {},
    "Olmo2Config": {},
    "CohereConfig": {},
    "GraniteConfig": {},
    "GPTBigCodeConfig": {},
    "MptConfig": {},
    "MistralConfig": {"sliding_window": 32},
    "DeepseekV3Config": MLA,
}
PROMPT = 7
MATMUL_KINDS = (OpKind.LINEAR, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT)


def _tiny(cls_name: str) -> transformers.PretrainedConfig:
    return getattr(transformers, cls_name)(**{**BASE, **ARCHS[cls_name]})


@pytest.mark.parametrize("cls_name", sorted(ARCHS))
def test_architecture_matches_real_forward(cls_name):
    graph = opgraph_from_config(_tiny(cls_name), cls_name, "test")
    real = real_forward(_tiny(cls_name), PROMPT)
    params, kv = real.num_params, real.kv_elements_per_token_per_layer
    prefill, decode = sum(real.prefill_counts.values()), sum(real.decode_counts.values())
    assert graph.num_params == params
    for (t, kv_len), expected in (((PROMPT, PROMPT), prefill), ((1, PROMPT + 1), decode)):
        traced = sum(op.flops.at(t, kv_len) for op in graph.ops if op.kind in MATMUL_KINDS)
        assert traced == pytest.approx(expected, rel=1e-12)
    assert graph.kv_elements_per_token_per_layer == kv
    kinds = {op.kind for op in graph.ops}
    assert {OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT, OpKind.LINEAR, OpKind.SOFTMAX} <= kinds
    assert len([op for op in graph.ops if op.kind == OpKind.ATTN_SCORE]) == 2  # one per layer
    moe = any(op.num_experts > 1 for op in graph.linear_ops())
    assert (OpKind.MOE_ROUTER in kinds) == moe, "router ops exactly in MoE models"


def test_dense_opt_has_no_moe_router_ops():
    """OPT's position ids come from a cumsum of the mask: index arithmetic, not expert routing."""
    config = transformers.OPTConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=4, ffn_dim=128, vocab_size=128
    )
    graph = opgraph_from_config(config, "opt", "test")
    assert not [op.name for op in graph.ops if op.kind == OpKind.MOE_ROUTER]


UNSUPPORTED = {
    "MambaConfig": ({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 128}, "recurrent"),
    "RwkvConfig": ({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 128}, "recurrent"),
    "JambaConfig": ({**BASE, "num_experts": 2, "attn_layer_period": 2, "attn_layer_offset": 1}, "recurrent"),
    "FalconH1Config": (BASE, "recurrent"),
    "Qwen3NextConfig": ({**BASE, **MOE}, "recurrent"),
    "OpenAIGPTConfig": ({"n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 128}, "no KV cache"),
    "Phi3Config": (BASE, "cannot build this model: Padding_idx"),  # pad_token_id 32000 >= vocab 128
    "BertConfig": ({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 128}, "encoder-only"),
}


@pytest.mark.parametrize("cls_name", sorted(UNSUPPORTED))
def test_unsupported_architectures_fail_with_one_line(cls_name):
    kwargs, reason = UNSUPPORTED[cls_name]
    config = getattr(transformers, cls_name)(**kwargs)
    with pytest.raises(ModelResolutionError) as err:
        opgraph_from_config(config, cls_name, "test")
    message = str(err.value)
    assert reason in message and cls_name in message and "\n" not in message


def test_attention_windows_recorded_per_layer():
    """Sliding layers' windows (the Polys hold only while L <= window) follow transformers' layer types."""
    qwen = transformers.Qwen2Config(
        **{**BASE, "num_hidden_layers": 4},
        use_sliding_window=True,
        sliding_window=32,
        max_window_layers=2,
    )
    assert opgraph_from_config(qwen, "q", "test").info.attention_window_per_layer == [None, None, 32, 32]
    gemma2 = transformers.Gemma2Config(**{**BASE, "num_hidden_layers": 4}, head_dim=16, sliding_window=8)
    graph = opgraph_from_config(gemma2, "g", "test")  # a window below the traced 13 positions traces too
    assert graph.info.attention_window_per_layer == [8, None, 8, None]
    assert opgraph_from_config(_tiny("Qwen2Config"), "q", "test").info.attention_window_per_layer == []


def test_composite_vision_language_config_traces_its_text_decoder():
    text = {k: v for k, v in BASE.items()} | {"head_dim": 16, "sliding_window": 32}
    config = transformers.Gemma3Config(text_config=text, dtype="bfloat16")
    graph = opgraph_from_config(config, "gemma3", "test")
    with torch.device("meta"):
        hf_text = AutoModelForCausalLM.from_config(transformers.Gemma3TextConfig(**text))
    assert graph.num_params == hf_text.num_parameters()
    assert graph.info.model_type == "gemma3_text" and graph.info.dtype == "bfloat16"
    assert graph.info.architecture.startswith("Gemma3ForCausalLM (text decoder of")


def test_loading_a_legacy_config_prints_nothing():
    """transformers' notice about Gemma's legacy hidden_act must not reach the terminal (it is
    emitted late, so a fresh interpreter checks the whole process output)."""
    code = (
        "from llmimc.model.api import config_from_dict\n"
        "from llmimc.model.bundled import find_bundled, load_bundled_config\n"
        "config_from_dict(load_bundled_config(find_bundled('google/gemma-2b')), 'test')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "hidden_act" not in run.stderr + run.stdout
