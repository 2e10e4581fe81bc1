"""run_profile: one batch of identical requests through prefill and every decode step (DESIGN.md §4).

Phases: one prefill iteration of B sequences of S prompt tokens (T = S, L = S) yields the first output
token (TTFT); then G - 1 decode iterations, step k (k = 1..G-1) with S + k - 1 past tokens per sequence
(T = 1, L = S + k), each yielding one more token per sequence. Every iteration is costed by the same
compiled model the serving simulator uses (``CompiledCostModel``), so a request served alone has
exactly these latencies. Action counts are linear in the iteration features, so a phase's breakdown is
evaluated once on the features summed over its iterations; latency (a max over stages and resources)
is evaluated per iteration.

Derived figures: time per output token (TPOT) = the decode step latencies (mean, p99 by the
'higher' rule: the smallest step latency >= 99 % of steps); tokens/s = B x G / (TTFT + Sum decode);
energy per output token = total energy / (B x G).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.compress.plan import CompressionPlan, OpCompression
from llmimc.cost.actions import NUM_ACTIONS, EnergyRow
from llmimc.cost.breakdown import (
    ChipletRow,
    LinkRow,
    PhaseRow,
    PrecisionRow,
    StageRow,
    Summary,
    group_energy,
    precision_rows,
)
from llmimc.cost.iteration import PrefillChunk
from llmimc.cost.model import PhaseTotals, features
from llmimc.errors import MappingError
from llmimc.hw.spec import DigitalBaselineSpec, ImcSystemSpec
from llmimc.model.opgraph import OpGraph
from llmimc.sim.profile_result import (
    ProfileResult,
    check_profile_inputs,
    context_note,
    digital_baseline,
    p99_higher,
)
from llmimc.sim.system import System, build_system
from llmimc.workload import decode_past_tokens

STATIC_DOMINANT_SHARE = 0.5  # above this share of the energy, the report says static power dominates


def uniform_plan(graph: OpGraph, plan: CompressionPlan, bits: int = 8) -> CompressionPlan:
    """Dense uniform ``bits``-bit weights and activations, no outliers, same KV bits (the reference)."""
    ops = {
        op.name: OpCompression(op_name=op.name, weight_bits=bits, act_bits=bits, outlier_bits=16)
        for op in graph.linear_ops()
    }
    return CompressionPlan(
        policy_name=f"uniform-w{bits}a{bits}", kv_bits=plan.kv_bits, ops=ops, outlier_source="none"
    )


def _precision_rows(system: System) -> list[PrecisionRow]:
    arrays = {p.op_name: p.tiling.arrays for p in system.mapping.ops if p.tiling is not None}
    return precision_rows(system.graph, system.plan, arrays)


@dataclass(frozen=True)
class _Phases:
    """Features, spill tokens, latencies and busy times of the prefill and of all decode steps."""

    f_p: np.ndarray  # prefill features
    s_p: np.ndarray  # prefill spill tokens per KV chiplet
    lat_p: float
    stage_p: np.ndarray
    bound_p: str
    slot_p: np.ndarray
    f_d: np.ndarray  # decode features summed over the steps
    s_d: np.ndarray
    slot_d: np.ndarray
    stage_d1: np.ndarray  # stage times of the first decode step
    step_lat: list[float]  # latency of each decode step
    bounds_d: set[str]
    stat_p: np.ndarray  # leakage action counts per chiplet (llmimc.cost.power), prefill
    stat_d: np.ndarray  # ... summed over the decode steps

    @property
    def lat_d(self) -> float:
        return float(sum(self.step_lat))


def _evaluate_phases(system: System, batch: int, prompt_len: int, gen_len: int) -> _Phases:
    """Cost the prefill iteration and every decode step (workload.decode_past_tokens)."""
    cm = system.cost_model
    f_p = features([PrefillChunk(prompt_len, 0)] * batch, [])
    s_p = cm.spill(f_p)
    det_p = cm.detail(f_p, s_p)
    f_d = np.zeros_like(f_p)
    s_d = cm.no_spill()
    slot_d = np.zeros(len(system.compiled.slot_chiplet))
    stat_d = np.zeros((system.mapping.num_chiplets, NUM_ACTIONS))
    step_lat: list[float] = []
    bounds: set[str] = set()
    stage_d1 = np.zeros(len(system.mapping.stages))
    for k, past in enumerate(decode_past_tokens(prompt_len, gen_len), start=1):
        f = features([], [past] * batch)
        s = cm.spill(f)
        det = cm.detail(f, s)
        lat, stage_t, bound = det.latency_s, det.stage_times_s, det.bound
        if k == 1:
            stage_d1 = stage_t
        bounds.add(bound)
        step_lat.append(float(lat))
        f_d += f
        s_d += s
        slot_d += det.slot_busy_s  # busy = work, at most the iteration (ops overlap in a pipeline)
        stat_d += det.static_counts
    return _Phases(
        f_p=f_p,
        s_p=s_p,
        lat_p=det_p.latency_s,
        stage_p=det_p.stage_times_s,
        bound_p=det_p.bound,
        slot_p=det_p.slot_busy_s,
        f_d=f_d,
        s_d=s_d,
        slot_d=slot_d,
        stage_d1=stage_d1,
        step_lat=step_lat,
        bounds_d=bounds,
        stat_p=det_p.static_counts,
        stat_d=stat_d,
    )


@dataclass(frozen=True)
class _Energy:
    """Per-item dynamic energy, static energy and the action tables of both phases."""

    item_p: np.ndarray
    item_d: np.ndarray
    static_p: float
    static_d: float
    static_per_chiplet: np.ndarray  # leakage energy of each chiplet, both phases
    table: list[EnergyRow]
    table_p: list[EnergyRow]
    table_d: list[EnergyRow]

    @property
    def energy_p(self) -> float:
        return float(self.item_p.sum() + self.static_p)

    @property
    def energy_d(self) -> float:
        return float(self.item_d.sum() + self.static_d)


def _energy(system: System, ph: _Phases, tot_p: PhaseTotals, tot_d: PhaseTotals) -> _Energy:
    cm = system.cost_model
    tot_cnt_p = tot_p.action_counts + ph.stat_p.sum(axis=0)
    tot_cnt_d = tot_d.action_counts + ph.stat_d.sum(axis=0)
    return _Energy(
        item_p=tot_p.item_energy_j,
        item_d=tot_d.item_energy_j,
        static_p=float(cm.leakage_energy_j(ph.stat_p.sum(axis=0))),
        static_d=float(cm.leakage_energy_j(ph.stat_d.sum(axis=0))),
        static_per_chiplet=cm.leakage_energy_j(ph.stat_p + ph.stat_d),
        table=cm.energy_table(tot_cnt_p + tot_cnt_d),
        table_p=cm.energy_table(tot_cnt_p),
        table_d=cm.energy_table(tot_cnt_d),
    )


def _no_phase(like: PhaseTotals) -> PhaseTotals:
    """Totals of a phase with no iteration (a single output token: no decode step)."""
    return PhaseTotals(
        item_counts=np.zeros_like(like.item_counts),
        item_energy_j=np.zeros_like(like.item_energy_j),
        action_counts=np.zeros_like(like.action_counts),
        link_bytes=np.zeros_like(like.link_bytes),
        offpkg_bytes=0.0,
    )


def _link_rows(
    system: System, lb_p: np.ndarray, lb_d: np.ndarray, out_tokens: int, total_lat: float
) -> list[LinkRow]:
    d2d = system.spec.package.d2d
    rows = []
    for (a, b), bp, bd in zip(system.compiled.links, lb_p.tolist(), lb_d.tolist(), strict=True):
        busy = (bp + bd) / d2d.bw_bytes_per_s
        rows.append(
            LinkRow(
                src=a,
                dst=b,
                prefill_bytes=bp,
                decode_bytes=bd,
                bytes_per_output_token=(bp + bd) / out_tokens,
                busy_s=busy,
                utilisation=busy / total_lat if total_lat > 0 else 0.0,
                energy_j=(bp + bd) * 8.0 * d2d.energy_per_bit_j,
            )
        )
    return rows


def _chiplet_rows(system: System, ph: _Phases, en: _Energy, total_lat: float) -> list[ChipletRow]:
    m, comp = system.mapping, system.compiled
    n_chip = m.num_chiplets
    chip_e = np.zeros(n_chip)
    np.add.at(chip_e, np.array([it.chiplet for it in comp.items], dtype=int), en.item_p + en.item_d)
    busy_p = np.zeros(n_chip)
    busy_d = np.zeros(n_chip)
    np.add.at(busy_p, np.array(comp.slot_chiplet, dtype=int), ph.slot_p)
    np.add.at(busy_d, np.array(comp.slot_chiplet, dtype=int), ph.slot_d)
    kv_by_chip = {c.chiplet: c for c in m.kv.chiplets}
    lat_d = ph.lat_d
    rows = []
    for c in range(n_chip):
        kvc = kv_by_chip.get(c)
        rows.append(
            ChipletRow(
                chiplet=c,
                stages=[st.label for st in m.stages if c in st.chiplets],
                arrays_used=m.arrays_per_chiplet[c],
                arrays_capacity=m.arrays_capacity_per_chiplet,
                kv_layers=kvc.layers if kvc else [],
                kv_tokens_on_package=kvc.tokens_on_package if kvc else None,
                prefill_busy_s=float(busy_p[c]),
                decode_busy_s=float(busy_d[c]),
                prefill_utilisation=float(busy_p[c] / ph.lat_p) if ph.lat_p > 0 else 0.0,
                decode_utilisation=float(busy_d[c] / lat_d) if lat_d > 0 else 0.0,
                energy_j=float(chip_e[c] + en.static_per_chiplet[c]),
            )
        )
    return rows


def _phase_rows(
    ph: _Phases,
    en: _Energy,
    batch: int,
    prompt_len: int,
    gen_len: int,
    d2d: tuple[float, float],
    off: tuple[float, float],
) -> list[PhaseRow]:
    return [
        PhaseRow(
            phase="prefill",
            iterations=1,
            tokens=batch * prompt_len,
            latency_s=float(ph.lat_p),
            energy_j=en.energy_p,
            energy_per_token_j=en.energy_p / (batch * prompt_len),
            d2d_bytes=d2d[0],
            offpkg_bytes=off[0],
            bound=ph.bound_p,
        ),
        PhaseRow(
            phase="decode",
            iterations=gen_len - 1,
            tokens=batch * (gen_len - 1),
            latency_s=ph.lat_d,
            energy_j=en.energy_d,
            energy_per_token_j=en.energy_d / (batch * (gen_len - 1)) if gen_len > 1 else 0.0,
            d2d_bytes=d2d[1],
            offpkg_bytes=off[1],
            bound="/".join(sorted(ph.bounds_d)) if ph.bounds_d else "-",
        ),
    ]


def _notes(system: System, summary: Summary, prompt_len: int, gen_len: int, spilled: int) -> list[str]:
    """What the reader must know to read the numbers right (static share, spills, windows, endurance)."""
    m, graph = system.mapping, system.graph
    idle_w, powered = system.cost_model.static_power_w, sum(system.compiled.power.powered)
    notes = list(m.notes)
    ctx_note = context_note(graph, prompt_len, gen_len)
    if ctx_note:
        notes.append(ctx_note)
    if summary.static_energy_share > STATIC_DOMINANT_SHARE:
        notes.append(
            f"static power dominates: leakage is {100 * summary.static_energy_share:.1f}% of the energy "
            f"({idle_w:.3g} W always on in {powered} powered chiplets, plus the periphery of each stage "
            "while it computes); a larger --batch amortises it"
        )
    if spilled:
        notes.append(
            f"KV cache spills: {m.kv.on_package_tokens} tokens fit in chiplet SRAM, {spilled} tokens per "
            "layer are read from away from their attention chiplet (other chiplets' SRAM, then the "
            "nearest memory stack) at the last step"
        )
    windows = [w for w in graph.info.attention_window_per_layer if w is not None]
    if windows and prompt_len + gen_len > min(windows):
        notes.append(
            f"{len(windows)} layers use sliding-window attention (window {min(windows)} tokens) but are "
            f"costed with full attention: beyond {min(windows)} tokens of context their attention work "
            "and KV cache are overstated"
        )
    if m.reprogramming is not None and m.reprogramming.endurance_cycles is not None:
        endurance = m.reprogramming.endurance_cycles
        notes.append(
            f"reprogramming writes every cell once per iteration: endurance ({endurance:.3g} writes) lasts "
            f"{endurance:.3g} iterations = {endurance / (gen_len):.3g} requests like this one"
        )
    return notes


def _build_system(
    graph: OpGraph,
    spec: ImcSystemSpec,
    plan: CompressionPlan,
    batch: int,
    prompt_len: int,
    gen_len: int,
    allow_reprogramming: bool,
) -> System:
    """The costed system for this request batch; MappingError if its KV cache cannot be held."""
    check_profile_inputs(graph, batch, prompt_len, gen_len)
    system = build_system(
        graph,
        spec,
        plan,
        batch=batch,
        max_context_tokens=prompt_len + gen_len,
        allow_reprogramming=allow_reprogramming,
    )
    kv = system.mapping.kv
    need_tokens = batch * (prompt_len + gen_len)
    if need_tokens > kv.capacity_tokens:
        raise MappingError(
            f"KV cache of {batch} x {prompt_len + gen_len} tokens ({need_tokens * kv.bytes_per_token:.3g} bytes) "
            f"exceeds the package's {kv.capacity_tokens} tokens (SRAM + off-package memory); "
            "lower --batch or the lengths, or use more chiplets"
        )
    return system


def run_profile(
    graph: OpGraph,
    spec: ImcSystemSpec,
    plan: CompressionPlan,
    *,
    batch: int = 1,
    prompt_len: int = 128,
    gen_len: int = 128,
    allow_reprogramming: bool = False,
    baseline: DigitalBaselineSpec | None = None,
) -> ProfileResult:
    """Profile ``batch`` identical requests (see module docstring); ``llmimc.api.profile`` adds savings.

    Steps: build the costed system → evaluate the phases → energy → breakdown rows → summary → notes.
    """
    from llmimc.compress import analog_mac_ratio

    system = _build_system(graph, spec, plan, batch, prompt_len, gen_len, allow_reprogramming)
    m, cm, comp = system.mapping, system.cost_model, system.compiled
    ph = _evaluate_phases(system, batch, prompt_len, gen_len)
    tot_p = cm.phase_totals(ph.f_p, ph.s_p)
    tot_d = cm.phase_totals(ph.f_d, ph.s_d) if gen_len > 1 else _no_phase(tot_p)
    en = _energy(system, ph, tot_p, tot_d)
    energy = en.energy_p + en.energy_d
    total_lat = float(ph.lat_p + ph.lat_d)
    out_tokens = batch * gen_len
    layers = group_energy([it.layer for it in comp.items], en.item_p, en.item_d, en.static_p, en.static_d)
    kinds = group_energy([it.kind for it in comp.items], en.item_p, en.item_d, en.static_p, en.static_d)
    d2d_p, d2d_d = tot_p.d2d_bytes, tot_d.d2d_bytes
    offpkg = (tot_p.offpkg_bytes, tot_d.offpkg_bytes)
    phases = _phase_rows(ph, en, batch, prompt_len, gen_len, (d2d_p, d2d_d), offpkg)
    stages = [
        StageRow(
            index=st.index,
            label=st.label,
            chiplets=st.chiplets,
            prefill_time_s=float(ph.stage_p[i]),
            first_decode_time_s=float(ph.stage_d1[i]),
        )
        for i, st in enumerate(m.stages)
    ]
    step_lat = ph.step_lat
    mean_tpot = float(np.mean(step_lat)) if step_lat else 0.0
    n_chip = m.num_chiplets
    summary = Summary(
        ttft_s=float(ph.lat_p),
        mean_tpot_s=mean_tpot,
        p99_tpot_s=p99_higher(step_lat),
        total_latency_s=total_lat,
        output_tokens=out_tokens,
        tokens_per_s=out_tokens / total_lat if total_lat > 0 else 0.0,
        energy_j=energy,
        energy_per_output_token_j=energy / out_tokens,
        prefill_energy_per_prompt_token_j=en.energy_p / (batch * prompt_len),
        decode_energy_per_token_j=phases[1].energy_per_token_j,
        analog_mac_ratio=float(analog_mac_ratio(graph, plan)),
        arrays_used=m.total_arrays,
        arrays_capacity=m.arrays_capacity_per_chiplet * n_chip,
        chiplets_used=sum(1 for c in m.arrays_per_chiplet if c > 0),
        d2d_bytes_per_output_token=(d2d_p + d2d_d) / out_tokens,
        d2d_bytes_per_decode_token=d2d_d / (batch * (gen_len - 1)) if gen_len > 1 else 0.0,
        static_energy_j=float(en.static_p + en.static_d),
        static_energy_share=float(en.static_p + en.static_d) / energy if energy > 0 else 0.0,
        offpkg_bytes=offpkg[0] + offpkg[1],
    )
    peak_tokens = batch * (prompt_len + gen_len - 1)
    spilled = int(max((max(0, peak_tokens - c.tokens_on_package) for c in m.kv.chiplets), default=0))
    endurance = m.reprogramming.endurance_cycles if m.reprogramming is not None else None
    base = (
        digital_baseline(graph, plan, baseline, batch, prompt_len, gen_len, mean_tpot, energy / out_tokens)
        if baseline
        else None
    )
    return ProfileResult(
        model_id=graph.info.model_id,
        spec_name=spec.name,
        policy_name=plan.policy_name,
        num_chiplets=n_chip,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        summary=summary,
        phases=phases,
        stages=stages,
        layers=layers,
        op_kinds=kinds,
        chiplets=_chiplet_rows(system, ph, en, total_lat),
        links=_link_rows(system, tot_p.link_bytes, tot_d.link_bytes, out_tokens, total_lat),
        energy_table=en.table,
        energy_table_prefill=en.table_p,
        energy_table_decode=en.table_d,
        kv=m.kv,
        kv_peak_tokens=peak_tokens,
        kv_spilled_tokens_at_end=spilled,
        per_token_latency_s=step_lat,
        precision=_precision_rows(system),
        baseline=base,
        reprogramming_endurance_iterations=endurance,
        notes=_notes(system, summary, prompt_len, gen_len, spilled),
    )
