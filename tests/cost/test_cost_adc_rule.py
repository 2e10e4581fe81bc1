"""The cost model follows the ADC rule: a copied spec with another adc.bits or rows_active_per_cycle
changes energy and latency as ``llmimc.hw.derive`` says (issue 9 item 3).

hand_graph layer 0: fc 256x128 at 8-bit weights on 128x128 1-bit cells (2 row blocks x 8 column
blocks), 8 input steps, 8 columns per ADC at 10 ns (80 ns) under a 100 ns read. With 1-bit cells and
1-bit inputs a column sum of r rows is at most r, so an 8-bit ADC with one encoding bit saved takes
r = 511 >= 128 rows: one row group. Forcing 32 rows per cycle gives 4 row groups: 4x the cycles (the
MVM 0.8 -> 3.2 us) and 4x the conversions and shift-and-adds.
"""

from __future__ import annotations

import pytest
from support.imc import HAND_SPEC, hand_graph, make_spec, plan_for

from llmimc.cost.actions import Action
from llmimc.cost.compile import Resource
from llmimc.cost.model import features
from llmimc.sim.system import build_system


def _fc(overrides: dict):
    g = hand_graph()
    s = build_system(g, make_spec({**HAND_SPEC, **overrides}), plan_for(g))
    f = features([], [0])
    i = next(k for k, it in enumerate(s.compiled.items) if it.layer == "layer 0" and it.kind == "linear")
    counts = s.cost_model.item_counts(f, s.cost_model.no_spill())[i]
    it = s.compiled.items[i]
    return counts, float(it.times[Resource.ANALOG] @ f), s.cost_model.iteration_cost([], [0])


def test_rows_per_cycle_scales_cycles_and_conversions():
    c1, t1, it1 = _fc({})
    c4, t4, it4 = _fc(
        {"chiplet.array.rows_active_per_cycle": 32, "chiplet.array.sources.rows_active_per_cycle": "test"}
    )
    assert t1 == pytest.approx(800e-9) and t4 == pytest.approx(3200e-9)
    assert c4[Action.CONVERSION] == 4 * c1[Action.CONVERSION] == 4 * 8 * 2 * 1024
    assert c4[Action.CELL_READ] == c1[Action.CELL_READ]  # every cell is still read once per input step
    assert it4.latency_s > it1.latency_s and it4.energy_j > it1.energy_j


def test_adc_bits_scale_energy_per_conversion():
    c8, _, it8 = _fc({})
    c10, _, it10 = _fc({"chiplet.array.adc.bits": 10})  # reference 8 bits: 4x per conversion
    assert c10[Action.CONVERSION] == c8[Action.CONVERSION]  # one group either way
    # the iteration converts fc's 8 x 2 x 1024 and lm_head's 8 x 1 x 2048 columns at 1 pJ (HAND_SPEC)
    extra = (8 * 2 * 1024 + 8 * 2048) * 1e-12 * (4 - 1)
    assert it10.energy_j - it8.energy_j == pytest.approx(extra, rel=0.02)  # + leakage over a longer MVM
