"""Profile one request batch on a GPU system: the same phases and ProfileResult shape as an IMC run.

Phases as in llmimc.sim.profile: one prefill iteration of B sequences of S tokens (TTFT), then G - 1
decode iterations with S + k - 1 past tokens (k = 1..G-1, llmimc.workload.decode_past_tokens). Each
iteration is costed by the GPU iteration model (llmimc.gpu.model) the serving simulator also uses,
so a request served alone has exactly these latencies. Rows: llmimc.gpu.rows; the GPU-specific
breakdown (kernels, bounds, memory) is in ``ProfileResult.gpu``.
"""

from __future__ import annotations

from llmimc.compress.plan import CompressionPlan
from llmimc.cost.breakdown import BaselineResult, precision_rows
from llmimc.cost.iteration import PrefillChunk
from llmimc.gpu.kernels import features
from llmimc.gpu.model import build_gpu_system
from llmimc.gpu.rows import (
    GpuRun,
    all_layers,
    detail,
    energy_groups,
    energy_table,
    gpu_rows,
    kv_residency,
    link_rows,
    phase_bound,
    phase_rows,
    stage_row,
    summary,
)
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.model.opgraph import OpGraph
from llmimc.sim.profile_result import ProfileResult, check_profile_inputs, context_note, digital_baseline
from llmimc.workload import decode_past_tokens


def _notes(run: GpuRun) -> list[str]:
    spec, cm = run.system.spec, run.system.cost_model
    notes = [
        f"{spec.name}: {spec.num_gpus} GPU(s), {spec.software_stack.value} stack, {cm.consts.fmt} tensor cores; "
        f"{run.pre[0].kernels:.0f} kernels per prefill, {run.dec[0].kernels if run.dec else 0:.0f} per decode "
        "step (per GPU)",
        "latencies are summed GPU kernel times (per-kernel roofline with a minimum kernel time); "
        + (
            "CUDA graphs hide launch gaps, so this is also the wall time"
            if run.system.stack.cuda_graphs
            else "eager launch gaps and host (Python) overhead are not modelled: wall time is longer"
        ),
    ]
    ctx_note = context_note(run.system.graph, run.prompt_len, run.gen_len)
    return notes + ([ctx_note] if ctx_note else [])


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
    check_profile_inputs(graph, batch, prompt_len, gen_len)
    system = build_gpu_system(graph, spec, plan, need_kv_tokens=batch * (prompt_len + gen_len))
    cm = system.cost_model
    pre = [cm.evaluate(features([PrefillChunk(prompt_len, 0)] * batch, []))]
    dec = [cm.evaluate(features([], [past] * batch)) for past in decode_past_tokens(prompt_len, gen_len)]
    run = GpuRun(system, batch, prompt_len, gen_len, pre, dec)
    summ = summary(run)
    stage = stage_row(run)
    kv = kv_residency(system)
    groups = energy_groups(pre, dec, spec)
    base = (
        digital_baseline(
            graph,
            plan,
            baseline,
            batch,
            prompt_len,
            gen_len,
            summ.mean_tpot_s,
            summ.energy_per_output_token_j,
        )
        if baseline
        else None
    )
    return ProfileResult(
        model_id=graph.info.model_id,
        spec_name=spec.name,
        policy_name=plan.policy_name,
        num_chiplets=spec.num_gpus,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        summary=summ,
        phases=phase_rows(run),
        stages=[stage],
        layers=all_layers(groups),
        op_kinds=groups,
        chiplets=gpu_rows(run, stage, kv),
        links=link_rows(run),
        energy_table=energy_table(spec, pre + dec),
        energy_table_prefill=energy_table(spec, pre),
        energy_table_decode=energy_table(spec, dec),
        kv=kv,
        kv_peak_tokens=batch * (prompt_len + gen_len - 1),
        kv_spilled_tokens_at_end=0,
        per_token_latency_s=[e.latency_s for e in dec],
        precision=precision_rows(graph, plan),
        comparison=None,
        baseline=base,
        reprogramming_endurance_iterations=None,
        notes=_notes(run),
        gpu=detail(run),
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
        format=f"{cm.consts.fmt}, per kernel",
        ttft_s=pre.latency_s,
        mean_tpot_s=tpot,
        tokens_per_s=out / (pre.latency_s + dec_t),
        energy_per_output_token_j=e_tok,
        prefill_bound=pre.bound,
        decode_bound=phase_bound(dec),
        fits_in_memory=cm.memory.gpus_needed <= spec.num_gpus,
        speedup_tpot=tpot / imc_tpot if imc_tpot > 0 else 0.0,
        energy_ratio=e_tok / imc_e_tok if imc_e_tok > 0 else 0.0,
    )
