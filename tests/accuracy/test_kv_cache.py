"""KV-cache emulation: kv_bits 16 is the float model; KL grows as kv_bits falls (tiny Llama)."""

from __future__ import annotations

import torch

from llmimc.accuracy import emulator as em
from llmimc.accuracy.evaluate import AccuracyOptions, evaluate
from llmimc.accuracy.kv_cache import kv_quantised, quantise_kv
from llmimc.compress import load_policy

FAST = {"tokens": 96, "seq_len": 48, "calib_tokens": 48, "ppa": False, "seeds": 1}


def test_quantise_kv_rounds_each_vector_to_its_own_grid():
    t = torch.tensor([[[[1.0, -0.4, 0.26, 0.0], [10.0, 2.4, -7.6, 0.1]]]])
    q = quantise_kv(t, 3)  # qmax 3: steps absmax / 3 per vector
    assert torch.allclose(q, torch.tensor([[[[1.0, -1 / 3, 1 / 3, 0.0], [10.0, 10 / 3, -20 / 3, 0.0]]]]))
    assert quantise_kv(t, 16) is t


def test_kv16_equals_float_and_kl_grows_as_kv_bits_fall(tiny, pcm):
    ids = list(range(1, 41))
    fp = em.log_probs(tiny.model, ids)
    assert torch.equal(em.log_probs(tiny.model, ids, kv_bits=16), fp)
    with torch.inference_mode(), kv_quantised(tiny.model, 4):
        lp4 = torch.log_softmax(tiny.model(torch.tensor([ids])).logits[0], dim=-1)
    assert not torch.allclose(lp4, fp, atol=1e-4)
    assert torch.equal(em.log_probs(tiny.model, ids), fp)  # the switch is undone afterwards
    base = load_policy("w16a16")
    kls = []
    for bits in (16, 8, 4, 2):
        opts = AccuracyOptions(
            precision=base.model_copy(update={"kv_bits": bits}), ideal_devices=True, ideal_adc=True, **FAST
        )
        kls.append(evaluate(tiny, pcm, opts).kl.mean)
    assert kls[0] < 1e-3, kls
    assert kls[0] < kls[1] < kls[2] < kls[3], kls
