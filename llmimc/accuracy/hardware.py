"""What the crossbar hardware does to one linear op, read from the same tiling as the cost model.

One source of truth (DESIGN.md §8): the bit slices, cells per weight, row blocks (rows summed per ADC
conversion), input cycles and ADC/DAC resolutions come from :func:`llmimc.mapping.tiling.tile_op` and
:mod:`llmimc.hw.derive` applied to the op's :class:`~llmimc.compress.plan.OpCompression`; the emulator
never re-derives them. The device noise laws of :class:`llmimc.hw.spec.DeviceNoise` are evaluated here
on normalised conductances g^ = g / g_max (equations in that class's docstring).

Encoding of a signed w-bit integer weight q, |q| <= 2^(w-1) - 1, over s slices of c-bit cells:
- differential pairs: |q| is split into base-2^c digits d_j; the digit goes on the positive or the
  negative cell of slice j as sign(q) says; weight = sum_j 2^(c j) (d+_j - d-_j);
- offset (bias) encoding: u = q + 2^(w-1) in [1, 2^w - 1] is split into digits; weight = sum_j 2^(c j)
  d_j - 2^(w-1), the offset being removed digitally (2^(w-1) x sum of inputs) as in ISAAC.
Slice j holds digits up to L_j = min(2^c - 1, V_max >> c j) and maps digit d to g^ = d / L_j, so a
partly used top slice still spans the full conductance range (accuracy_probe.md §3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from llmimc.compress.plan import OpCompression
from llmimc.hw.derive import cells_per_weight, rows_per_cycle, slices_per_weight
from llmimc.hw.spec import CrossbarArray, DeviceNoise
from llmimc.mapping.tiling import tile_op
from llmimc.model.opgraph import Op

FLOAT_BITS = 16  # 16-bit operands are treated as the float reference (no rounding grid)


@dataclass(frozen=True)
class CrossbarMap:
    """How one op's analog part sits on crossbars, as the tiling says."""

    weight_bits: int
    act_bits: int
    outlier_bits: int
    bits_per_cell: int
    slices: int  # magnitude slices per weight (not doubled for differential)
    differential: bool
    rows_per_block: int  # stored rows of one array (a row block)
    rows_per_conversion: int  # stored rows summed into one ADC conversion (derive.rows_per_cycle)
    outputs_per_col_block: int  # output channels sharing one array's columns (cols / cells per weight)
    row_blocks: int
    adc_bits: int | None  # None = ideal ADC; else adc.bits + encoding_bits_saved (levels resolved)
    dac_bits_per_cycle: int
    input_cycles: int
    sparsity_n: int
    sparsity_m: int
    input_encoding: str = "sign_magnitude"  # bit-serial input planes: "sign_magnitude" | "twos_complement"

    @property
    def slice_levels(self) -> list[int]:
        """L_j, the largest digit slice j holds (0 = an unused top slice)."""
        vmax = (2 ** (self.weight_bits - 1) - 1) if self.differential else (2**self.weight_bits - 1)
        c = self.bits_per_cell
        return [min(2**c - 1, vmax >> (c * j)) for j in range(self.slices)]

    @property
    def bit_serial(self) -> bool:
        return self.input_cycles > 1


def weight_encoding(array: CrossbarArray) -> str:
    """ "differential" or "offset": the noise section's ``weight_encoding``, else ``array.differential``."""
    if array.differential:
        return "differential"
    if array.noise is not None and array.noise.weight_encoding is not None:
        return array.noise.weight_encoding
    return "offset"


def input_encoding(array: CrossbarArray) -> str:
    """Bit-serial input planes: the noise section's ``input_encoding``, else sign-magnitude (NeuRRAM)."""
    if array.noise is not None and array.noise.input_encoding is not None:
        return array.noise.input_encoding
    return "sign_magnitude"


def crossbar_map(op: Op, comp: OpCompression, array: CrossbarArray, ideal_adc: bool) -> CrossbarMap:
    """The CrossbarMap of ``op`` under ``comp`` on ``array`` (tiling and derive functions only)."""
    tiling = tile_op(op, comp, array)
    s = slices_per_weight(array, comp.weight_bits)
    r = rows_per_cycle(array)
    if tiling.row_blocks and tiling.row_groups_total != sum(
        math.ceil(b / r) for b in _block_sizes(tiling.rows_stored, array.rows)
    ):
        raise AssertionError(f"{op.name}: tiling row groups disagree with {r} rows per conversion")
    return CrossbarMap(
        weight_bits=comp.weight_bits,
        act_bits=comp.act_bits,
        outlier_bits=comp.outlier_bits,
        bits_per_cell=array.bits_per_cell,
        slices=s,
        differential=weight_encoding(array) == "differential",
        rows_per_block=array.rows,
        rows_per_conversion=r,
        outputs_per_col_block=max(1, array.cols // cells_per_weight(array, comp.weight_bits)),
        row_blocks=tiling.row_blocks,
        adc_bits=None if ideal_adc else array.adc.bits + (array.adc.encoding_bits_saved or 0),
        dac_bits_per_cycle=array.dac.bits_per_cycle,
        input_cycles=tiling.timing.input_cycles,
        sparsity_n=comp.sparsity_n,
        sparsity_m=comp.sparsity_m,
        input_encoding=input_encoding(array),
    )


def _block_sizes(rows: int, per_block: int) -> list[int]:
    return [min(per_block, rows - b) for b in range(0, rows, per_block)]


def conversion_index(k_dense: int, xbar: CrossbarMap) -> torch.Tensor:
    """Dense analog row feeding each slot of each ADC conversion group, -1 for padding.

    Rows are cut into row blocks (one array's rows) and each block into groups of ``rows_per_conversion``
    rows read together (one conversion each); with N:M, each count is scaled by m / n dense rows.
    Returns a (G, r_dense) index tensor.
    """
    scale_n, scale_m = max(xbar.sparsity_n, 1), xbar.sparsity_m
    block = max(1, xbar.rows_per_block * scale_m // scale_n)
    conv = max(1, min(xbar.rows_per_conversion, xbar.rows_per_block) * scale_m // scale_n)
    groups: list[list[int]] = []
    for b0 in range(0, max(k_dense, 1), block):
        b1 = min(k_dense, b0 + block)
        for g0 in range(b0, b1, conv):
            rows = list(range(g0, min(b1, g0 + conv)))
            groups.append(rows + [-1] * (conv - len(rows)))
    return torch.tensor(groups if groups else [[-1] * conv], dtype=torch.long)


# ----------------------------------------------------------------------------------- noise laws


def poly_sigma(poly_s: list[float], g_hat: torch.Tensor, g_max_s: float) -> torch.Tensor:
    """sigma(g^) / g_max for sigma(g^) = sum_i poly_s[i] g^^i (siemens)."""
    out = torch.zeros_like(g_hat)
    for c in reversed(poly_s):
        out = out * g_hat + c
    return out.clamp(min=0.0) / g_max_s


def relaxation_poly(noise: DeviceNoise, t_s: float) -> list[float]:
    """Deviation polynomial at time t: the programming fit, or the relaxation fits interpolated in ln t."""
    times, polys = noise.relaxation_times_s, noise.relaxation_sigma_poly_s
    if not times or t_s <= times[0]:
        return list(noise.prog_sigma_poly_s) if not times or t_s <= 0 else list(polys[0])
    if t_s >= times[-1]:
        return list(polys[-1])
    i = next(k for k in range(1, len(times)) if times[k] >= t_s)
    f = (math.log(t_s) - math.log(times[i - 1])) / (math.log(times[i]) - math.log(times[i - 1]))
    a, b = polys[i - 1], polys[i]
    n = max(len(a), len(b))
    a, b = a + [0.0] * (n - len(a)), b + [0.0] * (n - len(b))
    return [(1 - f) * x + f * y for x, y in zip(a, b, strict=True)]


def _clip_log(coeffs: list[float], g_hat: torch.Tensor) -> torch.Tensor:
    a, b, lo, hi = coeffs
    return (a * torch.log(g_hat.clamp(min=1e-7)) + b).clamp(min=lo, max=hi)


def program_conductance(
    digit: torch.Tensor,
    level: int,
    noise: DeviceNoise | None,
    sigma_scale: float,
    t_s: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(g^ right after programming, g^ at time t) of cells programmed to g^ = digit / level; clamped at 0.

    Programming noise (or RRAM relaxation at t), PCM drift and accumulated 1/f noise as in
    :class:`~llmimc.hw.spec.DeviceNoise`; ``sigma_scale`` multiplies every noise sigma (not drift).
    Every per-target quantity (sigma, drift mean/std) takes one of level + 1 values: it is tabulated
    per digit and gathered, not recomputed per cell.
    """
    table = torch.arange(level + 1, dtype=torch.float32) / level
    g_hat = table[digit]
    if noise is None or sigma_scale == 0.0 and not noise.drift_nu_mean_log:
        return g_hat, g_hat
    sig = poly_sigma(noise.prog_sigma_poly_s, table, noise.g_max_s) * sigma_scale
    g_prog = (g_hat + sig[digit] * _randn(g_hat, gen)).clamp_(min=0.0)
    g_t = g_prog
    if noise.relaxation_times_s and t_s > 0:
        sig_t = poly_sigma(relaxation_poly(noise, t_s), table, noise.g_max_s) * sigma_scale
        g_t = (g_hat + sig_t[digit] * _randn(g_hat, gen)).clamp_(min=0.0)
    if noise.drift_nu_mean_log and noise.drift_t0_s is not None and t_s > 0:
        nu = _clip_log(noise.drift_nu_mean_log, table)[digit]
        if noise.drift_nu_std_log:
            nu = nu.add_(_clip_log(noise.drift_nu_std_log, table)[digit] * _randn(g_hat, gen)).abs_()
        log_ratio = math.log((t_s + noise.drift_t0_s) / noise.drift_t0_s)
        g_t = g_t * torch.exp_(nu.mul_(-log_ratio))
    g_t = _add_1f(noise, g_t, g_prog, t_s, sigma_scale, gen)
    if not noise.zero_cell_noise:
        zero = digit == 0
        g_prog = g_prog.masked_fill(zero, 0.0)
        g_t = g_t.masked_fill(zero, 0.0)
    return g_prog, g_t


def _add_1f(
    noise: DeviceNoise,
    g_t: torch.Tensor,
    g_prog: torch.Tensor,
    t_s: float,
    scale: float,
    gen: torch.Generator,
) -> torch.Tensor:
    if noise.read_1f_coeff is None or noise.drift_t0_s is None or scale == 0.0:
        return g_t
    assert noise.read_1f_exponent is not None and noise.read_1f_max is not None
    assert noise.read_1f_t_read_s is not None
    t = t_s + noise.drift_t0_s
    q_s = (noise.read_1f_coeff / g_prog.clamp(min=1e-3) ** noise.read_1f_exponent).clamp(
        max=noise.read_1f_max
    )
    log_term = math.log((t + noise.read_1f_t_read_s) / (2 * noise.read_1f_t_read_s))
    if log_term <= 0:
        return g_t
    return (g_t + g_t.abs() * q_s * math.sqrt(log_term) * scale * _randn(g_t, gen)).clamp(min=0.0)


def read_sigma(noise: DeviceNoise | None, sigma_scale: float) -> float:
    """Per-read, per-device short-term read noise as a fraction of g_max."""
    if noise is None or noise.read_sigma_fraction is None:
        return 0.0
    return noise.read_sigma_fraction * sigma_scale


def _randn(like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=gen, dtype=like.dtype)
