"""GPTQ rounding through the emulator on the tiny Llama: same grid, lower KL, N:M kept, options checked."""

from __future__ import annotations

import pytest
import torch

from llmimc.accuracy import emulator as em
from llmimc.accuracy.evaluate import AccuracyOptions, accuracy_plan, evaluate
from llmimc.accuracy.gptq import gptq_codes
from llmimc.compress import load_policy
from llmimc.errors import LlmimcError

FAST = {"tokens": 96, "seq_len": 48, "calib_tokens": 48, "ppa": False, "seeds": 1}
IDEAL = {"ideal_devices": True, "ideal_adc": True}


def _kl(tiny, spec, **kw) -> float:
    return evaluate(tiny, spec, AccuracyOptions(**{**FAST, **kw})).kl.mean


def test_gptq_lowers_kl_of_4bit_weights(tiny, pcm):
    """w4 round-to-nearest vs GPTQ on the same grid, ideal devices and ADC: GPTQ's KL is lower."""
    plain = load_policy("w4a8-outlier").model_copy(update={"outlier_fraction": 0.0})
    rtn = _kl(tiny, pcm, precision=plain, **IDEAL)
    gptq = _kl(tiny, pcm, precision=plain, compensation="gptq", **IDEAL)
    assert gptq < rtn, (gptq, rtn)


def test_gptq_codes_lie_on_the_grid_and_keep_the_nm_mask(tiny, pcm):
    mods = em.linear_modules(tiny.model, tiny.graph)
    calib = list(range(32, 96))
    policy = load_policy("w4a8-outlier")
    absmax = em.activation_absmax(tiny.model, mods, calib)
    plan = accuracy_plan(tiny.graph, policy, "2:4", absmax, "test")
    codes = gptq_codes(tiny.model, mods, tiny.graph, plan, pcm.chiplet.array, [calib[:32], calib[32:]])
    assert set(codes) <= set(mods)
    for name, (q, scale) in codes.items():
        comp = plan.ops[name]
        qmax = 2 ** (comp.weight_bits - 1) - 1
        assert torch.equal(q, torch.round(q)) and float(q.abs().max()) <= qmax
        k = mods[name].weight.shape[1]
        assert q.shape == (mods[name].weight.shape[0], k - len(comp.outlier_channels))
        assert scale.shape == (q.shape[0],)
        if comp.sparsity_n < comp.sparsity_m:  # N:M: at least (m - n) / m of every row's codes are zero
            assert float((q == 0).float().mean()) >= (comp.sparsity_m - comp.sparsity_n) / comp.sparsity_m


def test_gptq_at_16_bits_is_the_float_model(tiny, pcm):
    """Nothing is rounded at 16 bits, so GPTQ changes nothing: KL stays 0 on ideal hardware."""
    assert _kl(tiny, pcm, precision="w16a16", compensation="gptq", **IDEAL) == pytest.approx(0.0, abs=1e-9)


def test_unknown_compensation_is_refused(tiny, pcm):
    with pytest.raises(LlmimcError, match="--compensation must be none or gptq"):
        evaluate(tiny, pcm, AccuracyOptions(**{**FAST, "compensation": "awq"}))


def test_hessians_group_ops_by_their_input(tiny, pcm, monkeypatch):
    """q/k/v (and gate/up) share one Hessian; each layer has its own (no freed-memory aliasing)."""
    import llmimc.accuracy.gptq as gptq_mod

    mods = em.linear_modules(tiny.model, tiny.graph)
    by_weight = {id(m.weight): n for n, m in mods.items()}
    seen: dict[str, torch.Tensor] = {}
    real = gptq_mod.op_codes

    def spy(weight, xbar, outliers, h, damp, shared=None):
        seen[by_weight[id(weight)]] = h
        return real(weight, xbar, outliers, h, damp, shared)

    monkeypatch.setattr(gptq_mod, "op_codes", spy)
    plan = accuracy_plan(tiny.graph, load_policy("w4a8-outlier"), None, {}, "test")
    gptq_codes(tiny.model, mods, tiny.graph, plan, pcm.chiplet.array, [list(range(40)), list(range(40, 90))])
    q0, k0, v0 = (seen[f"model.layers.0.self_attn.{p}_proj"] for p in "qkv")
    assert torch.equal(q0, k0) and torch.equal(q0, v0)
    assert torch.equal(seen["model.layers.1.mlp.gate_proj"], seen["model.layers.1.mlp.up_proj"])
    assert not torch.equal(q0, seen["model.layers.1.self_attn.q_proj"])
    assert not torch.equal(q0, seen["model.layers.0.self_attn.o_proj"])
    assert not torch.equal(seen["model.layers.0.mlp.gate_proj"], seen["model.layers.1.mlp.gate_proj"])
