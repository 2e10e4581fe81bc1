"""Packing placement blocks onto a stream of chiplets: contiguous, capacity-bound, work-balanced.

Input: the blocks of ``llmimc.mapping.blocks`` in graph order, each with a *load* (crossbar arrays:
the capacity measure), a *work* (estimated decode time per token: the balance measure) and its unit
(decoder layer). Output: per chiplet of the stream (virtual chiplets 0, 1, ...), the *pieces* it holds
(block, arrays, fraction of the block). Two packings:

- ``whole``: units (layers) that fit one chiplet are packed whole; a unit that does not fit is
  packed block by block; a block larger than a chiplet gets ceil(load / capacity) chiplets of its own
  (column-then-row split, ``blocks`` module), evenly. For a work bound B the greedy left-to-right
  packing (open a new chiplet when the next item would push the load above capacity or the work
  above B) uses the fewest chiplets any contiguous packing of those items can (an exchange argument:
  both measures are additive).
- ``stream``: blocks fill every chiplet to capacity and the block that does not fit the room left is
  split column-then-row over this chiplet and the next (chiplets are shared by neighbouring layers),
  so the whole model needs ceil(total arrays / capacity) chiplets (the capacity bound); a work bound
  B closes a chiplet at a block boundary.

``partition`` picks the packing and the bound: the *budget* is the chiplet count it may use; the
whole packing is used when it fits the budget (no split traffic), else the stream packing; the work
bound is the smallest (bisection) whose packing fits the budget, i.e. the min-max work-balanced
contiguous packing. The whole packing spreads over the budget in balanced stages: finer stages
pipeline more vectors and are finer power-gating domains (``llmimc.cost.power``: a stage's ADCs and
DACs leak only while it computes). The stream packing (blocks split over chiplets anyway) can spread
too (``spread_stream``); ``map_model`` does so only with several vectors in flight: at batch 1 a
lone token visits every stage in turn and its layers already span several chiplets, so more chiplets
would add only hops, split traffic and always-on leakage.

``transfer_pieces`` carries a packing made for larger blocks (``map_model``: the placement reference,
dense weights at reference bits) over to smaller ones with the same structure: every piece keeps its
chiplet and its fraction of the block, and its arrays become that fraction of the smaller block
(rounded so that a block's pieces sum to its arrays). Stages, shards and split traffic depend on the
fractions only, so the smaller model runs on the same layout with fewer arrays per piece.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Packing = Literal["whole", "stream"]


@dataclass(frozen=True, slots=True)
class Piece:
    """The share of one block on one chiplet of the stream."""

    block: int
    arrays: int
    fraction: float  # of the block's arrays (1.0 = whole)


@dataclass(frozen=True, slots=True)
class BlockLoad:
    unit: int
    arrays: int
    work_s: float


def _even_split(block: int, load: int, k: int) -> list[list[Piece]]:
    parts = [load // k + (1 if j < load % k else 0) for j in range(k)]
    return [[Piece(block, a, a / load)] for a in parts]


def _items(blocks: list[BlockLoad], capacity: int) -> list[list[int]]:
    """Whole packing's items: a unit that fits one chiplet, else each of its blocks."""
    by_unit: list[list[int]] = []
    for b, blk in enumerate(blocks):
        if by_unit and blocks[by_unit[-1][0]].unit == blk.unit:
            by_unit[-1].append(b)
        else:
            by_unit.append([b])
    items: list[list[int]] = []
    for grp in by_unit:
        if sum(blocks[b].arrays for b in grp) <= capacity:
            items.append(grp)
        else:
            items += [[b] for b in grp]
    return items


def pack_whole(blocks: list[BlockLoad], capacity: int, bound_s: float) -> list[list[Piece]]:
    chiplets: list[list[Piece]] = []
    cur: list[Piece] = []
    load, work = 0, 0.0
    for item in _items(blocks, capacity):
        i_load = sum(blocks[b].arrays for b in item)
        i_work = sum(blocks[b].work_s for b in item)
        if i_load > capacity:  # one block larger than a chiplet
            if cur:
                chiplets.append(cur)
                cur, load, work = [], 0, 0.0
            chiplets += _even_split(item[0], i_load, math.ceil(i_load / capacity))
            continue
        if cur and (load + i_load > capacity or work + i_work > bound_s):
            chiplets.append(cur)
            cur, load, work = [], 0, 0.0
        cur += [Piece(b, blocks[b].arrays, 1.0) for b in item]
        load += i_load
        work += i_work
    if cur:
        chiplets.append(cur)
    return chiplets


def pack_stream(blocks: list[BlockLoad], capacity: int, bound_s: float) -> list[list[Piece]]:
    chiplets: list[list[Piece]] = []
    cur: list[Piece] = []
    load, work = 0, 0.0
    for b, blk in enumerate(blocks):
        if cur and work + blk.work_s > bound_s:
            chiplets.append(cur)
            cur, load, work = [], 0, 0.0
        left = blk.arrays
        if left == 0:
            cur.append(Piece(b, 0, 1.0))
            continue
        while left > 0:
            if load >= capacity:
                chiplets.append(cur)
                cur, load, work = [], 0, 0.0
            take = min(left, capacity - load)
            frac = take / blk.arrays
            cur.append(Piece(b, take, frac))
            load += take
            work += blk.work_s * frac
            left -= take
    if cur:
        chiplets.append(cur)
    return chiplets


def _pack(blocks: list[BlockLoad], capacity: int, bound_s: float, packing: Packing) -> list[list[Piece]]:
    return (pack_whole if packing == "whole" else pack_stream)(blocks, capacity, bound_s)


def transfer_pieces(
    ref: list[list[Piece]], blocks: list[BlockLoad], capacity: int
) -> list[list[Piece]] | None:
    """``ref``'s layout with ``blocks``' arrays (module docstring); None if a chiplet would overflow."""
    done: dict[int, float] = {}  # block -> fraction placed so far
    out: list[list[Piece]] = []
    for chip in ref:
        here: list[Piece] = []
        for p in chip:
            a = blocks[p.block].arrays
            before = done.get(p.block, 0.0)
            done[p.block] = before + p.fraction
            take = round(min(done[p.block], 1.0) * a) - round(min(before, 1.0) * a)
            here.append(Piece(p.block, take, p.fraction))
        if sum(p.arrays for p in here) > capacity:
            return None
        out.append(here)
    return out


def chiplets_needed(blocks: list[BlockLoad], capacity: int) -> int:
    """Smallest chiplet count that holds every block (the stream packing at full capacity)."""
    return len(pack_stream(blocks, capacity, math.inf))


def partition(
    blocks: list[BlockLoad], capacity: int, budget: int, *, spread_stream: bool = True
) -> tuple[Packing, list[list[Piece]]]:
    """Min-max work-balanced packing onto at most ``budget`` chiplets (see module docstring).

    ``spread_stream=False``: when only the stream packing fits, fill chiplets to capacity (the fewest
    chiplets, no work bound). The caller checks ``chiplets_needed(blocks, capacity) <= budget`` first.
    """
    packing: Packing = "whole" if len(pack_whole(blocks, capacity, math.inf)) <= budget else "stream"
    if packing == "stream" and not spread_stream:
        return packing, pack_stream(blocks, capacity, math.inf)
    lo, hi = 0.0, sum(b.work_s for b in blocks)
    if len(_pack(blocks, capacity, lo, packing)) <= budget:
        return packing, _pack(blocks, capacity, lo, packing)
    for _ in range(60):  # bisection to ~1e-18 relative; the chiplet count falls as the bound grows
        mid = 0.5 * (lo + hi)
        if len(_pack(blocks, capacity, mid, packing)) <= budget:
            hi = mid
        else:
            lo = mid
    best = _pack(blocks, capacity, hi, packing)
    if len(best) > budget:  # the stream count is not strictly monotone in the bound: fall back
        best = _pack(blocks, capacity, math.inf, packing)
    return packing, best
