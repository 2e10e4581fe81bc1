"""Energy per action, Accelergy-style: every joule is an action count x an energy per action.

The table below names every (component, action) pair the cost model counts and where its energy per
action comes from in the hardware spec (each spec number carries its own source). Static power is an
action too: one "chiplet_second" of a powered chiplet costs ``static_power_w`` joules.

Reference: Wu, Emer, Sze, "Accelergy: An Architecture-Level Energy Estimation Methodology for
Accelerator Designs", ICCAD 2019 (energy = sum over components of action counts x energy per action).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from llmimc.hw.spec import ImcSystemSpec

# (component, action, spec field the energy per action comes from)
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("crossbar", "cell_read", "chiplet.array.read_energy_per_cell_j"),
    ("adc", "conversion", "chiplet.array.adc.energy_per_conversion_j"),
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
    ("crossbar", "program_cell", "chiplet.array.program_energy_per_cell_j"),
    ("static", "chiplet_second", "chiplet.static_power_w"),
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
STATIC = IDX[("static", "chiplet_second")]


def _get(spec: ImcSystemSpec, dotted: str) -> float:
    obj: object = spec
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return float(obj)  # type: ignore[arg-type]


def energy_per_action(spec: ImcSystemSpec) -> list[float]:
    """Energy per action (J) in ACTIONS order, read from the spec."""
    return [_get(spec, field) for _, _, field in ACTIONS]


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
