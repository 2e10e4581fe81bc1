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
