"""Per-kernel GPU time and energy of one iteration (issue 10), evaluated on a lowered KernelTable.

For kernel k with F the iteration's batch features (llmimc.gpu.lower), on one of N tensor-parallel GPUs:

    flops_k = flops_coef_k · F                 bytes_k = bytes_coef_k · F + weight bytes_k
    t_k     = max(flops_k / throughput_k, bytes_k / bw_class(k), t_min)   (t_min: gemm_min_s for GEMMs)
    throughput (GEMM)      = peak(format) x gemm_efficiency_max x K / (K + gemm_k_half)
    throughput (attention) = peak(format) x attn_efficiency_max x keys / (keys + attn_keys_half),
                             keys = mean keys per query = (ΣT·L - ΣT²/2 + ΣT/2) / ΣT
    bw_class               = HBM bw x {weight_stream | attn_kv | stream | concat}_bw_fraction
    latency = Σ_k count_k x t_k  (+ kernel_min_s per split-K reduction when M = ΣT <= 64)
            + 2 x layers x all-reduce,  all-reduce = base + 2(N-1) hop + 2(N-1)/N x ΣT·hidden·a / link bw

Kernels run back to back: one stream, no overlap (kernel time, not wall time: launch gaps and host
overhead are not modelled). A kernel's bound is the term that set its time: compute, memory, or
latency (the floor); the all-reduces are "link". Energy of each GPU (board-power model):

    E = idle_power x latency + (board_power - idle_power) x Σ_k count_k x t_k x u_k,
    u_k = min(1, max(flops_k / (peak x t_k), bytes_k / (HBM bw x t_k)))

i.e. a GPU draws idle power, plus its dynamic range in proportion to how hard the running kernel
drives its busiest unit (tensor cores or HBM) - a linear utilisation-power model (cf. Patel et al.,
"Characterizing Power Management Opportunities for LLMs in the Cloud", ASPLOS 2024: prefill draws
near TDP, memory-bound decode well below). Link energy = bits on NVLink x energy per bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.compress.plan import CompressionPlan
from llmimc.cost.iteration import PrefillChunk
from llmimc.errors import SpecError
from llmimc.gpu.lower import ATTN, CONCAT, GEMM, N_FEATURES, SPLITK_MAX_ROWS, STREAM, TINY, KernelTable
from llmimc.hw.spec import DigitalBaselineSpec, GpuKernelCalibration

BOUNDS = ("compute", "memory", "latency", "link")


@dataclass(frozen=True)
class GpuConstants:
    fmt: str
    peak_flops_per_s: float
    hbm_bw_bytes_per_s: float
    class_bw: np.ndarray  # by kernel class (GEMM, ATTN, STREAM, CONCAT, TINY)
    cal: GpuKernelCalibration
    num_gpus: int
    link_bw_bytes_per_s: float
    allreduce_base_s: float
    allreduce_hop_s: float
    link_energy_per_bit_j: float
    board_power_w: float
    idle_power_w: float


def compute_format(spec: DigitalBaselineSpec, plan: CompressionPlan) -> str:
    """int8 (or fp8) tensor cores when every linear op is <= 8-bit in weights and activations, else fp16."""
    low = bool(plan.ops) and all(c.weight_bits <= 8 and c.act_bits <= 8 for c in plan.ops.values())
    for fmt in (("int8", "fp8") if low else ()) + ("fp16", "bf16"):
        if fmt in spec.peak_flops_per_s:
            return fmt
    return next(iter(spec.peak_flops_per_s))


def gpu_constants(spec: DigitalBaselineSpec, plan: CompressionPlan) -> GpuConstants:
    cal = spec.kernels
    if cal is None:
        raise SpecError(
            f"{spec.name}: a digital spec needs a 'kernels' section (per-kernel calibration) to be a --hw "
            "target; copy the one in hw_specs/h100.yaml and cite your own sources, or use it as --baseline"
        )
    if spec.num_gpus > 1 and spec.interconnect is None:
        raise SpecError(
            f"{spec.name}: --chiplets {spec.num_gpus} needs an 'interconnect' section (GPU-to-GPU link); "
            "add one or use --chiplets 1"
        )
    fmt = compute_format(spec, plan)
    bw = spec.memory_bw_bytes_per_s
    class_bw = np.full(5, np.inf)
    class_bw[GEMM] = bw * cal.weight_stream_bw_fraction
    class_bw[ATTN] = bw * cal.attn_kv_bw_fraction
    class_bw[STREAM] = bw * cal.stream_bw_fraction
    class_bw[CONCAT] = bw * cal.concat_bw_fraction
    link = spec.interconnect
    return GpuConstants(
        fmt=fmt,
        peak_flops_per_s=spec.peak_flops_per_s[fmt],
        hbm_bw_bytes_per_s=bw,
        class_bw=class_bw,
        cal=cal,
        num_gpus=spec.num_gpus,
        link_bw_bytes_per_s=link.bw_bytes_per_s if link else float("inf"),
        allreduce_base_s=link.allreduce_base_latency_s if link else 0.0,
        allreduce_hop_s=link.allreduce_hop_latency_s if link else 0.0,
        link_energy_per_bit_j=link.energy_per_bit_j if link else 0.0,
        board_power_w=spec.board_power_w,
        idle_power_w=spec.idle_power_w,
    )


def features(prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> np.ndarray:
    """F = [n_seq, ΣT, ΣL, ΣT·L, ΣT², n_decode] of one iteration."""
    f = np.zeros(N_FEATURES)
    for c in prefill:
        t, kv = c.tokens, c.past_tokens + c.tokens
        f += (1.0, t, kv, t * kv, t * t, 0.0)
    n = len(decode_past_tokens)
    if n:
        s = float(sum(decode_past_tokens))
        f += (n, n, s + n, s + n, n, n)
    return f


@dataclass(frozen=True)
class IterationEval:
    latency_s: float
    energy_j: float  # all GPUs, idle + busy + link
    idle_energy_j: float
    busy_energy_j: float
    link_energy_j: float
    kernels: float  # kernels launched per GPU
    flops: float  # per GPU
    hbm_bytes: float  # per GPU
    link_bytes: float  # NVLink bytes sent, all GPUs
    busy_util_s: float  # Σ count x t x u, per GPU (the busy-power integral in seconds)
    time_by_label: dict[str, float]
    time_by_bound: dict[str, float]
    bound: str


def _allreduce(table: KernelTable, c: GpuConstants, tokens: float) -> tuple[float, float]:
    """(time, link bytes sent by all GPUs) of the iteration's all-reduces."""
    if not table.allreduces or tokens <= 0:
        return 0.0, 0.0
    n = c.num_gpus
    size = tokens * table.allreduce_bytes_per_token
    per_gpu = 2.0 * (n - 1) / n * size
    t = c.allreduce_base_s + 2 * (n - 1) * c.allreduce_hop_s + per_gpu / c.link_bw_bytes_per_s
    return table.allreduces * t, table.allreduces * per_gpu * n


def evaluate(table: KernelTable, c: GpuConstants, f: np.ndarray) -> IterationEval:
    """Time, energy and breakdowns of one iteration with batch features ``f``."""
    cal = c.cal
    tokens = float(f[1])
    flops = table.flops @ f
    nbytes = table.bytes @ f + table.static_bytes * (tokens > 0)
    active = ((flops > 0) | (nbytes > 0) | (table.cls == TINY)) & (tokens > 0)
    active &= ~table.gate_decode | (f[5] > 0)
    thr = np.full(len(flops), np.inf)
    gemm = table.cls == GEMM
    k = table.k_dim[gemm]
    thr[gemm] = c.peak_flops_per_s * cal.gemm_efficiency_max * k / (k + cal.gemm_k_half)
    if tokens > 0:
        keys = max((f[3] - 0.5 * f[4] + 0.5 * f[1]) / tokens, 1.0)
        thr[table.cls == ATTN] = (
            c.peak_flops_per_s * cal.attn_efficiency_max * keys / (keys + cal.attn_keys_half)
        )
    t_c = flops / thr
    t_m = nbytes / c.class_bw[table.cls]
    t_min = np.where(gemm, cal.gemm_min_s, cal.kernel_min_s)
    t = np.where(active, np.maximum(np.maximum(t_c, t_m), t_min), 0.0)
    count = np.where(active, table.count, 0.0)
    split = active & table.splitk & (tokens <= SPLITK_MAX_ROWS)
    n_split = float(count[split].sum())
    kernel_t = count * t
    t_ar, link_bytes = _allreduce(table, c, tokens)
    latency = float(kernel_t.sum()) + n_split * cal.kernel_min_s + t_ar

    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(
            t > 0,
            np.minimum(
                1.0, np.maximum(flops / (c.peak_flops_per_s * t), nbytes / (c.hbm_bw_bytes_per_s * t))
            ),
            0.0,
        )
    busy_util_s = float((kernel_t * util).sum())
    n = c.num_gpus
    idle_e = c.idle_power_w * latency * n
    busy_e = (c.board_power_w - c.idle_power_w) * busy_util_s * n
    link_e = link_bytes * 8.0 * c.link_energy_per_bit_j

    by_label: dict[str, float] = {}
    for lab, v in zip(table.labels, kernel_t.tolist(), strict=True):
        if v > 0:
            by_label[lab] = by_label.get(lab, 0.0) + v
    if n_split:
        by_label["linear"] = by_label.get("linear", 0.0) + n_split * cal.kernel_min_s
    if t_ar:
        by_label["allreduce"] = t_ar
    which = np.argmax(np.stack([t_c, t_m, t_min]), axis=0)
    by_bound = {b: 0.0 for b in BOUNDS}
    for i, b in enumerate(BOUNDS[:3]):
        by_bound[b] = float(kernel_t[which == i].sum())
    by_bound["latency"] += n_split * cal.kernel_min_s
    by_bound["link"] = t_ar
    return IterationEval(
        latency_s=latency,
        energy_j=idle_e + busy_e + link_e,
        idle_energy_j=idle_e,
        busy_energy_j=busy_e,
        link_energy_j=link_e,
        kernels=float(count.sum()) + n_split,
        flops=float((count * flops).sum()),
        hbm_bytes=float((count * nbytes).sum()),
        link_bytes=link_bytes,
        busy_util_s=busy_util_s,
        time_by_label=by_label,
        time_by_bound=by_bound,
        bound=max(by_bound, key=lambda b: by_bound[b]) if latency > 0 else "-",
    )
