"""GPU-specific part of a profile result (kernels, bounds, memory), carried in ProfileResult.gpu."""

from __future__ import annotations

from llmimc._base import Frozen


class GpuPhase(Frozen):
    phase: str
    kernels_per_iteration: float  # per GPU (decode: first step)
    time_by_kernel_s: dict[str, float]  # kernel label -> time summed over the phase's iterations
    time_by_bound_s: dict[str, float]  # compute / memory / latency (kernel floor) / link
    flops: float  # per GPU, whole phase
    hbm_bytes: float  # per GPU, whole phase
    idle_energy_j: float
    busy_energy_j: float
    link_energy_j: float


class GpuProfileDetail(Frozen):
    software_stack: str
    num_gpus: int
    compute_format: str
    memory_capacity_bytes_per_gpu: float
    memory_usable_bytes_per_gpu: float
    weight_bytes: float  # whole model
    kv_bytes_per_token: float
    kv_capacity_tokens: int
    gpus_needed: int
    phases: list[GpuPhase]
