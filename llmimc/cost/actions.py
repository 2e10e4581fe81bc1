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

from enum import IntEnum

from llmimc._base import Frozen
from llmimc.hw.derive import adc_energy_per_conversion_j
from llmimc.hw.spec import ImcSystemSpec


class Action(IntEnum):
    """Index of one (component, action) row of ``ACTIONS`` (the action axis of every count array)."""

    CELL_READ = 0
    CONVERSION = 1
    ROW_DRIVE = 2
    SHIFT_ADD = 3
    MUX = 4
    LSRAM_READ = 5
    LSRAM_WRITE = 6
    GSRAM_READ = 7
    GSRAM_WRITE = 8
    DPU_MAC = 9
    DPU_OP = 10
    NOC = 11
    D2D = 12
    OFFPKG = 13
    PROGRAM = 14
    LEAK_ADC = 15
    LEAK_DAC = 16
    LEAK_ARRAY = 17
    LEAK_TILE_BUF = 18
    LEAK_VU = 19
    LEAK_ROUTER = 20
    LEAK_GSRAM = 21
    LEAK_DPU = 22
    LEAK_PHY = 23


# (component, action, spec field the energy per action comes from), one row per Action, in its order
ACTIONS: dict[Action, tuple[str, str, str]] = {
    Action.CELL_READ: ("crossbar", "cell_read", "chiplet.array.read_energy_per_cell_j"),
    Action.CONVERSION: (
        "adc",
        "conversion",
        "chiplet.array.adc.energy_per_conversion_j x 2^(bits - reference_bits)",
    ),
    Action.ROW_DRIVE: ("dac", "row_drive", "chiplet.array.dac.energy_per_row_drive_j"),
    Action.SHIFT_ADD: ("shift_add", "partial_sum_add", "chiplet.tile.accumulate_energy_j"),
    Action.MUX: ("nm_mux", "input_select", "chiplet.tile.vector_unit.energy_per_op_j"),
    Action.LSRAM_READ: ("local_sram", "read_bit", "chiplet.tile.local_sram.read_energy_per_bit_j"),
    Action.LSRAM_WRITE: ("local_sram", "write_bit", "chiplet.tile.local_sram.write_energy_per_bit_j"),
    Action.GSRAM_READ: ("global_sram", "read_bit", "chiplet.global_sram.read_energy_per_bit_j"),
    Action.GSRAM_WRITE: ("global_sram", "write_bit", "chiplet.global_sram.write_energy_per_bit_j"),
    Action.DPU_MAC: ("dpu", "mac", "chiplet.dpu.energy_per_mac_j"),
    Action.DPU_OP: ("dpu", "op", "chiplet.dpu.energy_per_op_j"),
    Action.NOC: ("noc", "bit_hop", "chiplet.noc.energy_per_bit_per_hop_j"),
    Action.D2D: ("d2d", "bit_hop", "package.d2d.energy_per_bit_j"),
    Action.OFFPKG: ("offpkg_memory", "bit", "package.memory.energy_per_bit_j"),
    Action.PROGRAM: (
        "crossbar",
        "program_cell",
        "chiplet.array.program_energy_per_cell_j x program_verify_iterations",
    ),
    Action.LEAK_ADC: ("adc", "leak_second", "chiplet.power.adc_leakage_w"),
    Action.LEAK_DAC: ("dac", "leak_second", "chiplet.power.dac_leakage_w"),
    Action.LEAK_ARRAY: ("crossbar", "retention_second", "chiplet.power.array_leakage_w"),
    Action.LEAK_TILE_BUF: ("local_sram", "leak_second", "chiplet.power.tile_buffer_leakage_w"),
    Action.LEAK_VU: ("vector_unit", "leak_second", "chiplet.power.vector_unit_leakage_w"),
    Action.LEAK_ROUTER: ("router", "leak_second", "chiplet.power.router_leakage_w"),
    Action.LEAK_GSRAM: ("global_sram", "leak_second", "chiplet.power.global_sram_leakage_w"),
    Action.LEAK_DPU: ("dpu", "leak_second", "chiplet.power.dpu_leakage_w"),
    Action.LEAK_PHY: ("d2d_phy", "idle_second", "chiplet.power.phy_idle_w"),
}

if list(ACTIONS) != list(Action):  # the table is the enum's definition: one row per member, in order
    raise AssertionError("llmimc.cost.actions: ACTIONS rows must follow Action's order")

NUM_ACTIONS = len(Action)
IDX = {(c, a): act for act, (c, a, _) in ACTIONS.items()}
STATIC_ACTIONS = (
    Action.LEAK_ADC,
    Action.LEAK_DAC,
    Action.LEAK_ARRAY,
    Action.LEAK_TILE_BUF,
    Action.LEAK_VU,
    Action.LEAK_ROUTER,
    Action.LEAK_GSRAM,
    Action.LEAK_DPU,
    Action.LEAK_PHY,
)


def _get(spec: ImcSystemSpec, dotted: str) -> float:
    obj: object = spec
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return float(obj)  # type: ignore[arg-type]


def energy_per_action(spec: ImcSystemSpec) -> list[float]:
    """Energy per action (J) in Action order, read from the spec (two derived, see module docstring)."""
    arr = spec.chiplet.array
    derived = {
        Action.CONVERSION: adc_energy_per_conversion_j(arr),
        Action.PROGRAM: arr.program_energy_per_cell_j * (arr.program_verify_iterations or 1),
    }
    return [derived[act] if act in derived else _get(spec, f) for act, (_, _, f) in ACTIONS.items()]


class EnergyRow(Frozen):
    """One line of the energy table: count x energy_per_action_j = energy_j."""

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
        for (c, a, f), n, e in zip(ACTIONS.values(), counts, per_action_j, strict=True)
    ]
