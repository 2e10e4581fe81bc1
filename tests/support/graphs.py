"""Hand-built OpGraphs and safetensors folders for the compression tests (no torch model needed).

Op names follow Hugging Face module paths (``model.layers.{i}.self_attn.q_proj`` for Llama,
``transformer.h.{i}.attn.c_attn`` for GPT-2), so the weight-name mapping is exercised as for real
checkpoints.
"""

from __future__ import annotations

import pathlib

import numpy as np
from safetensors.numpy import save_file

from llmimc.model.opgraph import ModelInfo, Op, OpGraph, OpKind, Poly


def linear(name: str, layer: int | None, k: int, n: int, experts: int = 1, load: float = 1.0) -> Op:
    return Op(
        name=name,
        module_path=name,
        layer=layer,
        kind=OpKind.LINEAR,
        in_features=k,
        out_features=n,
        weight_params=k * n * experts,
        num_experts=experts,
        expert_load=load,
        flops=Poly(c_t=2.0 * k * n * experts * load),
    )


def info(model_type: str, layers: int, hidden: int, inter: int, vocab: int, tied: bool) -> ModelInfo:
    return ModelInfo(
        model_id=f"tiny-{model_type}",
        source="bundled",
        architecture=f"{model_type}ForCausalLM",
        model_type=model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=2,
        num_kv_heads=2,
        head_dim=hidden // 2,
        intermediate_size=inter,
        vocab_size=vocab,
        max_position_embeddings=128,
        tie_word_embeddings=tied,
    )


def hand_llama_graph(layers: int = 2, hidden: int = 64, inter: int = 128, vocab: int = 96) -> OpGraph:
    ops = [Op(name="model.embed_tokens", module_path="model.embed_tokens", layer=None, kind=OpKind.EMBEDDING)]
    for i in range(layers):
        p = f"model.layers.{i}"
        ops += [
            linear(f"{p}.self_attn.q_proj", i, hidden, hidden),
            linear(f"{p}.self_attn.k_proj", i, hidden, hidden),
            linear(f"{p}.self_attn.v_proj", i, hidden, hidden),
            linear(f"{p}.self_attn.o_proj", i, hidden, hidden),
            linear(f"{p}.mlp.gate_proj", i, hidden, inter),
            linear(f"{p}.mlp.up_proj", i, hidden, inter),
            linear(f"{p}.mlp.down_proj", i, inter, hidden),
        ]
    ops.append(linear("lm_head", None, hidden, vocab))
    return OpGraph(
        llmimc_version="test",
        config_hash="tiny-llama",
        info=info("llama", layers, hidden, inter, vocab, tied=False),
        num_params=sum(op.weight_params for op in ops),
        kv_elements_per_token_per_layer=[2 * hidden] * layers,
        ops=ops,
    )


def hand_gpt2_graph(layers: int = 1, hidden: int = 32, vocab: int = 80) -> OpGraph:
    ops = [Op(name="transformer.wte", module_path="transformer.wte", layer=None, kind=OpKind.EMBEDDING)]
    for i in range(layers):
        p = f"transformer.h.{i}"
        ops += [
            linear(f"{p}.attn.c_attn", i, hidden, 3 * hidden),
            linear(f"{p}.attn.c_proj", i, hidden, hidden),
            linear(f"{p}.mlp.c_fc", i, hidden, 4 * hidden),
            linear(f"{p}.mlp.c_proj", i, 4 * hidden, hidden),
        ]
    ops.append(linear("lm_head", None, hidden, vocab))
    return OpGraph(
        llmimc_version="test",
        config_hash="tiny-gpt2",
        info=info("gpt2", layers, hidden, 4 * hidden, vocab, tied=True),
        num_params=sum(op.weight_params for op in ops),
        kv_elements_per_token_per_layer=[2 * hidden] * layers,
        ops=ops,
    )


def write_llama_weights(
    folder: pathlib.Path,
    graph: OpGraph,
    outliers: dict[str, list[int]],
    rng: np.random.Generator,
    scale: float = 40.0,
) -> None:
    """nn.Linear layout (N, K) fp16 weights; the listed input channels (columns) scaled by ``scale``."""
    tensors = {
        "model.embed_tokens.weight": rng.normal(0, 0.02, (graph.info.vocab_size, graph.info.hidden_size))
    }
    for op in graph.linear_ops():
        w = rng.normal(0.0, 0.02, (op.out_features, op.in_features))
        for ch in outliers.get(op.name, []):
            w[:, ch] *= scale
        tensors[f"{op.name}.weight"] = w
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.astype(np.float16) for k, v in tensors.items()}, str(folder / "model.safetensors"))
