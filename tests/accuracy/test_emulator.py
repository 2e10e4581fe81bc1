"""The crossbar emulator on a tiny random Llama: exactness, monotonicity in noise/ADC bits, drift, outliers."""

from __future__ import annotations

import torch
from support.accuracy import OUTLIER_CHANNELS, with_array

from llmimc.accuracy import emulator as em
from llmimc.accuracy.evaluate import AccuracyOptions, accuracy_plan, evaluate
from llmimc.compress import load_policy

FAST = {"tokens": 96, "seq_len": 48, "calib_tokens": 48, "ppa": False}


def _kl(tiny, spec, **kw) -> float:
    opts = AccuracyOptions(**{**FAST, "seeds": 1, **kw})
    return evaluate(tiny, spec, opts).kl.mean


def test_noise_off_16bit_equals_float_logits(tiny, pcm):
    """16-bit weights/inputs, 16-bit ADC, ideal devices: the emulated logits are the float logits."""
    spec = with_array(pcm, adc_bits=16)
    mods = em.linear_modules(tiny.model, tiny.graph)
    ids = list(range(1, 41))
    absmax = em.activation_absmax(tiny.model, mods, ids)
    plan = accuracy_plan(tiny.graph, load_policy("w16a16"), None, absmax, "test")
    fp = em.log_probs(tiny.model, ids)
    for ideal_adc in (True, False):
        emu = em.program_model(
            mods,
            tiny.graph,
            plan,
            spec.chiplet.array,
            None,
            sigma_scale=0.0,
            drift_s=0.0,
            ideal_adc=ideal_adc,
            seed=0,
        )
        em.calibrate_adc(tiny.model, emu, ids, "calibrated")
        lp = em.log_probs(tiny.model, ids, dict(emu))
        tol = 2e-4 if ideal_adc else 2e-2  # a 16-bit ADC step is 2R / 65535 of the calibrated range
        assert torch.allclose(lp, fp, atol=tol), (ideal_adc, (lp - fp).abs().max())
    r = evaluate(tiny, spec, AccuracyOptions(precision="w16a16", ideal_devices=True, seeds=1, **FAST))
    assert r.kl.mean < 1e-3 and r.top1.mean > 0.98
    assert abs(r.ppl.mean - r.fp_ppl) < 1e-3 * r.fp_ppl


def test_kl_grows_with_noise_sigma(tiny, rram):
    kls = [
        _kl(tiny, rram, precision="w8a8", noise_scale=s, ideal_adc=True, drift_s=0.0) for s in (0.0, 1.0, 4.0)
    ]
    assert kls[0] < kls[1] < kls[2], kls


def test_kl_grows_with_fewer_adc_bits(tiny, pcm):
    kls = [_kl(tiny, with_array(pcm, adc_bits=b), precision="w8a8", ideal_devices=True) for b in (12, 6, 3)]
    assert kls[0] < kls[1] < kls[2], kls


def test_drift_compensation_reduces_drift_loss(tiny, pcm):
    day = 86400.0
    on = _kl(tiny, pcm, precision="w8a8", drift_s=day, gdc=True, ideal_adc=True)
    off = _kl(tiny, pcm, precision="w8a8", drift_s=day, gdc=False, ideal_adc=True)
    assert on < off, (on, off)


def test_outlier_channels_reduce_kl_on_planted_outliers(tiny, pcm):
    base = load_policy("w4a8-outlier")
    plain = base.model_copy(update={"outlier_fraction": 0.0})
    outl = base.model_copy(update={"outlier_fraction": 2 / 64})
    for kw in ({"ideal_devices": True, "ideal_adc": True}, {"drift_s": 0.0}):
        kl_plain, kl_outl = _kl(tiny, pcm, precision=plain, **kw), _kl(tiny, pcm, precision=outl, **kw)
        assert kl_outl < kl_plain, (kw, kl_outl, kl_plain)


def test_planted_outliers_are_found_by_activation_absmax(tiny):
    mods = em.linear_modules(tiny.model, tiny.graph)
    absmax = em.activation_absmax(tiny.model, mods, list(range(1, 41)))
    policy = load_policy("w4a8-outlier").model_copy(update={"outlier_fraction": 2 / 64})
    plan = accuracy_plan(tiny.graph, policy, None, absmax, "test")
    assert plan.ops["model.layers.0.self_attn.q_proj"].outlier_channels == list(OUTLIER_CHANNELS)


def test_seeds_are_deterministic_and_differ(tiny, rram):
    opts = AccuracyOptions(precision="w8a8", seeds=2, ideal_adc=True, **FAST)
    a, b = evaluate(tiny, rram, opts), evaluate(tiny, rram, opts)
    assert [s.kl for s in a.seeds] == [s.kl for s in b.seeds]
    assert a.seeds[0].kl != a.seeds[1].kl
    import io

    from rich.console import Console

    from llmimc.report.accuracy_report import render_accuracy

    buf = io.StringIO()
    render_accuracy(a, Console(file=buf, width=200))
    assert "mean ± std" in buf.getvalue() and "per-op output SQNR" in buf.getvalue()


def test_post_programming_calibration_recovers_uncompensated_drift(tiny, pcm):
    day = 86400.0
    raw = _kl(tiny, pcm, precision="w8a8", drift_s=day, gdc=False, ideal_adc=True)
    cal = _kl(tiny, pcm, precision="w8a8", drift_s=day, gdc=False, ideal_adc=True, post_calibration=True)
    assert cal < raw, (cal, raw)
