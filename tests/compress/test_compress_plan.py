"""build_plan without weights: per-op entries, N:M geometry and metadata, analog MAC ratio."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from support.graphs import hand_llama_graph, linear

from llmimc.compress import (
    CompressionPlan,
    OpCompression,
    PrecisionPolicy,
    analog_mac_ratio,
    build_plan,
    crossbar_rows,
    kept_rows,
    load_policy,
    metadata_bits,
    parse_sparsity,
)
from llmimc.model.opgraph import OpGraph


def test_one_entry_per_linear_op_with_default_outlier_source() -> None:
    g = hand_llama_graph(hidden=256, inter=512)
    plan = build_plan(g, load_policy("w4a8-outlier"))
    assert set(plan.ops) == {op.name for op in g.linear_ops()}
    assert plan.kv_bits == 8 and plan.policy_name == "w4a8-outlier"
    assert plan.outlier_source.startswith("default:") and "AWQ" in plan.outlier_source
    q = plan.ops["model.layers.0.self_attn.q_proj"]
    assert (q.weight_bits, q.act_bits, q.outlier_rows, q.outlier_bits) == (4, 8, round(0.01 * 256), 16)
    assert q.outlier_channels == []  # no statistics: only the count is known
    down = plan.ops["model.layers.0.mlp.down_proj"]
    assert down.outlier_rows == 5  # round(0.01 * 512) = 5.12 -> 5
    assert plan.ops["lm_head"].weight_bits == 8  # preset override
    assert plan.sqnr == [] and plan.sparsity_ops == []
    assert CompressionPlan.model_validate_json(plan.model_dump_json()) == plan


def test_two_four_metadata_is_hand_computed() -> None:
    comp = OpCompression(op_name="x", weight_bits=4, act_bits=8, sparsity_n=2, sparsity_m=4)
    # C(4,2) = 6 patterns -> ceil(log2 6) = 3 bits per group of 4, shared by 2 kept values
    assert comp.metadata_bits_per_kept == 1.5
    assert comp.density == 0.5
    # standard (per-output-channel) 2:4: the crossbar keeps every row, pruned weights as zero cells
    assert comp.sparsity_pattern == "channel" and crossbar_rows(comp, 64) == 64
    assert comp.crossbar_metadata_bits_per_kept_row == 0.0
    shared = comp.model_copy(update={"sparsity_pattern": "array"})  # array-shared: rows leave
    assert crossbar_rows(shared, 64) == 32 and shared.crossbar_metadata_bits_per_kept_row == 1.5
    # compressed storage: 3 index bits per group of 4 rows, per column, in both patterns
    assert metadata_bits(comp, in_features=64, out_features=10) == 16 * 3 * 10
    assert metadata_bits(shared, in_features=64, out_features=10) == 16 * 3 * 10
    one_four = OpCompression(op_name="y", weight_bits=4, act_bits=8, sparsity_n=1, sparsity_m=4)
    assert one_four.metadata_bits_per_kept == 2.0  # C(4,1) = 4 -> 2 bits
    four_eight = OpCompression(op_name="z", weight_bits=4, act_bits=8, sparsity_n=4, sparsity_m=8)
    assert four_eight.metadata_bits_per_kept == 7 / 4  # C(8,4) = 70 -> 7 bits


def test_sparsity_applies_to_decoder_linears_not_lm_head() -> None:
    g = hand_llama_graph(hidden=64)
    plan = build_plan(g, load_policy("w8a8"), parse_sparsity("2:4"))
    for name, comp in plan.ops.items():
        expected = (1, 1) if name == "lm_head" else (2, 4)
        assert (comp.sparsity_n, comp.sparsity_m) == expected, name
    assert plan.sparsity_ops == ["decoder", "!router"]
    assert any("2:4" in n and "14 of 15" in n for n in plan.notes)


def test_crossbar_rows_with_outliers_and_sparsity() -> None:
    g = hand_llama_graph(hidden=200, inter=400)
    policy = load_policy("w4a4-kv4")  # 3.125% outliers
    plan = build_plan(g, policy, parse_sparsity("2:4:array"))
    comp = plan.ops["model.layers.0.self_attn.q_proj"]
    assert comp.outlier_rows == round(0.03125 * 200)  # 6.25 -> 6
    assert crossbar_rows(comp, 200) == math.ceil((200 - 6) * 2 / 4)
    per_channel = build_plan(g, policy, parse_sparsity("2:4")).ops["model.layers.0.self_attn.q_proj"]
    assert crossbar_rows(per_channel, 200) == 200 - 6
    assert metadata_bits(comp, 200, 200) == math.ceil(194 / 4) * 3 * 200


def test_policy_sparsity_default_and_caller_override() -> None:
    base = load_policy("w8a8")
    policy = PrecisionPolicy.model_validate({**base.model_dump(), "sparsity": {"n": 1, "m": 4}})
    g = hand_llama_graph()
    assert build_plan(g, policy).ops["model.layers.0.mlp.up_proj"].sparsity_n == 1
    assert build_plan(g, policy, parse_sparsity("2:4")).ops["model.layers.0.mlp.up_proj"].sparsity_n == 2


def test_moe_experts_get_the_same_per_op_treatment() -> None:
    g = hand_llama_graph(hidden=128)
    experts = linear("model.layers.0.mlp.experts.gate_up_proj", 0, 128, 512, experts=8, load=0.25)
    g = OpGraph.model_validate({**g.model_dump(), "ops": [*g.model_dump()["ops"], experts.model_dump()]})
    plan = build_plan(g, load_policy("w4a4-kv4"), parse_sparsity("2:4"))
    comp = plan.ops[experts.name]
    assert (comp.weight_bits, comp.outlier_rows, comp.sparsity_n, comp.sparsity_m) == (4, 4, 2, 4)


def _graph_ratio(fraction: float, hidden: int) -> float:
    base = load_policy("w4a8-outlier").model_dump()
    policy = PrecisionPolicy.model_validate({**base, "outlier_fraction": fraction, "overrides": []})
    g = hand_llama_graph(hidden=hidden, inter=2 * hidden)
    return analog_mac_ratio(g, build_plan(g, policy))


@settings(max_examples=40, deadline=None)
@given(
    f1=st.floats(min_value=0.0, max_value=1.0),
    f2=st.floats(min_value=0.0, max_value=1.0),
    hidden=st.sampled_from([16, 48, 100, 256]),
)
def test_analog_mac_ratio_falls_as_outlier_fraction_rises(f1: float, f2: float, hidden: int) -> None:
    lo, hi = sorted((f1, f2))
    r_lo, r_hi = _graph_ratio(lo, hidden), _graph_ratio(hi, hidden)
    assert 0.0 <= r_hi <= r_lo <= 1.0
    if round(hi * hidden) > round(lo * hidden) + 1:  # at least two more rows on every op
        assert r_hi < r_lo


def test_analog_mac_ratio_reference_values() -> None:
    g = hand_llama_graph(hidden=64, inter=128)
    assert analog_mac_ratio(g, build_plan(g, load_policy("w16a16"))) == 1.0
    # 3.125% of K=64 is 2 rows, of K=128 (down_proj) 4 rows: every op keeps 1/32 of its MACs digital
    base = load_policy("w4a4-kv4").model_dump()
    policy = PrecisionPolicy.model_validate({**base, "overrides": []})
    plan = build_plan(g, policy)
    expected = 1.0 - 1.0 / 32.0
    assert analog_mac_ratio(g, plan) == expected
    # sparsity moves no work to the digital units
    assert analog_mac_ratio(g, build_plan(g, policy, parse_sparsity("1:4"))) == expected


def test_kept_rows_are_the_compressed_values_in_either_pattern() -> None:
    """A GPU's sparse format (and the reprogramming stream) stores the kept values whatever the crossbar
    does with the zeros: ceil((64 - 4) x 2 / 4) = 30 rows per column."""
    comp = OpCompression(op_name="x", weight_bits=4, act_bits=8, outlier_rows=4, sparsity_n=2, sparsity_m=4)
    for pattern in ("channel", "array"):
        assert kept_rows(comp.model_copy(update={"sparsity_pattern": pattern}), 64) == 30
    assert crossbar_rows(comp, 64) == 60
