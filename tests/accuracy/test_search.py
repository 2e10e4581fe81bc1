"""Mapping search: never over budget, all-analog with an infinite budget, policy round trip."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from support.accuracy import with_array

from llmimc.accuracy.metrics import MetricSums
from llmimc.accuracy.runner import run_search
from llmimc.accuracy.search import OpSensitivity, placement_policy, policy_yaml, search_placement
from llmimc.compress import load_policy
from llmimc.compress.policy import _policy_from_text, resolve_op_settings

FAST = {"tokens": 96, "seq_len": 48, "calib_tokens": 48}


def _fake_scorer(delta: dict[str, float], digital_kl: float, interaction: float):
    """Measured KL = digital KL + (1 + interaction) x sum of analog ops' deltas (not exactly additive)."""

    def score(digital: set[str]) -> MetricSums:
        kl = digital_kl + (1 + interaction) * sum(v for k, v in delta.items() if k not in digital)
        m = MetricSums()
        m.tokens, m.kl, m.nll = 1, kl, math.log(10.0) + kl
        return m

    return score


@settings(max_examples=60, deadline=None)
@given(
    deltas=st.lists(st.floats(0, 1), min_size=1, max_size=12),
    macs=st.lists(st.floats(1, 100), min_size=12, max_size=12),
    budget=st.floats(0.0, 5.0),
    interaction=st.floats(-0.5, 1.0),
)
def test_search_never_exceeds_budget(deltas, macs, budget, interaction):
    sens = [OpSensitivity(op_name=f"op{i}", macs_per_token=macs[i], delta_kl=d) for i, d in enumerate(deltas)]
    score = _fake_scorer({s.op_name: s.delta_kl for s in sens}, 0.01, interaction)
    try:
        digital, m, front = search_placement(sens, 0.01, score, 10.0, budget, None)
    except Exception as exc:  # infeasible only when even all-digital is over budget
        assert budget < 0.01, exc
        return
    assert m.mean_kl <= budget
    assert [p for p in front if p.digital_ops == len(digital)][0].within_budget


def test_infinite_budget_is_all_analog():
    sens = [OpSensitivity(op_name=f"op{i}", macs_per_token=1.0, delta_kl=0.1 * i) for i in range(5)]
    digital, _, _ = search_placement(
        sens, 0.0, _fake_scorer({s.op_name: s.delta_kl for s in sens}, 0, 0), 10, math.inf, None
    )
    assert digital == []


def test_search_on_tiny_model_and_policy_round_trip(tiny, rram):
    from llmimc.accuracy.evaluate import AccuracyOptions

    spec = with_array(rram, adc_bits=6)
    opts = AccuracyOptions(precision="w8a8", seeds=1, ppa=False, drift_s=0.0, noise_scale=3.0, **FAST)
    free = run_search(tiny, spec, opts, kl_budget=math.inf, ppl_budget=None, sensitivity_tokens=32)
    assert free.digital_ops == [] and free.analog_mac_ratio == 1.0
    budget = free.kl / 3
    res = run_search(tiny, spec, opts, kl_budget=budget, ppl_budget=None, sensitivity_tokens=32)
    assert res.kl <= budget and 0.0 <= res.analog_mac_ratio < 1.0
    import io

    from rich.console import Console

    from llmimc.report.accuracy_report import render_search

    buf = io.StringIO()
    render_search(res, Console(file=buf, width=200))
    assert "analog-MAC-ratio front" in buf.getvalue() and "chosen:" in buf.getvalue()
    policy = _policy_from_text(res.policy_yaml, "search output", False)
    ops = {op.name: op for op in tiny.graph.linear_ops()}
    for name in res.digital_ops:
        s = resolve_op_settings(policy, ops[name])
        assert s.outlier_fraction == 1.0 and s.outlier_bits == s.weight_bits


def test_placement_override_moves_all_macs_to_digital(tiny):
    from llmimc.compress import build_plan
    from llmimc.compress.planner import analog_mac_ratio

    names = [op.name for op in tiny.graph.linear_ops()]
    policy = placement_policy(load_policy("w8a8"), names, "test")
    plan = build_plan(tiny.graph, _policy_from_text(policy_yaml(policy), "t", False))
    assert analog_mac_ratio(tiny.graph, plan) == 0.0
