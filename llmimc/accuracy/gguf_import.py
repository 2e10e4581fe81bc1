"""Dequantise a llama-architecture GGUF file into a Hugging Face safetensors folder.

The folder holds ``config.json`` (a ``LlamaConfig`` built from the GGUF metadata), ``model.safetensors``
(every tensor dequantised to float32 with the ``gguf`` package) and the tokenizer (rebuilt from the
GGUF's vocabulary and merges by transformers' own GGUF tokenizer converter). Loading the folder takes
about a second, against ~150 s for transformers' GGUF path (accuracy_probe.md §1).

Name map (llama.cpp ``convert_hf_to_gguf.py`` in reverse): ``token_embd`` -> ``model.embed_tokens``,
``blk.i.attn_{q,k,v,output}`` -> ``model.layers.i.self_attn.{q,k,v,o}_proj``,
``blk.i.ffn_{gate,up,down}`` -> ``model.layers.i.mlp.{gate,up,down}_proj``, ``attn_norm`` ->
``input_layernorm``, ``ffn_norm`` -> ``post_attention_layernorm``, ``output_norm`` -> ``model.norm``,
``output`` -> ``lm_head`` (absent = tied embeddings). llama.cpp permutes the rows of Q and K for its
rotary layout (``LlamaModel.permute``: reshape (heads, 2, d/2, K), swap axes 1 and 2); the inverse
(reshape (heads, d/2, 2, K), swap back) restores the Hugging Face layout.

Quantised GGUF weights stay quantised in value: a Q4_1 file dequantises to weights on a group-32
4-bit grid, which every accuracy figure computed from it inherits.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import numpy as np

from llmimc.errors import ModelResolutionError

_LAYER_MAP = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_MAP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")


def hf_tensor_name(gguf_name: str) -> str:
    """Hugging Face parameter name of a llama GGUF tensor (see module docstring)."""
    m = _BLOCK.match(gguf_name)
    if m:
        layer, part, kind = m.groups()
        if part not in _LAYER_MAP:
            raise ModelResolutionError(f"GGUF tensor {gguf_name}: no Hugging Face llama name for '{part}'")
        return f"model.layers.{layer}.{_LAYER_MAP[part]}.{kind}"
    base, _, kind = gguf_name.rpartition(".")
    if base not in _TOP_MAP:
        raise ModelResolutionError(f"GGUF tensor {gguf_name}: no Hugging Face llama name")
    return f"{_TOP_MAP[base]}.{kind}"


def unpermute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of llama.cpp's Q/K row permutation for ``heads`` heads."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _meta(reader: Any, key: str, where: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise ModelResolutionError(f"{where}: GGUF metadata has no '{key}' (not a llama GGUF model file)")
    return field.contents()


def llama_config_dict(reader: Any, where: str) -> dict[str, Any]:
    """A LlamaConfig dict from the GGUF metadata (general.architecture must be 'llama')."""
    arch = _meta(reader, "general.architecture", where)
    if arch != "llama":
        raise ModelResolutionError(f"{where}: GGUF architecture '{arch}' is not supported (only 'llama')")
    heads = int(_meta(reader, "llama.attention.head_count", where))
    names = {t.name for t in reader.tensors}
    vocab = reader.fields.get("llama.vocab_size")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": int(_meta(reader, "llama.embedding_length", where)),
        "intermediate_size": int(_meta(reader, "llama.feed_forward_length", where)),
        "num_hidden_layers": int(_meta(reader, "llama.block_count", where)),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_meta(reader, "llama.attention.head_count_kv", where)),
        "max_position_embeddings": int(_meta(reader, "llama.context_length", where)),
        "rms_norm_eps": float(_meta(reader, "llama.attention.layer_norm_rms_epsilon", where)),
        "rope_theta": float(_meta(reader, "llama.rope.freq_base", where)),
        "vocab_size": int(vocab.contents()) if vocab is not None else len(tokens.data) if tokens else 0,
        "tie_word_embeddings": "output.weight" not in names,
        "bos_token_id": int(reader.fields["tokenizer.ggml.bos_token_id"].contents())
        if "tokenizer.ggml.bos_token_id" in reader.fields
        else None,
        "eos_token_id": int(reader.fields["tokenizer.ggml.eos_token_id"].contents())
        if "tokenizer.ggml.eos_token_id" in reader.fields
        else None,
        "torch_dtype": "float32",
    }


def dequantised_tensors(reader: Any, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every GGUF tensor dequantised to float32 under its Hugging Face name (Q/K rows un-permuted)."""
    from gguf.quants import dequantize

    out: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        name = hf_tensor_name(t.name)
        arr = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        if name.endswith("q_proj.weight"):
            arr = unpermute_rows(arr, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            arr = unpermute_rows(arr, config["num_key_value_heads"])
        out[name] = arr
    return out


def convert_gguf(gguf_path: pathlib.Path, out_dir: pathlib.Path) -> dict[str, Any]:
    """Write config.json, model.safetensors and the tokenizer of ``gguf_path`` into ``out_dir``.

    Returns the GGUF tensor types seen (``{"Q4_1": 210, ...}``) for the provenance note.
    """
    import gguf
    from safetensors.numpy import save_file

    where = str(gguf_path)
    try:
        reader = gguf.GGUFReader(str(gguf_path))
    except (ValueError, OSError, KeyError, IndexError) as exc:
        raise ModelResolutionError(f"{where}: not a readable GGUF file ({exc})") from None
    config = llama_config_dict(reader, where)
    try:
        tensors = dequantised_tensors(reader, config)
    except (ValueError, NotImplementedError) as exc:
        raise ModelResolutionError(f"{where}: cannot dequantise ({exc})") from None
    types: dict[str, int] = {}
    for t in reader.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    _write_tokenizer(gguf_path, out_dir)
    (out_dir / "gguf_provenance.json").write_text(
        json.dumps({"gguf": gguf_path.name, "tensor_types": types}, indent=1), encoding="utf-8"
    )
    return types


def _write_tokenizer(gguf_path: pathlib.Path, out_dir: pathlib.Path) -> None:
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        convert_gguf_tokenizer,
        get_gguf_tokenizer,
    )

    arch, tok_dict, tok_config = get_gguf_tokenizer(str(gguf_path))
    backend, _ = convert_gguf_tokenizer(arch, tok_dict)
    special = {k: v for k, v in tok_config.items() if k.endswith("_token") and v is not None}
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    tok.save_pretrained(str(out_dir))
