"""Programming one linear op onto emulated crossbars: quantise, prune, slice, add device noise.

For a torch ``nn.Linear`` weight W (N x K; K = input channels):
1. outlier input channels (the plan's ``outlier_channels``) go to the digital path: W_o is rounded
   per output channel to ``outlier_bits`` (symmetric, s = absmax / (2^(b-1) - 1)); 16 bits = float;
2. N:M (plan's sparsity): along K of the analog part, in groups of m, the n rows with the largest
   L1 norm over one array's output columns are kept (the pattern is shared by an array's columns,
   as the tiling's input mux assumes); pruned weights hold no cell;
3. the analog part is rounded per output channel to ``weight_bits`` (integer q, scale s_n) and split
   into slices as :mod:`llmimc.accuracy.hardware` describes; every cell gets programming noise, drift
   and 1/f noise (:func:`~llmimc.accuracy.hardware.program_conductance`);
4. global drift compensation alpha = sum g^_prog / sum g^_t over the layer's cells (when enabled);
5. with an ideal ADC the slices fold into one effective integer matrix
   W_eff = alpha sum_j 2^(c j) L_j D_j - offset M  (D_j = g^+ - g^- or g^; M = kept-weight mask),
   otherwise the per-slice matrices D_j are kept, grouped by the rows of each ADC conversion.
Short-term read noise is not programmed: it is drawn on every read (:mod:`llmimc.accuracy.analog`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from llmimc.accuracy.hardware import (
    FLOAT_BITS,
    CrossbarMap,
    conversion_index,
    program_conductance,
    read_sigma,
)
from llmimc.hw.spec import DeviceNoise


@dataclass
class ProgrammedOp:
    """One op's programmed state for one seed (tensors only; the forward is in ``analog``)."""

    xbar: CrossbarMap
    analog_idx: torch.Tensor  # (K_a,) input channels on crossbars
    outlier_idx: torch.Tensor  # (K_o,) input channels on the digital path
    w_outlier: torch.Tensor | None  # (K_o, N) dequantised digital weights
    scale: torch.Tensor  # (N,) per-output-channel weight scale s_n
    w_eff: torch.Tensor | None  # (K_a, N) folded integer-unit matrix (ideal ADC)
    slab: list[torch.Tensor] | None  # per conversion group g: (r_g, S N), D_j at column j N + n (ADC path)
    slice_weights: list[float]  # 2^(c j) L_j per used slice
    offset: float  # 2^(w-1) for offset encoding, else 0
    kept_mask: torch.Tensor | None  # (K_a, N) float mask of kept weights when N:M prunes (offset term)
    read_var_coeff: float  # sigma_r^2 x devices per slice x sum_j slice_weight_j^2
    read_sigma: float  # per-device read noise, fraction of g_max
    devices_per_slice: int
    gdc_alpha: float
    conv_index: torch.Tensor  # (G, r) dense analog row per slot of each ADC conversion group, -1 = none
    conv_rows: list[torch.Tensor]  # per conversion group: its analog rows (conv_index without padding)
    adc_ranges: torch.Tensor | None = None  # (G, S) calibrated or worst-case ADC input ranges

    @property
    def has_analog(self) -> bool:
        return self.analog_idx.numel() > 0


def quantise_per_channel(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes, scale per row) of symmetric round-to-nearest; ``bits`` >= 16 keeps floats."""
    if bits >= FLOAT_BITS or w.shape[1] == 0:
        return w.clone(), torch.ones(w.shape[0], dtype=w.dtype)
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / qmax
    return (w / scale[:, None]).round_().clamp_(-qmax, qmax), scale


def split_channels(k: int, outlier_channels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(analog, outlier) input-channel indices of a K-input op, each in ascending order."""
    is_out = torch.zeros(k, dtype=torch.bool)
    if outlier_channels:
        is_out[torch.tensor(outlier_channels, dtype=torch.long)] = True
    return (~is_out).nonzero().flatten(), is_out.nonzero().flatten()


def nm_mask(w_a: torch.Tensor, n: int, m: int, outputs_per_block: int) -> torch.Tensor:
    """Kept-weight mask (N x K_a) of N:M pruning shared by the outputs of one array."""
    n_out, k = w_a.shape
    if n >= m or k == 0:
        return torch.ones_like(w_a, dtype=torch.bool)
    groups = math.ceil(k / m)
    pad = groups * m - k
    mag = torch.nn.functional.pad(w_a.abs(), (0, pad))
    mask = torch.zeros(n_out, groups * m, dtype=torch.bool)
    for start in range(0, n_out, outputs_per_block):
        block = mag[start : start + outputs_per_block].sum(dim=0).view(groups, m)
        keep = torch.zeros(groups, m, dtype=torch.bool)
        keep.scatter_(1, block.topk(n, dim=1).indices, True)
        mask[start : start + outputs_per_block] = keep.view(1, -1)
    return mask[:, :k]


def program_op(
    weight: torch.Tensor,
    xbar: CrossbarMap,
    outlier_channels: list[int],
    noise: DeviceNoise | None,
    sigma_scale: float,
    t_s: float,
    gen: torch.Generator,
    quantised: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ProgrammedOp:
    """Program ``weight`` (N x K) as the module docstring says; ``quantised`` = (codes, scale) of the
    analog part computed elsewhere (GPTQ, :mod:`llmimc.accuracy.gptq`) replaces step 3's rounding."""
    w = weight.detach().to(torch.float32)
    analog_idx, outlier_idx = split_channels(w.shape[1], outlier_channels)
    w_outlier = None
    if outlier_idx.numel():
        q_o, s_o = quantise_per_channel(w[:, outlier_idx], xbar.outlier_bits)
        w_outlier = (q_o * s_o[:, None]).t().contiguous()
    w_a = w if outlier_idx.numel() == 0 else w[:, analog_idx]  # read only below (no copy when all analog)
    mask = nm_mask(w_a, xbar.sparsity_n, xbar.sparsity_m, xbar.outputs_per_col_block)
    dense = bool(mask.all())
    if quantised is not None:
        q, scale = quantised[0].to(torch.float32), quantised[1].to(torch.float32)
        if q.shape != w_a.shape:
            raise ValueError(f"precomputed codes are {tuple(q.shape)}, the analog weight {tuple(w_a.shape)}")
    else:
        q, scale = quantise_per_channel(w_a if dense else w_a * mask, xbar.weight_bits)
    del w_a
    conv_index = conversion_index(q.shape[1], xbar)
    conv_rows = [g[g >= 0] for g in conv_index]
    state = _program_slices(
        q.t().contiguous(), mask.t().contiguous(), xbar, noise, sigma_scale, t_s, gen, conv_rows
    )
    w_eff = None
    if state.w_sum is not None:
        w_eff = state.w_sum.mul_(state.alpha)
        if state.offset:
            w_eff = w_eff - state.offset * state.mask_f
    r_sig = read_sigma(noise, sigma_scale)
    devices = 2 if xbar.differential else 1
    return ProgrammedOp(
        xbar=xbar,
        analog_idx=analog_idx,
        outlier_idx=outlier_idx,
        w_outlier=w_outlier,
        scale=scale,
        w_eff=w_eff,
        slab=state.slab,
        slice_weights=state.weights,
        offset=state.offset,
        kept_mask=state.mask_f if (state.offset and not bool(mask.all())) else None,
        read_var_coeff=r_sig**2 * devices * sum(sw**2 for sw in state.weights),
        read_sigma=r_sig,
        devices_per_slice=devices,
        gdc_alpha=state.alpha,
        conv_index=conv_index,
        conv_rows=conv_rows,
    )


@dataclass
class _SliceState:
    w_sum: torch.Tensor | None  # (K_a, N) sum_j 2^(c j) L_j D_j (ideal ADC), before alpha and offset
    slab: list[torch.Tensor] | None  # per conversion group (r_g, S N) (ADC path)
    weights: list[float]
    offset: float
    alpha: float
    mask_f: torch.Tensor


_PROGRAM_CHUNK_ELEMS = 1 << 22  # weights programmed per column chunk (bounds the transient memory)


def _program_slices(
    q_t: torch.Tensor,
    mask_t: torch.Tensor,
    xbar: CrossbarMap,
    noise: DeviceNoise | None,
    sigma_scale: float,
    t_s: float,
    gen: torch.Generator,
    conv_rows: list[torch.Tensor],
) -> _SliceState:
    """Digits of q (K_a x N) per slice, programmed with noise, column chunk by column chunk, written
    straight into the folded matrix (ideal ADC) or the per-group slabs; pruned positions hold no cell."""
    mask_f = mask_t.to(torch.float32)
    fold = xbar.adc_bits is None
    k, n = q_t.shape
    if xbar.weight_bits >= FLOAT_BITS or q_t.numel() == 0:  # float reference: no cells, no noise
        if fold:
            return _SliceState(q_t, None, [1.0], 0.0, 1.0, mask_f)
        return _SliceState(None, [q_t[rows] for rows in conv_rows], [1.0], 0.0, 1.0, mask_f)
    c = xbar.bits_per_cell
    offset = 0.0 if xbar.differential else float(2 ** (xbar.weight_bits - 1))
    used = [(j, level) for j, level in enumerate(xbar.slice_levels) if level > 0]
    weights = [float(2 ** (c * j) * level) for j, level in used]
    w_sum = torch.zeros(k, n) if fold else None
    slab = None if fold else [torch.zeros(len(rows), len(used) * n) for rows in conv_rows]
    sparse = not bool(mask_t.all())
    sum_prog = sum_t = 0.0
    step = max(1, _PROGRAM_CHUNK_ELEMS // max(1, k))
    for c0 in range(0, n, step):
        c1 = min(n, c0 + step)
        q_c, m_c = q_t[:, c0:c1], mask_f[:, c0:c1]
        v = (q_c.abs() if xbar.differential else q_c + offset).to(torch.int64)
        for u, (j, level) in enumerate(used):
            digit = (v >> (c * j)) & (2**c - 1)
            parts = [digit * (q_c > 0), digit * (q_c < 0)] if xbar.differential else [digit]
            progs = [program_conductance(d, level, noise, sigma_scale, t_s, gen) for d in parts]
            for g_prog, g_t in progs:
                sum_prog += float((g_prog * m_c).sum()) if sparse else float(g_prog.sum())
                sum_t += float((g_t * m_c).sum()) if sparse else float(g_t.sum())
            d = progs[0][1] - progs[1][1] if xbar.differential else progs[0][1]
            if sparse:
                d = d * m_c
            if w_sum is not None:
                w_sum[:, c0:c1].add_(d, alpha=weights[u])
            else:
                assert slab is not None
                for rows, block in zip(conv_rows, slab, strict=True):
                    block[:, u * n + c0 : u * n + c1] = d[rows]
    use_gdc = noise is not None and noise.global_drift_compensation and sum_t > 0
    alpha = sum_prog / sum_t if use_gdc else 1.0
    return _SliceState(w_sum, slab, weights, offset, alpha, mask_f)
