"""Weight reprogramming plan: when the crossbars of the package cannot hold every weight.

The model is packed over the chiplet count it needs (``virtual`` chiplets) and virtual chiplet v runs
on physical chiplet order[v mod C]; the R = ceil(needed / C) rounds reprogram the package every
iteration: every crossbar cell is written once per iteration (program energy per cell, rows programmed
one at a time per array, all arrays in parallel, bounded by streaming the weights from off-package
memory), so each cell consumes one endurance cycle per iteration.
"""

from __future__ import annotations

import math

from llmimc._base import Frozen
from llmimc.compress.plan import nm_index_bits
from llmimc.hw.spec import CrossbarArray
from llmimc.mapping.tiling import OpTiling


class ReprogramPlan(Frozen):
    chiplets_needed: int
    rounds: int
    cells_per_iteration: int  # crossbar cells written per iteration (all weights)
    weight_bytes_streamed_per_iteration: float
    max_rows_per_array: int
    endurance_cycles: float | None  # writes a cell survives; None = unlimited


def stored_weight_bytes(tilings: list[OpTiling]) -> float:
    """Compressed bytes of the crossbar weights, all experts: the kept values at weight_bits plus
    ceil(log2 C(m, n)) index bits per group of m (either N:M pattern stores only the kept values),
    i.e. weights x (n w + index bits) / (8 m)."""
    return sum(
        t.weights_on_crossbar
        * (t.sparsity_n * t.weight_bits + nm_index_bits(t.sparsity_n, t.sparsity_m))
        / (8.0 * t.sparsity_m)
        for t in tilings
    )


def plan_reprogramming(
    tilings: list[OpTiling], needed: int, num_chiplets: int, array: CrossbarArray
) -> ReprogramPlan:
    """The rounds and write volume of one iteration (see module docstring)."""
    return ReprogramPlan(
        chiplets_needed=needed,
        rounds=math.ceil(needed / num_chiplets),
        cells_per_iteration=sum(t.cells_used for t in tilings),
        weight_bytes_streamed_per_iteration=stored_weight_bytes(tilings),
        max_rows_per_array=min(array.rows, max((t.rows_stored for t in tilings), default=0)),
        endurance_cycles=array.endurance_cycles,
    )
