"""Accuracy proxy: per-layer weight quantization SQNR for a policy against uniform low-bit quantization.

    SQNR_dB = 10 log10( ||W||^2 / ||W - Q(W)||^2 )

Q is symmetric round-to-nearest with one scale per output channel (absmax / (2^(b-1) - 1), as in
LLM.int8()'s vector-wise weight quantization, arXiv:2208.07339 §3.1, and SmoothQuant's per-channel
weight quantizer, arXiv:2211.10438):

- policy: input channels not in the outlier set are pruned N:M by magnitude along K when sparsity
  applies and quantized at ``weight_bits``; the outlier channels are kept at ``outlier_bits`` (16 =
  cast to fp16, lossless for fp16 checkpoints; fewer bits = their own per-output-channel RTN scale).
  The N:M mask is chosen per group of G consecutive output channels: of every m consecutive analog
  input channels keep the n with the largest energy Sum_{c in group} w_c^2 (G = 1: the n largest |w|
  of each output channel, the standard pattern of NVIDIA's 2:4, Mishra et al. 2021,
  arXiv:2104.08378; G = the output channels of one crossbar array: the array-shared pattern whose
  pruned rows the crossbars drop, ``llmimc.compress.plan``). Groups are consecutive output channels
  counted from the first (over expert copies in order; each copy starts a group when N is a multiple
  of G);
- uniform: every channel at ``weight_bits``, no outliers, dense.

b = 1 uses sign(w) * mean|w| per output channel (binary weights). An exact reconstruction is reported
as ``SQNR_CAP_DB`` rather than infinity so that results stay JSON numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from llmimc.compress.outliers import OpWeights
from llmimc.compress.plan import LayerSqnr
from llmimc.compress.st_reader import iter_rows

SQNR_CAP_DB = 300.0
SQNR_CHUNK_BYTES = 4 * 2**20  # float32 block; the float64 quantization temporaries are ~8x this
MAX_TRANSPOSE_BYTES = 512 * 2**20  # Conv1D (K, N) copies are read whole (GPT-2 family: <= 41 MB)


def rtn_per_row(w: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric round-to-nearest with one absmax scale per row (output channel), in float64."""
    if w.size == 0:
        return w.astype(np.float64)
    w = w.astype(np.float64)  # float32 scales of tiny (subnormal) rows would underflow to zero
    if bits == 1:
        return np.sign(w) * np.abs(w).mean(axis=1, keepdims=True)
    qmax = 2.0 ** (bits - 1) - 1.0
    absmax = np.abs(w).max(axis=1, keepdims=True)
    scale = np.where(absmax > 0, absmax / qmax, 1.0)
    return np.clip(np.rint(w / scale), -qmax, qmax) * scale


def nm_prune_rows(w: np.ndarray, n: int, m: int, rows_per_mask: int = 1) -> np.ndarray:
    """Zero all but n of every m consecutive columns (zero-padded tail), one mask per group of
    ``rows_per_mask`` consecutive rows (output channels): the n with the largest Sum of w^2 over the
    group (1 = per row: the n largest |w|)."""
    if n >= m or w.size == 0:
        return w.copy()
    rows, cols = w.shape
    groups = -(-cols // m)
    padded = np.zeros((rows, groups * m), dtype=np.float64)
    padded[:, :cols] = w
    g = padded.reshape(rows, groups, m)
    r_groups = -(-rows // rows_per_mask)
    sq = np.zeros((r_groups * rows_per_mask, groups, m))
    sq[:rows] = g * g
    score = sq.reshape(r_groups, rows_per_mask, groups, m).sum(axis=1)
    order = np.argsort(-score, axis=2, kind="stable")  # largest first, ties to the lower index
    keep = np.zeros(score.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    keep_rows = np.repeat(keep, rows_per_mask, axis=0)[:rows]
    return np.where(keep_rows, g, 0.0).reshape(rows, groups * m)[:, :cols].astype(w.dtype, copy=False)


@dataclass(frozen=True)
class BlockErrors:
    signal: float  # ||W||^2
    err_policy: float
    err_uniform: float

    def __add__(self, other: BlockErrors) -> BlockErrors:
        return BlockErrors(
            self.signal + other.signal,
            self.err_policy + other.err_policy,
            self.err_uniform + other.err_uniform,
        )


def block_errors(
    block: np.ndarray,
    outlier_mask: np.ndarray,
    weight_bits: int,
    outlier_bits: int,
    sparsity_n: int,
    sparsity_m: int,
    channels_per_mask: int = 1,
) -> BlockErrors:
    """Squared errors of a block of complete output channels, shape (channels, K); N:M masks are
    shared by groups of ``channels_per_mask`` channels starting at the block's first."""
    analog = block[:, ~outlier_mask]
    q_analog = rtn_per_row(nm_prune_rows(analog, sparsity_n, sparsity_m, channels_per_mask), weight_bits)
    err = float(np.sum((analog - q_analog) ** 2, dtype=np.float64))
    if outlier_mask.any():
        dig = block[:, outlier_mask]
        if outlier_bits >= 16:
            q_dig = dig.astype(np.float16).astype(np.float32)
        else:
            q_dig = rtn_per_row(dig, outlier_bits)
        err += float(np.sum((dig - q_dig) ** 2, dtype=np.float64))
    err_u = float(np.sum((block - rtn_per_row(block, weight_bits)) ** 2, dtype=np.float64))
    return BlockErrors(float(np.sum(block.astype(np.float64) ** 2)), err, err_u)


def sqnr_db(signal: float, error: float) -> float:
    if signal <= 0.0:
        return 0.0
    if error <= signal * 10.0 ** (-SQNR_CAP_DB / 10.0):
        return SQNR_CAP_DB
    return 10.0 * math.log10(signal / error)


def _output_channel_blocks(weights: OpWeights, chunk_bytes: int) -> Iterator[np.ndarray]:
    """Blocks (channels, K) of complete output channels, over every expert copy."""
    for mat in weights.matrices:
        if mat.layout == "out_in":
            yield from iter_rows(mat.entry, chunk_bytes, mat.row_start, mat.row_stop)
            continue
        k_rows, n_cols = mat.row_stop - mat.row_start, mat.entry.cols
        if k_rows * n_cols * 4 > MAX_TRANSPOSE_BYTES:
            raise ValueError(f"{mat.entry.name}: (K, N) weight of {k_rows}x{n_cols} too large to transpose")
        whole = np.concatenate(list(iter_rows(mat.entry, chunk_bytes, mat.row_start, mat.row_stop)), axis=0)
        step = max(1, chunk_bytes // max(4 * k_rows, 1))
        for c0 in range(0, n_cols, step):
            yield np.ascontiguousarray(whole[:, c0 : c0 + step].T)


def _aligned(blocks: Iterator[np.ndarray], multiple: int) -> Iterator[np.ndarray]:
    """Re-cut blocks of output channels so that every block but the last has a multiple of rows."""
    if multiple <= 1:
        yield from blocks
        return
    rest: np.ndarray | None = None
    for block in blocks:
        cur = block if rest is None else np.concatenate([rest, block], axis=0)
        cut = (cur.shape[0] // multiple) * multiple
        if cut:
            yield cur[:cut]
        rest = cur[cut:] if cut < cur.shape[0] else None
    if rest is not None:
        yield rest


def op_sqnr(
    weights: OpWeights,
    in_features: int,
    outlier_channels: list[int],
    weight_bits: int,
    outlier_bits: int,
    sparsity_n: int = 1,
    sparsity_m: int = 1,
    channels_per_mask: int = 1,
    chunk_bytes: int = SQNR_CHUNK_BYTES,
) -> LayerSqnr:
    """Policy vs uniform SQNR of one op's weight, streamed in blocks of output channels (mask groups
    of ``channels_per_mask`` channels, see module docstring)."""
    mask = np.zeros(in_features, dtype=bool)
    mask[outlier_channels] = True
    total = BlockErrors(0.0, 0.0, 0.0)
    group = channels_per_mask if sparsity_n < sparsity_m else 1
    for block in _aligned(_output_channel_blocks(weights, chunk_bytes), group):
        total = total + block_errors(block, mask, weight_bits, outlier_bits, sparsity_n, sparsity_m, group)
    return LayerSqnr(
        op_name=weights.op_name,
        sqnr_db=sqnr_db(total.signal, total.err_policy),
        uniform_sqnr_db=sqnr_db(total.signal, total.err_uniform),
    )
