"""Layer partitioning over chiplets: contiguous, balanced pipeline stages (DESIGN.md §4).

The op list is cut into *units*: each decoder layer is one unit; ops before the first layer
(embeddings) join the first unit and ops after the last layer (final norm, lm_head) form a last unit.
A unit has a *load* (the crossbar arrays of its linear ops: the capacity measure) and a *work* (an
estimate of its time per decode token: the balance measure).

Stages are contiguous runs of units. A unit larger than one chiplet (``capacity`` arrays) gets
ceil(load / capacity) chiplets of its own (tensor parallel: its arrays are split by rows over those
chiplets and partial sums are reduced on the first one); all other units are packed whole. For a
work bound B, the greedy left-to-right packing (open a new chiplet when the next unit would push the
load above capacity or the work above B) uses the fewest chiplets any contiguous packing can (both
measures are additive, so a standard exchange argument applies); the mapping uses the smallest B
whose greedy packing needs no more than the available chiplets (bisection on B), i.e. the min-max
work-balanced contiguous partition that fits. With B = infinity the greedy count is the smallest
chiplet count that holds the model at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One pipeline stage: a run of units on ``num_chiplets`` consecutive (virtual) chiplets."""

    units: tuple[int, ...]
    num_chiplets: int  # > 1 only for a split (tensor-parallel) unit
    arrays: int  # total arrays of the stage


def _greedy(loads: list[int], work: list[float], capacity: int, bound: float) -> list[StagePlan]:
    stages: list[StagePlan] = []
    cur_units: list[int] = []
    cur_load = 0
    cur_work = 0.0
    for i, load in enumerate(loads):
        if load > capacity:
            if cur_units:
                stages.append(StagePlan(tuple(cur_units), 1, cur_load))
                cur_units, cur_load, cur_work = [], 0, 0.0
            stages.append(StagePlan((i,), math.ceil(load / capacity), load))
            continue
        if cur_units and cur_load + load <= capacity and cur_work + work[i] <= bound:
            cur_units.append(i)
            cur_load += load
            cur_work += work[i]
        else:
            if cur_units:
                stages.append(StagePlan(tuple(cur_units), 1, cur_load))
            cur_units, cur_load, cur_work = [i], load, work[i]
    if cur_units:
        stages.append(StagePlan(tuple(cur_units), 1, cur_load))
    return stages


def _count(stages: list[StagePlan]) -> int:
    return sum(s.num_chiplets for s in stages)


def chiplets_needed(loads: list[int], capacity: int) -> int:
    """Smallest chiplet count that holds every unit (contiguous packing at full capacity)."""
    return _count(_greedy(loads, [0.0] * len(loads), capacity, math.inf))


def partition(loads: list[int], work: list[float], capacity: int, num_chiplets: int) -> list[StagePlan]:
    """Min-max work-balanced contiguous partition onto at most ``num_chiplets`` chiplets.

    The caller checks ``chiplets_needed(loads, capacity) <= num_chiplets`` first.
    """
    whole = [w for w, x in zip(work, loads, strict=True) if x <= capacity]
    lo = max(whole, default=0.0)
    hi = max(sum(whole), lo)
    if _count(_greedy(loads, work, capacity, lo)) <= num_chiplets:
        return _greedy(loads, work, capacity, lo)
    for _ in range(60):  # bisection to ~1e-18 relative; greedy count is monotone in the bound
        mid = 0.5 * (lo + hi)
        if _count(_greedy(loads, work, capacity, mid)) <= num_chiplets:
            hi = mid
        else:
            lo = mid
    return _greedy(loads, work, capacity, hi)
