"""Build the CompressionPlan of an OpGraph: per-linear-op precision, outlier rows and N:M sparsity.

For each linear op (K x N weight, K = in_features) the resolved policy (:mod:`llmimc.compress.policy`)
gives weight/activation bits, an outlier fraction and whether N:M applies. ``outlier_rows =
round(outlier_fraction * K)`` input channels go to the digital units at ``outlier_bits``; which
channels, comes from (first that applies)

1. calibration activation absmax (AWQ / LLM.int8() pick outliers by activation magnitude),
2. weight statistics streamed from the model folder's safetensors,
3. only the count: the policy's documented default fraction ("default:<citation>").

The crossbar part keeps K_analog = K - outlier_rows rows; array-shared N:M keeps ceil(K_analog * n / m)
of them, per-channel N:M keeps them all as zero cells; both store ceil(log2 C(m, n)) index bits per
group of m (``llmimc.compress.plan``, DESIGN.md §4). :func:`analog_mac_ratio` is the
share of linear MACs whose input channels are on crossbars.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np

from llmimc.compress.outliers import OpWeights, channel_stats, load_calibration, locate_weights, top_channels
from llmimc.compress.plan import (
    DEFAULT_COLUMNS_PER_MASK,
    CompressionPlan,
    LayerSqnr,
    OpCompression,
    nm_index_bits,
)
from llmimc.compress.policy import PrecisionPolicy, SparsitySpec, resolve_op_settings
from llmimc.compress.sqnr import op_sqnr
from llmimc.compress.st_reader import index_folder
from llmimc.errors import LlmimcError
from llmimc.model.opgraph import Op, OpGraph


def outlier_row_count(fraction: float, in_features: int) -> int:
    """round(fraction * K), half away from zero (so 0.5 rows -> 1), capped at K."""
    return min(in_features, math.floor(fraction * in_features + 0.5))


def kept_rows(comp: OpCompression, in_features: int) -> int:
    """Weight rows (values per output column) kept after N:M in compressed storage, either pattern:
    ceil((K - outlier_rows) * n / m) (a GPU's sparse format, the reprogramming stream)."""
    return -(-(in_features - comp.outlier_rows) * comp.sparsity_n // comp.sparsity_m)


def crossbar_rows(comp: OpCompression, in_features: int) -> int:
    """Weight rows stored on crossbars per expert copy (``plan`` module docstring).

    Array-shared N:M drops rows: ceil((K - outlier_rows) * n / m); per-channel N:M keeps every row
    (the pruned weights stay programmed as zeros): K - outlier_rows.
    """
    if not comp.drops_crossbar_rows:
        return in_features - comp.outlier_rows
    return kept_rows(comp, in_features)


def metadata_bits(comp: OpCompression, in_features: int, out_features: int) -> int:
    """N:M index bits of one expert copy in compressed storage: per group of m analog rows, per column."""
    groups = -(-(in_features - comp.outlier_rows) // comp.sparsity_m)
    return groups * nm_index_bits(comp.sparsity_n, comp.sparsity_m) * out_features


def analog_mac_ratio(graph: OpGraph, plan: CompressionPlan) -> float:
    """Share of dense linear MACs whose input channel is mapped to crossbars (not the outlier path).

    N:M skips pruned weights inside the crossbar part but does not move work to the digital units,
    so sparsity does not change this ratio.
    """
    total = analog = 0.0
    for op in graph.linear_ops():
        comp = plan.ops.get(op.name)
        if comp is None:
            raise LlmimcError(f"compression plan '{plan.policy_name}' has no entry for linear op {op.name}")
        macs = op.macs_per_token
        total += macs
        if op.in_features > 0:
            analog += macs * (op.in_features - comp.outlier_rows) / op.in_features
    return analog / total if total > 0 else 0.0


def build_plan(
    graph: OpGraph,
    policy: PrecisionPolicy,
    sparsity: SparsitySpec | None = None,
    *,
    weights_dir: pathlib.Path | None = None,
    calibration_path: pathlib.Path | None = None,
) -> CompressionPlan:
    """One OpCompression per linear op of ``graph`` (see module docstring)."""
    spec = sparsity if sparsity is not None else policy.sparsity
    notes: list[str] = []
    calib: dict[str, np.ndarray] = {}
    if calibration_path is not None:
        calib, calib_notes = load_calibration(pathlib.Path(calibration_path), graph)
        notes += calib_notes
    located: dict[str, OpWeights] = {}
    if weights_dir is not None:
        located, problems = locate_weights(graph, index_folder(pathlib.Path(weights_dir)))
        if problems:
            more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
            notes.append(
                f"weights not usable for {len(problems)} linear op(s): " + "; ".join(problems[:5]) + more
            )
        notes += sorted({f"{w.op_name}: {w.note}" for w in located.values() if w.note})

    ops: dict[str, OpCompression] = {}
    sqnr: list[LayerSqnr] = []
    by_source = {"calibration": 0, "weights": 0, "default": 0}
    sparse_ops = 0
    for op in graph.linear_ops():
        s = resolve_op_settings(policy, op)
        k = op.in_features
        rows = outlier_row_count(s.outlier_fraction, k)
        channels: list[int] = []
        if rows > 0 and op.name in calib:
            channels, src = top_channels(calib[op.name], rows), "calibration"
        elif rows > 0 and op.name in located:
            score = channel_stats(located[op.name], k, policy.outlier_metric)
            channels, src = top_channels(score, rows), "weights"
        else:
            src = "default" if rows > 0 else ""
        if src:
            by_source[src] += 1
        n, m = (spec.n, spec.m) if spec is not None and s.sparse else (1, 1)
        pattern = spec.pattern if spec is not None else "channel"
        group = spec.columns_per_mask if spec is not None else DEFAULT_COLUMNS_PER_MASK
        sparse_ops += n < m
        comp = OpCompression(
            op_name=op.name,
            weight_bits=s.weight_bits,
            act_bits=s.act_bits,
            outlier_fraction=rows / k if k else 0.0,
            outlier_rows=rows,
            outlier_bits=s.outlier_bits,
            sparsity_n=n,
            sparsity_m=m,
            sparsity_pattern=pattern,
            sparsity_columns_per_mask=group,
            outlier_channels=channels,
        )
        ops[op.name] = comp
        if op.name in located:
            layer_sqnr = _sqnr_or_note(op, located[op.name], comp, notes)
            if layer_sqnr is not None:
                sqnr.append(layer_sqnr)

    outlier_source = _outlier_source(policy, by_source, weights_dir, calibration_path)
    if by_source["default"] and (weights_dir is not None or calibration_path is not None):
        notes.append(
            f"{by_source['default']} op(s) had no statistics: outlier count from the default fraction only"
        )
    if weights_dir is not None and calibration_path is not None and sqnr:
        notes.append(f"SQNR computed from weights:{weights_dir}")
    sparsity_ops: list[str] = []
    if spec is not None:
        sparsity_ops = list(policy.sparsity_targets) + [
            f"{'+' if ov.sparsity else '!'}{ov.match}"
            + (f"@layers{ov.layers}" if ov.layers is not None else "")
            for ov in policy.overrides
            if ov.sparsity is not None
        ]
        notes.append(
            f"N:M {spec.text} sparsity on {sparse_ops} of {len(ops)} linear ops (targets: "
            f"{', '.join(sparsity_ops)}), along K of the crossbar part; {spec.metadata_bits_per_group} "
            f"index bits per group of {spec.m}"
        )
        notes.append(_pattern_note(spec))
    unsourced = policy.unsourced_fields()
    if unsourced:
        notes.append(f"policy '{policy.name}' gives no source for: {', '.join(unsourced)}")
    return CompressionPlan(
        policy_name=policy.name,
        kv_bits=policy.kv_bits,
        ops=ops,
        outlier_source=outlier_source,
        sparsity_ops=sparsity_ops,
        sqnr=sqnr,
        notes=notes,
    )


def _pattern_note(spec: SparsitySpec) -> str:
    if spec.pattern == "array":
        return (
            f"{spec.text}: one pattern per {spec.m} rows shared by every column of a crossbar array: "
            "pruned rows leave the arrays (m:1 input selection and index bits charged); SQNR evaluated "
            f"with one mask per {spec.columns_per_mask} output channels"
        )
    return (
        f"{spec.text} is the standard per-output-channel pattern: a crossbar keeps the pruned weights as "
        f"zero cells, so arrays, reads and conversions stay dense (only stored weight bytes shrink); "
        f"use {spec.n}:{spec.m}:array for array-shared pruning that drops rows"
    )


def _sqnr_or_note(op: Op, weights: OpWeights, comp: OpCompression, notes: list[str]) -> LayerSqnr | None:
    try:
        return op_sqnr(
            weights,
            op.in_features,
            comp.outlier_channels,
            comp.weight_bits,
            comp.outlier_bits,
            comp.sparsity_n,
            comp.sparsity_m,
            comp.sparsity_columns_per_mask if comp.sparsity_pattern == "array" else 1,
        )
    except ValueError as exc:  # oversized transposed weight: say so rather than fail the plan
        notes.append(f"{op.name}: no SQNR ({exc})")
        return None


def _outlier_source(
    policy: PrecisionPolicy,
    by_source: dict[str, int],
    weights_dir: pathlib.Path | None,
    calibration_path: pathlib.Path | None,
) -> str:
    if by_source["calibration"]:
        return f"calibration:{calibration_path}"
    if by_source["weights"]:
        return f"weights:{weights_dir}"
    citation = policy.sources.get("outlier_fraction") or f"policy '{policy.name}' (no source given)"
    return f"default:{citation}"
