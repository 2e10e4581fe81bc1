"""Pipeline stages, op shards and split traffic from a packed chiplet stream (DESIGN.md §4).

Input: the blocks (``llmimc.mapping.blocks``) and, per virtual chiplet of the stream, the pieces it
holds (``llmimc.mapping.partition``); virtual chiplet v runs on physical chiplet order[v mod C].

- *Home* of a unit (decoder layer): the chiplet holding the largest piece of the unit's first block
  with weights (ties: the earliest); a unit without linear ops shares its neighbour's home. The home
  holds the residual stream, runs the unit's non-linear ops and attention and keeps its KV cache.
- *Stage*: a maximal run of consecutive units with the same home; its chiplets are the home followed
  by every other chiplet holding a piece of its blocks (a chiplet may hold pieces of two neighbouring
  stages). The stage's time is the home's: the member chiplets' shards run in parallel with the
  home's, and their transfers (``blocks`` module: column-then-row split traffic, MoE routing) are on
  the home's path.
- *Shards* of a linear op: (chiplet, fraction of the op's arrays and actions) for every piece of its
  block(s); an expert op's fraction on a chiplet is (its experts' pieces there) / E. The first shard
  is the home's when the home holds part of the op, else the largest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmimc._base import Frozen
from llmimc.mapping.blocks import Block, MemberBytes, member_bytes, routed_probability
from llmimc.mapping.partition import Piece
from llmimc.mapping.tiling import OpTiling
from llmimc.model.opgraph import OpGraph


class Stage(Frozen):
    index: int
    label: str  # e.g. "layer 0 .. layer 2" or "layer 3 (split x2)"
    units: list[int]
    layers: list[int]
    chiplets: list[int]  # physical chiplets; the first is the home (residual stream, non-linear ops, KV)
    virtual_chiplets: list[int]  # the stream position of each of ``chiplets``
    arrays_per_chiplet: list[int]  # this stage's arrays on each of ``chiplets``
    split: bool  # the stage's weights span more than one chiplet


class OpShard(Frozen):
    chiplet: int  # physical
    fraction: float  # share of the op's arrays and action counts on this chiplet


class OpTransfer(Frozen):
    """Expected die-to-die bytes per token vector of a split or routed block (``blocks`` module)."""

    kind: Literal["dispatch", "reduction"]  # home -> member (inputs), member -> home (partial outputs)
    src: int  # physical chiplets
    dst: int
    bytes_per_vector: float
    adds_per_vector: float = 0.0  # elements the home adds (a reduction of partial outputs)


@dataclass(frozen=True)
class StagePlan:
    """Stages plus, per op index, its shards and the transfers charged with it."""

    stages: list[Stage]
    stage_of_unit: list[int]
    shards: dict[int, list[OpShard]]
    transfers: dict[int, list[OpTransfer]]


def unit_homes(blocks: list[Block], pieces: list[list[Piece]], num_units: int) -> list[int]:
    """Virtual home chiplet of every unit (see module docstring)."""
    best: dict[int, tuple[int, int]] = {}  # block -> (arrays, virtual chiplet) of its largest piece
    for v, chip in enumerate(pieces):
        for p in chip:
            if p.block not in best or p.arrays > best[p.block][0]:
                best[p.block] = (p.arrays, v)
    homes: list[int | None] = [None] * num_units
    for b, blk in enumerate(blocks):
        if homes[blk.unit] is None and blk.arrays > 0:
            homes[blk.unit] = best[b][1]
    for b, blk in enumerate(blocks):  # units whose blocks all hold zero arrays
        if homes[blk.unit] is None:
            homes[blk.unit] = best[b][1]
    known = [h for h in homes if h is not None]
    prev = known[0] if known else 0
    out: list[int] = []
    for h in homes:  # units without linear ops: the previous unit's home (the first: the next one's)
        prev = h if h is not None else prev
        out.append(prev)
    return out


def _stage_runs(homes: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for u, h in enumerate(homes):
        if runs and homes[runs[-1][0]] == h:
            runs[-1].append(u)
        else:
            runs.append([u])
    return runs


def build_stages(
    graph: OpGraph,
    tilings: dict[str, OpTiling],
    blocks: list[Block],
    pieces: list[list[Piece]],
    unit_labels: list[str],
    unit_layers: list[list[int]],
    order: list[int],
) -> StagePlan:
    """Stages, op shards and split/routing transfers (see module docstring)."""
    n_chip = len(order)
    homes = unit_homes(blocks, pieces, len(unit_labels))
    where: dict[int, list[tuple[int, Piece]]] = {}  # block -> (virtual chiplet, piece)
    for v, chip in enumerate(pieces):
        for p in chip:
            where.setdefault(p.block, []).append((v, p))
    stages: list[Stage] = []
    stage_of_unit = [0] * len(unit_labels)
    for s_idx, units in enumerate(_stage_runs(homes)):
        home = homes[units[0]]
        arrays: dict[int, int] = {home: 0}
        for b, blk in enumerate(blocks):
            if blk.unit in units:
                for v, p in where.get(b, []):
                    arrays[v] = arrays.get(v, 0) + p.arrays
        virt = [home] + sorted(v for v in arrays if v != home)
        names = [unit_labels[u] for u in units]
        label = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
        if len(virt) > 1:
            label += f" (split x{len(virt)})"
        stages.append(
            Stage(
                index=s_idx,
                label=label,
                units=units,
                layers=[li for u in units for li in unit_layers[u]],
                chiplets=[order[v % n_chip] for v in virt],
                virtual_chiplets=virt,
                arrays_per_chiplet=[arrays[v] for v in virt],
                split=len(virt) > 1,
            )
        )
        for u in units:
            stage_of_unit[u] = s_idx
    shards = _op_shards(blocks, where, homes, order)
    transfers = _block_transfers(graph, tilings, blocks, where, homes, order)
    return StagePlan(stages, stage_of_unit, shards, transfers)


def _op_shards(
    blocks: list[Block], where: dict[int, list[tuple[int, Piece]]], homes: list[int], order: list[int]
) -> dict[int, list[OpShard]]:
    frac: dict[int, dict[int, float]] = {}  # op -> virtual chiplet -> fraction
    home_of_op: dict[int, int] = {}
    for b, blk in enumerate(blocks):
        share = 1.0 / blk.num_experts if blk.kind == "expert" else 1.0
        for i in blk.ops:
            home_of_op[i] = homes[blk.unit]
            per = frac.setdefault(i, {})
            for v, p in where.get(b, []):
                per[v] = per.get(v, 0.0) + p.fraction * share
    out: dict[int, list[OpShard]] = {}
    for i, per in frac.items():
        home = home_of_op[i]
        ranked = sorted(per, key=lambda v: (v != home, -per[v], v))
        out[i] = [OpShard(chiplet=order[v % len(order)], fraction=per[v]) for v in ranked]
    return out


def _block_transfers(
    graph: OpGraph,
    tilings: dict[str, OpTiling],
    blocks: list[Block],
    where: dict[int, list[tuple[int, Piece]]],
    homes: list[int],
    order: list[int],
) -> dict[int, list[OpTransfer]]:
    """Per-vector traffic of every member chiplet, charged with the block's first op."""
    n_chip = len(order)
    out: dict[int, list[OpTransfer]] = {}
    experts: dict[int, dict[int, set[int]]] = {}  # unit -> member virtual chiplet -> experts there
    expert_block: dict[int, int] = {}  # unit -> one expert block (all share ops and sizes)
    for b, blk in enumerate(blocks):
        home = homes[blk.unit]
        if blk.kind == "expert":
            expert_block.setdefault(blk.unit, b)
            for v, _ in where.get(b, []):
                experts.setdefault(blk.unit, {}).setdefault(v, set()).add(blk.expert)
            continue
        for v, p in where.get(b, []):
            if v == home:
                continue
            mb = member_bytes(blk, graph, tilings, p.fraction)
            _add(out, blk.ops[0], order[home % n_chip], order[v % n_chip], mb, 1.0)
    for unit, members in experts.items():
        blk = blocks[expert_block[unit]]
        home = homes[unit]
        mb = member_bytes(blk, graph, tilings, 1.0)
        for v, here in sorted(members.items()):
            if v == home:
                continue
            p_routed = routed_probability(blk.num_experts, blk.top_k, len(here))
            _add(out, blk.ops[0], order[home % n_chip], order[v % n_chip], mb, p_routed)
    return out


def _add(
    out: dict[int, list[OpTransfer]], op: int, home: int, member: int, mb: MemberBytes, p: float
) -> None:
    """A member's dispatch and reduction, each expected with probability ``p`` per token vector."""
    if home == member:  # reprogramming rounds can put a member on its home's physical chiplet
        return
    out.setdefault(op, []).extend(
        [
            OpTransfer(kind="dispatch", src=home, dst=member, bytes_per_vector=p * mb.to_member),
            OpTransfer(
                kind="reduction",
                src=member,
                dst=home,
                bytes_per_vector=p * mb.to_home,
                adds_per_vector=p * mb.partial_elements,
            ),
        ]
    )
