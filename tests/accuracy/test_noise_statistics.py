"""One noisy crossbar matrix-vector product against a hand-computed sigma (issue 15, rram-chiplet audit).

Setup: a random 8-bit integer weight matrix q (K x N), 8-bit integer inputs x (T x K), 2-bit cells,
4 slices, an ideal or a 16-bit ADC, constant programming sigma s_p and read sigma s_r (fractions of
g_max), no noise on zero cells. Slice j of a weight holds digit d_j with slice weight w_j = 4^j L_j, so
the effective weight's programming error has variance  s_p^2 sum_{j: d_j != 0} w_j^2  (one device per
non-zero digit: differential pairs put the digit on one polarity, the other cell is 0). One read of
input plane p adds N(0, s_r^2 devices sum_j w_j^2 sum_k x_{p,k}^2) per output, times 4^(d p) after the
shift-and-add. The measured mean squared output error must match these sums within sampling error.
"""

from __future__ import annotations

import pytest
import torch

from llmimc.accuracy.analog import analog_forward, input_planes
from llmimc.accuracy.hardware import CrossbarMap
from llmimc.accuracy.program import program_op
from llmimc.hw.spec import DeviceNoise

K, N, T = 192, 96, 64


def _xbar(differential: bool, bit_serial: bool, adc_bits: int | None, encoding: str) -> CrossbarMap:
    return CrossbarMap(
        weight_bits=8, act_bits=8, outlier_bits=8, bits_per_cell=2, slices=4, differential=differential,
        rows_per_block=128, rows_per_conversion=64, outputs_per_col_block=N, row_blocks=2, adc_bits=adc_bits,
        dac_bits_per_cycle=1 if bit_serial else 8, input_cycles=8 if bit_serial else 1, sparsity_n=1,
        sparsity_m=1, input_encoding=encoding,
    )  # fmt: skip


def _noise(prog: float, read: float) -> DeviceNoise:
    g_max = 4e-5
    return DeviceNoise(
        g_max_s=g_max, prog_sigma_poly_s=[prog * g_max], read_sigma_fraction=read, zero_cell_noise=False,
        global_drift_compensation=False, sources={"g_max_s": "test", "read_sigma_fraction": "test"},
    )  # fmt: skip


def _weights_and_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    q = torch.randint(-127, 128, (N, K), generator=g).float()
    q[:, 0] = 127.0  # every row's absmax is 127: the per-channel scale is 1, q is programmed exactly
    x = torch.randint(-127, 128, (T, K), generator=g).float()
    x[:, 0] = 127.0  # per-token scale 1: the DAC passes x unchanged
    return q, x


def _digit_weights(q: torch.Tensor, xbar: CrossbarMap) -> tuple[torch.Tensor, float]:
    """(sum over non-zero digits of w_j^2 per weight, K x N; sum_j w_j^2)."""
    off = 0 if xbar.differential else 128
    v = (q.abs() if xbar.differential else q + off).long().t()
    per = torch.zeros(v.shape)
    for j, level in enumerate(xbar.slice_levels):
        w = float(4**j * level)
        per += w**2 * (((v >> (2 * j)) & 3) != 0).float()
    return per, sum(float(4**j * lv) ** 2 for j, lv in enumerate(xbar.slice_levels))


def _mse(q: torch.Tensor, x: torch.Tensor, xbar: CrossbarMap, noise: DeviceNoise, seeds: int) -> float:
    ref = x @ q.t()
    out = []
    for seed in range(seeds):
        gen = torch.Generator().manual_seed(seed)
        st = program_op(q, xbar, [], noise, 1.0, 0.0, gen)
        if xbar.adc_bits is not None:
            analog_forward(st, x, gen, True)
        out.append(float(((analog_forward(st, x, gen, False) - ref) ** 2).mean()))
    return sum(out) / len(out)


@pytest.mark.parametrize("differential", [True, False])
def test_programming_noise_matches_hand_sigma(differential):
    q, x = _weights_and_inputs()
    xbar = _xbar(differential, bit_serial=False, adc_bits=None, encoding="sign_magnitude")
    per, _ = _digit_weights(q, xbar)
    s_p = 0.02
    expected = float(((x * x) @ per).mean()) * s_p**2
    measured = _mse(q, x, xbar, _noise(s_p, 0.0), seeds=4)
    assert measured == pytest.approx(expected, rel=0.08), (measured, expected)


@pytest.mark.parametrize(
    ("bit_serial", "encoding", "adc_bits"),
    [(False, "sign_magnitude", None), (True, "sign_magnitude", None), (True, "twos_complement", None),
     (True, "sign_magnitude", 16)],
)  # fmt: skip
def test_read_noise_matches_hand_sigma(bit_serial, encoding, adc_bits):
    q, x = _weights_and_inputs()
    xbar = _xbar(True, bit_serial=bit_serial, adc_bits=adc_bits, encoding=encoding)
    _, sum_w2 = _digit_weights(q, xbar)
    s_r = 0.01
    power = sum(sh**2 * (p * p).sum(-1) for p, sh, _ in input_planes(x, xbar))  # per token
    expected = float(power.mean()) * s_r**2 * 2 * sum_w2  # 2 devices per differential slice
    measured = _mse(q, x, xbar, _noise(0.0, s_r), seeds=2)
    assert measured == pytest.approx(expected, rel=0.08), (measured, expected)


def test_twos_complement_planes_amplify_read_noise_of_negative_inputs():
    """x = -1 sets all eight two's-complement bits: read-noise power sum_p 4^p = 21,845 + 16,384 vs 1."""
    xbar_tc = _xbar(True, True, None, "twos_complement")
    xbar_sm = _xbar(True, True, None, "sign_magnitude")
    x = -torch.ones(1, 4)
    p_tc = sum(sh**2 * float((p * p).sum()) for p, sh, _ in input_planes(x, xbar_tc))
    p_sm = sum(sh**2 * float((p * p).sum()) for p, sh, _ in input_planes(x, xbar_sm))
    assert (p_tc, p_sm) == (4 * (sum(4**p for p in range(7)) + 4**7), 4.0)
    for xb in (xbar_tc, xbar_sm):  # both encodings reconstruct x exactly
        xv = torch.tensor([[-127.0, -5.0, 0.0, 3.0, 127.0]])
        assert torch.equal(sum(sh * p for p, sh, _ in input_planes(xv, xb)), xv)
