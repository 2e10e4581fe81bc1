"""Leakage by power state: which component leaks, and for how long (``chiplet.power`` of the spec).

Every leakage is an action (``llmimc.cost.actions``): one leak-second of one component instance. The
counts of one iteration of latency t with stage (virtual chiplet) busy times b_v are

    counts = ON x t + Sum_e GATED_e x min(b_s(e), t) + Sum_e WAKE_e x [iteration has work]

where e runs over the (stage, chiplet) pieces of weights and b_s the busy time of stage s (its
slowest virtual chiplet's work in the iteration).

States (one convention for every IMC spec; a component whose leakage is folded into a measured
per-action energy has leakage 0 in its spec, with that said in its source):

- without ``power_gating`` every component of every chiplet is on all the time (ON holds all of
  them; the old "static power x chiplets" convention);
- with ``power_gating``:
  * a chiplet is powered when it holds weights or KV or is the memory chiplet; a chiplet that only
    forwards die-to-die traffic powers just its PHYs; any other chiplet draws nothing;
  * always on (ON): in a powered chiplet the global SRAM (it holds the KV cache and activations), the
    DPU and the retention leakage of volatile (SRAM) arrays that hold weights; in every chiplet the
    idle PHY of each outgoing link that carries traffic;
  * gated per stage (GATED_e, charged while the stage is busy): the ADCs and DACs
    of the arrays holding its weights, those arrays (non-volatile cells keep their weights unpowered,
    so their leakage counts only while they compute), and the buffer, vector unit and router of each
    tile holding its weights (an op is spread over the free tiles of its chiplet, so a chiplet with A
    arrays of weights uses min(tiles, A) tiles: ``tiles_holding``);
  * arrays, tiles and chiplets without weights are gated off;
  * each gated domain wakes once per iteration (stages work one after another, the next wakes while
    the previous computes, so only the first wake-up time ``wakeup_time_s`` adds to the latency) and a
    wake-up costs its leakage over ``breakeven_time_s`` (WAKE_e = GATED_e x breakeven_time_s).

Sources: per-component leakage as in each spec; the state model follows the power-gating literature
(Hu et al., ISLPED 2004, wake-up delay and break-even time) and the non-volatility argument of NVM IMC
(weights retained without power, e.g. PICNIC reports its gains with chiplet power gating).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.cost.actions import NUM_ACTIONS, Action
from llmimc.hw.derive import adcs_per_array
from llmimc.hw.spec import CellTechnology, Chiplet, ImcSystemSpec
from llmimc.mapping.model import Mapping


@dataclass(frozen=True)
class PowerStates:
    on_counts_per_s: np.ndarray  # (chiplets, actions): leak-seconds per second of wall time
    gated_counts_per_s: np.ndarray  # (pieces, actions): leak-seconds per second of the stage's busy time
    wake_counts: np.ndarray  # (pieces, actions): leak-seconds per wake-up (one per iteration with work)
    piece_stage: np.ndarray  # stage of each (stage, chiplet) piece of weights
    piece_chiplet: np.ndarray  # physical chiplet of each piece
    wakeup_time_s: float
    powered: list[bool]  # global SRAM and DPU on (transit chiplets power only their PHYs)


def tiles_holding(chip: Chiplet, arrays: int) -> int:
    """Tiles a chiplet uses for ``arrays`` arrays of weights: ops spread over the free tiles."""
    return min(chip.tiles, arrays) if arrays > 0 else 0


def _array_counts(chip: Chiplet, arrays: int, tiles: int, with_cells: bool) -> np.ndarray:
    v = np.zeros(NUM_ACTIONS)
    v[Action.LEAK_ADC] = arrays * adcs_per_array(chip.array)
    v[Action.LEAK_DAC] = arrays * chip.array.rows
    if with_cells:
        v[Action.LEAK_ARRAY] = arrays
    v[Action.LEAK_TILE_BUF] = v[Action.LEAK_VU] = v[Action.LEAK_ROUTER] = tiles
    return v


def power_states(
    spec: ImcSystemSpec,
    mapping: Mapping,
    traffic_links: set[tuple[int, int]],
    all_links: list[tuple[int, int]],
) -> PowerStates:
    """ON / GATED / WAKE count matrices of the module docstring for one mapping."""
    chip = spec.chiplet
    p = chip.power
    n_chip = mapping.num_chiplets
    on = np.zeros((n_chip, NUM_ACTIONS))
    pieces = [
        (st.index, c, arrays)
        for st in mapping.stages
        for c, arrays in zip(st.chiplets, st.arrays_per_chiplet, strict=True)
        if arrays > 0
    ]
    stage_of = np.array([p[0] for p in pieces], dtype=int)
    chip_of = np.array([p[1] for p in pieces], dtype=int)
    gated = np.zeros((len(pieces), NUM_ACTIONS))
    volatile = chip.array.cell_technology == CellTechnology.SRAM
    if not p.power_gating:
        arrays = chip.arrays
        for c in range(n_chip):
            on[c] = _array_counts(chip, arrays, chip.tiles, True)
            on[c, Action.LEAK_GSRAM] = on[c, Action.LEAK_DPU] = 1.0
        for a, _ in all_links:
            on[a, Action.LEAK_PHY] += 1.0
        return PowerStates(on, gated, gated.copy(), stage_of, chip_of, 0.0, [True] * n_chip)
    kv_chips = {c.chiplet for c in mapping.kv.chiplets}
    powered = [
        mapping.arrays_per_chiplet[c] > 0 or c in kv_chips or c == mapping.memory_chiplet
        for c in range(n_chip)
    ]
    for a, _ in traffic_links:
        on[a, Action.LEAK_PHY] += 1.0
    for c in range(n_chip):
        if not powered[c]:
            continue
        on[c, Action.LEAK_GSRAM] = on[c, Action.LEAK_DPU] = 1.0
        if volatile:  # SRAM cells lose their weights when gated: arrays holding weights stay powered
            on[c, Action.LEAK_ARRAY] = mapping.arrays_per_chiplet[c]
    for i, (_, _, arrays) in enumerate(pieces):
        gated[i] = _array_counts(chip, arrays, tiles_holding(chip, arrays), not volatile)
    wake = gated * p.breakeven_time_s
    return PowerStates(on, gated, wake, stage_of, chip_of, p.wakeup_time_s, powered)


def static_counts(ps: PowerStates, latency_s: float, stage_busy_s: np.ndarray, has_work: float) -> np.ndarray:
    """Leak-second counts per chiplet (chiplets x actions) of one iteration (module docstring)."""
    out = ps.on_counts_per_s * latency_s
    if len(ps.piece_stage):
        busy = np.minimum(stage_busy_s[ps.piece_stage], latency_s)[:, None]
        np.add.at(out, ps.piece_chiplet, ps.gated_counts_per_s * busy + ps.wake_counts * has_work)
    return out


def idle_power_w(ps: PowerStates, energy_per_action_j: np.ndarray) -> float:
    """Power drawn between iterations: the always-on components only."""
    return float(ps.on_counts_per_s.sum(axis=0) @ energy_per_action_j)
