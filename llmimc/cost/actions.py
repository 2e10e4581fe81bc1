"""Energy per action, Accelergy-style: every joule is an action count x an energy per action.

The table below names every (component, action) pair the cost model counts and where its energy per
action comes from in the hardware spec (each spec number carries its own source). Leakage is an action
too: one "leak_second" of one powered component instance (one ADC, one DAC, one tile buffer, ...) costs
its ``chiplet.power`` leakage in joules; ``llmimc.cost.power`` counts them by power state (a gated
domain's wake-up adds ``breakeven_time_s`` leak-seconds to each of its components). Two energies are
derived: an ADC conversion at ``adc.bits`` (Walden scaling from ``reference_bits``,
``llmimc.hw.derive``) and programming one cell (energy per program-and-verify iteration x iterations).

Reference: Wu, Emer, Sze, "Accelergy: An Architecture-Level Energy Estimation Methodology for
Accelerator Designs", ICCAD 2019 (energy = sum over components of action counts x energy per action).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from llmimc.hw.derive import adc_energy_per_conversion_j
from llmimc.hw.spec import ImcSystemSpec

# (component, action, spec field the energy per action comes from)
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("crossbar", "cell_read", "chiplet.array.read_energy_per_cell_j"),
    ("adc", "conversion", "chiplet.array.adc.energy_per_conversion_j x 2^(bits - reference_bits)"),
    ("dac", "row_drive", "chiplet.array.dac.energy_per_row_drive_j"),
    ("shift_add", "partial_sum_add", "chiplet.tile.accumulate_energy_j"),
    ("nm_mux", "input_select", "chiplet.tile.vector_unit.energy_per_op_j"),
    ("local_sram", "read_bit", "chiplet.tile.local_sram.read_energy_per_bit_j"),
    ("local_sram", "write_bit", "chiplet.tile.local_sram.write_energy_per_bit_j"),
    ("global_sram", "read_bit", "chiplet.global_sram.read_energy_per_bit_j"),
    ("global_sram", "write_bit", "chiplet.global_sram.write_energy_per_bit_j"),
    ("dpu", "mac", "chiplet.dpu.energy_per_mac_j"),
    ("dpu", "op", "chiplet.dpu.energy_per_op_j"),
    ("noc", "bit_hop", "chiplet.noc.energy_per_bit_per_hop_j"),
    ("d2d", "bit_hop", "package.d2d.energy_per_bit_j"),
    ("offpkg_memory", "bit", "package.memory.energy_per_bit_j"),
    ("crossbar", "program_cell", "chiplet.array.program_energy_per_cell_j x program_verify_iterations"),
    ("adc", "leak_second", "chiplet.power.adc_leakage_w"),
    ("dac", "leak_second", "chiplet.power.dac_leakage_w"),
    ("crossbar", "retention_second", "chiplet.power.array_leakage_w"),
    ("local_sram", "leak_second", "chiplet.power.tile_buffer_leakage_w"),
    ("vector_unit", "leak_second", "chiplet.power.vector_unit_leakage_w"),
    ("router", "leak_second", "chiplet.power.router_leakage_w"),
    ("global_sram", "leak_second", "chiplet.power.global_sram_leakage_w"),
    ("dpu", "leak_second", "chiplet.power.dpu_leakage_w"),
    ("d2d_phy", "idle_second", "chiplet.power.phy_idle_w"),
)

NUM_ACTIONS = len(ACTIONS)
IDX = {(c, a): i for i, (c, a, _) in enumerate(ACTIONS)}
CELL_READ = IDX[("crossbar", "cell_read")]
CONVERSION = IDX[("adc", "conversion")]
ROW_DRIVE = IDX[("dac", "row_drive")]
SHIFT_ADD = IDX[("shift_add", "partial_sum_add")]
MUX = IDX[("nm_mux", "input_select")]
LSRAM_R = IDX[("local_sram", "read_bit")]
LSRAM_W = IDX[("local_sram", "write_bit")]
GSRAM_R = IDX[("global_sram", "read_bit")]
GSRAM_W = IDX[("global_sram", "write_bit")]
DPU_MAC = IDX[("dpu", "mac")]
DPU_OP = IDX[("dpu", "op")]
NOC = IDX[("noc", "bit_hop")]
D2D = IDX[("d2d", "bit_hop")]
OFFPKG = IDX[("offpkg_memory", "bit")]
PROGRAM = IDX[("crossbar", "program_cell")]
LEAK_ADC = IDX[("adc", "leak_second")]
LEAK_DAC = IDX[("dac", "leak_second")]
LEAK_ARRAY = IDX[("crossbar", "retention_second")]
LEAK_TILE_BUF = IDX[("local_sram", "leak_second")]
LEAK_VU = IDX[("vector_unit", "leak_second")]
LEAK_ROUTER = IDX[("router", "leak_second")]
LEAK_GSRAM = IDX[("global_sram", "leak_second")]
LEAK_DPU = IDX[("dpu", "leak_second")]
LEAK_PHY = IDX[("d2d_phy", "idle_second")]
STATIC_ACTIONS = (
    LEAK_ADC,
    LEAK_DAC,
    LEAK_ARRAY,
    LEAK_TILE_BUF,
    LEAK_VU,
    LEAK_ROUTER,
    LEAK_GSRAM,
    LEAK_DPU,
    LEAK_PHY,
)


def _get(spec: ImcSystemSpec, dotted: str) -> float:
    obj: object = spec
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return float(obj)  # type: ignore[arg-type]


def energy_per_action(spec: ImcSystemSpec) -> list[float]:
    """Energy per action (J) in ACTIONS order, read from the spec (two derived, see module docstring)."""
    arr = spec.chiplet.array
    derived = {
        CONVERSION: adc_energy_per_conversion_j(arr),
        PROGRAM: arr.program_energy_per_cell_j * (arr.program_verify_iterations or 1),
    }
    return [derived[i] if i in derived else _get(spec, f) for i, (_, _, f) in enumerate(ACTIONS)]


class EnergyRow(BaseModel):
    """One line of the energy table: count x energy_per_action_j = energy_j."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    component: str
    action: str
    count: float
    energy_per_action_j: float
    energy_j: float
    spec_field: str


def energy_table(counts: list[float], per_action_j: list[float]) -> list[EnergyRow]:
    return [
        EnergyRow(
            component=c,
            action=a,
            count=float(n),
            energy_per_action_j=e,
            energy_j=float(n) * e,
            spec_field=f,
        )
        for (c, a, f), n, e in zip(ACTIONS, counts, per_action_j, strict=True)
    ]
