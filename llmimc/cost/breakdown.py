"""Breakdown rows of a profile: every total keeps its parts, and the parts sum to the total.

Item energies (action counts x energy per action, ``llmimc.cost.model``) are grouped by layer, op
kind and chiplet; static energy (static power x time, every chiplet) is its own "static" group in
the layer and op-kind tables and is charged to each chiplet in the chiplet table.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from pydantic import BaseModel, ConfigDict


class GroupRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    prefill_energy_j: float
    decode_energy_j: float
    energy_j: float


class ChipletRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    chiplet: int
    stages: list[str]
    arrays_used: int
    arrays_capacity: int
    kv_layers: list[int]
    kv_tokens_on_package: int | None
    prefill_busy_s: float
    decode_busy_s: float
    prefill_utilisation: float
    decode_utilisation: float
    energy_j: float


class LinkRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    src: int
    dst: int
    prefill_bytes: float
    decode_bytes: float
    bytes_per_output_token: float
    busy_s: float  # bytes / bandwidth over the whole run
    utilisation: float  # busy / run latency
    energy_j: float


def group_energy(
    labels: list[str],
    prefill_item_j: np.ndarray,
    decode_item_j: np.ndarray,
    static_p_j: float,
    static_d_j: float,
) -> list[GroupRow]:
    """Sum item energies by label (first-seen order) plus one 'static' row."""
    pre: dict[str, float] = defaultdict(float)
    dec: dict[str, float] = defaultdict(float)
    order: list[str] = []
    for lab, p, d in zip(labels, prefill_item_j.tolist(), decode_item_j.tolist(), strict=True):
        if lab not in pre:
            order.append(lab)
        pre[lab] += p
        dec[lab] += d
    rows = [
        GroupRow(name=k, prefill_energy_j=pre[k], decode_energy_j=dec[k], energy_j=pre[k] + dec[k])
        for k in order
    ]
    rows.append(
        GroupRow(
            name="static",
            prefill_energy_j=static_p_j,
            decode_energy_j=static_d_j,
            energy_j=static_p_j + static_d_j,
        )
    )
    return rows


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ttft_s: float
    mean_tpot_s: float
    p99_tpot_s: float
    total_latency_s: float
    output_tokens: int
    tokens_per_s: float
    energy_j: float
    energy_per_output_token_j: float
    prefill_energy_per_prompt_token_j: float
    decode_energy_per_token_j: float
    analog_mac_ratio: float
    arrays_used: int
    arrays_capacity: int
    chiplets_used: int
    d2d_bytes_per_output_token: float  # all die-to-die bytes (prefill + decode) / output tokens
    d2d_bytes_per_decode_token: float  # decode-phase bytes / decode tokens (0 when gen_len = 1)
    static_energy_j: float  # static power x latency, every chiplet of the package
    static_energy_share: float  # static_energy_j / energy_j
    offpkg_bytes: float


class PhaseRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    phase: str
    iterations: int
    tokens: int  # tokens processed (prefill: prompt tokens; decode: generated tokens)
    latency_s: float
    energy_j: float
    energy_per_token_j: float
    d2d_bytes: float
    offpkg_bytes: float
    bound: str


class StageRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    index: int
    label: str
    chiplets: list[int]
    prefill_time_s: float
    first_decode_time_s: float


class PrecisionRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: str
    ops: int
    weight_bits: str
    act_bits: str
    outlier_fraction: float
    sparsity: str
    arrays: int
    weight_params: int


class Comparison(BaseModel):
    """Savings of this profile against a reference (dense uniform w8a8) profile.

    When the reference could not be profiled, ``reference_error`` says why and the figures are None.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    reference: str
    reference_error: str | None = None
    arrays_ref: int | None = None
    energy_per_output_token_ref_j: float | None = None
    mean_tpot_ref_s: float | None = None
    ttft_ref_s: float | None = None
    arrays_saving: float | None = None  # 1 - this / reference
    energy_saving: float | None = None
    tpot_saving: float | None = None
    note: str = ""


class BaselineResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    format: str
    ttft_s: float
    mean_tpot_s: float
    tokens_per_s: float
    energy_per_output_token_j: float
    prefill_bound: str
    decode_bound: str
    fits_in_memory: bool
    speedup_tpot: float  # baseline TPOT / IMC TPOT
    energy_ratio: float  # baseline energy per token / IMC energy per token
