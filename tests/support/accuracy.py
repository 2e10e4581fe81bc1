"""Accuracy-test builders: a tiny random Llama with planted outlier input channels (as the emulator's
``Loaded``), a byte tokenizer, and a spec with its crossbar array fields replaced."""

from __future__ import annotations

import pytest
import torch

from llmimc.accuracy.evaluate import Loaded
from llmimc.accuracy.models import ModelSource
from llmimc.hw.spec import ImcSystemSpec

OUTLIER_CHANNELS = (5, 40)


class ByteTokenizer:
    """Byte-level ids (vocab 256): enough to score real text with a tiny model."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(text.encode("utf-8"))}


def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    from transformers import LlamaConfig, LlamaForCausalLM

    from llmimc.model.api import opgraph_from_config

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.08)
        for layer in model.model.layers:  # planted outliers: a few hidden channels 30x larger after the norms
            for norm in (layer.input_layernorm, layer.post_attention_layernorm):
                norm.weight[list(OUTLIER_CHANNELS)] = 30.0
    graph = opgraph_from_config(cfg, "tiny-llama", "test")
    src = ModelSource("tiny-llama", tmp_path_factory.mktemp("tiny"), "test: random init")
    return Loaded(src, model, ByteTokenizer(), graph, 0.0)


def with_array(spec: ImcSystemSpec, **array_updates: object) -> ImcSystemSpec:
    """The spec with fields of its crossbar array (and ``adc_bits``) replaced."""
    arr = spec.chiplet.array
    adc_bits = array_updates.pop("adc_bits", None)
    if adc_bits is not None:
        arr = arr.model_copy(update={"adc": arr.adc.model_copy(update={"bits": adc_bits})})
    arr = arr.model_copy(update=array_updates)
    return spec.model_copy(update={"chiplet": spec.chiplet.model_copy(update={"array": arr})})
