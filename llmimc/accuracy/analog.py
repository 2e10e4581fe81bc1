"""The forward pass of an emulated crossbar linear op: y = analog(x_a) + digital(x_o) + bias.

Inputs (DAC): the analog input channels x_a of each token are rounded symmetrically to ``act_bits``
with a per-token scale s_x = max|x_a| / (2^(a-1) - 1) (SmoothQuant-style dynamic per-token
quantisation); 16 bits = float. The digital outlier path rounds x_o the same way at
max(act_bits, outlier_bits) and multiplies by the dequantised outlier weights.

Ideal ADC: y_a = s_x s_n (x_int W_eff + e), e ~ N(0, read_var_coeff P(x)) per output, where the input
power P(x) = sum_k x_k^2 for one pulse-width-modulated read, or sum_p 4^(d p) sum_k x_{p,k}^2 over the
bit planes of a bit-serial input (each read draws fresh noise on every device).

ADC path: for every input plane p (one for PWM; ``input_cycles`` digit planes of d = dac bits each,
two's complement, the top digit applied signed, for bit-serial inputs), slice j and conversion group b
(the ``derive.rows_per_cycle`` rows of one array read together) the partial sum
P = sum_{k in b} x_{p,k} D_{j,k,n} (+ read noise) is clipped to the ADC range [-R_bj, R_bj]
(or [0, R_bj] when it cannot be negative) and rounded to 2^bits levels; the digital side shifts and
adds y_a = s_x s_n (alpha sum_{p,j,b} 2^(d p) 2^(c j) L_j Q(P) - offset sum_k x_k).
Calibration mode records R_bj = max |P| per (block, slice) instead of quantising.
"""

from __future__ import annotations

import torch

from llmimc.accuracy.hardware import FLOAT_BITS, CrossbarMap
from llmimc.accuracy.program import ProgrammedOp

_MAX_CHUNK_ELEMS = 1 << 25  # partial-sum elements per bmm chunk (bounds memory for wide ops)


def quantise_tokens(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes, per-token scale) of symmetric per-token rounding; 16 bits = float."""
    if bits >= FLOAT_BITS or x.shape[-1] == 0:
        return x, torch.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / qmax
    return torch.round(x / scale).clamp(-qmax, qmax), scale


def input_planes(x_int: torch.Tensor, xbar: CrossbarMap) -> list[tuple[torch.Tensor, float, bool]]:
    """(plane values, shift weight, signed) per read cycle: one PWM read or bit-serial digit planes."""
    if not xbar.bit_serial or xbar.act_bits >= FLOAT_BITS:
        return [(x_int, 1.0, True)]
    d, a, cycles = xbar.dac_bits_per_cycle, xbar.act_bits, xbar.input_cycles
    u = torch.remainder(x_int, 2**a).to(torch.int64)  # two's complement code
    planes = []
    for p in range(cycles):
        digit = (u >> (d * p)) & (2**d - 1)
        top = p == cycles - 1
        if top:  # the most significant digit carries the sign
            width = a - d * p
            digit = torch.where(digit >= 2 ** (width - 1), digit - 2**width, digit)
        planes.append((digit.to(x_int.dtype), float(2 ** (d * p)), top))
    return planes


def analog_forward(
    st: ProgrammedOp, x_a: torch.Tensor, gen: torch.Generator, calibrate: bool
) -> torch.Tensor:
    """Analog output (tokens x N) of the crossbar part for inputs x_a (tokens x K_a)."""
    xbar = st.xbar
    x_int, s_x = quantise_tokens(x_a, xbar.act_bits)
    planes = input_planes(x_int, xbar)
    if st.w_eff is not None:
        y = x_int @ st.w_eff
        if st.read_var_coeff > 0:
            power = torch.zeros(y.shape[0], 1)
            for p, w, _ in planes:
                power = power + w**2 * (p * p).sum(dim=-1, keepdim=True)
            y = y + torch.sqrt(st.read_var_coeff * power) * _randn(y.shape, gen)
    else:
        y = _adc_path(st, planes, x_int.shape[0], gen, calibrate)
        y = st.gdc_alpha * y
        if st.offset:
            y = y - st.offset * (
                x_int @ st.kept_mask if st.kept_mask is not None else x_int.sum(-1, keepdim=True)
            )
    return y * s_x * st.scale


def _adc_path(
    st: ProgrammedOp,
    planes: list[tuple[torch.Tensor, float, bool]],
    tokens: int,
    gen: torch.Generator,
    calibrate: bool,
) -> torch.Tensor:
    n_out = st.slices[0].shape[2]
    blocks = st.slices[0].shape[0]
    y = torch.zeros(tokens, n_out)
    ranges = torch.zeros(blocks, len(st.slices)) if calibrate else st.adc_ranges
    if ranges is None:
        raise RuntimeError("ADC ranges are not calibrated for this op")
    cols = max(1, _MAX_CHUNK_ELEMS // max(1, blocks * tokens))
    for plane, shift, signed_in in planes:
        xb = _grouped_inputs(plane, st.conv_index)  # (G, T, r)
        noise_std = None
        if st.read_sigma > 0:
            noise_std = st.read_sigma * torch.sqrt(st.devices_per_slice * (xb * xb).sum(-1, keepdim=True))
        signed = signed_in or st.xbar.differential
        for j, d in enumerate(st.slices):
            for c0 in range(0, n_out, cols):
                part = torch.bmm(xb, d[:, :, c0 : c0 + cols])  # (B, T, n)
                if noise_std is not None:
                    part = part + noise_std * _randn(part.shape, gen)
                if calibrate:
                    ranges[:, j] = torch.maximum(ranges[:, j], part.abs().amax(dim=(1, 2)))
                else:
                    part = adc_quantise(part, ranges[:, j].view(-1, 1, 1), st.xbar.adc_bits or 0, signed)
                y[:, c0 : c0 + cols] += (shift * st.slice_weights[j]) * part.sum(dim=0)
    if calibrate:
        st.adc_ranges = ranges
    return y


def adc_quantise(p: torch.Tensor, r: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """Clip to [-R, R] (or [0, R]) and round to 2^bits uniform levels."""
    r = r.clamp(min=1e-12)
    if signed:
        step = 2 * r / (2**bits - 1)
        return torch.round(p.clamp(-r, r) / step) * step
    step = r / (2**bits - 1)
    return torch.round(p.clamp(min=0.0).minimum(r) / step) * step


def worst_case_ranges(st: ProgrammedOp) -> torch.Tensor:
    """R = stored rows per conversion x max |input digit| x g^_max (1): no partial sum is ever clipped."""
    xbar = st.xbar
    if xbar.act_bits >= FLOAT_BITS:
        raise ValueError("a worst-case ADC range needs integer inputs (act_bits < 16)")
    x_max = 2 ** (xbar.act_bits - 1) if not xbar.bit_serial else 2**xbar.dac_bits_per_cycle - 1
    blocks = st.slices[0].shape[0] if st.slices else 0
    return torch.full((blocks, len(st.slices)), float(xbar.rows_per_conversion * x_max))


def _grouped_inputs(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(T, K_a) -> (G, T, r) inputs of each conversion group (padding slots are zero)."""
    padded = torch.cat([x, torch.zeros(x.shape[0], 1)], dim=1)
    return padded[:, index].transpose(0, 1)


def _randn(shape: torch.Size | tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen)


class EmulatedLinear(torch.nn.Module):
    """Stands in for one ``nn.Linear``: analog crossbars + digital outlier path + bias."""

    def __init__(self, original: torch.nn.Linear, state: ProgrammedOp, gen: torch.Generator) -> None:
        super().__init__()
        self.original = original
        self.state = state
        self.gen = gen
        self.calibrate = False
        self.measure: dict[str, float] | None = None  # accumulates output signal / error power when set
        self.fit: dict[str, torch.Tensor] | None = None  # accumulates per-column scale fit terms when set

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1]).to(torch.float32)
        y = torch.zeros(x2.shape[0], self.original.out_features)
        if st.has_analog:
            y_a = analog_forward(st, x2[:, st.analog_idx], self.gen, self.calibrate)
            if self.fit is not None:  # target: the float output of the analog channels
                target = x2[:, st.analog_idx] @ self.original.weight[:, st.analog_idx].t()
                self.fit["num"] = self.fit.get("num", 0.0) + (y_a * target).sum(0)
                self.fit["den"] = self.fit.get("den", 0.0) + (y_a * y_a).sum(0)
            y = y + y_a
        if st.w_outlier is not None:
            bits = max(st.xbar.act_bits, st.xbar.outlier_bits)
            x_o, s_o = quantise_tokens(x2[:, st.outlier_idx], bits)
            y = y + (x_o * s_o) @ st.w_outlier
        if self.original.bias is not None:
            y = y + self.original.bias
        if self.measure is not None:
            y_fp = self.original(x2)
            self.measure["signal"] = self.measure.get("signal", 0.0) + float((y_fp * y_fp).sum())
            self.measure["error"] = self.measure.get("error", 0.0) + float(((y - y_fp) ** 2).sum())
        return y.reshape(*lead, -1).to(x.dtype)
