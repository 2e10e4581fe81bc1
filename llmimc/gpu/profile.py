"""Profile one request batch on a GPU system: the same phases and ProfileResult shape as an IMC run.

Phases as in llmimc.sim.profile: one prefill iteration of B sequences of S tokens (TTFT), then G - 1
decode iterations with S + k - 1 past tokens (k = 1..G-1). Each iteration is costed by the GPU
iteration model (llmimc.gpu.model) the serving simulator also uses. IMC-only fields of
ProfileResult (arrays, analog MAC ratio, pipeline stages) hold their neutral values: zero arrays,
one stage spanning all GPUs, one "chiplet" row per GPU; die-to-die links are the NVLink ring of the
all-reduces; off-package bytes are HBM bytes; static energy is idle power x time. The GPU-specific
breakdown (kernels, bounds, memory) is in ``ProfileResult.gpu``.
"""

from __future__ import annotations

import numpy as np

from llmimc.compress import op_roles
from llmimc.compress.plan import CompressionPlan
from llmimc.cost.actions import EnergyRow
from llmimc.cost.breakdown import (
    BaselineResult,
    ChipletRow,
    GroupRow,
    LinkRow,
    PhaseRow,
    PrecisionRow,
    StageRow,
    Summary,
)
from llmimc.cost.iteration import PrefillChunk
from llmimc.gpu.kernels import IterationEval, features
from llmimc.gpu.model import GpuSystem, build_gpu_system
from llmimc.gpu.result import GpuPhase, GpuProfileDetail
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.mapping.kv import KvChiplet, KvLayer, KvResidency
from llmimc.model.opgraph import OpGraph
from llmimc.sim.profile import ProfileResult, _baseline, _check_inputs, _p99, context_note
from llmimc.workload import decode_past_tokens


def _sum_evals(evs: list[IterationEval]) -> dict[str, float]:
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


def _gpu_phase(name: str, evs: list[IterationEval]) -> GpuPhase:
    s = _sum_evals(evs)
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


def _bound(evs: list[IterationEval]) -> str:
    if not evs:
        return "-"
    by = _merge([e.time_by_bound for e in evs])
    return max(by, key=lambda b: by[b])


def _precision_rows(graph: OpGraph, plan: CompressionPlan) -> list[PrecisionRow]:
    groups: dict[str, list] = {}
    for op in graph.linear_ops():
        roles = op_roles(op) - {"decoder"}
        role = (
            "lm_head" if "lm_head" in roles else ("expert" if "expert" in roles else "+".join(sorted(roles)))
        )
        groups.setdefault(role, []).append(op)
    rows = []
    for role, ops in groups.items():
        comps = [plan.ops[op.name] for op in ops if op.name in plan.ops]
        k_total = sum(op.in_features for op in ops)
        rows.append(
            PrecisionRow(
                role=role,
                ops=len(ops),
                weight_bits="/".join(str(b) for b in sorted({c.weight_bits for c in comps})),
                act_bits="/".join(str(b) for b in sorted({c.act_bits for c in comps})),
                outlier_fraction=sum(c.outlier_rows for c in comps) / k_total if k_total else 0.0,
                sparsity="/".join(sorted({f"{c.sparsity_n}:{c.sparsity_m}" for c in comps})),
                arrays=0,
                weight_params=sum(op.weight_params for op in ops),
            )
        )
    return rows


def _kv(system: GpuSystem) -> KvResidency:
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


def _energy_table(spec: DigitalBaselineSpec, evs: list[IterationEval]) -> list[EnergyRow]:
    s = _sum_evals(evs)
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


def _groups(pre: list[IterationEval], dec: list[IterationEval], spec: DigitalBaselineSpec) -> list[GroupRow]:
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


def _all_layers(groups: list[GroupRow]) -> list[GroupRow]:
    """The kernel model is not per layer: one row for the kernels, one for idle ('static') energy."""
    busy = [g for g in groups if g.name != "static"]
    pre = sum(g.prefill_energy_j for g in busy)
    dec = sum(g.decode_energy_j for g in busy)
    return [
        GroupRow(name="all layers", prefill_energy_j=pre, decode_energy_j=dec, energy_j=pre + dec),
        groups[-1],
    ]


def run_gpu_profile(
    graph: OpGraph,
    spec: DigitalBaselineSpec,
    plan: CompressionPlan,
    *,
    batch: int = 1,
    prompt_len: int = 128,
    gen_len: int = 128,
    baseline: DigitalBaselineSpec | None = None,
) -> ProfileResult:
    """Profile ``batch`` identical requests on ``spec`` (``spec.num_gpus`` tensor-parallel GPUs)."""
    _check_inputs(graph, batch, prompt_len, gen_len)
    system = build_gpu_system(graph, spec, plan, need_kv_tokens=batch * (prompt_len + gen_len))
    cm, n = system.cost_model, spec.num_gpus
    pre = [cm.evaluate(features([PrefillChunk(prompt_len, 0)] * batch, []))]
    dec = [cm.evaluate(features([], [past] * batch)) for past in decode_past_tokens(prompt_len, gen_len)]
    sp, sd = _sum_evals(pre), _sum_evals(dec)
    lat_p, lat_d = sp["latency_s"], sd["latency_s"]
    step_lat = [e.latency_s for e in dec]
    energy = sp["energy_j"] + sd["energy_j"]
    total = lat_p + lat_d
    out_tokens = batch * gen_len
    n_dec = batch * (gen_len - 1)
    phases = [
        PhaseRow(
            phase="prefill",
            iterations=1,
            tokens=batch * prompt_len,
            latency_s=lat_p,
            energy_j=sp["energy_j"],
            energy_per_token_j=sp["energy_j"] / (batch * prompt_len),
            d2d_bytes=sp["link_bytes"],
            offpkg_bytes=sp["hbm_bytes"] * n,
            bound=_bound(pre),
        ),
        PhaseRow(
            phase="decode",
            iterations=gen_len - 1,
            tokens=n_dec,
            latency_s=lat_d,
            energy_j=sd["energy_j"],
            energy_per_token_j=sd["energy_j"] / n_dec if n_dec else 0.0,
            d2d_bytes=sd["link_bytes"],
            offpkg_bytes=sd["hbm_bytes"] * n,
            bound=_bound(dec),
        ),
    ]
    static = sp["idle_energy_j"] + sd["idle_energy_j"]
    mean_tpot = float(np.mean(step_lat)) if step_lat else 0.0
    summary = Summary(
        ttft_s=lat_p,
        mean_tpot_s=mean_tpot,
        p99_tpot_s=_p99(step_lat),
        total_latency_s=total,
        output_tokens=out_tokens,
        tokens_per_s=out_tokens / total if total > 0 else 0.0,
        energy_j=energy,
        energy_per_output_token_j=energy / out_tokens,
        prefill_energy_per_prompt_token_j=sp["energy_j"] / (batch * prompt_len),
        decode_energy_per_token_j=phases[1].energy_per_token_j,
        analog_mac_ratio=0.0,
        arrays_used=0,
        arrays_capacity=0,
        chiplets_used=n,
        d2d_bytes_per_output_token=(sp["link_bytes"] + sd["link_bytes"]) / out_tokens,
        d2d_bytes_per_decode_token=sd["link_bytes"] / n_dec if n_dec else 0.0,
        static_energy_j=static,
        static_energy_share=static / energy if energy > 0 else 0.0,
        offpkg_bytes=(sp["hbm_bytes"] + sd["hbm_bytes"]) * n,
    )
    d1 = dec[0].latency_s if dec else 0.0
    stage = StageRow(
        index=0,
        label=f"layers 0-{graph.info.num_layers - 1} (tensor parallel x{n})",
        chiplets=list(range(n)),
        prefill_time_s=lat_p,
        first_decode_time_s=d1,
    )
    kv = _kv(system)
    chiplets = [
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
    links = []
    if n > 1 and spec.interconnect is not None:
        link = spec.interconnect
        for c in range(n):
            bp, bd = sp["link_bytes"] / n, sd["link_bytes"] / n
            busy = (bp + bd) / link.bw_bytes_per_s
            links.append(
                LinkRow(
                    src=c,
                    dst=(c + 1) % n,
                    prefill_bytes=bp,
                    decode_bytes=bd,
                    bytes_per_output_token=(bp + bd) / out_tokens,
                    busy_s=busy,
                    utilisation=busy / total if total > 0 else 0.0,
                    energy_j=(bp + bd) * 8.0 * link.energy_per_bit_j,
                )
            )
    groups = _groups(pre, dec, spec)
    mem = cm.memory
    detail = GpuProfileDetail(
        software_stack=spec.software_stack.value,
        num_gpus=n,
        compute_format=cm.consts.fmt,
        memory_capacity_bytes_per_gpu=mem.capacity_bytes_per_gpu,
        memory_usable_bytes_per_gpu=mem.usable_bytes_per_gpu,
        weight_bytes=mem.weight_bytes,
        kv_bytes_per_token=mem.kv_bytes_per_token,
        kv_capacity_tokens=mem.kv_capacity_tokens,
        gpus_needed=mem.gpus_needed,
        phases=[_gpu_phase("prefill", pre), _gpu_phase("decode", dec)],
    )
    notes = [
        f"{spec.name}: {n} GPU(s), {spec.software_stack.value} stack, {cm.consts.fmt} tensor cores; "
        f"{pre[0].kernels:.0f} kernels per prefill, {dec[0].kernels if dec else 0:.0f} per decode step (per GPU)",
        "latencies are summed GPU kernel times (per-kernel roofline with a minimum kernel time); "
        + (
            "CUDA graphs hide launch gaps, so this is also the wall time"
            if system.stack.cuda_graphs
            else "eager launch gaps and host (Python) overhead are not modelled: wall time is longer"
        ),
    ]
    ctx_note = context_note(graph, prompt_len, gen_len)
    if ctx_note:
        notes.append(ctx_note)
    base = (
        _baseline(graph, plan, baseline, batch, prompt_len, gen_len, mean_tpot, energy / out_tokens)
        if baseline
        else None
    )
    return ProfileResult(
        model_id=graph.info.model_id,
        spec_name=spec.name,
        policy_name=plan.policy_name,
        num_chiplets=n,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        summary=summary,
        phases=phases,
        stages=[stage],
        layers=_all_layers(groups),
        op_kinds=groups,
        chiplets=chiplets,
        links=links,
        energy_table=_energy_table(spec, pre + dec),
        energy_table_prefill=_energy_table(spec, pre),
        energy_table_decode=_energy_table(spec, dec),
        kv=kv,
        kv_peak_tokens=batch * (prompt_len + gen_len - 1),
        kv_spilled_tokens_at_end=0,
        per_token_latency_s=step_lat,
        precision=_precision_rows(graph, plan),
        comparison=None,
        baseline=base,
        reprogramming_endurance_iterations=None,
        notes=notes,
        gpu=detail,
    )


def gpu_baseline(
    graph: OpGraph,
    plan: CompressionPlan,
    spec: DigitalBaselineSpec,
    batch: int,
    prompt_len: int,
    gen_len: int,
    imc_tpot: float,
    imc_e_tok: float,
) -> BaselineResult:
    """The ``--baseline`` row from the per-kernel model (same numbers as ``--hw`` on that spec).

    A model that does not fit still gets its figures, with ``fits_in_memory`` False.
    """
    need = batch * (prompt_len + gen_len)
    system = build_gpu_system(graph, spec, plan, need_kv_tokens=need, check_fit=False)
    cm = system.cost_model
    pre = cm.evaluate(features([PrefillChunk(prompt_len, 0)] * batch, []))
    dec = [cm.evaluate(features([], [past] * batch)) for past in decode_past_tokens(prompt_len, gen_len)]
    dec_t = sum(e.latency_s for e in dec)
    tpot = dec_t / len(dec) if dec else 0.0
    out = batch * gen_len
    e_tok = (pre.energy_j + sum(e.energy_j for e in dec)) / out
    return BaselineResult(
        name=f"{spec.name} x{spec.num_gpus}" if spec.num_gpus > 1 else spec.name,
        format=f"{cm.consts.fmt}, per-kernel, {spec.software_stack.value} stack",
        ttft_s=pre.latency_s,
        mean_tpot_s=tpot,
        tokens_per_s=out / (pre.latency_s + dec_t),
        energy_per_output_token_j=e_tok,
        prefill_bound=pre.bound,
        decode_bound=_bound(dec),
        fits_in_memory=cm.memory.gpus_needed <= spec.num_gpus,
        speedup_tpot=tpot / imc_tpot if imc_tpot > 0 else 0.0,
        energy_ratio=e_tok / imc_e_tok if imc_e_tok > 0 else 0.0,
    )
