"""Digital (GPU-like) baseline: a roofline per iteration on a DigitalBaselineSpec (DESIGN.md §3, §4).

For one iteration of B sequences (prefill: T = S, L = S; decode: T = 1, L = c + 1):

    flops  = B x Sum_ops flops(T, L)                            (the same traced OpGraph)
    bytes  = weight bytes (each linear weight read once per iteration at the plan's bits: crossbar
             part at weight_bits x density plus N:M metadata, outlier rows at outlier_bits)
           + B x embedding rows (T x hidden x dtype bytes)
           + B x KV bytes (L tokens read + T tokens written, at kv_bits)
           + B x activation bytes (OpGraph activation traffic of non-linear ops at the model dtype,
             without KV terms and without attention's T x L score/probability rows: a GPU runs
             fused attention (FlashAttention, Dao et al. 2022) that keeps those tiles on chip)
    time   = max(flops / (peak(format) x achievable_compute_fraction),
                 bytes / (memory_bw x achievable_bw_fraction))
    energy = time x board_power_w

``format`` is "int8" when the plan's linear ops all use <= 8-bit weights and activations and the
baseline lists an int8 peak, otherwise "fp16" (or the first listed). Energy at board power (TDP) is
an upper bound for a busy GPU and the simplest defensible choice without a power model; LLMCompass
(Zhang et al., ISCA 2024) uses the same roofline-with-achievable-fractions structure.
"""

from __future__ import annotations

from llmimc._base import Frozen
from llmimc.compress.plan import CompressionPlan
from llmimc.compress.planner import kept_rows
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.model.opgraph import Op, OpGraph, OpKind, Poly, no_kv_growth


class BaselineStep(Frozen):
    latency_s: float
    energy_j: float
    flops: float
    bytes: float
    bound: str  # "compute" or "memory"


class BaselineModel(Frozen):
    """Precomputed roofline coefficients for one graph, plan and baseline."""

    name: str
    format: str
    peak_flops_per_s: float
    bw_bytes_per_s: float
    power_w: float
    weight_bytes: float
    flops_poly: Poly
    act_bytes_poly: Poly  # embedding rows + activations (no KV terms), per sequence
    kv_bytes_per_token: float
    memory_capacity_bytes: int

    def step(self, tokens: int, kv_len: int, batch: int) -> BaselineStep:
        flops = batch * self.flops_poly.at(tokens, kv_len)
        nbytes = self.weight_bytes + batch * (
            self.act_bytes_poly.at(tokens, kv_len) + self.kv_bytes_per_token * (kv_len + tokens)
        )
        t_c = flops / self.peak_flops_per_s
        t_m = nbytes / self.bw_bytes_per_s
        t = max(t_c, t_m)
        return BaselineStep(
            latency_s=t,
            energy_j=t * self.power_w,
            flops=flops,
            bytes=nbytes,
            bound="compute" if t_c >= t_m else "memory",
        )


def op_weight_bytes(op: Op, plan: CompressionPlan, dtype_bytes: int) -> float:
    """Stored bytes of one linear op's weights under ``plan`` (kept rows x bits + metadata + outliers)."""
    comp = plan.ops.get(op.name)
    if comp is None:
        return float(op.weight_params * dtype_bytes)
    kept = kept_rows(comp, op.in_features)  # compressed values (either N:M pattern)
    return (
        max(op.num_experts, 1)
        * op.out_features
        * (kept * (comp.weight_bits + comp.metadata_bits_per_kept) + comp.outlier_rows * comp.outlier_bits)
        / 8.0
    )


def _weight_bytes(graph: OpGraph, plan: CompressionPlan) -> float:
    return sum(op_weight_bytes(op, plan, graph.info.dtype_bytes) for op in graph.linear_ops())


def baseline_model(graph: OpGraph, plan: CompressionPlan, spec: DigitalBaselineSpec) -> BaselineModel:
    low_bits = all(c.weight_bits <= 8 and c.act_bits <= 8 for c in plan.ops.values()) and bool(plan.ops)
    if low_bits and "int8" in spec.peak_flops_per_s:
        fmt = "int8"
    elif "fp16" in spec.peak_flops_per_s:
        fmt = "fp16"
    else:
        fmt = next(iter(spec.peak_flops_per_s))
    flops = Poly()
    act = Poly()
    for op in graph.ops:
        flops = flops + op.flops
        if op.kind == OpKind.EMBEDDING:
            act = act + op.act_bytes_written
        elif op.kind != OpKind.LINEAR:
            act = act + no_kv_growth(op.act_bytes_read) + no_kv_growth(op.act_bytes_written)
    return BaselineModel(
        name=spec.name,
        format=fmt,
        peak_flops_per_s=spec.achievable_flops_per_s(fmt),
        bw_bytes_per_s=spec.achievable_bw_bytes_per_s,
        power_w=spec.board_power_w,
        weight_bytes=_weight_bytes(graph, plan),
        flops_poly=flops,
        act_bytes_poly=act,
        kv_bytes_per_token=graph.kv_bytes_per_token(plan.kv_bits),
        memory_capacity_bytes=spec.memory_capacity_bytes,
    )
