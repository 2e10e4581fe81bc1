"""Rows of a GPU ProfileResult (llmimc.gpu.profile): phases, summary, GPUs, NVLink ring, KV, energy.

IMC-only fields hold neutral values: zero arrays, one stage spanning all GPUs, one "chiplet" row per
GPU; die-to-die links are the NVLink ring of the all-reduces (ring all-reduce: every GPU sends
2 (N-1)/N of the buffer, one link each); off-package bytes are HBM bytes; static energy is idle
power x time. Every energy row sums to the phase totals (idle + busy + link).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.cost.actions import EnergyRow
from llmimc.cost.breakdown import ChipletRow, GroupRow, LinkRow, PhaseRow, StageRow, Summary
from llmimc.gpu.kernels import IterationEval
from llmimc.gpu.model import GpuSystem
from llmimc.gpu.result import GpuPhase, GpuProfileDetail
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.mapping.kv import KvChiplet, KvLayer, KvResidency
from llmimc.sim.profile_result import p99_higher


@dataclass(frozen=True)
class GpuRun:
    """The evaluated iterations of one profile: one prefill, then each decode step."""

    system: GpuSystem
    batch: int
    prompt_len: int
    gen_len: int
    pre: list[IterationEval]
    dec: list[IterationEval]

    @property
    def sp(self) -> dict[str, float]:
        return sum_evals(self.pre)

    @property
    def sd(self) -> dict[str, float]:
        return sum_evals(self.dec)

    @property
    def out_tokens(self) -> int:
        return self.batch * self.gen_len

    @property
    def n_dec(self) -> int:
        return self.batch * (self.gen_len - 1)


def sum_evals(evs: list[IterationEval]) -> dict[str, float]:
    keys = (
        "latency_s",
        "energy_j",
        "idle_energy_j",
        "busy_energy_j",
        "link_energy_j",
        "flops",
        "hbm_bytes",
        "link_bytes",
        "busy_util_s",
    )
    return {k: float(sum(getattr(e, k) for e in evs)) for k in keys}


def _merge(dicts: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v
    return out


def gpu_phase(name: str, evs: list[IterationEval]) -> GpuPhase:
    s = sum_evals(evs)
    return GpuPhase(
        phase=name,
        kernels_per_iteration=evs[0].kernels if evs else 0.0,
        time_by_kernel_s=_merge([e.time_by_label for e in evs]),
        time_by_bound_s=_merge([e.time_by_bound for e in evs]),
        flops=s["flops"],
        hbm_bytes=s["hbm_bytes"],
        idle_energy_j=s["idle_energy_j"],
        busy_energy_j=s["busy_energy_j"],
        link_energy_j=s["link_energy_j"],
    )


def phase_bound(evs: list[IterationEval]) -> str:
    if not evs:
        return "-"
    by = _merge([e.time_by_bound for e in evs])
    return max(by, key=lambda b: by[b])


def kv_residency(system: GpuSystem) -> KvResidency:
    g, mem, n = system.graph, system.cost_model.memory, system.spec.num_gpus
    per_elem = system.table.kv_bytes_per_elem
    layers = [
        KvLayer(layer=i, chiplet=0, bytes_per_token=e * per_elem)
        for i, e in enumerate(g.kv_elements_per_token_per_layer)
    ]
    free = max(0.0, mem.usable_bytes_per_gpu - mem.weight_bytes / n)
    chips = [
        KvChiplet(
            chiplet=c,
            layers=list(range(len(layers))),
            bytes_per_token=mem.kv_bytes_per_token / n,
            sram_capacity_bytes=int(system.spec.memory_capacity_bytes),
            outlier_weight_bytes=0.0,
            activation_reserve_bytes=0.0,
            kv_sram_bytes=free,
            tokens_on_package=mem.kv_capacity_tokens,
        )
        for c in range(n)
    ]
    return KvResidency(
        kv_bits=int(round(per_elem * 8)),
        bytes_per_token=mem.kv_bytes_per_token,
        layers=layers,
        chiplets=chips,
        on_package_tokens=mem.kv_capacity_tokens,
        offpkg_free_bytes=0.0,
        offpkg_tokens=0,
        capacity_tokens=mem.kv_capacity_tokens,
    )


def energy_table(spec: DigitalBaselineSpec, evs: list[IterationEval]) -> list[EnergyRow]:
    s = sum_evals(evs)
    n = spec.num_gpus
    dyn = spec.board_power_w - spec.idle_power_w
    e_bit = spec.interconnect.energy_per_bit_j if spec.interconnect else 0.0
    return [
        EnergyRow(
            component="gpu",
            action="idle power x time (GPU-seconds)",
            count=s["latency_s"] * n,
            energy_per_action_j=spec.idle_power_w,
            energy_j=s["idle_energy_j"],
            spec_field="idle_power_w",
        ),
        EnergyRow(
            component="gpu",
            action="busy: kernel time x utilisation (GPU-seconds)",
            count=s["busy_util_s"] * n,
            energy_per_action_j=dyn,
            energy_j=s["busy_energy_j"],
            spec_field="board_power_w - idle_power_w",
        ),
        EnergyRow(
            component="interconnect",
            action="bit sent",
            count=s["link_bytes"] * 8.0,
            energy_per_action_j=e_bit,
            energy_j=s["link_energy_j"],
            spec_field="interconnect.energy_per_bit_j",
        ),
    ]


def energy_groups(
    pre: list[IterationEval], dec: list[IterationEval], spec: DigitalBaselineSpec
) -> list[GroupRow]:
    """Busy energy by kernel label (time share of each phase's busy energy) plus the idle 'static' row."""
    rows: dict[str, list[float]] = {}
    idle = [0.0, 0.0]
    for i, evs in enumerate((pre, dec)):
        for e in evs:
            total = sum(e.time_by_label.values())
            for lab, t in e.time_by_label.items():
                rows.setdefault(lab, [0.0, 0.0])[i] += (e.busy_energy_j + e.link_energy_j) * (
                    t / total if total else 0.0
                )
            idle[i] += e.idle_energy_j
    out = [
        GroupRow(name=k, prefill_energy_j=v[0], decode_energy_j=v[1], energy_j=v[0] + v[1])
        for k, v in rows.items()
    ]
    out.append(
        GroupRow(name="static", prefill_energy_j=idle[0], decode_energy_j=idle[1], energy_j=idle[0] + idle[1])
    )
    return out


def all_layers(groups: list[GroupRow]) -> list[GroupRow]:
    """The kernel model is not per layer: one row for the kernels, one for idle ('static') energy."""
    busy = [g for g in groups if g.name != "static"]
    pre = sum(g.prefill_energy_j for g in busy)
    dec = sum(g.decode_energy_j for g in busy)
    return [
        GroupRow(name="all layers", prefill_energy_j=pre, decode_energy_j=dec, energy_j=pre + dec),
        groups[-1],
    ]


def phase_rows(run: GpuRun) -> list[PhaseRow]:
    sp, sd, n, b = run.sp, run.sd, run.system.spec.num_gpus, run.batch
    return [
        PhaseRow(
            phase="prefill",
            iterations=1,
            tokens=b * run.prompt_len,
            latency_s=sp["latency_s"],
            energy_j=sp["energy_j"],
            energy_per_token_j=sp["energy_j"] / (b * run.prompt_len),
            d2d_bytes=sp["link_bytes"],
            offpkg_bytes=sp["hbm_bytes"] * n,
            bound=phase_bound(run.pre),
        ),
        PhaseRow(
            phase="decode",
            iterations=run.gen_len - 1,
            tokens=run.n_dec,
            latency_s=sd["latency_s"],
            energy_j=sd["energy_j"],
            energy_per_token_j=sd["energy_j"] / run.n_dec if run.n_dec else 0.0,
            d2d_bytes=sd["link_bytes"],
            offpkg_bytes=sd["hbm_bytes"] * n,
            bound=phase_bound(run.dec),
        ),
    ]


def summary(run: GpuRun) -> Summary:
    sp, sd, n, out = run.sp, run.sd, run.system.spec.num_gpus, run.out_tokens
    step_lat = [e.latency_s for e in run.dec]
    energy = sp["energy_j"] + sd["energy_j"]
    total = sp["latency_s"] + sd["latency_s"]
    static = sp["idle_energy_j"] + sd["idle_energy_j"]
    return Summary(
        ttft_s=sp["latency_s"],
        mean_tpot_s=float(np.mean(step_lat)) if step_lat else 0.0,
        p99_tpot_s=p99_higher(step_lat),
        total_latency_s=total,
        output_tokens=out,
        tokens_per_s=out / total if total > 0 else 0.0,
        energy_j=energy,
        energy_per_output_token_j=energy / out,
        prefill_energy_per_prompt_token_j=sp["energy_j"] / (run.batch * run.prompt_len),
        decode_energy_per_token_j=sd["energy_j"] / run.n_dec if run.n_dec else 0.0,
        analog_mac_ratio=0.0,
        arrays_used=0,
        arrays_capacity=0,
        chiplets_used=n,
        d2d_bytes_per_output_token=(sp["link_bytes"] + sd["link_bytes"]) / out,
        d2d_bytes_per_decode_token=sd["link_bytes"] / run.n_dec if run.n_dec else 0.0,
        static_energy_j=static,
        static_energy_share=static / energy if energy > 0 else 0.0,
        offpkg_bytes=(sp["hbm_bytes"] + sd["hbm_bytes"]) * n,
    )


def stage_row(run: GpuRun) -> StageRow:
    n = run.system.spec.num_gpus
    return StageRow(
        index=0,
        label=f"layers 0-{run.system.graph.info.num_layers - 1} (tensor parallel x{n})",
        chiplets=list(range(n)),
        prefill_time_s=run.sp["latency_s"],
        first_decode_time_s=run.dec[0].latency_s if run.dec else 0.0,
    )


def gpu_rows(run: GpuRun, stage: StageRow, kv: KvResidency) -> list[ChipletRow]:
    n = run.system.spec.num_gpus
    lat_p, lat_d = run.sp["latency_s"], run.sd["latency_s"]
    energy = run.sp["energy_j"] + run.sd["energy_j"]
    return [
        ChipletRow(
            chiplet=c,
            stages=[stage.label],
            arrays_used=0,
            arrays_capacity=0,
            kv_layers=kv.chiplets[c].layers,
            kv_tokens_on_package=kv.capacity_tokens,
            prefill_busy_s=lat_p,
            decode_busy_s=lat_d,
            prefill_utilisation=1.0 if lat_p > 0 else 0.0,
            decode_utilisation=1.0 if lat_d > 0 else 0.0,
            energy_j=energy / n,
        )
        for c in range(n)
    ]


def link_rows(run: GpuRun) -> list[LinkRow]:
    spec = run.system.spec
    n, link = spec.num_gpus, spec.interconnect
    if n <= 1 or link is None:
        return []
    total = run.sp["latency_s"] + run.sd["latency_s"]
    bp, bd = run.sp["link_bytes"] / n, run.sd["link_bytes"] / n
    busy = (bp + bd) / link.bw_bytes_per_s
    return [
        LinkRow(
            src=c,
            dst=(c + 1) % n,
            prefill_bytes=bp,
            decode_bytes=bd,
            bytes_per_output_token=(bp + bd) / run.out_tokens,
            busy_s=busy,
            utilisation=busy / total if total > 0 else 0.0,
            energy_j=(bp + bd) * 8.0 * link.energy_per_bit_j,
        )
        for c in range(n)
    ]


def detail(run: GpuRun) -> GpuProfileDetail:
    cm, spec = run.system.cost_model, run.system.spec
    mem = cm.memory
    return GpuProfileDetail(
        software_stack=spec.software_stack.value,
        num_gpus=spec.num_gpus,
        compute_format=cm.consts.fmt,
        memory_capacity_bytes_per_gpu=mem.capacity_bytes_per_gpu,
        memory_usable_bytes_per_gpu=mem.usable_bytes_per_gpu,
        weight_bytes=mem.weight_bytes,
        kv_bytes_per_token=mem.kv_bytes_per_token,
        kv_capacity_tokens=mem.kv_capacity_tokens,
        gpus_needed=mem.gpus_needed,
        phases=[gpu_phase("prefill", run.pre), gpu_phase("decode", run.dec)],
    )
