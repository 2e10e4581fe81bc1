"""Placement blocks: the groups of linear ops that are placed, and split, together (DESIGN.md §4).

A *block* is the smallest group of crossbar weights the partitioner places as one piece:

- ``attention``: the linear ops of one layer's attention module (q/k/v or a fused qkv, then o);
- ``mlp``: the linear ops of one layer's dense MLP (gate/up or fc1, then down or fc2);
- ``expert``: ONE expert of a MoE layer (its share of the layer's expert ops: every expert op stores
  ``num_experts`` copies, so an expert block holds 1/E of each expert op's arrays). Experts are
  placed whole on chiplets where they fit (expert parallelism);
- ``single``: any other linear op on its own (MoE router, lm_head, unknown modules).

A block larger than the room left on a chiplet is split over chiplets *column-then-row* (Megatron-LM
tensor parallelism, Shoeybi et al., arXiv:1909.08053, §3): a chiplet holding a fraction f of the
block holds f of the output columns of the block's first ops and the matching f of the input rows of
its last op, so per token vector it receives the block input once and returns one partial output
(a reduction at activation precision, a bits per element), instead of a row split that gathers every
op's full-width partial sums. Per token vector and member chiplet (not the block's home):

- ``mlp`` / ``expert``:  in  K_first x a/8 bytes,  out  N_last x a/8 bytes (partial sum);
- ``attention``: the attention core (scores, softmax, context, KV) stays on the home chiplet (the KV
  residency plan keeps each layer's KV there), so the member also returns its q/k/v column outputs
  (f x Sum N_first x a/8) and receives its slice of the context (f x K_last x a/8);
- ``single``: in  K x a/8,  out  f x N x a/8 (its column slice of the output).

MoE routing (uniform expected top-k load, ``Op.expert_load`` = k / E, as the OpGraph models it): a
token's hidden vector goes to a chiplet only when one of the experts with weights there is among its
top k; with e_c of the E experts on chiplet c,

    P_c = 1 - C(E - e_c, k) / C(E, k)

and the chiplet returns one combined partial output (it sums its selected experts' outputs, weighted
by their gate values, before sending). Expected bytes per token = P_c x (in + out).

Each block also carries a *work* estimate (decode time per token at L = 1: MVM time of its linear
ops plus DPU time of the digital ops that follow it in the layer), the partitioner's balance measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from llmimc.compress.policy import op_roles
from llmimc.hw.spec import ImcSystemSpec
from llmimc.mapping.tiling import OpTiling
from llmimc.model.opgraph import OpGraph, OpKind

BlockKind = Literal["attention", "mlp", "expert", "single"]


@dataclass(frozen=True, slots=True)
class Block:
    """One placement block (see module docstring)."""

    kind: BlockKind
    unit: int  # partition unit (layer) the block belongs to
    ops: tuple[int, ...]  # indices into graph.ops of its linear ops, in graph order
    arrays: int  # crossbar arrays of the block (an expert block: its expert's share)
    work_s: float  # estimated decode time per token at L = 1 (balance measure)
    expert: int = -1  # expert index for an ``expert`` block
    num_experts: int = 1  # E of the MoE layer (1 for dense blocks)
    top_k: int = 1  # experts a token is routed to (MoE layers)


def _block_key(graph: OpGraph, i: int) -> tuple[BlockKind, str]:
    op = graph.ops[i]
    roles = op_roles(op)
    layer = "" if op.layer is None else str(op.layer)
    if op.num_experts > 1:
        return "expert", layer
    if "router" in roles:
        return "single", op.name
    if "attn" in roles and op.layer is not None:
        return "attention", layer
    if "mlp" in roles and op.layer is not None:
        return "mlp", layer
    return "single", op.name


def op_work_s(graph: OpGraph, spec: ImcSystemSpec, tilings: dict[str, OpTiling]) -> list[float]:
    """Estimated decode time per token at L = 1 of every op (0 for embeddings).

    Linear ops: t_mvm x max(expert_load x vectors, min(vectors, 1)) with vectors = FLOPs / (2 K N E
    load) per token (a routed expert still runs one whole MVM); other ops: FLOPs / DPU rate.
    """
    chip = spec.chiplet
    dpu_rate = chip.dpu.macs_per_s
    work: list[float] = []
    for op in graph.ops:
        t = tilings.get(op.name)
        if t is not None:
            vectors = op.vectors_at(1, 1)
            work.append(t.timing.mvm_time_s * max(op.expert_load * vectors, min(vectors, 1.0)))
        elif op.kind == OpKind.EMBEDDING:
            work.append(0.0)
        else:
            work.append(op.flops.at(1, 1) / dpu_rate)
    return work


def build_blocks(
    graph: OpGraph, tilings: dict[str, OpTiling], unit_of: list[int], work_s: list[float]
) -> list[Block]:
    """Blocks of every unit in graph order (see module docstring).

    Digital ops add their work to the block before them in the same unit (the first block of the
    unit when none precedes them); a unit without linear ops adds its work to the previous block.
    """
    groups: list[tuple[BlockKind, int, list[int]]] = []
    index: dict[tuple[int, BlockKind, str], int] = {}
    pending_work = 0.0
    extra: dict[int, float] = {}
    last_group = -1
    for i, op in enumerate(graph.ops):
        if op.name not in tilings:
            if last_group >= 0 and groups[last_group][1] == unit_of[i]:
                extra[last_group] = extra.get(last_group, 0.0) + work_s[i]
            else:
                pending_work += work_s[i]
            continue
        kind, tag = _block_key(graph, i)
        key = (unit_of[i], kind, tag)
        if key not in index:
            index[key] = len(groups)
            groups.append((kind, unit_of[i], []))
            if pending_work:
                extra[index[key]] = extra.get(index[key], 0.0) + pending_work
                pending_work = 0.0
        last_group = index[key]
        groups[last_group][2].append(i)
        extra[last_group] = extra.get(last_group, 0.0) + work_s[i]
    if pending_work and groups:
        extra[len(groups) - 1] = extra.get(len(groups) - 1, 0.0) + pending_work
    blocks: list[Block] = []
    for g_idx, (kind, unit, ops) in enumerate(groups):
        arrays = sum(tilings[graph.ops[i].name].arrays for i in ops)
        work = extra.get(g_idx, 0.0)
        if kind != "expert":
            blocks.append(Block(kind, unit, tuple(ops), arrays, work))
            continue
        first = graph.ops[ops[0]]
        e = max(first.num_experts, 1)
        k = max(1, round(first.expert_load * e))
        per = [arrays // e + (1 if x < arrays % e else 0) for x in range(e)]
        blocks += [Block("expert", unit, tuple(ops), per[x], work / e, x, e, k) for x in range(e)]
    return blocks


def routed_probability(num_experts: int, top_k: int, experts_here: int) -> float:
    """P(a token's top-k experts include one of ``experts_here`` given experts), uniform routing."""
    if experts_here <= 0:
        return 0.0
    if num_experts - experts_here < top_k:
        return 1.0
    return 1.0 - math.comb(num_experts - experts_here, top_k) / math.comb(num_experts, top_k)


@dataclass(frozen=True, slots=True)
class MemberBytes:
    """Bytes per token vector between a block's home and one member chiplet (one block)."""

    to_member: float
    to_home: float
    partial_elements: float  # output elements the home adds (0 when the member returns column slices)


def member_bytes(block: Block, graph: OpGraph, tilings: dict[str, OpTiling], fraction: float) -> MemberBytes:
    """Column-then-row split traffic of one member holding ``fraction`` of ``block`` (module docstring).

    For an expert block ``fraction`` is of that expert; the routing probability is applied by the caller.
    """
    ts = [tilings[graph.ops[i].name] for i in block.ops]
    first, last = ts[0], ts[-1]
    k_in = first.in_features * first.act_bits / 8.0
    if len(ts) == 1:
        return MemberBytes(k_in, fraction * last.out_features * last.act_bits / 8.0, 0.0)
    partial = last.out_features * last.act_bits / 8.0
    if block.kind != "attention":
        return MemberBytes(k_in, partial, float(last.out_features))
    heads_out = fraction * sum(t.out_features * t.act_bits / 8.0 for t in ts[:-1])
    context_in = fraction * last.in_features * last.act_bits / 8.0
    return MemberBytes(k_in + context_in, partial + heads_out, float(last.out_features))
