"""Precision policies: presets with sources, overrides and roles, and one-line errors for bad input."""

from __future__ import annotations

import json
import pathlib

import pytest
from support.graphs import hand_gpt2_graph, hand_llama_graph, linear

from llmimc.compress import DEFAULT_POLICY, load_policy, op_roles, parse_sparsity, preset_names
from llmimc.compress.policy import resolve_op_settings
from llmimc.errors import LlmimcError, PolicyError


def test_required_presets_exist_and_every_number_has_a_source() -> None:
    names = preset_names()
    for required in ("w8a8", "w4a8-outlier", "w4a4-kv4", DEFAULT_POLICY):
        assert required in names
    for name in names:
        policy = load_policy(name)
        assert policy.name == name
        assert policy.unsourced_fields() == [], name
        assert all(ov.source for ov in policy.overrides), name


def test_preset_values_follow_their_citations() -> None:
    w8 = load_policy("w8a8")  # LLM.int8(): <= 0.1% outlier dims in fp16, int8 elsewhere
    assert (w8.weight_bits, w8.act_bits, w8.outlier_fraction, w8.outlier_bits) == (8, 8, 0.001, 16)
    awq = load_policy("w4a8-outlier")  # AWQ: 1% salient channels
    assert (awq.weight_bits, awq.outlier_fraction) == (4, 0.01)
    atom = load_policy("W4A4-KV4")  # names are case-insensitive; Atom keeps 128 of 4096 channels in INT8
    assert (atom.weight_bits, atom.act_bits, atom.kv_bits, atom.outlier_bits) == (4, 4, 4, 8)
    assert atom.outlier_fraction * 4096 == 128


def test_roles_from_module_paths() -> None:
    g = hand_llama_graph()
    by_name = {op.name: op for op in g.linear_ops()}
    assert op_roles(by_name["lm_head"]) == {"lm_head"}
    assert op_roles(by_name["model.layers.0.self_attn.q_proj"]) == {"attn", "decoder"}
    assert op_roles(by_name["model.layers.1.mlp.down_proj"]) == {"mlp", "decoder"}
    g2 = {op.name: op for op in hand_gpt2_graph().linear_ops()}
    assert "attn" in op_roles(g2["transformer.h.0.attn.c_proj"])
    assert "mlp" in op_roles(g2["transformer.h.0.mlp.c_proj"])
    experts = linear("model.layers.0.mlp.experts.gate_up_proj", 0, 32, 96, experts=4, load=0.5)
    assert {"mlp", "expert", "decoder"} <= op_roles(experts)
    router = linear("model.layers.0.mlp.gate", 0, 32, 4)
    assert "router" in op_roles(router)


def test_overrides_by_role_glob_and_layer(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "name: custom\nweight_bits: 4\nact_bits: 8\nkv_bits: 8\noutlier_fraction: 0.05\n"
        "overrides:\n"
        "  - {match: attn, weight_bits: 6}\n"
        "  - {match: '*.o_proj', layers: [1], weight_bits: 3, outlier_fraction: 0.0}\n"
        "  - {match: lm_head, weight_bits: 8, sparsity: true}\n"
        "  - {match: mlp, layers: [0], sparsity: false}\n"
    )
    policy = load_policy(f)
    ops = {op.name: op for op in hand_llama_graph().linear_ops()}
    s = {name: resolve_op_settings(policy, op) for name, op in ops.items()}
    assert s["model.layers.0.self_attn.q_proj"].weight_bits == 6
    assert s["model.layers.0.self_attn.o_proj"].weight_bits == 6
    assert s["model.layers.1.self_attn.o_proj"].weight_bits == 3  # later override wins
    assert s["model.layers.1.self_attn.o_proj"].outlier_fraction == 0.0
    assert s["model.layers.1.mlp.up_proj"].weight_bits == 4
    assert s["lm_head"].weight_bits == 8 and s["lm_head"].sparse  # default targets exclude lm_head
    assert not s["model.layers.0.mlp.up_proj"].sparse and s["model.layers.1.mlp.up_proj"].sparse


def test_json_policy_with_sparsity_text(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"name": "j", "weight_bits": 4, "act_bits": 4, "kv_bits": 4, "sparsity": "4:8"}))
    policy = load_policy(str(f))
    assert policy.sparsity is not None and (policy.sparsity.n, policy.sparsity.m) == (4, 8)
    assert policy.unsourced_fields() == [
        "weight_bits",
        "act_bits",
        "kv_bits",
        "outlier_fraction",
        "outlier_bits",
    ]


def test_parse_sparsity() -> None:
    spec = parse_sparsity("2:4")
    assert spec is not None and (spec.n, spec.m, spec.density) == (2, 4, 0.5)
    assert parse_sparsity(" 1:4 ").density == 0.25
    assert parse_sparsity(None) is None and parse_sparsity("none") is None and parse_sparsity("") is None
    assert spec.pattern == "channel" and spec.text == "2:4"  # the standard per-output-channel pattern
    shared = parse_sparsity("2:4:array")
    assert shared is not None and (shared.n, shared.m, shared.pattern, shared.text) == (
        2,
        4,
        "array",
        "2:4:array",
    )
    assert parse_sparsity("2:4:channel") == spec


@pytest.mark.parametrize(
    "text", ["4:2", "0:4", "2", "a:b", "2.5:4", "2:4:8", "-1:4", "2:0", "2:4:rows", "2:4:array:1"]
)
def test_parse_sparsity_rejects(text: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_sparsity(text)
    msg = str(err.value)
    assert "\n" not in msg and text in msg and "N:M" in msg


BAD_POLICIES = {
    "n_gt_m.yaml": ("name: x\nweight_bits: 4\nact_bits: 8\nkv_bits: 8\nsparsity: '4:2'\n", "sparsity"),
    "bits0.yaml": ("name: x\nweight_bits: 0\nact_bits: 8\nkv_bits: 8\n", "weight_bits"),
    "bits17.yaml": ("name: x\nweight_bits: 8\nact_bits: 17\nkv_bits: 8\n", "act_bits"),
    "kv0.json": ('{"name": "x", "weight_bits": 8, "act_bits": 8, "kv_bits": 0}', "kv_bits"),
    "override.yaml": (
        "name: x\nweight_bits: 8\nact_bits: 8\nkv_bits: 8\noverrides:\n  - {match: attn, weight_bits: 20}\n",
        "overrides.0.weight_bits",
    ),
    "empty_override.yaml": (
        "name: x\nweight_bits: 8\nact_bits: 8\nkv_bits: 8\noverrides:\n  - {match: attn}\n",
        "overrides.0",
    ),
    "typo.yaml": ("name: x\nweight_bit: 8\nact_bits: 8\nkv_bits: 8\n", "weight_bit"),
    "fraction.yaml": (
        "name: x\nweight_bits: 8\nact_bits: 8\nkv_bits: 8\noutlier_fraction: 1.5\n",
        "outlier_fraction",
    ),
    "malformed.yaml": ("name: x\nweight_bits: [8\n", "malformed YAML"),
    "malformed.json": ('{"name": "x", ', "malformed JSON"),
    "list.yaml": ("- 1\n- 2\n", "mapping"),
}


@pytest.mark.parametrize("fname", sorted(BAD_POLICIES))
def test_bad_policy_files_give_one_line_errors_naming_file_and_field(
    tmp_path: pathlib.Path, fname: str
) -> None:
    text, field = BAD_POLICIES[fname]
    f = tmp_path / fname
    f.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(f)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(f) in msg and field in msg
    assert isinstance(err.value, LlmimcError)


def test_unknown_preset_lists_known_ones() -> None:
    with pytest.raises(PolicyError) as err:
        load_policy("w3a3")
    msg = str(err.value)
    assert "w3a3" in msg and all(n in msg for n in preset_names()) and "\n" not in msg


def test_missing_policy_file() -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy("no/such/policy.yaml")
