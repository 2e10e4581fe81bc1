"""GPTQ error compensation for the crossbar weights (Frantar et al., ICLR 2023, arXiv:2210.17323).

Round-to-nearest (RTN) rounds every weight of a row on its own. GPTQ rounds the input channels of a
row one at a time and spreads each rounding error over the channels not yet rounded, so that the
layer's output on calibration inputs X (tokens x K) changes as little as possible:

    minimise ||X W^T - X Q^T||_F^2 over Q on the grid s_n * {-q_max .. q_max}

with H = 2 X^T X / T (K x K, the same for every output row n). After rounding channel i of every row,
the error e_n = (w_ni - q_ni) / [H^-1]_ii is pushed onto the later channels j > i:
w_nj -= e_n [H^-1]_ij, where H^-1 is the upper Cholesky factor U of the inverse Hessian
(H^-1 = U^T U), which is what the sequential elimination of channels 0..i-1 leaves (the paper's
"Cholesky reformulation"). Columns are processed in blocks of ``block`` with the updates to later
blocks batched (the paper's "lazy batch"), which changes nothing but speed.

Conventions, as in the reference implementation (IST-DASLab/gptq):
- the per-row scale is RTN's, s_n = absmax_n / q_max, taken before compensation (symmetric grid,
  q_max = 2^(b-1) - 1), so GPTQ and RTN share one grid and differ only in which codes they choose;
- dampening: lambda = ``damp`` x mean(diag H) is added to the diagonal (1 % by default);
- an input channel never active in the calibration data (H_ii = 0) gets H_ii = 1 and weight 0;
- channels are taken in index order (no act-order), and the calibration inputs are the float model's
  (not the inputs of an already quantised predecessor): the simplest variant of the paper.

With an N:M ``mask`` (kept weights; :func:`llmimc.accuracy.program.nm_mask`), a pruned weight is
"rounded" to 0 and its whole value is the error pushed onto the later channels of its row: the
SparseGPT update (Frantar & Alistarh, ICML 2023, arXiv:2301.00774) for a fixed mask, here the
magnitude mask the tiling uses, so pruning and quantisation are compensated in one pass.

With a diagonal H (uncorrelated inputs) every cross term of H^-1 is 0 and GPTQ equals RTN exactly.
"""

from __future__ import annotations

import torch

from llmimc.accuracy.hardware import FLOAT_BITS, CrossbarMap, crossbar_map
from llmimc.compress.plan import CompressionPlan
from llmimc.hw.spec import CrossbarArray
from llmimc.model.opgraph import OpGraph

DEFAULT_DAMP = 0.01
DEFAULT_BLOCK = 128


def hessian(x: torch.Tensor) -> torch.Tensor:
    """H = 2 X^T X / T of calibration inputs ``x`` (T x K), in float64 for a stable Cholesky."""
    x64 = x.reshape(-1, x.shape[-1]).to(torch.float64)
    return hessian_from_sum(x64.T @ x64, x64.shape[0])


def hessian_from_sum(xtx: torch.Tensor, tokens: int) -> torch.Tensor:
    """H = 2 X^T X / T from X^T X summed over ``tokens`` rows (any float dtype), in float64."""
    return 2.0 * xtx.to(torch.float64) / max(1, tokens)


def gptq_quantise(
    w: torch.Tensor,
    h: torch.Tensor,
    bits: int,
    damp: float = DEFAULT_DAMP,
    block: int = DEFAULT_BLOCK,
    mask: torch.Tensor | None = None,
    prepared: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes N x K, scale per row N) of GPTQ on weight ``w`` (N x K) with Hessian ``h`` (K x K);
    ``mask`` (N x K, True = kept) fixes pruned weights at 0 and compensates them too.

    Same return convention as :func:`llmimc.accuracy.program.quantise_per_channel` (which it equals on
    uncorrelated inputs; the scale is taken from the kept weights, as there). ``prepared`` is
    :func:`prepare_hessian`'s result for ``h`` and ``damp``, when several weights share one Hessian.
    """
    n_out, k = w.shape
    if h.shape != (k, k):
        raise ValueError(f"Hessian is {tuple(h.shape)}, weight has {k} input channels")
    qmax = 2 ** (bits - 1) - 1
    kept = mask.to(w.dtype) if mask is not None else None
    scale = (w * kept if kept is not None else w).abs().amax(dim=1).clamp(min=1e-12) / qmax
    if k == 0:
        return w.clone(), scale
    u, dead = prepared if prepared is not None else prepare_hessian(h, damp)
    work = w.to(torch.float32).clone()
    work[:, dead] = 0.0
    s = scale.to(torch.float32)[:, None]
    codes = torch.zeros_like(work)
    for b0 in range(0, k, block):
        b1 = min(k, b0 + block)
        errs = torch.zeros(n_out, b1 - b0, dtype=torch.float32)
        for i in range(b0, b1):
            col = work[:, i]
            q = torch.round(col[:, None] / s).clamp(-qmax, qmax)[:, 0]
            if kept is not None:
                q = q * kept[:, i]
            codes[:, i] = q
            err = (col - q * s[:, 0]) / u[i, i]
            work[:, i + 1 : b1] -= err[:, None] * u[i, i + 1 : b1][None, :]
            errs[:, i - b0] = err
        work[:, b1:] -= errs @ u[b0:b1, b1:]
    return codes.to(w.dtype), scale


def prepare_hessian(h: torch.Tensor, damp: float = DEFAULT_DAMP) -> tuple[torch.Tensor, torch.Tensor]:
    """(U in float32, dead channels): the dampened Hessian's inverse Cholesky factor (computed in
    float64) and the channels never active in the calibration data (their H_ii set to 1)."""
    hh = h.to(torch.float64).clone()
    dead = torch.diagonal(hh) == 0
    hh[dead, dead] = 1.0
    hh.diagonal().add_(damp * torch.diagonal(hh).mean())
    return _inverse_cholesky_upper(hh).to(torch.float32), dead


def _inverse_cholesky_upper(h: torch.Tensor) -> torch.Tensor:
    """Upper U with H^-1 = U^T U (float64); more dampening is added if H is not positive definite."""
    eye = torch.eye(h.shape[0], dtype=h.dtype)
    extra = 0.0
    for _ in range(8):
        chol, info = torch.linalg.cholesky_ex(h + extra * eye)
        if int(info) == 0:
            h_inv = torch.cholesky_inverse(chol)
            upper, info2 = torch.linalg.cholesky_ex(h_inv, upper=True)
            if int(info2) == 0:
                return upper
        extra = max(extra * 10.0, 1e-6 * float(torch.diagonal(h).mean()))
    raise ValueError("GPTQ: the calibration Hessian is not positive definite even after dampening")


def op_codes(
    weight: torch.Tensor,
    xbar: CrossbarMap,
    outlier_channels: list[int],
    h: torch.Tensor,
    damp: float,
    shared: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """GPTQ (codes, scale) of one op's analog part, laid out as :func:`~llmimc.accuracy.program.program_op`
    lays it out (outlier channels removed, the N:M mask of the tiling); None when nothing is rounded.
    ``shared`` caches the prepared Hessian per outlier set for ops that share ``h`` (q/k/v, gate/up)."""
    from llmimc.accuracy.program import nm_mask, split_channels

    if xbar.weight_bits >= FLOAT_BITS:
        return None
    w = weight.detach().to(torch.float32)
    analog_idx, _ = split_channels(w.shape[1], outlier_channels)
    if analog_idx.numel() == 0:
        return None
    w_a = w[:, analog_idx]
    mask = nm_mask(w_a, xbar.sparsity_n, xbar.sparsity_m, xbar.outputs_per_col_block)
    h_a = h[analog_idx][:, analog_idx]
    key = tuple(outlier_channels)
    prepared = shared.get(key) if shared is not None else None
    if prepared is None:
        prepared = prepare_hessian(h_a, damp)
        if shared is not None:
            shared[key] = prepared
    nm = None if bool(mask.all()) else mask
    return gptq_quantise(w_a, h_a, xbar.weight_bits, damp=damp, mask=nm, prepared=prepared)


GPTQ_CALIB_TOKENS = 4096  # GPTQ's calibration tokens (the paper: 128 x 2048; a 135M model saturates sooner)


@torch.inference_mode()
def gptq_codes(
    model: torch.nn.Module,
    mods: dict[str, torch.nn.Linear],
    graph: OpGraph,
    plan: CompressionPlan,
    array: CrossbarArray,
    windows: list[list[int]],
    damp: float = DEFAULT_DAMP,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """GPTQ codes of every planned op, from float forward passes over the calibration ``windows``.

    X^T X is summed per distinct input over the windows (ops fed the same tensor one after another,
    e.g. q/k/v or gate/up, share one sum: the very tensor object, not an address that freed memory
    may reuse), then each op is rounded and only its codes are kept. The codes do not depend on the noise seed: one pass serves every seed of a run.
    """
    ops = {op.name: op for op in graph.linear_ops()}
    sums: dict[str, torch.Tensor] = {}  # first op of each input group -> sum of x^T x (float32)
    group_of: dict[str, str] = {}  # op -> first op of its input group
    counts: dict[str, int] = {}
    # the input of the previous hook call and the op it opened a group for; the reference keeps that
    # tensor alive, so a later tensor at the same address is the same tensor (no reuse of freed memory)
    prev: list[tuple[torch.Tensor, str]] = []
    handles = []
    for name, mod in mods.items():

        def hook(_m: torch.nn.Module, inp: tuple[torch.Tensor, ...], name: str = name) -> None:
            x = inp[0]
            if prev and prev[0][0] is x:
                group_of.setdefault(name, prev[0][1])
                return
            prev[:] = [(x, name)]
            group_of.setdefault(name, name)
            x2 = x.reshape(-1, x.shape[-1]).to(torch.float32)
            sums[name] = sums[name].addmm_(x2.T, x2) if name in sums else x2.T @ x2
            counts[name] = counts.get(name, 0) + x2.shape[0]

        handles.append(mod.register_forward_pre_hook(hook))
    try:
        for w in windows:
            prev.clear()
            model(torch.tensor([w]))
    finally:
        for handle in handles:
            handle.remove()
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    prepared: dict[str, dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]]] = {}
    for name, mod in mods.items():
        first = group_of.get(name)
        if first is None:
            continue
        h = hessian_from_sum(sums[first], counts[first])
        xbar = crossbar_map(ops[name], plan.ops[name], array, ideal_adc=True)
        shared = prepared.setdefault(first, {})
        codes = op_codes(mod.weight, xbar, plan.ops[name].outlier_channels, h, damp, shared)
        if codes is not None:
            out[name] = codes
    return out
