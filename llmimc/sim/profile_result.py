"""What a profile run returns (``ProfileResult``), shared by the IMC (:mod:`llmimc.sim.profile`) and GPU
(:mod:`llmimc.gpu.profile`) profiles, with the rules both apply: input checks, the context note, the
p99 ('higher' rule: the smallest value >= 99 % of values) and the digital baseline beside a run.
"""

from __future__ import annotations

import numpy as np

from llmimc._base import Frozen
from llmimc.compress.plan import CompressionPlan
from llmimc.cost.actions import EnergyRow
from llmimc.cost.baseline import BaselineStep, baseline_model
from llmimc.cost.breakdown import (
    BaselineResult,
    ChipletRow,
    Comparison,
    GroupRow,
    LinkRow,
    PhaseRow,
    PrecisionRow,
    StageRow,
    Summary,
)
from llmimc.errors import LlmimcError
from llmimc.gpu.result import GpuProfileDetail
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.mapping.kv import KvResidency
from llmimc.model.opgraph import OpGraph
from llmimc.workload import decode_past_tokens, decode_point, prefill_point


class ProfileResult(Frozen):
    model_id: str
    spec_name: str
    policy_name: str
    num_chiplets: int
    batch: int
    prompt_len: int
    gen_len: int
    summary: Summary
    phases: list[PhaseRow]
    stages: list[StageRow]
    layers: list[GroupRow]
    op_kinds: list[GroupRow]
    chiplets: list[ChipletRow]
    links: list[LinkRow]
    energy_table: list[EnergyRow]
    energy_table_prefill: list[EnergyRow]
    energy_table_decode: list[EnergyRow]
    kv: KvResidency
    kv_peak_tokens: int
    kv_spilled_tokens_at_end: int
    per_token_latency_s: list[float]
    precision: list[PrecisionRow]
    comparison: Comparison | None = None
    baseline: BaselineResult | None = None
    reprogramming_endurance_iterations: float | None = None
    notes: list[str]
    gpu: GpuProfileDetail | None = None  # set when the system is a GPU (digital spec), llmimc.gpu


def p99_higher(values: list[float]) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.array(values), 99, method="higher"))


def check_profile_inputs(graph: OpGraph, batch: int, prompt_len: int, gen_len: int) -> None:
    if batch < 1:
        raise LlmimcError(f"--batch must be >= 1 (got {batch})")
    if prompt_len < 1:
        raise LlmimcError(f"--prompt-len must be >= 1 (got {prompt_len})")
    if gen_len < 1:
        raise LlmimcError(f"--gen-len must be >= 1 (got {gen_len})")
    ctx = graph.info.max_position_embeddings
    # the last generated token is never fed back: S + G - 1 positions are processed. A learned
    # position table (GPT-2's wpe, OPT's embed_positions) has no row beyond it; rotary models run on
    # (context_note says so).
    if prompt_len + gen_len - 1 > ctx and _has_position_table(graph):
        raise LlmimcError(
            f"prompt ({prompt_len}) + generated ({gen_len}) tokens need {prompt_len + gen_len - 1} positions, more "
            f"than {graph.info.model_id}'s context of {ctx} tokens; lower --prompt-len or --gen-len"
        )


def _has_position_table(graph: OpGraph) -> bool:
    from llmimc.model.opgraph import OpKind

    info = graph.info
    return any(
        op.kind == OpKind.EMBEDDING and info.max_position_embeddings <= op.in_features < info.vocab_size
        for op in graph.ops
    )


def context_note(graph: OpGraph, prompt_len: int, gen_len: int) -> str | None:
    """A note when the run processes more positions than the model was trained for (rotary models)."""
    ctx = graph.info.max_position_embeddings
    if prompt_len + gen_len - 1 <= ctx:
        return None
    return (
        f"{prompt_len + gen_len - 1} positions exceed {graph.info.model_id}'s trained context of {ctx} tokens "
        "(costed as asked; output quality beyond it is not modelled)"
    )


def digital_baseline(
    graph: OpGraph,
    plan: CompressionPlan,
    spec: DigitalBaselineSpec,
    batch: int,
    prompt_len: int,
    gen_len: int,
    imc_tpot: float,
    imc_e_tok: float,
) -> BaselineResult:
    """The same batch on a digital baseline spec: the per-kernel GPU model when the spec is calibrated
    (as ``--hw`` would give), else the roofline of :mod:`llmimc.cost.baseline`; ratios vs the IMC run."""
    if spec.kernels is not None:  # a calibrated GPU: the per-kernel model (llmimc.gpu), as --hw would give
        from llmimc.gpu.profile import gpu_baseline

        return gpu_baseline(graph, plan, spec, batch, prompt_len, gen_len, imc_tpot, imc_e_tok)
    bm = baseline_model(graph, plan, spec)
    pre = bm.step(*prefill_point(prompt_len), batch)
    steps: list[BaselineStep] = [
        bm.step(*decode_point(past), batch) for past in decode_past_tokens(prompt_len, gen_len)
    ]
    dec_t = sum(s.latency_s for s in steps)
    energy = pre.energy_j + sum(s.energy_j for s in steps)
    tpot = dec_t / len(steps) if steps else 0.0
    out = batch * gen_len
    need = bm.weight_bytes + batch * (prompt_len + gen_len) * bm.kv_bytes_per_token
    e_tok = energy / out
    return BaselineResult(
        name=bm.name,
        format=bm.format,
        ttft_s=pre.latency_s,
        mean_tpot_s=tpot,
        tokens_per_s=out / (pre.latency_s + dec_t),
        energy_per_output_token_j=e_tok,
        prefill_bound=pre.bound,
        decode_bound="/".join(sorted({s.bound for s in steps})) if steps else "-",
        fits_in_memory=need <= bm.memory_capacity_bytes,
        speedup_tpot=tpot / imc_tpot if imc_tpot > 0 else 0.0,
        energy_ratio=e_tok / imc_e_tok if imc_e_tok > 0 else 0.0,
    )
