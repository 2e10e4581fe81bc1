"""Compression plan: the per-op outcome of a precision policy plus N:M sparsity (DESIGN.md §4).

Produced by ``llmimc.compress`` from an OpGraph and a policy; consumed by ``llmimc.mapping`` and
``llmimc.cost``. Plain data, no torch.

For a linear op with a K x N weight (K = in_features, the reduction dimension):
- ``outlier_fraction`` of the K input channels (rows) are kept at ``outlier_bits`` on digital units;
  the remaining K_analog = K - outlier_rows go to crossbars at ``weight_bits``.
- N:M sparsity keeps ``sparsity_n`` of every ``sparsity_m`` weights along K in the crossbar part,
  in one of two patterns (``sparsity_pattern``):

  - ``channel`` (standard N:M: NVIDIA Ampere 2:4, SparseGPT, Wanda; Mishra et al., arXiv:2104.08378):
    every output channel has its own pattern. A crossbar column shares its wordlines with every
    other column, so no row can be dropped: the pruned weights stay programmed as zero cells (with
    offset encoding not even zero-current cells). Crossbar rows, arrays, reads, conversions and
    drives are those of the dense weight; the real saving is storage (kept values plus index bits,
    e.g. the weight stream when reprogramming);
  - ``array`` (array-shared): one pattern per group of m rows shared by all columns of a crossbar
    array (the op-unit granularity of SRE, Yang et al., ISCA 2019): the pruned rows are dropped,
    rows stored = ceil(K_analog * n / m); each kept row of an array carries index bits and an m:1
    input selection. The SQNR proxy evaluates this pattern with one mask per group of
    ``sparsity_columns_per_mask`` output channels (``llmimc.compress.sqnr``).

  Index bits per group of m (one rule, :func:`nm_index_bits`): ceil(log2 C(m, n)).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from llmimc._base import Frozen

SparsityPattern = Literal["channel", "array"]
DEFAULT_COLUMNS_PER_MASK = 64  # one 256-column array of 8-bit weights on 2-bit cells (rram-chiplet)


def nm_index_bits(n: int, m: int) -> int:
    """Index bits that name which n of m positions are kept: ceil(log2 C(m, n)) (0 when dense)."""
    return 0 if n >= m else math.ceil(math.log2(math.comb(m, n)))


class OpCompression(Frozen):
    op_name: str
    weight_bits: int = Field(ge=1, le=16)
    act_bits: int = Field(ge=1, le=16)
    outlier_fraction: float = Field(ge=0.0, le=1.0, default=0.0)
    outlier_rows: int = Field(ge=0, default=0)  # = round(outlier_fraction * K), decided by the planner
    outlier_bits: int = Field(ge=1, le=16, default=16)
    sparsity_n: int = Field(ge=1, default=1)
    sparsity_m: int = Field(ge=1, default=1)
    sparsity_pattern: SparsityPattern = "channel"
    sparsity_columns_per_mask: int = Field(ge=1, default=DEFAULT_COLUMNS_PER_MASK)  # array pattern (SQNR)
    # Indices (0..K-1) of the input channels kept on the digital outlier path, when they were chosen
    # from real weights or calibration statistics; empty when only the count is known (default fraction).
    outlier_channels: list[int] = Field(default_factory=list)

    @property
    def density(self) -> float:
        return self.sparsity_n / self.sparsity_m

    @property
    def sparse(self) -> bool:
        return self.sparsity_n < self.sparsity_m

    @property
    def drops_crossbar_rows(self) -> bool:
        """True for the array-shared pattern: pruned rows leave the crossbar (module docstring)."""
        return self.sparse and self.sparsity_pattern == "array"

    @property
    def metadata_bits_per_kept(self) -> float:
        """Index bits per kept value: ceil(log2(C(m, n))) per group of m, spread over n kept values."""
        return nm_index_bits(self.sparsity_n, self.sparsity_m) / self.sparsity_n

    @property
    def crossbar_metadata_bits_per_kept_row(self) -> float:
        """Index bits per kept crossbar row and array: the array pattern's; 0 when rows stay (channel)."""
        return self.metadata_bits_per_kept if self.drops_crossbar_rows else 0.0


class LayerSqnr(Frozen):
    op_name: str
    sqnr_db: float  # with the chosen policy
    uniform_sqnr_db: float  # uniform low-bit, no outliers, dense


class CompressionPlan(Frozen):
    policy_name: str
    kv_bits: int = Field(ge=1, le=16)
    ops: dict[str, OpCompression]  # keyed by Op.name, one entry per linear op
    outlier_source: str  # "weights:<path>", "calibration:<path>" or "default:<citation>"
    sparsity_ops: list[str] = Field(default_factory=list)  # op kinds / name patterns N:M applied to
    sqnr: list[LayerSqnr] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
