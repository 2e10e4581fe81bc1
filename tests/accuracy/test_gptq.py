"""GPTQ against round-to-nearest on hand-checkable cases (llmimc.accuracy.gptq)."""

from __future__ import annotations

import pytest
import torch

from llmimc.accuracy.gptq import gptq_quantise, hessian
from llmimc.accuracy.program import quantise_per_channel


def _output_error(w, codes, scale, x):
    return float(((x @ w.T - x @ (codes * scale[:, None]).T) ** 2).sum())


def test_uncorrelated_inputs_give_round_to_nearest():
    """A diagonal Hessian has no cross terms to compensate through: GPTQ's codes are RTN's."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 40, generator=g)
    h = torch.diag(torch.rand(40, generator=g) + 0.5).to(torch.float64)
    codes, scale = gptq_quantise(w, h, bits=4, damp=0.0, block=8)
    rtn_codes, rtn_scale = quantise_per_channel(w, 4)
    assert torch.equal(codes, rtn_codes)
    assert torch.equal(scale, rtn_scale)


def test_tied_channels_by_hand():
    """Channels 0 and 1 always see the same input, channel 2 an independent one; w = (0.42, 0.1, 0.9).

    3 bits: q_max = 3, s = 0.9 / 3 = 0.3. Channel 0: 0.42 / 0.3 = 1.4 -> 1, error +0.12. With x0 = x1
    the output only sees w0 + w1, so GPTQ moves the whole error onto channel 1 (H^-1_01 / H^-1_00 -> -1
    as the dampening -> 0): w1' = 0.1 + 0.12 = 0.22 -> 0.73 -> 1, where RTN rounds 0.1 / 0.3 -> 0.
    Channel 2 is uncorrelated (H^-1_02 = H^-1_12 = 0): nothing moves onto it; 0.9 -> 3 either way.
    Output error on the tied pair: GPTQ |0.52 - 0.6| = 0.08, RTN |0.52 - 0.3| = 0.22.
    """
    g = torch.Generator().manual_seed(3)
    tied, other = torch.randn(400, generator=g), torch.randn(400, generator=g)
    x = torch.stack([tied, tied, other], dim=1)
    x[:, 2] -= x[:, 2].mean()  # no cross term with the tied pair's mean either
    x[:, 2] -= (x[:, 2] @ x[:, 0]) / (x[:, 0] @ x[:, 0]) * x[:, 0]  # exactly orthogonal
    w = torch.tensor([[0.42, 0.1, 0.9]])
    codes, scale = gptq_quantise(w, hessian(x), bits=3, damp=1e-9)
    rtn, _ = quantise_per_channel(w, 3)
    assert scale.item() == pytest.approx(0.3)
    assert rtn.tolist() == [[1.0, 0.0, 3.0]]
    assert codes.tolist() == [[1.0, 1.0, 3.0]]


def test_correlated_inputs_lower_the_output_error():
    """On correlated calibration inputs GPTQ's layer output error is well below RTN's (its objective)."""
    g = torch.Generator().manual_seed(1)
    mix = torch.randn(64, 64, generator=g) * 0.3 + torch.eye(64)
    x = torch.randn(512, 64, generator=g) @ mix
    w = torch.randn(32, 64, generator=g)
    codes, scale = gptq_quantise(w, hessian(x), bits=4)
    rtn, rtn_scale = quantise_per_channel(w, 4)
    assert torch.equal(scale, rtn_scale)  # one grid
    assert torch.all(codes.abs() <= 7) and torch.equal(codes, torch.round(codes))
    assert _output_error(w, codes, scale, x) < 0.7 * _output_error(w, rtn, rtn_scale, x)


def test_dead_channel_and_blocking():
    """A channel never active gets weight 0; the lazy-batch block size changes nothing."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(200, 20, generator=g) @ (torch.randn(20, 20, generator=g) * 0.5 + torch.eye(20))
    x[:, 5] = 0.0
    w = torch.randn(8, 20, generator=g)
    h = hessian(x)
    a, _ = gptq_quantise(w, h, bits=3, block=4)
    b, _ = gptq_quantise(w, h, bits=3, block=128)
    assert torch.equal(a, b)
    assert torch.all(a[:, 5] == 0)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="input channels"):
        gptq_quantise(torch.zeros(2, 3), torch.eye(4, dtype=torch.float64), bits=4)


def test_mask_keeps_pruned_weights_at_zero_and_compensates_them():
    """2:4 on low-rank-dominated inputs (as LLM activations are): pruned codes are 0, and pushing their
    error onto later kept weights lowers the output error below prune-then-round (RTN of the masked
    weight, what programming does without compensation). The mask is fixed (the tiling's magnitude
    mask), so the gain is smaller than SparseGPT's with its adaptive mask (here ~22 %)."""
    from llmimc.accuracy.program import nm_mask

    g = torch.Generator().manual_seed(4)
    x = torch.randn(400, 8, generator=g) @ torch.randn(8, 32, generator=g) + 0.1 * torch.randn(
        400, 32, generator=g
    )
    w = torch.randn(16, 32, generator=g)
    mask = nm_mask(w, 2, 4, outputs_per_block=16)
    codes, scale = gptq_quantise(w, hessian(x), bits=8, mask=mask)
    assert torch.all(codes[~mask] == 0)
    rtn, rtn_scale = quantise_per_channel(w * mask, 8)
    assert torch.equal(scale, rtn_scale)
    assert _output_error(w, codes, scale, x) < 0.9 * _output_error(w, rtn, rtn_scale, x)
