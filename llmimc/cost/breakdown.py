"""Breakdown rows of a profile: every total keeps its parts, and the parts sum to the total.

Item energies (action counts x energy per action, ``llmimc.cost.model``) are grouped by layer, op
kind and chiplet; static energy (static power x time, every chiplet) is its own "static" group in
the layer and op-kind tables and is charged to each chiplet in the chiplet table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from llmimc._base import Frozen

if TYPE_CHECKING:
    from llmimc.compress.plan import CompressionPlan
    from llmimc.model.opgraph import Op, OpGraph


class GroupRow(Frozen):
    name: str
    prefill_energy_j: float
    decode_energy_j: float
    energy_j: float


class ChipletRow(Frozen):
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


class LinkRow(Frozen):
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


class Summary(Frozen):
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


class PhaseRow(Frozen):
    phase: str
    iterations: int
    tokens: int  # tokens processed (prefill: prompt tokens; decode: generated tokens)
    latency_s: float
    energy_j: float
    energy_per_token_j: float
    d2d_bytes: float
    offpkg_bytes: float
    bound: str


class StageRow(Frozen):
    index: int
    label: str
    chiplets: list[int]
    prefill_time_s: float
    first_decode_time_s: float


class PrecisionRow(Frozen):
    role: str
    ops: int
    weight_bits: str
    act_bits: str
    outlier_fraction: float
    sparsity: str
    arrays: int
    weight_params: int


def precision_rows(
    graph: OpGraph, plan: CompressionPlan, arrays_by_op: Mapping[str, int] | None = None
) -> list[PrecisionRow]:
    """One row per role of linear op (q/k/v/o, mlp, expert, lm_head...): bits, outliers, N:M, arrays.

    ``arrays_by_op`` gives each op's crossbar arrays (IMC targets); without it the column reads 0.
    """
    from llmimc.compress import op_roles

    groups: dict[str, list[Op]] = {}
    for op in graph.linear_ops():
        roles = op_roles(op) - {"decoder"}
        role = (
            "lm_head" if "lm_head" in roles else ("expert" if "expert" in roles else "+".join(sorted(roles)))
        )
        groups.setdefault(role, []).append(op)
    rows = []
    for role, ops in groups.items():
        comps = [plan.ops[op.name] for op in ops if op.name in plan.ops]
        k_total = sum(op.in_features for op in ops)
        patterns = {
            f"{c.sparsity_n}:{c.sparsity_m}" + (":array" if c.drops_crossbar_rows else "") for c in comps
        }
        rows.append(
            PrecisionRow(
                role=role,
                ops=len(ops),
                weight_bits="/".join(str(b) for b in sorted({c.weight_bits for c in comps})),
                act_bits="/".join(str(b) for b in sorted({c.act_bits for c in comps})),
                outlier_fraction=sum(c.outlier_rows for c in comps) / k_total if k_total else 0.0,
                sparsity="/".join(sorted(patterns)),
                arrays=sum(arrays_by_op[op.name] for op in ops) if arrays_by_op is not None else 0,
                weight_params=sum(op.weight_params for op in ops),
            )
        )
    return rows


class Comparison(Frozen):
    """Savings of this profile against a reference (dense uniform w8a8) profile.

    When the reference could not be profiled, ``reference_error`` says why and the figures are None.
    """

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


class BaselineResult(Frozen):
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
