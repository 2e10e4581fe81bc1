"""The cost model's per-vector action counts agree with ``llmimc.hw.derive`` on a full-array MVM.

A K x N weight that exactly fills one array (K = rows, N x slices = cols) must cost what
``llmimc hw show`` reports for one MVM: the same input cycles and MVM time, cell reads, ADC
conversions, DAC row drives, shift-and-adds, and hence the same energy per MAC.
"""

from __future__ import annotations

import pytest
from support.imc import linear

from llmimc.compress.plan import OpCompression
from llmimc.hw import load_spec
from llmimc.hw.derive import adc_energy_per_conversion_j, mvm_figures
from llmimc.mapping.tiling import per_vector_actions, tile_op


@pytest.mark.parametrize(("w_bits", "a_bits"), [(8, 8), (4, 8), (4, 4), (2, 6)])
def test_full_array_mvm_matches_derive(w_bits, a_bits):
    spec = load_spec("rram-chiplet")
    arr, tile = spec.chiplet.array, spec.chiplet.tile
    fig = mvm_figures(arr, tile, a_bits, w_bits)
    n_out = arr.cols // fig.cells_per_weight  # one array exactly: K = rows, N x slices = cols
    op = linear("fc", 0, arr.rows, n_out)
    t = tile_op(op, OpCompression(op_name="fc", weight_bits=w_bits, act_bits=a_bits), arr)
    assert t.arrays == 1
    v = per_vector_actions(t)
    assert t.timing.input_cycles == fig.input_cycles
    assert t.timing.mvm_time_s == pytest.approx(fig.mvm_time_s, rel=1e-12)
    assert v["cell_read"] == fig.cell_reads_per_mvm
    assert v["conversion"] == fig.conversions_per_mvm
    assert v["row_drive"] == fig.row_drives_per_mvm
    assert v["shift_add"] == fig.accumulations_per_mvm
    e = (
        v["cell_read"] * arr.read_energy_per_cell_j
        + v["conversion"] * adc_energy_per_conversion_j(arr)
        + v["row_drive"] * arr.dac.energy_per_row_drive_j
        + v["shift_add"] * tile.accumulate_energy_j
    )
    assert e == pytest.approx(fig.energy_j, rel=1e-12)
    assert e / (arr.rows * n_out) == pytest.approx(fig.energy_j / fig.macs_per_mvm, rel=1e-12)


def test_rram_chiplet_mvm_by_hand():
    """256x256 2-bit cells, 8-bit weights (4 slices), 8-bit inputs on 1-bit DACs, 8-bit ADC with ISAAC's
    encoding (one bit saved): a column sum of r rows is at most 3r, 3r + 1 <= 2^9 gives r = 170 rows per
    cycle, so 2 row groups; 8 x 2 cycles of max(100 ns, 128 x 0.78125 ns) = 1.6 us; 8 x 65536 reads,
    8 x 2 x 256 conversions and adds, 8 x 256 drives (physics change of issue 9: the ADC resolution now
    sets the rows per cycle; before, 256 rows were converted at once by an 8-bit ADC)."""
    spec = load_spec("rram-chiplet")
    arr = spec.chiplet.array
    t = tile_op(linear("fc", 0, 256, 64), OpCompression(op_name="fc", weight_bits=8, act_bits=8), arr)
    v = per_vector_actions(t)
    assert t.timing.mvm_time_s == pytest.approx(1600e-9)
    assert (v["cell_read"], v["conversion"], v["row_drive"], v["shift_add"]) == (
        8 * 65536,
        8 * 2 * 256,
        8 * 256,
        8 * 2 * 256,
    )
    # spec energies: 1.83 fJ per cell read, 1.40625 pJ per 8-bit conversion, 0.350625 pJ per row drive,
    # 0.0195 pJ per shift-and-add
    e_pj = (8 * 65536 * 1.83e-15 + 4096 * 1.40625e-12 + 8 * 256 * 3.50625e-13 + 4096 * 1.95e-14) * 1e12
    fig = mvm_figures(arr, spec.chiplet.tile, 8, 8)
    assert fig.energy_j * 1e12 == pytest.approx(e_pj, rel=1e-9)  # 'llmimc hw show rram-chiplet'
    assert e_pj == pytest.approx(7517.0, abs=1.0)
