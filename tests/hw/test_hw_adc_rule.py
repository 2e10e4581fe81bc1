"""ADC resolution, rows driven per cycle and conversion energy are tied by one rule (issue 9 item 3).

rram-chiplet: 256 rows of 2-bit cells, 1-bit input steps, 8-bit ADC (reference resolution 8 bits,
1.40625 pJ and 0.78125 ns per conversion) with ISAAC's encoding (1 bit saved), 128 columns per ADC,
100 ns read. A column sum of r rows is at most 3r, so the ADC resolves 3r + 1 <= 2^(8+1): r = 170, two
row groups per 256-row array. At B bits a conversion costs 1.40625 pJ x 2^(B-8) (constant Walden FoM)
and takes 0.78125 ns x B/8 (one SAR comparison per bit).
"""

from __future__ import annotations

import pytest

from llmimc.hw import ImcSystemSpec, derive, load_spec


def _copy(**adc_or_array: object) -> ImcSystemSpec:
    d = load_spec("rram-chiplet").model_dump(mode="json")
    arr = d["chiplet"]["array"]
    for k, v in adc_or_array.items():
        if k in arr["adc"]:
            arr["adc"][k] = v
        else:
            arr[k] = v
            arr["sources"][k] = "test override"
    return ImcSystemSpec.model_validate(d)


def test_default_rram_chiplet_reads_in_two_row_groups():
    m = derive(load_spec("rram-chiplet"), input_bits=8, weight_bits=8).mvm
    assert (m.rows_per_cycle, m.row_groups, m.adc_clipped_bits) == (170, 2, 0)
    assert m.mvm_time_s == pytest.approx(8 * 2 * 100e-9)
    assert m.conversions_per_mvm == 256 * 8 * 2
    assert m.adc_energy_j == pytest.approx(256 * 8 * 2 * 1.40625e-12)


def test_one_more_adc_bit_halves_the_row_groups_at_the_same_adc_energy():
    base = derive(load_spec("rram-chiplet"), input_bits=8, weight_bits=8)
    nine = derive(_copy(bits=9), input_bits=8, weight_bits=8)
    m = nine.mvm
    assert (m.rows_per_cycle, m.row_groups, m.adc_clipped_bits) == (256, 1, 0)  # 3 x 256 + 1 <= 1024
    # SAR conversion 0.78125 ns x 9/8; 128 of them (112.5 ns) now outlast the 100 ns read
    assert m.cycle_time_s == pytest.approx(128 * 0.78125e-9 * 9 / 8)
    assert m.mvm_time_s == pytest.approx(8 * 112.5e-9)
    # half the conversions at twice the energy each: the ADC energy per MVM is unchanged ...
    assert m.conversions_per_mvm == base.mvm.conversions_per_mvm // 2
    assert m.adc_energy_j == pytest.approx(base.mvm.adc_energy_j)
    # ... and half the shift-and-adds; the MVM is faster, so hw show's TOPS rise
    assert m.accumulate_energy_j == pytest.approx(base.mvm.accumulate_energy_j / 2)
    assert nine.chiplet.peak_tops == pytest.approx(base.chiplet.peak_tops * 1.6 / 0.9)
    assert nine.array.tops_per_w > base.array.tops_per_w


def test_fewer_adc_bits_need_more_row_groups_and_cost_less_per_conversion():
    six = derive(_copy(bits=6), input_bits=8, weight_bits=8).mvm
    # 3r + 1 <= 2^7 -> r = 42 -> ceil(256 / 42) = 7 row groups
    assert (six.rows_per_cycle, six.row_groups) == (42, 7)
    assert six.conversions_per_mvm == 256 * 8 * 7
    assert six.adc_energy_j == pytest.approx(256 * 8 * 7 * 1.40625e-12 / 4)
    assert six.mvm_time_s == pytest.approx(8 * 7 * 100e-9)


def test_explicit_rows_per_cycle_sets_groups_and_reports_clipping():
    m64 = derive(_copy(rows_active_per_cycle=64), input_bits=8, weight_bits=8).mvm
    assert (m64.row_groups, m64.adc_clipped_bits) == (4, 0)
    assert m64.mvm_time_s == pytest.approx(8 * 4 * 100e-9)
    assert m64.conversions_per_mvm == 256 * 8 * 4
    # all 256 rows at once: the sum needs ceil(log2(769)) = 10 bits, 1 saved, 8 resolved -> 1 clipped
    m256 = derive(_copy(rows_active_per_cycle=256), input_bits=8, weight_bits=8).mvm
    assert (m256.row_groups, m256.adc_clipped_bits) == (1, 1)
    assert m256.mvm_time_s == pytest.approx(800e-9)


def test_pcm_chip_drives_all_rows_with_a_clipping_adc():
    # IBM's chip applies 8-bit PWM inputs to all 256 rows and quantises to 8 bits (lossy by design)
    m = derive(load_spec("pcm-chiplet"), 1, input_bits=8, weight_bits=4).mvm
    assert (m.rows_per_cycle, m.row_groups) == (256, 1)
    assert m.adc_clipped_bits > 0
