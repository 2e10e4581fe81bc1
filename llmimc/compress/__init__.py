"""Compression stage: precision policies (outlier-aware mixed precision) and N:M sparsity -> CompressionPlan.

See DESIGN.md §4 and the docstrings of :mod:`llmimc.compress.policy` (presets and their sources),
:mod:`llmimc.compress.planner` (plan semantics), :mod:`llmimc.compress.outliers` (outlier selection
from streamed weights or calibration statistics) and :mod:`llmimc.compress.sqnr` (accuracy proxy).
"""

from llmimc.compress.plan import CompressionPlan, LayerSqnr, OpCompression
from llmimc.compress.planner import (
    analog_mac_ratio,
    build_plan,
    crossbar_rows,
    kept_rows,
    metadata_bits,
    outlier_row_count,
)
from llmimc.compress.policy import (
    DEFAULT_POLICY,
    OpOverride,
    PrecisionPolicy,
    SparsitySpec,
    load_policy,
    op_roles,
    parse_sparsity,
    preset_names,
)

__all__ = [
    "DEFAULT_POLICY",
    "CompressionPlan",
    "LayerSqnr",
    "OpCompression",
    "OpOverride",
    "PrecisionPolicy",
    "SparsitySpec",
    "analog_mac_ratio",
    "build_plan",
    "crossbar_rows",
    "kept_rows",
    "load_policy",
    "metadata_bits",
    "op_roles",
    "outlier_row_count",
    "parse_sparsity",
    "preset_names",
]
