"""A GPU system (one digital spec, its software stack, N tensor-parallel GPUs) as an iteration cost model.

``build_gpu_system`` lowers the OpGraph (llmimc.gpu.lower) and checks memory; ``GpuCostModel``
implements the serving simulator's ``IterationCostModel`` protocol (llmimc.cost.iteration), so
``llmimc serve`` and ``llmimc profile`` cost GPU iterations exactly like IMC ones.

Memory (per GPU, HBM): usable = memory_capacity x memory_usable_fraction (vLLM's
gpu_memory_utilization); weights = linear weights at the plan's bits + embedding tables at the
activation precision, split N ways; KV capacity (all GPUs) = (N x usable - weights) / KV bytes per
token. A model whose weights and requested KV do not fit says so and how many GPUs it needs:
ceil((weights + KV) / usable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llmimc.compress.plan import CompressionPlan
from llmimc.cost.iteration import IterationCost, PrefillChunk
from llmimc.errors import MappingError
from llmimc.gpu.kernels import GpuConstants, IterationEval, evaluate, features, gpu_constants
from llmimc.gpu.lower import KernelTable, lower
from llmimc.gpu.stack import SoftwareStack, software_stack
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.model.opgraph import OpGraph, OpKind


@dataclass(frozen=True)
class GpuMemory:
    capacity_bytes_per_gpu: float
    usable_bytes_per_gpu: float
    weight_bytes: float  # whole model, all GPUs together
    kv_bytes_per_token: float
    kv_capacity_tokens: int
    gpus_needed: int  # for the weights plus the requested KV


def weight_bytes(graph: OpGraph, table: KernelTable, tp: int) -> float:
    """Whole-model weight bytes: linear weights as lowered (x tp) plus embedding tables."""
    tables = [op for op in graph.ops if op.kind == OpKind.EMBEDDING]
    if graph.info.tie_word_embeddings:  # the token table is the lm_head weight, already counted
        tables = [op for op in tables if op.in_features != graph.info.vocab_size]
    emb = sum(op.weight_params for op in tables)
    return table.weight_bytes_per_gpu * tp + emb * table.act_bytes


def gpu_memory(
    graph: OpGraph, spec: DigitalBaselineSpec, table: KernelTable, need_kv_tokens: int
) -> GpuMemory:
    if spec.kernels is None:
        raise MappingError(f"{spec.name}: no 'kernels' section")
    n = spec.num_gpus
    usable = spec.memory_capacity_bytes * spec.kernels.memory_usable_fraction
    w = weight_bytes(graph, table, n)
    kv_tok = sum(graph.kv_elements_per_token_per_layer) * table.kv_bytes_per_elem
    cap = max(0, int((n * usable - w) // kv_tok)) if kv_tok > 0 else 0
    need = math.ceil((w + need_kv_tokens * kv_tok) / usable)
    return GpuMemory(
        capacity_bytes_per_gpu=float(spec.memory_capacity_bytes),
        usable_bytes_per_gpu=usable,
        weight_bytes=w,
        kv_bytes_per_token=kv_tok,
        kv_capacity_tokens=cap,
        gpus_needed=max(1, need),
    )


class GpuCostModel:
    """IterationCostModel of a GPU system (see module docstring)."""

    def __init__(self, table: KernelTable, consts: GpuConstants, memory: GpuMemory, stack: SoftwareStack):
        self.table = table
        self.consts = consts
        self.memory = memory
        self.stack = stack

    def evaluate(self, f: np.ndarray) -> IterationEval:
        return evaluate(self.table, self.consts, f)

    def iteration_cost(self, prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> IterationCost:
        ev = evaluate(self.table, self.consts, features(prefill, decode_past_tokens))
        return IterationCost(
            latency_s=ev.latency_s,
            energy_j=ev.energy_j,
            d2d_bytes=ev.link_bytes,
            offpkg_bytes=ev.hbm_bytes * self.consts.num_gpus,
        )

    @property
    def kv_capacity_tokens(self) -> int:
        return self.memory.kv_capacity_tokens

    @property
    def kv_on_package_tokens(self) -> int:
        """The KV cache lives in HBM, which sits on the GPU package: all of it is 'on package'."""
        return self.memory.kv_capacity_tokens

    @property
    def static_power_w(self) -> float:
        return self.consts.idle_power_w * self.consts.num_gpus


@dataclass(frozen=True)
class GpuSystem:
    graph: OpGraph
    spec: DigitalBaselineSpec
    plan: CompressionPlan
    stack: SoftwareStack
    table: KernelTable
    cost_model: GpuCostModel


def build_gpu_system(
    graph: OpGraph,
    spec: DigitalBaselineSpec,
    plan: CompressionPlan,
    *,
    need_kv_tokens: int = 0,
    check_fit: bool = True,
) -> GpuSystem:
    """Lower ``graph`` for ``spec``; unless ``check_fit`` is off, weights plus ``need_kv_tokens`` of
    KV must fit in HBM (MappingError naming the GPUs needed otherwise)."""
    consts = gpu_constants(spec, plan)
    stack = software_stack(spec.software_stack)
    table = lower(graph, plan, stack, spec.num_gpus)
    mem = gpu_memory(graph, spec, table, need_kv_tokens)
    n = spec.num_gpus
    if check_fit and mem.gpus_needed > n:
        raise MappingError(
            f"{graph.info.model_id} does not fit on {n} x {spec.name}: weights {mem.weight_bytes / 1e9:.3g} GB + KV "
            f"{need_kv_tokens} tokens x {mem.kv_bytes_per_token / 1e6:.3g} MB = "
            f"{(mem.weight_bytes + need_kv_tokens * mem.kv_bytes_per_token) / 1e9:.3g} GB, but {n} GPU(s) hold "
            f"{n * mem.usable_bytes_per_gpu / 1e9:.3g} GB usable; it needs {mem.gpus_needed} GPUs: "
            f"use --chiplets {mem.gpus_needed} (tensor parallel), or lower --batch / the lengths / the precision"
        )
    return GpuSystem(graph, spec, plan, stack, table, GpuCostModel(table, consts, mem, stack))
