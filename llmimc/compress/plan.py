"""Compression plan: the per-op outcome of a precision policy plus N:M sparsity (DESIGN.md §4).

Produced by ``llmimc.compress`` from an OpGraph and a policy; consumed by ``llmimc.mapping`` and
``llmimc.cost``. Plain data, no torch.

For a linear op with a K x N weight (K = in_features, the reduction dimension):
- ``outlier_fraction`` of the K input channels (rows) are kept at ``outlier_bits`` on digital units;
  the remaining K_analog = K - outlier_rows go to crossbars at ``weight_bits``.
- N:M sparsity keeps ``sparsity_n`` of every ``sparsity_m`` weights along K in the crossbar part:
  rows stored = ceil(K_analog * n / m); each kept value carries ``metadata_bits_per_kept`` index bits.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class OpCompression(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    op_name: str
    weight_bits: int = Field(ge=1, le=16)
    act_bits: int = Field(ge=1, le=16)
    outlier_fraction: float = Field(ge=0.0, le=1.0, default=0.0)
    outlier_rows: int = Field(ge=0, default=0)  # = round(outlier_fraction * K), decided by the planner
    outlier_bits: int = Field(ge=1, le=16, default=16)
    sparsity_n: int = Field(ge=1, default=1)
    sparsity_m: int = Field(ge=1, default=1)
    # Indices (0..K-1) of the input channels kept on the digital outlier path, when they were chosen
    # from real weights or calibration statistics; empty when only the count is known (default fraction).
    outlier_channels: list[int] = Field(default_factory=list)

    @property
    def density(self) -> float:
        return self.sparsity_n / self.sparsity_m

    @property
    def metadata_bits_per_kept(self) -> float:
        """Index bits per kept value: ceil(log2(C(m, n))) per group of m, spread over n kept values."""
        if self.sparsity_n >= self.sparsity_m:
            return 0.0
        return math.ceil(math.log2(math.comb(self.sparsity_m, self.sparsity_n))) / self.sparsity_n


class LayerSqnr(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    op_name: str
    sqnr_db: float  # with the chosen policy
    uniform_sqnr_db: float  # uniform low-bit, no outliers, dense


class CompressionPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    policy_name: str
    kv_bits: int = Field(ge=1, le=16)
    ops: dict[str, OpCompression]  # keyed by Op.name, one entry per linear op
    outlier_source: str  # "weights:<path>", "calibration:<path>" or "default:<citation>"
    sparsity_ops: list[str] = Field(default_factory=list)  # op kinds / name patterns N:M applied to
    sqnr: list[LayerSqnr] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
