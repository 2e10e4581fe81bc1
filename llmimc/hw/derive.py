"""Derived peak figures of a hardware spec: throughput, efficiency, density, capacity, links.

The equations (DESIGN.md §4; the mapping/cost model uses the same ones) for one crossbar array with
``rows`` x ``cols`` cells of ``c`` bits, weights of ``w`` bits and inputs of ``x`` bits:

- slices per weight       s = ceil(w / c); cells per weight  d·s  (d = 2 if differential else 1)
- MACs per full MVM       rows × cols / (d·s)          (every row and every column active)
- input cycles per MVM    n = ceil(x / dac.bits_per_cycle)
- rows per cycle          r = the largest count whose column sum fits the ADC: the sum of r rows of c-bit
                          cells driven by d-bit DAC steps is at most r (2^c - 1)(2^d - 1), which needs
                          B(r) = ceil(log2(r (2^c - 1)(2^d - 1) + 1)) bits; r is the largest with
                          B(r) - encoding_bits_saved <= adc.bits (ISAAC Sec. IV keeps 128 rows and uses its
                          flipped weight encoding so that 8 bits suffice; NeuroSim activates a limited number
                          of rows per read for the same reason), unless the spec sets rows_active_per_cycle
                          (then B(r) - saved - adc.bits > 0 bits are clipped: a lossy, range-limited ADC);
                          row groups per MVM g = ceil(rows used / r)
- ADC at B bits           energy E(B) = E_ref 2^(B - B_ref) (constant Walden figure of merit
                          E / 2^ENOB, Walden, IEEE JSAC 1999; the slope the Murmann ADC survey shows at
                          these rates); SAR conversion time t(B) = t_ref B / B_ref (one comparison per bit)
- cycle time              t_c = max(read_time_per_cycle_s, columns_per_adc × t(B))
                          (the ADCs shared by ``columns_per_adc`` columns convert them in sequence)
- MVM time                t_mvm = n × g × t_c
- energy per MVM          E = reads + ADC conversions + DAC drives + accumulations, with per MVM
                          reads = rows·cols·n cell reads × read_energy_per_cell_j (each cell once per input step),
                          conversions = cols·n·g (every physical column, each cycle) × E(B),
                          DAC drives = rows·n × energy_per_row_drive_j,
                          accumulations = cols·n·g shift-and-adds (one per conversion) × tile.accumulate_energy_j.

Peak figures per level (1 MAC = 2 ops; TOPS = 1e12 op/s):
- array:   MACs per MVM / t_mvm; power = E / t_mvm (dynamic array energy only).
- tile:    arrays_per_tile × array (dynamic only).
- chiplet: tiles × arrays_per_tile × array, plus the chiplet's leakage with every component powered
           (``chiplet_leakage_w``: ADCs, DACs, array retention, tile buffers, vector units, routers,
           global SRAM, DPU; die-to-die PHYs are package-level and left out).
- package: num_chiplets × chiplet (die-to-die links and off-package memory not included).
TOPS/mm² uses ``array.area_m2``, ``tile.area_m2``, ``chiplet.area_m2`` where given (package = chiplets).
Digital units, SRAM and NoC energy are not part of the peak figures; the cost model charges them per
action. Weight capacity = floor(total cells / cells per weight): an upper bound that ignores the
fragmentation of partially filled arrays (the mapper reports the real count).

References: ISAAC (Shafiee et al., ISCA 2016) for bit-serial inputs, shared ADCs and bit slicing;
Le Gallo et al., Nat. Electron. 2023 and Khaddam-Aljameh et al., JSSC 2022 for the level definitions
(core vs chip) used when comparing with published TOPS/W.
"""

from __future__ import annotations

import math
from typing import Literal

from llmimc._base import Frozen
from llmimc.errors import SpecError
from llmimc.hw.spec import Chiplet, CrossbarArray, DigitalBaselineSpec, ImcSystemSpec, Tile
from llmimc.hw.topology import bisection_links, hop_distance_matrix, topology_links

OPS_PER_MAC = 2
_TERA = 1e12
_MM2_PER_M2 = 1e6


def _check_bits(name: str, bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1 or bits > 32:
        raise SpecError(f"{name} must be an integer from 1 to 32, got {bits!r}")
    return bits


def slices_per_weight(array: CrossbarArray, weight_bits: int) -> int:
    """s = ceil(w / bits_per_cell): cells (columns) one weight's bits are spread over."""
    return math.ceil(_check_bits("weight_bits", weight_bits) / array.bits_per_cell)


def cells_per_weight(array: CrossbarArray, weight_bits: int) -> int:
    """Cells holding one weight: slices, doubled for differential pairs."""
    return slices_per_weight(array, weight_bits) * (2 if array.differential else 1)


def input_cycles(array: CrossbarArray, input_bits: int) -> int:
    """n = ceil(x / dac.bits_per_cycle): read cycles needed to apply an x-bit input vector."""
    return math.ceil(_check_bits("input_bits", input_bits) / array.dac.bits_per_cycle)


def adc_reference_bits(array: CrossbarArray) -> int:
    return array.adc.reference_bits if array.adc.reference_bits is not None else array.adc.bits


def adc_energy_per_conversion_j(array: CrossbarArray) -> float:
    """E(B) = E_ref 2^(B - B_ref): constant Walden figure of merit."""
    return array.adc.energy_per_conversion_j * 2.0 ** (array.adc.bits - adc_reference_bits(array))


def adc_conversion_time_s(array: CrossbarArray) -> float:
    """t(B) = t_ref B / B_ref: a SAR ADC resolves one bit per comparison."""
    return array.adc.conversion_time_s * array.adc.bits / adc_reference_bits(array)


def column_sum_bits(array: CrossbarArray, rows: int) -> int:
    """B(r) = ceil(log2(r (2^c - 1)(2^d - 1) + 1)): bits of the largest column sum of r active rows."""
    top = rows * (2**array.bits_per_cell - 1) * (2**array.dac.bits_per_cycle - 1)
    return max(1, math.ceil(math.log2(top + 1)))


def exact_rows_per_cycle(array: CrossbarArray) -> int:
    """Largest r <= rows with B(r) - encoding_bits_saved <= adc.bits (at least 1)."""
    levels = (2**array.bits_per_cell - 1) * (2**array.dac.bits_per_cycle - 1)
    max_sum = 2 ** (array.adc.bits + (array.adc.encoding_bits_saved or 0)) - 1
    return max(1, min(array.rows, max_sum // levels))


def rows_per_cycle(array: CrossbarArray) -> int:
    """Rows driven together: the spec's rows_active_per_cycle, else the exact-sum rule (capped at rows)."""
    if array.rows_active_per_cycle is not None:
        return min(array.rows, array.rows_active_per_cycle)
    return exact_rows_per_cycle(array)


def clipped_bits(array: CrossbarArray) -> int:
    """Bits of the column sum the ADC cannot resolve at the rows driven per cycle (0 = exact)."""
    r = rows_per_cycle(array)
    return max(0, column_sum_bits(array, r) - (array.adc.encoding_bits_saved or 0) - array.adc.bits)


def row_groups(array: CrossbarArray, rows_used: int) -> int:
    """g = ceil(rows used / r): read cycles per input step of one array."""
    return max(1, math.ceil(min(rows_used, array.rows) / rows_per_cycle(array)))


def cycle_time_s(array: CrossbarArray) -> float:
    """One read cycle: the analog read or the sequential conversion of an ADC's columns, whichever is longer."""
    return max(array.read_time_per_cycle_s, array.adc.columns_per_adc * adc_conversion_time_s(array))


def chiplet_leakage_w(chip: Chiplet) -> float:
    """Leakage of one chiplet with every component powered (no die-to-die PHYs)."""
    p, arr = chip.power, chip.array
    arrays = chip.arrays
    per_array = p.adc_leakage_w * adcs_per_array(arr) + p.dac_leakage_w * arr.rows + p.array_leakage_w
    per_tile = p.tile_buffer_leakage_w + p.vector_unit_leakage_w + p.router_leakage_w
    return arrays * per_array + chip.tiles * per_tile + p.global_sram_leakage_w + p.dpu_leakage_w


def adcs_per_array(array: CrossbarArray) -> int:
    return math.ceil(array.cols / array.adc.columns_per_adc)


class MvmFigures(Frozen):
    """One full matrix-vector product on one array (all rows and columns active)."""

    input_bits: int
    weight_bits: int
    slices_per_weight: int
    cells_per_weight: int
    input_cycles: int
    rows_per_cycle: int
    row_groups: int  # read cycles per input step (rows / rows_per_cycle)
    adc_clipped_bits: int  # column-sum bits the ADC does not resolve (0 = exact conversion)
    cycle_time_s: float
    mvm_time_s: float
    macs_per_mvm: float
    cell_reads_per_mvm: int
    conversions_per_mvm: int
    row_drives_per_mvm: int
    accumulations_per_mvm: int
    read_energy_j: float
    adc_energy_j: float
    dac_energy_j: float
    accumulate_energy_j: float
    energy_j: float


def mvm_figures(array: CrossbarArray, tile: Tile, input_bits: int, weight_bits: int) -> MvmFigures:
    """Time, action counts and energy of one full MVM (equations in the module docstring)."""
    n = input_cycles(array, input_bits)
    g = row_groups(array, array.rows)
    cpw = cells_per_weight(array, weight_bits)
    reads = array.rows * array.cols * n
    conversions = array.cols * n * g
    drives = array.rows * n
    accumulations = conversions
    e_read = reads * array.read_energy_per_cell_j
    e_adc = conversions * adc_energy_per_conversion_j(array)
    e_dac = drives * array.dac.energy_per_row_drive_j
    e_acc = accumulations * tile.accumulate_energy_j
    t_c = cycle_time_s(array)
    return MvmFigures(
        input_bits=input_bits,
        weight_bits=weight_bits,
        slices_per_weight=slices_per_weight(array, weight_bits),
        cells_per_weight=cpw,
        input_cycles=n,
        rows_per_cycle=rows_per_cycle(array),
        row_groups=g,
        adc_clipped_bits=clipped_bits(array),
        cycle_time_s=t_c,
        mvm_time_s=n * g * t_c,
        macs_per_mvm=array.rows * array.cols / cpw,
        cell_reads_per_mvm=reads,
        conversions_per_mvm=conversions,
        row_drives_per_mvm=drives,
        accumulations_per_mvm=accumulations,
        read_energy_j=e_read,
        adc_energy_j=e_adc,
        dac_energy_j=e_dac,
        accumulate_energy_j=e_acc,
        energy_j=e_read + e_adc + e_dac + e_acc,
    )


class LevelFigures(Frozen):
    """Peak throughput and efficiency of one level of the hierarchy."""

    level: Literal["array", "tile", "chiplet", "package"]
    arrays: int
    peak_macs_per_s: float
    peak_tops: float
    power_at_peak_w: float
    tops_per_w: float
    area_m2: float | None
    tops_per_mm2: float | None
    power_includes: str


def _level(
    level: Literal["array", "tile", "chiplet", "package"],
    arrays: int,
    mvm: MvmFigures,
    static_w: float,
    area_m2: float | None,
    includes: str,
) -> LevelFigures:
    macs_per_s = arrays * mvm.macs_per_mvm / mvm.mvm_time_s
    power_w = arrays * mvm.energy_j / mvm.mvm_time_s + static_w
    tops = macs_per_s * OPS_PER_MAC / _TERA
    return LevelFigures(
        level=level,
        arrays=arrays,
        peak_macs_per_s=macs_per_s,
        peak_tops=tops,
        power_at_peak_w=power_w,
        tops_per_w=tops / power_w if power_w > 0 else math.inf,
        area_m2=area_m2,
        tops_per_mm2=tops / (area_m2 * _MM2_PER_M2) if area_m2 else None,
        power_includes=includes,
    )


class LinkFigures(Frozen):
    """Die-to-die network of the package at a given chiplet count."""

    topology: str
    num_chiplets: int
    num_links: int
    per_link_bw_bytes_per_s: float  # per direction
    link_latency_s: float
    energy_per_bit_j: float
    bisection_links: int
    bisection_bw_bytes_per_s: float  # per direction, across the narrowest balanced cut
    diameter_hops: int  # -1 when the topology is not connected


class DerivedFigures(Frozen):
    """Derived figures of an IMC system at one chiplet count and one input/weight precision."""

    spec_name: str
    num_chiplets: int
    input_bits: int
    weight_bits: int
    bits_per_cell: int
    differential: bool
    mvm: MvmFigures
    array: LevelFigures
    tile: LevelFigures
    chiplet: LevelFigures
    package: LevelFigures
    arrays_per_chiplet: int
    cells_per_chiplet: int
    weight_capacity_params_per_chiplet: int
    weight_capacity_params: int
    global_sram_bytes_per_chiplet: int
    global_sram_bytes_total: int
    local_sram_bytes_per_chiplet: int
    off_package_memory_bytes: int
    off_package_bw_bytes_per_s: float
    links: LinkFigures

    def capacity_params(self, weight_bits: int) -> int:
        """Weights of ``weight_bits`` bits the whole package holds (floor(cells / cells per weight))."""
        s = math.ceil(_check_bits("weight_bits", weight_bits) / self.bits_per_cell)
        cpw = s * (2 if self.differential else 1)
        return self.cells_per_chiplet * self.num_chiplets // cpw


def derive(
    spec: ImcSystemSpec, num_chiplets: int | None = None, input_bits: int = 8, weight_bits: int = 8
) -> DerivedFigures:
    """Peak figures of ``spec`` (chiplet count overridden by ``num_chiplets``) at the given precision."""
    if num_chiplets is not None:
        if isinstance(num_chiplets, bool) or not isinstance(num_chiplets, int) or num_chiplets < 1:
            raise SpecError(f"number of chiplets must be a positive integer, got {num_chiplets!r}")
        spec = spec.with_chiplets(num_chiplets)
    chip = spec.chiplet
    pkg = spec.package
    n_chip = pkg.num_chiplets
    array = chip.array
    mvm = mvm_figures(array, chip.tile, input_bits, weight_bits)
    arrays_per_chiplet = chip.arrays
    cells_per_chiplet = arrays_per_chiplet * array.rows * array.cols
    chip_area = chip.area_m2
    array_fig = _level("array", 1, mvm, 0.0, array.area_m2, "array reads, ADC, DAC, shift-and-add")
    tile_fig = _level(
        "tile", chip.tile.arrays_per_tile, mvm, 0.0, chip.tile.area_m2, "arrays' dynamic energy only"
    )
    chip_fig = _level(
        "chiplet",
        arrays_per_chiplet,
        mvm,
        chiplet_leakage_w(chip),
        chip_area,
        "arrays' dynamic energy + leakage of every component (all powered)",
    )
    pkg_fig = _level(
        "package",
        arrays_per_chiplet * n_chip,
        mvm,
        chiplet_leakage_w(chip) * n_chip,
        chip_area * n_chip if chip_area else None,
        "chiplets only (no die-to-die links, no off-package memory)",
    )
    links = topology_links(pkg, n_chip)
    hops = hop_distance_matrix(links, n_chip)
    flat = [h for row in hops for h in row]
    bis = bisection_links(pkg, n_chip)
    cpw = mvm.cells_per_weight
    return DerivedFigures(
        spec_name=spec.name,
        num_chiplets=n_chip,
        input_bits=input_bits,
        weight_bits=weight_bits,
        bits_per_cell=array.bits_per_cell,
        differential=array.differential,
        mvm=mvm,
        array=array_fig,
        tile=tile_fig,
        chiplet=chip_fig,
        package=pkg_fig,
        arrays_per_chiplet=arrays_per_chiplet,
        cells_per_chiplet=cells_per_chiplet,
        weight_capacity_params_per_chiplet=cells_per_chiplet // cpw,
        weight_capacity_params=cells_per_chiplet * n_chip // cpw,
        global_sram_bytes_per_chiplet=chip.global_sram.capacity_bytes,
        global_sram_bytes_total=chip.global_sram.capacity_bytes * n_chip,
        local_sram_bytes_per_chiplet=chip.tile.local_sram.capacity_bytes * chip.tiles,
        off_package_memory_bytes=pkg.memory.total_capacity_bytes,
        off_package_bw_bytes_per_s=pkg.memory.total_bw_bytes_per_s,
        links=LinkFigures(
            topology=pkg.topology.value,
            num_chiplets=n_chip,
            num_links=len(links),
            per_link_bw_bytes_per_s=pkg.d2d.bw_bytes_per_s,
            link_latency_s=pkg.d2d.latency_s,
            energy_per_bit_j=pkg.d2d.energy_per_bit_j,
            bisection_links=bis,
            bisection_bw_bytes_per_s=bis * pkg.d2d.bw_bytes_per_s,
            diameter_hops=-1 if any(h < 0 for h in flat) else max(flat, default=0),
        ),
    )


class BaselineFigures(Frozen):
    """Roofline figures of a digital baseline."""

    spec_name: str
    peak_flops_per_s: dict[str, float]
    achievable_flops_per_s: dict[str, float]
    ridge_flops_per_byte: dict[str, float]  # peak FLOP/s / peak bytes/s
    memory_capacity_bytes: int
    memory_bw_bytes_per_s: float
    achievable_bw_bytes_per_s: float
    tflops_per_w_at_board_power: dict[str, float]


def derive_baseline(spec: DigitalBaselineSpec) -> BaselineFigures:
    """Roofline numbers of a GPU-like baseline (peak, achievable, ridge point, TFLOPS/W at board power)."""
    peak = dict(spec.peak_flops_per_s)
    return BaselineFigures(
        spec_name=spec.name,
        peak_flops_per_s=peak,
        achievable_flops_per_s={k: spec.achievable_flops_per_s(k) for k in peak},
        ridge_flops_per_byte={k: v / spec.memory_bw_bytes_per_s for k, v in peak.items()},
        memory_capacity_bytes=spec.memory_capacity_bytes,
        memory_bw_bytes_per_s=spec.memory_bw_bytes_per_s,
        achievable_bw_bytes_per_s=spec.achievable_bw_bytes_per_s,
        tflops_per_w_at_board_power={k: v / _TERA / spec.board_power_w for k, v in peak.items()},
    )
