"""Outliers from real safetensors (streamed), calibration statistics, and the SQNR proxy."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from support.graphs import hand_gpt2_graph, hand_llama_graph, linear, write_llama_weights

from llmimc.compress import build_plan, load_policy, parse_sparsity
from llmimc.compress.outliers import channel_stats, locate_weights
from llmimc.compress.st_reader import index_folder, iter_rows, read_all
from llmimc.errors import PolicyError
from llmimc.model.opgraph import OpGraph

pytestmark = pytest.mark.torch  # traces with torch/transformers

INJECTED = [5, 17, 40]


def _outliers(graph: OpGraph) -> dict[str, list[int]]:
    return {op.name: [c for c in INJECTED if c < op.in_features] for op in graph.linear_ops()}


def test_injected_outlier_channels_are_found_and_raise_sqnr(tmp_path: pathlib.Path) -> None:
    g = hand_llama_graph(hidden=64, inter=128)
    write_llama_weights(tmp_path / "m", g, _outliers(g), np.random.default_rng(0))
    base = load_policy("w4a8-outlier").model_dump()
    policy = load_policy("w4a8-outlier").model_validate({**base, "outlier_fraction": 3 / 64, "overrides": []})
    plan = build_plan(g, policy, weights_dir=tmp_path / "m")
    assert plan.outlier_source == f"weights:{tmp_path / 'm'}"
    for op in g.linear_ops():
        comp = plan.ops[op.name]
        if op.in_features == 64:
            assert comp.outlier_channels == INJECTED, op.name
        else:  # down_proj: K=128 -> round(6) rows, the 3 injected ones among them
            assert set(INJECTED) <= set(comp.outlier_channels) and comp.outlier_rows == 6
    assert {s.op_name for s in plan.sqnr} == set(plan.ops)
    for s in plan.sqnr:  # 4-bit RTN: keeping the 40x channels in fp16 gains well over 10 dB
        assert s.sqnr_db > s.uniform_sqnr_db + 10.0, s
    # with N:M pruning on top, the policy loses accuracy against its own dense version
    sparse = build_plan(g, policy, parse_sparsity("2:4"), weights_dir=tmp_path / "m")
    dense_db = {s.op_name: s.sqnr_db for s in plan.sqnr}
    for s in sparse.sqnr:
        if s.op_name != "lm_head":
            assert s.sqnr_db < dense_db[s.op_name]
        assert s.uniform_sqnr_db == pytest.approx(
            {x.op_name: x.uniform_sqnr_db for x in plan.sqnr}[s.op_name]
        )


def test_real_hf_llama_checkpoint_names_and_layout(tmp_path: pathlib.Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=96, tie_word_embeddings=False,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight[:, 77] *= (
            50.0  # nn.Linear weight is (N, K): column = input
        )
        model.model.layers[0].self_attn.q_proj.weight[:, 9] *= 50.0
    model.to(torch.bfloat16).save_pretrained(tmp_path / "llama")
    g = hand_llama_graph(layers=2, hidden=64, inter=128, vocab=96)
    plan = build_plan(g, load_policy("w8a8"), weights_dir=tmp_path / "llama")  # 0.1%: 0 rows of 64
    assert all(c.outlier_rows == 0 for c in plan.ops.values()) and plan.outlier_source.startswith("default:")
    assert len(plan.sqnr) == len(plan.ops)  # SQNR still comes from the real (bf16) weights
    policy = load_policy("w4a4-kv4")  # 2 of 64 rows, 4 of 128
    plan = build_plan(g, policy, weights_dir=tmp_path / "llama")
    assert 77 in plan.ops["model.layers.1.mlp.down_proj"].outlier_channels
    assert 9 in plan.ops["model.layers.0.self_attn.q_proj"].outlier_channels
    assert not [n for n in plan.notes if "not usable" in n]


def test_gpt2_conv1d_transposed_weights_and_tied_head(tmp_path: pathlib.Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=80, n_positions=64))
    with torch.no_grad():
        model.transformer.h[0].attn.c_attn.weight[11, :] *= 50.0  # Conv1D weight is (K, N): row = input
        model.transformer.h[0].attn.c_proj.weight[3, :] *= 50.0  # square 32x32: orientation from Conv1D
        model.transformer.wte.weight[:, 30] *= 50.0  # tied lm_head: (vocab, hidden) -> column = input
    model.save_pretrained(tmp_path / "gpt2")
    g = hand_gpt2_graph(layers=1, hidden=32, vocab=80)
    base = load_policy("w4a8-outlier").model_dump()
    policy = load_policy("w4a8-outlier").model_validate({**base, "outlier_fraction": 1 / 32})
    plan = build_plan(g, policy, weights_dir=tmp_path / "gpt2")
    assert plan.ops["transformer.h.0.attn.c_attn"].outlier_channels == [11]
    assert plan.ops["transformer.h.0.attn.c_proj"].outlier_channels == [3]
    assert plan.ops["lm_head"].outlier_channels == [30]
    assert any("tied to embedding transformer.wte.weight" in n for n in plan.notes)
    by_op = {s.op_name: s for s in plan.sqnr}
    assert by_op["transformer.h.0.attn.c_attn"].sqnr_db > by_op["transformer.h.0.attn.c_attn"].uniform_sqnr_db


def test_mixtral_per_expert_checkpoint_for_fused_expert_ops(tmp_path: pathlib.Path) -> None:
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(0)
    cfg = MixtralConfig(
        num_hidden_layers=1, hidden_size=32, intermediate_size=48, num_attention_heads=2,
        num_key_value_heads=1, vocab_size=80, num_local_experts=4, num_experts_per_tok=2,
    )  # fmt: skip
    model = MixtralForCausalLM(cfg)
    with torch.no_grad():
        model.model.layers[0].mlp.experts.gate_up_proj[2, :, 7] *= 50.0  # (E, 2I, H): input channel 7
        model.model.layers[0].mlp.experts.down_proj[1, :, 45] *= 50.0  # (E, H, I): input channel 45
    model.save_pretrained(tmp_path / "mx")  # written as block_sparse_moe.experts.<e>.w1/w2/w3
    g = hand_llama_graph(layers=1, hidden=32, inter=48, vocab=80)
    extra = [
        linear("model.layers.0.mlp.experts.gate_up_proj", 0, 32, 96, experts=4, load=0.5),
        linear("model.layers.0.mlp.experts.down_proj", 0, 48, 32, experts=4, load=0.5),
    ]
    ops = [op for op in g.ops if ".mlp." not in op.name] + extra
    g = OpGraph.model_validate({**g.model_dump(), "ops": [op.model_dump() for op in ops]})
    base = load_policy("w4a8-outlier").model_dump()
    policy = load_policy("w4a8-outlier").model_validate({**base, "outlier_fraction": 1 / 32})
    plan = build_plan(g, policy, weights_dir=tmp_path / "mx")
    assert plan.ops["model.layers.0.mlp.experts.gate_up_proj"].outlier_channels == [7]
    assert 45 in plan.ops["model.layers.0.mlp.experts.down_proj"].outlier_channels  # 2 rows of K=48
    assert {s.op_name for s in plan.sqnr} >= {op.name for op in extra}


def test_streamed_stats_do_not_depend_on_chunk_size(tmp_path: pathlib.Path) -> None:
    g = hand_llama_graph(hidden=48, inter=80)
    write_llama_weights(tmp_path, g, _outliers(g), np.random.default_rng(1))
    located, problems = locate_weights(g, index_folder(tmp_path))
    assert problems == []
    w = located["model.layers.1.mlp.down_proj"]
    full = read_all(w.matrices[0].entry)  # (N, K) = (48, 80)
    for chunk in (1, 100, 4 * 80 * 7, 10**9):
        np.testing.assert_allclose(channel_stats(w, 80, "max_abs", chunk), np.abs(full).max(axis=0))
        np.testing.assert_allclose(
            channel_stats(w, 80, "l2", chunk), np.sqrt((full.astype(np.float64) ** 2).sum(axis=0)), rtol=1e-9
        )


def test_bf16_and_f32_reads_match_torch(tmp_path: pathlib.Path) -> None:
    t = torch.randn(7, 5) * 3
    save_file({"a": t.to(torch.bfloat16), "b": t, "c": t.to(torch.float16)}, str(tmp_path / "x.safetensors"))
    idx = index_folder(tmp_path)
    np.testing.assert_array_equal(read_all(idx["a"]), t.to(torch.bfloat16).float().numpy())
    np.testing.assert_array_equal(read_all(idx["b"]), t.numpy())
    np.testing.assert_array_equal(read_all(idx["c"]), t.to(torch.float16).float().numpy())
    rows = np.concatenate(list(iter_rows(idx["a"], chunk_bytes=1, row_start=2, row_stop=6)))
    np.testing.assert_array_equal(rows, t.to(torch.bfloat16).float().numpy()[2:6])


def test_calibration_json_and_safetensors_choose_channels(tmp_path: pathlib.Path) -> None:
    g = hand_llama_graph(hidden=64, inter=128)
    write_llama_weights(tmp_path / "m", g, _outliers(g), np.random.default_rng(2))
    base = load_policy("w4a8-outlier").model_dump()
    policy = load_policy("w4a8-outlier").model_validate({**base, "outlier_fraction": 3 / 64, "overrides": []})
    act = np.ones(64)
    act[[1, 30, 60]] = 30.0  # activation outliers elsewhere than the weight outliers
    table = {"model.layers.0.self_attn.q_proj": act.tolist(), "unknown.op": [1.0]}
    f = tmp_path / "calib.json"
    f.write_text(json.dumps({"format": "llmimc-act-absmax/1", "source": "test", "act_absmax": table}))
    plan = build_plan(g, policy, calibration_path=f, weights_dir=tmp_path / "m")
    assert plan.outlier_source == f"calibration:{f}"
    assert plan.ops["model.layers.0.self_attn.q_proj"].outlier_channels == [1, 30, 60]
    assert plan.ops["model.layers.0.self_attn.k_proj"].outlier_channels == INJECTED  # from weights
    assert any("unknown.op" in n for n in plan.notes)
    st = tmp_path / "act_scales.safetensors"  # SmoothQuant act_scales keyed by module name
    save_file({"model.layers.1.mlp.up_proj": torch.tensor(act, dtype=torch.float32)}, str(st))
    plan = build_plan(g, policy, calibration_path=st)
    assert plan.ops["model.layers.1.mlp.up_proj"].outlier_channels == [1, 30, 60]
    assert plan.ops["model.layers.1.mlp.gate_proj"].outlier_channels == []
    assert any("no statistics" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"format": "other", "act_absmax": {}}', "format"),
        ('{"format": "llmimc-act-absmax/1", "act_absmax": [1]}', "act_absmax"),
        ('{"format": "llmimc-act-absmax/1", "act_absmax": {"lm_head": [1, 2]}}', "in_features"),
        ('{"format": "llmimc-act-absmax/1", "act_absmax": {"lm_head": ["x"]}}', "act_absmax.lm_head"),
        ("{not json", "malformed JSON"),
    ],
)
def test_bad_calibration_files(tmp_path: pathlib.Path, content: str, needle: str) -> None:
    f = tmp_path / "c.json"
    f.write_text(content)
    with pytest.raises(PolicyError) as err:
        build_plan(hand_llama_graph(), load_policy("w8a8"), calibration_path=f)
    assert needle in str(err.value) and str(f) in str(err.value) and "\n" not in str(err.value)


def test_bad_weight_folders(tmp_path: pathlib.Path) -> None:
    g = hand_llama_graph()
    with pytest.raises(PolicyError, match="no \\*.safetensors"):
        build_plan(g, load_policy("w8a8"), weights_dir=tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(PolicyError, match="not a safetensors file"):
        build_plan(g, load_policy("w8a8"), weights_dir=tmp_path)
    save_file({"lm_head.weight": torch.zeros(3, 3)}, str(tmp_path / "model.safetensors"))
    plan = build_plan(g, load_policy("w8a8"), weights_dir=tmp_path)  # wrong shape, others missing: said
    note = next(n for n in plan.notes if "not usable" in n)
    assert "15 linear op(s)" in note and "and 10 more" in note


def test_wrong_shape_is_reported_per_op(tmp_path: pathlib.Path) -> None:
    save_file({"lm_head.weight": torch.zeros(3, 3)}, str(tmp_path / "model.safetensors"))
    located, problems = locate_weights(hand_llama_graph(), index_folder(tmp_path))
    assert located == {}
    assert "lm_head: tensor lm_head.weight F32[3, 3] is not a float weight with K=64" in problems


@pytest.mark.parametrize("arch", ["llama", "gpt2", "mixtral", "opt"])
def test_every_traced_linear_op_finds_its_checkpoint_weight(tmp_path: pathlib.Path, arch: str) -> None:
    """Op names from the real tracer (opgraph_from_config) against save_pretrained() checkpoints."""
    import transformers

    from llmimc.model import opgraph_from_config

    configs = {
        "llama": (transformers.LlamaConfig, dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=96)),
        "gpt2": (transformers.GPT2Config, dict(n_layer=1, n_embd=64, n_head=2, vocab_size=96, n_positions=64,
                 bos_token_id=0, eos_token_id=0)),
        "mixtral": (transformers.MixtralConfig, dict(num_hidden_layers=1, hidden_size=64, intermediate_size=96,
                    num_attention_heads=4, num_key_value_heads=2, vocab_size=96, num_local_experts=4,
                    num_experts_per_tok=2)),
        "opt": (transformers.OPTConfig, dict(num_hidden_layers=1, hidden_size=64, ffn_dim=128, num_attention_heads=4,
                vocab_size=96, word_embed_proj_dim=64)),
    }  # fmt: skip
    cls, kwargs = configs[arch]
    config = cls(**kwargs)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / arch)
    graph = opgraph_from_config(config, f"tiny-{arch}", "test")
    located, problems = locate_weights(graph, index_folder(tmp_path / arch))
    assert problems == []
    assert set(located) == {op.name for op in graph.linear_ops()}
    plan = build_plan(graph, load_policy("w4a4-kv4"), parse_sparsity("2:4"), weights_dir=tmp_path / arch)
    assert len(plan.sqnr) == len(plan.ops) and plan.outlier_source.startswith("weights:")
