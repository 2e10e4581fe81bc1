"""GGUF name map and Q/K un-permutation, evaluation text pinning and windows."""

from __future__ import annotations

import numpy as np
import pytest

from llmimc.accuracy.gguf_import import hf_tensor_name, unpermute_rows
from llmimc.accuracy.text import PYDOC_SHA256_PREFIX, pydoc_text, windows
from llmimc.errors import LlmimcError


def _llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf LlamaModel.permute (the forward direction)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.mark.parametrize("heads", [1, 3, 9])
def test_unpermute_inverts_llama_cpp_permute(heads):
    w = np.arange(heads * 8 * 5, dtype=np.float32).reshape(heads * 8, 5)
    assert np.array_equal(unpermute_rows(_llama_cpp_permute(w, heads), heads), w)


def test_tensor_names():
    assert hf_tensor_name("blk.3.attn_output.weight") == "model.layers.3.self_attn.o_proj.weight"
    assert hf_tensor_name("blk.0.ffn_norm.weight") == "model.layers.0.post_attention_layernorm.weight"
    assert hf_tensor_name("token_embd.weight") == "model.embed_tokens.weight"
    assert hf_tensor_name("output.weight") == "lm_head.weight"
    with pytest.raises(LlmimcError):
        hf_tensor_name("blk.0.ssm_conv.weight")


def test_pydoc_text_is_pinned_on_this_python():
    t = pydoc_text()
    assert len(t.text) > 400_000
    assert t.pinned == t.sha256.startswith(PYDOC_SHA256_PREFIX)


def test_windows_are_disjoint_from_calibration():
    ids = list(range(1000))
    evals, calib = windows(ids, 300, 128, 100)
    assert [len(w) for w in evals] == [128, 128, 44]
    assert max(max(w) for w in evals) < min(calib) and len(calib) == 100
    with pytest.raises(LlmimcError, match="--tokens"):
        windows(ids, 950, 128, 100)
