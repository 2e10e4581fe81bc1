"""map_model: tiling, partitioning, placement, routing and KV residency in one immutable Mapping.

Steps (each documented in its module): ``tiling`` (arrays per linear op), ``partition`` (contiguous
stages balanced by estimated decode time per token - MVM time of each linear op plus DPU time of the
other ops at L = 1 - split only when a unit does not fit), ``placement`` (nearest-neighbour stage order,
shortest-path routes), ``kv`` (KV residency). Embedding tables are not mapped to crossbars (a lookup
reads one row, not an MVM): they live in off-package memory and one row per token is fetched over the
die-to-die route from the memory-attached chiplet to the first stage.

Weight reprogramming (``allow_reprogramming``): when the crossbars of the package cannot hold every
weight, the model is partitioned over the chiplet count it needs (``virtual`` chiplets) and virtual
chiplet v runs on physical chiplet order[v mod C]; the R = ceil(needed / C) rounds reprogram the
package every iteration: every crossbar cell is written once per iteration (program energy per cell,
rows programmed one at a time per array, all arrays in parallel, bounded by streaming the weights
from off-package memory), so each cell consumes one endurance cycle per iteration.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from llmimc.compress.plan import CompressionPlan
from llmimc.errors import MappingError
from llmimc.hw.spec import ImcSystemSpec
from llmimc.mapping.kv import KvResidency, plan_kv
from llmimc.mapping.partition import chiplets_needed, partition
from llmimc.mapping.placement import route_key, stage_order
from llmimc.mapping.tiling import OpTiling, tile_op
from llmimc.model.opgraph import OpGraph, OpKind, Poly

ATTENTION_KINDS = (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT)


class Stage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    index: int
    label: str  # e.g. "layers 0-2" or "lm_head (split x3)"
    units: list[int]
    layers: list[int]
    chiplets: list[int]  # physical chiplets; the first is the stage root (non-linear ops, KV, attention)
    virtual_chiplets: list[int]
    arrays_per_chiplet: list[int]
    split: bool


class OpPlacement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    op_name: str
    stage: int
    tiling: OpTiling | None = None  # linear ops only


class ReprogramPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    chiplets_needed: int
    rounds: int
    cells_per_iteration: int  # crossbar cells written per iteration (all weights)
    weight_bytes_streamed_per_iteration: float
    max_rows_per_array: int
    endurance_cycles: float | None  # writes a cell survives; None = unlimited


class Mapping(BaseModel):
    """The whole placement of one model on one package (all SI units)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model_id: str
    spec_name: str
    num_chiplets: int
    batch: int
    max_context_tokens: int
    links: list[tuple[int, int]]
    chiplet_order: list[int]  # placement walk (stage i starts at chiplet_order[first virtual of i])
    memory_chiplet: int  # chiplet whose off-package memory controller serves embeddings and spilled KV
    stages: list[Stage]
    ops: list[OpPlacement]  # same order as graph.ops
    arrays_capacity_per_chiplet: int
    arrays_per_chiplet: list[int]  # indexed by physical chiplet (max over rounds when reprogramming)
    total_arrays: int
    embedding_bytes_offpkg: float
    routes: dict[str, list[int]]  # "src->dst" -> chiplet sequence
    kv: KvResidency
    reprogramming: ReprogramPlan | None = None
    notes: list[str]

    def route(self, src: int, dst: int) -> list[int]:
        return self.routes[route_key(src, dst)]


VECTORS_IN_FLIGHT = 2  # double-buffered token vectors per stage (activation SRAM reserve)


def kv_free(p: Poly) -> Poly:
    """Activation bytes without the terms proportional to L alone.

    In a traced OpGraph the c_l terms of activation bytes are KV-cache operands (attention reading K
    and V, the cache update concatenating them); the cost model charges KV traffic once, from the KV
    residency plan, at kv_bits, so those terms are dropped from activation traffic.
    """
    return Poly(c0=p.c0, c_t=p.c_t, c_l=0.0, c_tl=p.c_tl)


def no_kv_growth(p: Poly) -> Poly:
    """Activation bytes without any term that grows with the KV length (c_l, c_tl).

    Used for what an op must hold in SRAM at once, and for the digital baseline's DRAM traffic.

    Besides the KV operands (c_l, see ``kv_free``), attention's score and probability rows grow as
    T x L (c_tl). The DPU computes attention tile by tile with an online softmax (FlashAttention,
    Dao et al., NeurIPS 2022), so those rows stream through a fixed-size tile buffer instead of being
    resident; their bytes are still charged as SRAM traffic by the cost model.
    """
    return Poly(c0=p.c0, c_t=p.c_t)


def _units(graph: OpGraph) -> tuple[list[int], list[str]]:
    """Unit index per op (see partition module) and a label per unit."""
    layered = [i for i, op in enumerate(graph.ops) if op.layer is not None]
    if not layered:
        return [0] * len(graph.ops), ["model"]
    first, last = layered[0], layered[-1]
    unit_of: list[int] = []
    labels: list[str] = []
    cur_layer: int | None = None
    for i, op in enumerate(graph.ops):
        if i > last and op.layer is None:
            if not labels or labels[-1] != "head":
                labels.append("head")
            unit_of.append(len(labels) - 1)
            continue
        layer = op.layer if op.layer is not None else (graph.ops[first].layer if i < first else cur_layer)
        if layer != cur_layer:
            labels.append(f"layer {layer}")
            cur_layer = layer
        unit_of.append(len(labels) - 1)
    return unit_of, labels


def _fit_message(graph: OpGraph, spec: ImcSystemSpec, total: int, cap: int, need: int) -> str:
    c = spec.package.num_chiplets
    return (
        f"{graph.info.model_id} needs {total} crossbar arrays, {need} chiplets of {cap} arrays "
        f"('{spec.name}'), but the package has {c} chiplets ({c * cap} arrays); "
        f"use --chiplets {need} or more, lower the weight bits, or pass --allow-reprogramming"
    )


def map_model(
    graph: OpGraph,
    spec: ImcSystemSpec,
    plan: CompressionPlan,
    *,
    batch: int = 1,
    max_context_tokens: int | None = None,
    allow_reprogramming: bool = False,
) -> Mapping:
    """Map ``graph`` compressed by ``plan`` onto ``spec`` (see module docstring)."""
    from llmimc.hw import shortest_paths, topology_links

    if batch < 1:
        raise MappingError(f"batch must be >= 1 (got {batch})")
    ctx = max_context_tokens if max_context_tokens is not None else graph.info.max_position_embeddings
    if ctx < 1:
        raise MappingError(f"max_context_tokens must be >= 1 (got {ctx})")
    chip = spec.chiplet
    n_chip = spec.package.num_chiplets
    cap = chip.tiles * chip.tile.arrays_per_tile

    tilings: dict[str, OpTiling] = {}
    for op in graph.ops:
        if op.kind != OpKind.LINEAR:
            continue
        comp = plan.ops.get(op.name)
        if comp is None:
            raise MappingError(
                f"compression plan '{plan.policy_name}' has no entry for linear op '{op.name}'; "
                "rebuild the plan for this model"
            )
        tilings[op.name] = tile_op(op, comp, chip.array)

    unit_of, unit_labels = _units(graph)
    loads = [0] * len(unit_labels)
    work = [0.0] * len(unit_labels)  # estimated time per decode token at L = 1 (balance measure)
    dpu_rate = chip.dpu.macs_per_cycle * chip.dpu.frequency_hz
    for i, op in enumerate(graph.ops):
        t = tilings.get(op.name)
        if t is not None:
            loads[unit_of[i]] += t.arrays
            macs = op.in_features * op.out_features * max(op.num_experts, 1) * op.expert_load
            vectors = op.flops.at(1, 1) / (2.0 * macs) if macs > 0 else 1.0
            work[unit_of[i]] += t.timing.mvm_time_s * max(op.expert_load * vectors, min(vectors, 1.0))
        elif op.kind != OpKind.EMBEDDING:
            work[unit_of[i]] += op.flops.at(1, 1) / dpu_rate
    total_arrays = sum(loads)
    need = chiplets_needed(loads, cap)
    notes: list[str] = []
    reprog: ReprogramPlan | None = None
    if need > n_chip and not allow_reprogramming:
        raise MappingError(_fit_message(graph, spec, total_arrays, cap, need))
    n_virtual = need if need > n_chip else n_chip
    stage_plans = partition(loads, work, cap, n_virtual)

    links = topology_links(spec.package, n_chip)
    mem_chip = spec.package.memory.attached_chiplets[0] if spec.package.memory.attached_chiplets else 0
    if mem_chip >= n_chip:
        mem_chip = 0
        notes.append("memory.attached_chiplets[0] is beyond the chiplet count; memory attached to chiplet 0")
    order = stage_order(n_chip, links, mem_chip)

    unit_layers: list[list[int]] = [[] for _ in unit_labels]
    for i, op in enumerate(graph.ops):
        if op.layer is not None and op.layer not in unit_layers[unit_of[i]]:
            unit_layers[unit_of[i]].append(op.layer)
    stages: list[Stage] = []
    stage_of_unit: dict[int, int] = {}
    v = 0
    arrays_phys = [0] * n_chip
    for s_idx, sp in enumerate(stage_plans):
        virt = list(range(v, v + sp.num_chiplets))
        v += sp.num_chiplets
        phys = [order[x % n_chip] for x in virt]
        k = sp.num_chiplets
        per = [sp.arrays // k + (1 if j < sp.arrays % k else 0) for j in range(k)]
        for c, a in zip(phys, per, strict=True):
            arrays_phys[c] = max(arrays_phys[c], a) if need > n_chip else arrays_phys[c] + a
        layers = [li for u in sp.units for li in unit_layers[u]]
        names = [unit_labels[u] for u in sp.units]
        label = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
        if k > 1:
            label += f" (split x{k})"
        stages.append(
            Stage(
                index=s_idx,
                label=label,
                units=list(sp.units),
                layers=layers,
                chiplets=phys,
                virtual_chiplets=virt,
                arrays_per_chiplet=per,
                split=k > 1,
            )
        )
        for u in sp.units:
            stage_of_unit[u] = s_idx
    ops = [
        OpPlacement(op_name=op.name, stage=stage_of_unit[unit_of[i]], tiling=tilings.get(op.name))
        for i, op in enumerate(graph.ops)
    ]

    # Routes: consecutive stages, memory chiplet <-> every chiplet, split groups root <-> members.
    pairs: set[tuple[int, int]] = set()
    for a, b in zip(stages, stages[1:], strict=False):
        pairs.add((a.chiplets[0], b.chiplets[0]))
    for c in range(n_chip):
        pairs.add((mem_chip, c))
        pairs.add((c, mem_chip))
    for st in stages:
        for c in st.chiplets[1:]:
            pairs.add((st.chiplets[0], c))
            pairs.add((c, st.chiplets[0]))
    paths = shortest_paths(links, sorted(pairs))
    routes = {route_key(a, b): path for (a, b), path in paths.items()}

    emb_bytes = float(
        sum(op.weight_params for op in graph.ops if op.kind == OpKind.EMBEDDING) * graph.info.dtype_bytes
    )
    streamed = 0.0
    if need > n_chip:
        streamed = sum(
            t.weights_on_crossbar * t.sparsity_n / t.sparsity_m * t.weight_bits / 8.0
            for t in tilings.values()
        )
        reprog = ReprogramPlan(
            chiplets_needed=need,
            rounds=math.ceil(need / n_chip),
            cells_per_iteration=sum(t.cells_used for t in tilings.values()),
            weight_bytes_streamed_per_iteration=streamed,
            max_rows_per_array=min(
                chip.array.rows, max((t.rows_stored for t in tilings.values()), default=0)
            ),
            endurance_cycles=chip.array.endurance_cycles,
        )
        notes.append(
            f"weights do not fit ({need} chiplets needed, {n_chip} present): every iteration reprograms "
            f"all crossbars in {reprog.rounds} rounds, streaming weights from off-package memory"
        )

    # KV residency inputs per physical stage-root chiplet.
    layer_chip: dict[int, int] = {}
    outl: dict[int, float] = {}
    act: dict[int, float] = {}
    for i, op in enumerate(graph.ops):
        st = stages[stage_of_unit[unit_of[i]]]
        root = st.chiplets[0]
        if op.layer is not None and op.kind in ATTENTION_KINDS:
            layer_chip[op.layer] = root
        t = tilings.get(op.name)
        if t is not None:  # outlier weights sit with their rows: spread over a split stage's chiplets
            for c in st.chiplets:
                outl[c] = outl.get(c, 0.0) + t.weights_on_dpu * t.outlier_bits / 8.0 / len(st.chiplets)
        # token vectors stream through an op one at a time (one vector per MVM time): a stage holds
        # the vector being computed and the next one (double buffering), whatever the batch size
        in_flight = min(batch, VECTORS_IN_FLIGHT)
        work = (no_kv_growth(op.act_bytes_read) + no_kv_growth(op.act_bytes_written)).at(1, ctx) * in_flight
        act[root] = max(act.get(root, 0.0), work)
    for li in range(graph.info.num_layers):
        if li not in layer_chip and li < len(graph.kv_elements_per_token_per_layer):
            # a layer without traced attention ops keeps its KV with the layer's stage root
            for i, op in enumerate(graph.ops):
                if op.layer == li:
                    layer_chip[li] = stages[stage_of_unit[unit_of[i]]].chiplets[0]
                    break
    kv = plan_kv(
        kv_bits=plan.kv_bits,
        layer_elements=graph.kv_elements_per_token_per_layer,
        layer_chiplet=layer_chip,
        sram_capacity_bytes=chip.global_sram.capacity_bytes,
        outlier_bytes_per_chiplet=outl,
        activation_reserve_per_chiplet=act,
        offpkg_free_bytes=spec.package.memory.total_capacity_bytes - emb_bytes - streamed,
    )
    over = sorted(c for c, b in outl.items() if b > chip.global_sram.capacity_bytes)
    if over:
        raise MappingError(
            f"outlier weights on chiplet {over[0]} need {outl[over[0]]:.0f} bytes of global SRAM but it has "
            f"{chip.global_sram.capacity_bytes}; use more chiplets or a policy with fewer outliers"
        )
    return Mapping(
        model_id=graph.info.model_id,
        spec_name=spec.name,
        num_chiplets=n_chip,
        batch=batch,
        max_context_tokens=ctx,
        links=[tuple(x) for x in links],
        chiplet_order=order,
        memory_chiplet=mem_chip,
        stages=stages,
        ops=ops,
        arrays_capacity_per_chiplet=cap,
        arrays_per_chiplet=arrays_phys,
        total_arrays=total_arrays,
        embedding_bytes_offpkg=emb_bytes,
        routes=routes,
        kv=kv,
        reprogramming=reprog,
        notes=notes,
    )
