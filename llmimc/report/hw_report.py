"""Reports of hardware specs: the built-in list and the derived figures of one spec (``llmimc hw``).

Rendering only: the figures come from ``llmimc.hw.derive`` (`DerivedFigures`, `BaselineFigures`).
"""

from __future__ import annotations

from llmimc.hw.derive import BaselineFigures, DerivedFigures
from llmimc.hw.registry import BuiltinSpec
from llmimc.hw.spec import DigitalBaselineSpec, ImcSystemSpec
from llmimc.report.sections import Block, Col, Line, Table
from llmimc.report.units import count, iec_bytes, si


def builtin_specs_table(specs: list[BuiltinSpec], defaults: tuple[str, ...]) -> Table:
    t = Table("built-in hardware specs", [Col("name"), Col("kind"), Col("description")])
    for b in specs:
        t.add(b.name + (" (default)" if b.name in defaults else ""), b.kind, b.description)
    return t


def baseline_blocks(spec: DigitalBaselineSpec, fig: BaselineFigures) -> list[Block]:
    heads = ("format", "peak", "achievable", "ridge FLOP/B", "TFLOPS/W")
    t = Table(
        f"{spec.name} (digital baseline)", [Col(h, "left" if h == "format" else "right") for h in heads]
    )
    for fmt, peak in fig.peak_flops_per_s.items():
        t.add(
            fmt,
            si(peak, "FLOP/s"),
            si(fig.achievable_flops_per_s[fmt], "FLOP/s"),
            f"{fig.ridge_flops_per_byte[fmt]:.0f}",
            f"{fig.tflops_per_w_at_board_power[fmt]:.2f}",
        )
    memory = (
        f"{iec_bytes(fig.memory_capacity_bytes)}, {si(fig.memory_bw_bytes_per_s, 'B/s')} peak, "
        f"{si(fig.achievable_bw_bytes_per_s, 'B/s')} achievable; TFLOPS/W at board power {spec.board_power_w:g} W"
    )
    return [t, Line(memory, label="memory")]


def _mvm_line(spec: ImcSystemSpec, fig: DerivedFigures) -> Line:
    m = fig.mvm
    return Line(
        f"{fig.input_bits}-bit inputs x {fig.weight_bits}-bit weights ({m.slices_per_weight} slice(s), "
        f"{m.cells_per_weight} cell(s)/weight); MVM {m.input_cycles} input step(s) x {m.row_groups} row group(s) "
        f"of {m.rows_per_cycle} rows x {si(m.cycle_time_s, 's')} = "
        f"{si(m.mvm_time_s, 's')}, {si(m.energy_j, 'J')} (read {si(m.read_energy_j, 'J')}, ADC "
        f"{si(m.adc_energy_j, 'J')}, DAC {si(m.dac_energy_j, 'J')}, accumulate {si(m.accumulate_energy_j, 'J')})",
        label="precision",
    )


def imc_blocks(spec: ImcSystemSpec, fig: DerivedFigures) -> list[Block]:
    arr = spec.chiplet.array
    head = Line(
        f"{fig.num_chiplets} chiplets, {count(fig.arrays_per_chiplet)} arrays/chiplet of {arr.rows}x{arr.cols} "
        f"{arr.cell_technology.value} cells ({fig.bits_per_cell} b/cell{', differential' if fig.differential else ''})",
        label=spec.name,
    )
    heads = ("level", "arrays", "peak MAC/s", "TOPS", "power", "TOPS/W", "TOPS/mm2")
    t = Table("peak figures (1 MAC = 2 ops)", [Col(h, "left" if h == "level" else "right") for h in heads])
    levels = (fig.array, fig.tile, fig.chiplet, fig.package)
    for lvl in levels:
        t.add(
            lvl.level,
            count(lvl.arrays),
            si(lvl.peak_macs_per_s, "MAC/s"),
            f"{lvl.peak_tops:.4g}",
            si(lvl.power_at_peak_w, "W"),
            f"{lvl.tops_per_w:.3g}",
            "n/a" if lvl.tops_per_mm2 is None else f"{lvl.tops_per_mm2:.3g}",
        )
    ln = fig.links
    lines = [Line(lvl.power_includes, label=f"{lvl.level} power") for lvl in levels] + [
        Line(
            f"{count(fig.weight_capacity_params)} params ({count(fig.weight_capacity_params_per_chiplet)} per "
            "chiplet; upper bound, no fragmentation)",
            label=f"weight capacity at {fig.weight_bits}-bit",
        ),
        Line(
            f"global {iec_bytes(fig.global_sram_bytes_per_chiplet)}/chiplet "
            f"({iec_bytes(fig.global_sram_bytes_total)} total), tile-local {iec_bytes(fig.local_sram_bytes_per_chiplet)}/chiplet",
            label="SRAM",
        ),
        Line(
            f"{iec_bytes(fig.off_package_memory_bytes)}, {si(fig.off_package_bw_bytes_per_s, 'B/s')}",
            label="off-package memory",
        ),
        Line(
            f"{ln.topology}, {count(ln.num_links)} links of {si(ln.per_link_bw_bytes_per_s, 'B/s')} per direction, "
            f"{si(ln.link_latency_s, 's')}, {si(ln.energy_per_bit_j, 'J')}/bit; bisection {count(ln.bisection_links)} "
            f"links = {si(ln.bisection_bw_bytes_per_s, 'B/s')}; diameter {ln.diameter_hops} hops",
            label="die-to-die",
        ),
    ]
    return [head, _mvm_line(spec, fig), t, *lines, *_power_lines(spec, fig)]


def _power_lines(spec: ImcSystemSpec, fig: DerivedFigures) -> list[Line]:
    m, pw = fig.mvm, spec.chiplet.power
    leak_w = fig.chiplet.power_at_peak_w - fig.chiplet.arrays * m.energy_j / m.mvm_time_s
    gating = (
        f"power-gated when empty or idle (wake-up {si(pw.wakeup_time_s, 's')}), see llmimc/cost/power.py"
        if pw.power_gating
        else "no power gating: every chiplet leaks all the time"
    )
    out = [Line(f"{si(leak_w, 'W')} per chiplet with every component powered; {gating}", label="leakage")]
    if m.adc_clipped_bits:
        out.append(
            Line(
                f"{m.rows_per_cycle} rows per cycle give column sums {m.adc_clipped_bits} bit(s) wider than the "
                f"{spec.chiplet.array.adc.bits}-bit ADC resolves: conversion is lossy (range-clipped)",
                label="note",
                style="note",
            )
        )
    return out
