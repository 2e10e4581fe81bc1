"""The forward pass of an emulated crossbar linear op: y = analog(x_a) + digital(x_o) + bias.

Inputs (DAC): the analog input channels x_a of each token are rounded symmetrically to ``act_bits``
with a per-token scale s_x = max|x_a| / (2^(a-1) - 1) (SmoothQuant-style dynamic per-token
quantisation); 16 bits = float. The digital outlier path rounds x_o the same way at
max(act_bits, outlier_bits) and multiplies by the dequantised outlier weights.

Input planes: one pulse-width-modulated read of the signed code (``dac_bits_per_cycle`` >= act bits), or,
for bit-serial inputs (d = dac bits per cycle), digit planes x_p with x = sum_p 2^(d p) x_p:
- ``sign_magnitude`` (default; NeuRRAM drives the sign as the pulse polarity, Wan et al., Nature 2022):
  x_p = sign(x) digit_p(|x|), ceil((a - 1) / d) planes, every plane signed;
- ``twos_complement`` (ISAAC-style): digits of the a-bit two's complement code, the top digit signed.
  A small negative input sets every high bit, so the planes' partial sums cancel only after the
  shift-and-add and per-read noise is amplified (read-noise power sum_p 4^(d p) x_p^2 >> x^2).

Ideal ADC: y_a = s_x s_n (x_int W_eff + e), e ~ N(0, read_var_coeff P(x)) per output, where the input
power P(x) = sum_p 4^(d p) sum_k x_{p,k}^2 (each plane's read draws fresh noise on every device).

ADC path: for every input plane p, slice j and conversion group b (the ``derive.rows_per_cycle`` rows
of one array read together) the partial sum P = sum_{k in b} x_{p,k} D_{j,k,n} + read noise
(N(0, sigma_r^2 devices sum_{k in b} x_{p,k}^2) in g_max units) is clipped to the ADC range
[-R_bj, R_bj] (or [0, R_bj] when it cannot be negative) and rounded to 2^bits levels; the digital side
shifts and adds y_a = s_x s_n (alpha sum_{p,j,b} 2^(d p) 2^(c j) L_j Q(P) - offset sum_k x_k).
Calibration mode records R_bj = max |P| per (block, slice) instead of quantising.

Evaluation cost: per conversion group g, all planes and slices of a token chunk go through one
matmul (P T_c, r) x (r, S N); conversions whose inputs are all zero are skipped (no pulse: the partial
sum is exactly 0 and Q(0) = 0), which drops most high-order planes of small inputs. The arithmetic
is at most P x S float32 matmuls of the op, the lower bound of an exact per-conversion emulation. Read noise of the ADC path is read from a shared bank of standard normals
at random offsets (:class:`NoiseBank`; fresh ``torch.randn`` costs as much as the matmul itself).
"""

from __future__ import annotations

import torch

from llmimc.accuracy.hardware import FLOAT_BITS, CrossbarMap
from llmimc.accuracy.program import ProgrammedOp

_MAX_CHUNK_ELEMS = 1 << 23  # partial-sum elements per (token, column) chunk (32 MB; bounds memory)
_MIN_TOKENS = (
    64  # tokens per chunk at least: wide ops are chunked over columns instead (keeps matmuls compute-bound)
)


class NoiseBank:
    """Standard normal samples read as contiguous windows at random offsets (one bank per seed).

    A window of n <= size samples at a uniformly drawn offset is a vector of independent N(0, 1)
    samples; windows of different reads overlap, so noise is reused across reads at random shifts
    (the probe measured KL 0.2468 vs 0.2465 with fresh randn, shared/audits/accuracy_probe.md 3).
    """

    def __init__(self, gen: torch.Generator, size: int = _MAX_CHUNK_ELEMS * 2) -> None:
        self.size = size
        self.samples = torch.randn(size, generator=gen)

    def draw(self, shape: torch.Size | tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        n = 1
        for d in shape:
            n *= d
        if n > self.size:
            return torch.randn(shape, generator=gen)
        start = int(torch.randint(0, self.size - n + 1, (1,), generator=gen))
        return self.samples[start : start + n].view(shape)


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
    d, a = xbar.dac_bits_per_cycle, xbar.act_bits
    if xbar.input_encoding == "sign_magnitude":
        mag, sign = x_int.abs().to(torch.int64), torch.sign(x_int)
        n_planes = -(-(a - 1) // d)
        return [
            (((mag >> (d * p)) & (2**d - 1)).to(x_int.dtype) * sign, float(2 ** (d * p)), True)
            for p in range(n_planes)
        ]
    cycles = xbar.input_cycles
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
    st: ProgrammedOp, x_a: torch.Tensor, gen: torch.Generator, calibrate: bool, bank: NoiseBank | None = None
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
            y.addcmul_(torch.sqrt(st.read_var_coeff * power), _randn(y.shape, gen))
    else:
        y = _adc_path(st, planes, gen, calibrate, bank).mul_(st.gdc_alpha)
        if st.offset:
            y.sub_(
                x_int @ st.kept_mask if st.kept_mask is not None else x_int.sum(-1, keepdim=True),
                alpha=st.offset,
            )
    return y.mul_(s_x).mul_(st.scale)  # in place: an lm_head output is T x 49k floats


def _adc_path(
    st: ProgrammedOp,
    planes: list[tuple[torch.Tensor, float, bool]],
    gen: torch.Generator,
    calibrate: bool,
    bank: NoiseBank | None,
) -> torch.Tensor:
    """Shift-and-add of the quantised partial sums of every (plane, slice, conversion group)."""
    assert st.slab is not None
    groups, ns = len(st.slab), st.slab[0].shape[1]  # columns ordered (slice j, output n)
    n_slices = len(st.slice_weights)
    n_out = ns // n_slices
    tokens = planes[0][0].shape[0]
    y = torch.zeros(tokens, n_out)
    ranges = torch.zeros(groups, n_slices) if calibrate else st.adc_ranges
    if ranges is None:
        raise RuntimeError("ADC ranges are not calibrated for this op")
    live = [(x, sh, sg) for x, sh, sg in planes if bool(x.any())]  # an all-zero plane reads exactly 0
    if not live:
        return y
    x_all = torch.stack([x for x, _, _ in live])  # (P, T, K_a)
    n_planes = len(live)
    signed = [sg or st.xbar.differential for _, _, sg in live]
    tables = _adc_tables(st, ranges, [sh for _, sh, _ in live], signed, calibrate)
    t_chunk = min(tokens, max(_MIN_TOKENS, _MAX_CHUNK_ELEMS // max(1, n_planes * ns)))
    n_chunk = max(1, min(n_out, _MAX_CHUNK_ELEMS // max(1, n_planes * t_chunk)))
    for t0 in range(0, tokens, t_chunk):
        t1 = min(tokens, t0 + t_chunk)
        for g, (group_rows, block) in enumerate(zip(st.conv_rows, st.slab, strict=True)):
            xg = x_all[:, t0:t1].index_select(2, group_rows).reshape(n_planes * (t1 - t0), -1)
            rows = xg.ne(0).any(dim=-1).nonzero().squeeze(1)  # a conversion with no input pulse reads 0
            if rows.numel() == 0:
                continue
            xr = xg.index_select(0, rows)  # (n, r_g)
            std = None
            if st.read_sigma > 0:
                std = (xr * xr).sum(-1, keepdim=True).mul_(st.devices_per_slice).sqrt_().mul_(st.read_sigma)
            plane, tok = rows // (t1 - t0), rows % (t1 - t0) + t0
            coef, inv_step, lo, hi = (t[g].index_select(0, plane) for t in tables)  # (n, S) each
            for n0 in range(0, n_out, n_chunk):
                n1 = min(n_out, n0 + n_chunk)
                acc = torch.zeros(rows.numel(), n1 - n0)
                for j in range(n_slices):
                    part = xr @ block[:, j * n_out + n0 : j * n_out + n1]  # (n, N_c)
                    if std is not None:
                        noise = bank.draw(part.shape, gen) if bank is not None else _randn(part.shape, gen)
                        part.addcmul_(std, noise)
                    if calibrate:
                        lo_p, hi_p = torch.aminmax(part)
                        ranges[g, j] = torch.maximum(ranges[g, j], torch.maximum(-lo_p, hi_p))
                    else:
                        part.mul_(inv_step[:, j : j + 1]).clamp_(min=lo[:, j : j + 1], max=hi[:, j : j + 1])
                        part.round_()
                    acc.addcmul_(part, coef[:, j : j + 1])
                y[:, n0:n1].index_add_(0, tok, acc)
    if calibrate:
        st.adc_ranges = ranges
    return y


def _adc_tables(
    st: ProgrammedOp, ranges: torch.Tensor, shifts: list[float], signed: list[bool], calibrate: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(G, P, S) tables: shift-and-add weight x ADC step, 1 / step, clip bounds in steps (-R or 0, R).
    Calibration: step 1 (the partial sums pass unquantised)."""
    groups, n_slices = ranges.shape
    levels = 2 ** (st.xbar.adc_bits or 0) - 1
    r = ranges.clamp(min=1e-12).view(groups, 1, n_slices)
    sgn = torch.tensor([1.0 if s else 0.0 for s in signed]).view(1, -1, 1)
    step = r * (1.0 + sgn) / max(levels, 1)
    if calibrate or st.xbar.adc_bits is None:
        step = torch.ones_like(step)
    shift = torch.tensor(shifts).view(1, -1, 1)
    sw = torch.tensor(st.slice_weights).view(1, 1, -1)
    return shift * sw * step, 1.0 / step, -r * sgn / step, r / step


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
    groups = len(st.slab) if st.slab is not None else 0
    return torch.full((groups, len(st.slice_weights)), float(xbar.rows_per_conversion * x_max))


def _randn(shape: torch.Size | tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen)


class EmulatedLinear(torch.nn.Module):
    """Stands in for one ``nn.Linear``: analog crossbars + digital outlier path + bias."""

    def __init__(
        self,
        original: torch.nn.Linear,
        state: ProgrammedOp,
        gen: torch.Generator,
        bank: NoiseBank | None = None,
    ) -> None:
        super().__init__()
        self.original = original
        self.state = state
        self.gen = gen
        self.bank = bank
        self.calibrate = False
        self.measure: dict[str, float] | None = None  # accumulates output signal / error power when set
        self.fit: dict[str, torch.Tensor] | None = None  # accumulates per-column scale fit terms when set

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1]).to(torch.float32)
        if st.has_analog:
            y_a = analog_forward(st, x2[:, st.analog_idx], self.gen, self.calibrate, self.bank)
            if self.fit is not None:  # target: the float output of the analog channels
                target = x2[:, st.analog_idx] @ self.original.weight[:, st.analog_idx].t()
                self.fit["num"] = self.fit.get("num", 0.0) + (y_a * target).sum(0)
                self.fit["den"] = self.fit.get("den", 0.0) + (y_a * y_a).sum(0)
            y = y_a
        else:
            y = torch.zeros(x2.shape[0], self.original.out_features)
        if st.w_outlier is not None:
            bits = max(st.xbar.act_bits, st.xbar.outlier_bits)
            x_o, s_o = quantise_tokens(x2[:, st.outlier_idx], bits)
            y.addmm_(x_o * s_o, st.w_outlier)
        if self.original.bias is not None:
            y.add_(self.original.bias)
        if self.measure is not None:
            y_fp = self.original(x2)
            self.measure["signal"] = self.measure.get("signal", 0.0) + float((y_fp * y_fp).sum())
            self.measure["error"] = self.measure.get("error", 0.0) + float(((y - y_fp) ** 2).sum())
        return y.reshape(*lead, -1).to(x.dtype)
