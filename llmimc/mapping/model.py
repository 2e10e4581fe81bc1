"""map_model: tiling, blocks, packing, stages, routes and KV residency in one immutable Mapping.

Steps (each documented in its module): ``tiling`` (arrays per linear op), ``blocks`` (the groups of
linear ops placed and split together: attention, MLP, one MoE expert, single ops; their column-then-row
split traffic and MoE routing), ``partition`` (packing blocks onto a stream of chiplets: contiguous,
capacity-bound, balanced by estimated decode time per token), ``stages`` (unit homes, pipeline stages,
op shards and transfers), ``placement`` (nearest-neighbour chiplet order, shortest-path routes),
``reprogram`` (when the weights do not fit), ``kv`` (KV residency). Embedding tables are not mapped to
crossbars (a lookup reads one row, not an MVM): they live in off-package memory and one row per token
is fetched over the die-to-die route from the memory-attached chiplet to the first stage.

Chiplet budget (``partition``): a model whose blocks fit whole spreads over the package in balanced
stages (finer pipeline stages and power-gating domains); a model that fits only when blocks are split
over chiplets (the stream packing, at the capacity bound) is packed on the fewest chiplets at batch 1
(a lone token visits every stage in turn and its layers already span several chiplets: more chiplets
would add only hops, split traffic and always-on leakage) and spread with several vectors in flight.

Placement reference: this rule switches regime with the weights' size (blocks that fit whole are
spread, blocks that must be split are packed tight), so compressing the weights could move a model
onto a slower layout (mixtral-8x7b x256 w4a8-outlier: array-shared 2:4 fits whole and spread over
193 chiplets, 641 us per token against 606 us dense on 155). The layout is therefore chosen for the
*placement reference* of the plan: the same model with array-shared N:M dropped and weights at
``REFERENCE_WEIGHT_BITS`` or more; when that does not fit the package, dense at the plan's own
bits. The plan's smaller blocks take the reference's layout piece by piece
(``partition.transfer_pieces``). Compression then shrinks every piece in place: the same stages, hops and split traffic with fewer
arrays, conversions and leaking periphery, so fewer weight bits and array-shared N:M never make a
token slower or costlier (tests/mapping/test_mapping_monotone.py). A deployment lays out its
chiplets for the model; its compressed variants are compared on that layout. One gap remains: when
the dense reference-bit weights do not fit the package, N:M at reference bits keeps its own layout
while fewer bits with N:M take the fewer-bits dense layout, so that pair is then not guaranteed
(N:M against dense at the same bits, and fewer dense bits against more dense bits, always are).
"""

from __future__ import annotations

from collections import Counter

from llmimc._base import Frozen
from llmimc.compress.plan import CompressionPlan, OpCompression
from llmimc.errors import MappingError
from llmimc.hw.spec import ImcSystemSpec
from llmimc.mapping.blocks import Block, build_blocks, op_work_s
from llmimc.mapping.kv import KvResidency, plan_kv
from llmimc.mapping.partition import BlockLoad, Piece, chiplets_needed, partition, transfer_pieces
from llmimc.mapping.placement import route_key, route_pairs, stage_order
from llmimc.mapping.reprogram import ReprogramPlan, plan_reprogramming
from llmimc.mapping.stages import OpShard, OpTransfer, Stage, StagePlan, build_stages
from llmimc.mapping.tiling import OpTiling, tile_op
from llmimc.model.opgraph import OpGraph, OpKind, no_kv_growth

__all__ = ["Mapping", "OpPlacement", "ReprogramPlan", "Stage", "map_model"]


class OpPlacement(Frozen):
    op_name: str
    stage: int
    tiling: OpTiling | None = None  # linear ops only
    shards: list[OpShard] = []  # linear ops: chiplets holding its arrays (``stages`` module)
    transfers: list[OpTransfer] = []  # split / routed block traffic charged with this op


class Mapping(Frozen):
    """The whole placement of one model on one package (all SI units)."""

    model_id: str
    spec_name: str
    num_chiplets: int
    batch: int
    max_context_tokens: int
    links: list[tuple[int, int]]
    chiplet_order: list[int]  # placement walk (stage i starts at chiplet_order[first virtual of i])
    memory_chiplet: int  # chiplet whose off-package memory controller serves embeddings and spilled KV
    stages: list[Stage]
    packing: str  # "whole" (blocks split only when larger than a chiplet) or "stream" (capacity-bound)
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


REFERENCE_WEIGHT_BITS = 8  # placement reference (module docstring): the usual dense IMC deployment
VECTORS_IN_FLIGHT = 2  # double-buffered token vectors per stage (activation SRAM reserve)


def _units(graph: OpGraph) -> tuple[list[int], list[str]]:
    """Unit index per op and a label per unit.

    Each decoder layer is one unit; ops before the first layer (embeddings) join the first unit and
    ops after the last layer (final norm, lm_head) form a last unit, "head"."""
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


def _tile_all(graph: OpGraph, spec: ImcSystemSpec, plan: CompressionPlan) -> dict[str, OpTiling]:
    tilings: dict[str, OpTiling] = {}
    for op in graph.linear_ops():
        comp = plan.ops.get(op.name)
        if comp is None:
            raise MappingError(
                f"compression plan '{plan.policy_name}' has no entry for linear op '{op.name}'; "
                "rebuild the plan for this model"
            )
        tilings[op.name] = tile_op(op, comp, spec.chiplet.array)
    return tilings


def _unit_layers(graph: OpGraph, unit_of: list[int], num_units: int) -> list[list[int]]:
    layers: list[list[int]] = [[] for _ in range(num_units)]
    for i, op in enumerate(graph.ops):
        if op.layer is not None and op.layer not in layers[unit_of[i]]:
            layers[unit_of[i]].append(op.layer)
    return layers


def _memory_chiplet(spec: ImcSystemSpec, notes: list[str]) -> int:
    attached = spec.package.memory.attached_chiplets
    mem = attached[0] if attached else 0
    if mem >= spec.package.num_chiplets:
        notes.append("memory.attached_chiplets[0] is beyond the chiplet count; memory attached to chiplet 0")
        return 0
    return mem


def _arrays_per_physical(pieces: list[list[Piece]], order: list[int], reprogramming: bool) -> list[int]:
    """Arrays on each physical chiplet (the largest round's when reprogramming)."""
    n_chip = len(order)
    out = [0] * n_chip
    for v, chip in enumerate(pieces):
        c = order[v % n_chip]
        here = sum(p.arrays for p in chip)
        out[c] = max(out[c], here) if reprogramming else out[c] + here
    return out


def _kv_inputs(
    graph: OpGraph,
    ops: list[OpPlacement],
    stages: list[Stage],
    batch: int,
    ctx: int,
) -> tuple[dict[int, int], dict[int, float], dict[int, float]]:
    """KV residency inputs: layer -> home chiplet, outlier bytes and activation reserve per chiplet."""
    layer_chip: dict[int, int] = {}
    outlier_bytes: dict[int, float] = {}
    reserve_bytes: dict[int, float] = {}
    # token vectors stream through an op one at a time (one vector per MVM time): a stage holds the
    # vector being computed and the next one (double buffering), whatever the batch size
    in_flight = min(batch, VECTORS_IN_FLIGHT)
    for op, pl in zip(graph.ops, ops, strict=True):
        home = stages[pl.stage].chiplets[0]
        if op.layer is not None:  # a layer is one unit: its attention and KV live on its stage's home
            layer_chip[op.layer] = home
        t = pl.tiling
        if t is not None:  # outlier weights sit with their rows: on the op's shards
            for sh in pl.shards:
                outlier_bytes[sh.chiplet] = (
                    outlier_bytes.get(sh.chiplet, 0.0) + t.weights_on_dpu * t.outlier_bits / 8.0 * sh.fraction
                )
        resident = (no_kv_growth(op.act_bytes_read) + no_kv_growth(op.act_bytes_written)).at(1, ctx)
        # the home runs the op; a chiplet holding a shard of it buffers its vectors too
        for c in {home} | {sh.chiplet for sh in pl.shards}:
            reserve_bytes[c] = max(reserve_bytes.get(c, 0.0), resident * in_flight)
    layer_chip = {li: c for li, c in layer_chip.items() if li < len(graph.kv_elements_per_token_per_layer)}
    return layer_chip, outlier_bytes, reserve_bytes


def _routes(
    links: list[tuple[int, int]], stages: list[Stage], ops: list[OpPlacement], mem_chip: int, n_chip: int
) -> dict[str, list[int]]:
    from llmimc.hw import shortest_paths

    homes = [st.chiplets[0] for st in stages]
    moved = [(tr.src, tr.dst) for pl in ops for tr in pl.transfers]
    paths = shortest_paths(links, route_pairs(homes, moved, mem_chip, n_chip))
    return {route_key(a, b): path for (a, b), path in paths.items()}


def _kv_routes(
    links: list[tuple[int, int]], kv: KvResidency, routes: dict[str, list[int]]
) -> dict[str, list[int]]:
    """Routes from every pool that holds KV away from its chiplet to that chiplet (``kv`` module)."""
    from llmimc.hw import shortest_paths

    pairs = sorted(
        {(s.pool_chiplet, c.chiplet) for c in kv.chiplets for s in c.segments}
        - {(a, b) for a, b in (tuple(map(int, k.split("->"))) for k in routes)}
    )
    paths = shortest_paths(links, pairs) if pairs else {}
    return {route_key(a, b): path for (a, b), path in paths.items()}


def _placement_notes(
    packing: str, blocks: list[Block], pieces: list[list[Piece]], batch: int, n_chip: int
) -> list[str]:
    notes: list[str] = []
    used = len(pieces)
    pieces_of = Counter(p.block for chip in pieces for p in chip)
    split = sum(1 for n in pieces_of.values() if n > 1)
    if batch == 1 and used < n_chip and packing == "stream":
        notes.append(
            f"batch 1: split weight blocks packed on the fewest chiplets that hold them ({used} of "
            f"{n_chip}); a lone token visits every stage in turn, so more chiplets would add only hops"
        )
    if split:
        notes.append(
            f"{split} weight block(s) split column-then-row over chiplets (one partial-output reduction "
            "per block and token, at activation bits)"
        )
    experts = [b for b in blocks if b.kind == "expert"]
    if experts:
        notes.append(
            f"MoE: {len(experts)} experts placed on chiplets; a token's hidden vector goes to a chiplet "
            f"with probability 1 - C(E - e, k) / C(E, k) (uniform top-{experts[0].top_k} routing)"
        )
    return notes


def _reference_plans(plan: CompressionPlan) -> list[CompressionPlan]:
    """Placement references of ``plan``, preferred first (only those that differ from ``plan``): dense
    at >= REFERENCE_WEIGHT_BITS bits, then dense at the plan's own bits."""
    out: list[CompressionPlan] = []
    seen: list[dict[str, OpCompression]] = [dict(plan.ops)]
    for raise_bits, drop_nm in ((True, True), (False, True)):
        ops: dict[str, OpCompression] = {}
        for name, c in plan.ops.items():
            upd: dict[str, object] = {}
            if raise_bits and c.weight_bits < REFERENCE_WEIGHT_BITS:
                upd["weight_bits"] = REFERENCE_WEIGHT_BITS
            if drop_nm and c.drops_crossbar_rows:
                upd.update(sparsity_n=1, sparsity_m=1, sparsity_pattern="channel")
            ops[name] = c.model_copy(update=upd) if upd else c
        if ops not in seen:
            seen.append(ops)
            out.append(plan.model_copy(update={"ops": ops}))
    return out


def _reference_pieces(
    graph: OpGraph,
    spec: ImcSystemSpec,
    plan: CompressionPlan,
    unit_of: list[int],
    loads: list[BlockLoad],
    budget: int,
    spread_stream: bool,
) -> tuple[str, list[list[Piece]]] | None:
    """The placement reference's packing carried over to ``loads`` (module docstring), or None."""
    chip = spec.chiplet
    cap = chip.tiles * chip.tile.arrays_per_tile
    for ref in _reference_plans(plan):
        tilings = _tile_all(graph, spec, ref)
        ref_blocks = build_blocks(graph, tilings, unit_of, op_work_s(graph, spec, tilings))
        ref_loads = [BlockLoad(b.unit, b.arrays, b.work_s) for b in ref_blocks]
        if [b.unit for b in ref_loads] != [b.unit for b in loads] or chiplets_needed(ref_loads, cap) > budget:
            continue
        packing, ref_pieces = partition(ref_loads, cap, budget, spread_stream=spread_stream)
        pieces = transfer_pieces(ref_pieces, loads, cap)
        if pieces is not None:
            return packing, pieces
    return None


def _checked_context(graph: OpGraph, batch: int, max_context_tokens: int | None) -> int:
    if batch < 1:
        raise MappingError(f"batch must be >= 1 (got {batch})")
    ctx = max_context_tokens if max_context_tokens is not None else graph.info.max_position_embeddings
    if ctx < 1:
        raise MappingError(f"max_context_tokens must be >= 1 (got {ctx})")
    return ctx


def _op_placements(
    graph: OpGraph, unit_of: list[int], tilings: dict[str, OpTiling], sp: StagePlan
) -> list[OpPlacement]:
    return [
        OpPlacement(
            op_name=op.name,
            stage=sp.stage_of_unit[unit_of[i]],
            tiling=tilings.get(op.name),
            shards=sp.shards.get(i, []),
            transfers=sp.transfers.get(i, []),
        )
        for i, op in enumerate(graph.ops)
    ]


def _kv_residency(
    graph: OpGraph,
    spec: ImcSystemSpec,
    plan: CompressionPlan,
    ops: list[OpPlacement],
    stages: list[Stage],
    batch: int,
    ctx: int,
    offpkg_used_bytes: float,
    links: list[tuple[int, int]],
    arrays_per_chiplet: list[int],
    mem_chip: int,
) -> KvResidency:
    """KV residency (``kv`` module) after checking that the outlier weights fit each chiplet's SRAM."""
    from llmimc.hw import hop_distance_matrix

    sram = spec.chiplet.global_sram.capacity_bytes
    n_chip = spec.package.num_chiplets
    mem = spec.package.memory
    attach = [a for a in mem.attached_chiplets if a < n_chip] or [0]
    # one attach point per stack, or every stack reached through all of the listed controllers
    stack_attach = [[a] for a in attach] if len(attach) == mem.num_stacks > 1 else [attach] * mem.num_stacks
    layer_chip, outl, act = _kv_inputs(graph, ops, stages, batch, ctx)
    over = sorted(c for c, b in outl.items() if b > sram)
    if over:
        raise MappingError(
            f"outlier weights on chiplet {over[0]} need {outl[over[0]]:.0f} bytes of global SRAM but it has "
            f"{sram}; use more chiplets or a policy with fewer outliers"
        )
    kv_homes = set(layer_chip.values())
    gated = spec.chiplet.power.power_gating
    lenders = [
        c for c in range(n_chip) if not gated or arrays_per_chiplet[c] > 0 or c in kv_homes or c == mem_chip
    ]
    return plan_kv(
        kv_bits=plan.kv_bits,
        layer_elements=graph.kv_elements_per_token_per_layer,
        layer_chiplet=layer_chip,
        sram_capacity_bytes=sram,
        outlier_bytes_per_chiplet=outl,
        activation_reserve_per_chiplet=act,
        offpkg_free_bytes=mem.total_capacity_bytes - offpkg_used_bytes,
        num_chiplets=n_chip,
        sram_chiplets=lenders,
        hops=hop_distance_matrix(links, n_chip),
        stack_attach=stack_attach,
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
    from llmimc.hw import topology_links

    ctx = _checked_context(graph, batch, max_context_tokens)
    chip = spec.chiplet
    n_chip = spec.package.num_chiplets
    cap = chip.arrays
    notes: list[str] = []

    tilings = _tile_all(graph, spec, plan)
    unit_of, unit_labels = _units(graph)
    blocks: list[Block] = build_blocks(graph, tilings, unit_of, op_work_s(graph, spec, tilings))
    loads = [BlockLoad(b.unit, b.arrays, b.work_s) for b in blocks]
    total_arrays = sum(t.arrays for t in tilings.values())
    need = chiplets_needed(loads, cap)
    if need > n_chip and not allow_reprogramming:
        raise MappingError(_fit_message(graph, spec, total_arrays, cap, need))
    via_ref = (
        None if need > n_chip else _reference_pieces(graph, spec, plan, unit_of, loads, n_chip, batch > 1)
    )
    if via_ref is not None:
        packing, pieces = via_ref
        notes.append(
            "layout chosen for the placement reference (dense weights at >= "
            f"{REFERENCE_WEIGHT_BITS} bits where they fit); this plan's smaller blocks take it piece by piece"
        )
    else:
        packing, pieces = partition(loads, cap, max(need, n_chip), spread_stream=batch > 1)

    links = topology_links(spec.package, n_chip)
    mem_chip = _memory_chiplet(spec, notes)
    order = stage_order(n_chip, links, mem_chip)
    unit_layers = _unit_layers(graph, unit_of, len(unit_labels))
    sp: StagePlan = build_stages(graph, tilings, blocks, pieces, unit_labels, unit_layers, order)
    ops = _op_placements(graph, unit_of, tilings, sp)
    routes = _routes(links, sp.stages, ops, mem_chip, n_chip)
    notes += _placement_notes(packing, blocks, pieces, batch, n_chip)
    emb_bytes = float(
        sum(op.weight_params for op in graph.ops if op.kind == OpKind.EMBEDDING) * graph.info.dtype_bytes
    )
    reprog: ReprogramPlan | None = None
    streamed = 0.0
    if need > n_chip:
        reprog = plan_reprogramming(list(tilings.values()), need, n_chip, chip.array)
        streamed = reprog.weight_bytes_streamed_per_iteration
        notes.append(
            f"weights do not fit ({need} chiplets needed, {n_chip} present): every iteration reprograms "
            f"all crossbars in {reprog.rounds} rounds, streaming weights from off-package memory"
        )
    arrays_phys = _arrays_per_physical(pieces, order, need > n_chip)
    kv = _kv_residency(
        graph, spec, plan, ops, sp.stages, batch, ctx, emb_bytes + streamed, links, arrays_phys, mem_chip
    )
    routes |= _kv_routes(links, kv, routes)
    return Mapping(
        model_id=graph.info.model_id,
        spec_name=spec.name,
        num_chiplets=n_chip,
        batch=batch,
        max_context_tokens=ctx,
        links=[(a, b) for a, b in links],
        chiplet_order=order,
        memory_chiplet=mem_chip,
        stages=sp.stages,
        packing=packing,
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
