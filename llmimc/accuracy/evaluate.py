"""``evaluate``: accuracy of one CompressionPlan on one IMC spec, against the float model, beside its PPA.

Pipeline: real weights (:mod:`llmimc.accuracy.models`) -> OpGraph (traced from the same config) ->
CompressionPlan from the precision policy and N:M spec (``compress.build_plan``), outlier channels
ranked by calibration activation absmax -> per seed: program, calibrate the ADCs, score every
evaluation window (:mod:`llmimc.accuracy.metrics`) -> the same plan through ``sim.profile`` for the PPA.
"""

from __future__ import annotations

import math
import pathlib
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from llmimc.accuracy import emulator as em
from llmimc.accuracy.analog import EmulatedLinear
from llmimc.accuracy.hardware import input_encoding, weight_encoding
from llmimc.accuracy.metrics import MetricSums, mean_std
from llmimc.accuracy.models import ModelSource, load_model, resolve_weights
from llmimc.accuracy.result import AccuracyResult, OpRow, PpaSummary, SeedMetrics, Spread, Timing
from llmimc.accuracy.text import EvalText, file_text, pydoc_text, windows
from llmimc.compress import build_plan, load_policy, parse_sparsity
from llmimc.compress.outliers import top_channels
from llmimc.compress.plan import CompressionPlan
from llmimc.compress.planner import analog_mac_ratio
from llmimc.compress.policy import PrecisionPolicy
from llmimc.errors import LlmimcError
from llmimc.hw.spec import DeviceNoise, ImcSystemSpec
from llmimc.model.opgraph import OpGraph


@dataclass(frozen=True)
class AccuracyOptions:
    """What to run (plain values; the CLI's defaults are these)."""

    precision: str | pathlib.Path | PrecisionPolicy = "w8a8"
    sparsity: str | None = None
    drift_s: float = 3600.0
    seeds: int = 3
    tokens: int = 2048
    seq_len: int = 512
    calib_tokens: int = 512
    noise_scale: float = 1.0  # multiplies every noise sigma of the spec (0 = noise-free devices)
    ideal_devices: bool = False  # ignore the spec's noise section
    ideal_adc: bool = False
    adc_range: str | None = None  # None = the spec's; "calibrated" | "worst_case"
    gdc: bool | None = None  # None = the spec's
    encoding: str | None = None  # None = the spec's array.differential; "differential" | "offset"
    input_encoding: str | None = None  # None = the spec's; "sign_magnitude" | "twos_complement" (bit-serial)
    post_calibration: bool = False  # per-column gain refit after programming (Lammie et al., ISCAS 2024)
    compensation: str = "none"  # "gptq": GPTQ rounding of the crossbar weights (llmimc.accuracy.gptq)
    text: pathlib.Path | None = None  # None = pydoc_data.topics
    ppa: bool = True
    chiplets: int | None = None  # package size for the PPA (None = the spec's)
    first_seed: int = 0


@dataclass
class Loaded:
    """A model ready for emulation (kept between configurations by callers that sweep)."""

    source: ModelSource
    model: torch.nn.Module
    tokenizer: object
    graph: OpGraph
    load_s: float
    fp_cache: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)


def load(model_ref: str, cache_dir: pathlib.Path | None = None) -> Loaded:
    """Resolve and load real weights plus the OpGraph of the same config."""
    from llmimc.model.api import load_opgraph

    t0 = time.perf_counter()
    src = resolve_weights(model_ref, cache_dir)
    model, tok = load_model(src)
    graph = load_opgraph(str(src.folder))
    return Loaded(src, model, tok, graph, time.perf_counter() - t0)


def check_options(opts: AccuracyOptions) -> None:
    if opts.tokens < 2:
        raise LlmimcError(f"--tokens must be >= 2 (got {opts.tokens})")
    if opts.seeds < 1:
        raise LlmimcError(f"--seeds must be >= 1 (got {opts.seeds})")
    if not (opts.noise_scale >= 0 and math.isfinite(opts.noise_scale)):
        raise LlmimcError(f"--noise-scale must be a finite number >= 0 (got {opts.noise_scale})")
    if not (opts.drift_s >= 0 and math.isfinite(opts.drift_s)):
        raise LlmimcError(f"--drift-s must be a finite number >= 0 (got {opts.drift_s})")
    if opts.adc_range not in (None, "calibrated", "worst_case"):
        raise LlmimcError(f"--adc-range must be calibrated or worst_case (got {opts.adc_range})")
    if opts.encoding not in (None, "differential", "offset"):
        raise LlmimcError(f"--encoding must be differential or offset (got {opts.encoding})")
    if opts.compensation not in ("none", "gptq"):
        raise LlmimcError(f"--compensation must be none or gptq (got {opts.compensation})")
    if opts.input_encoding not in (None, "sign_magnitude", "twos_complement"):
        raise LlmimcError(
            f"--input-encoding must be sign_magnitude or twos_complement (got {opts.input_encoding})"
        )


def with_encoding(spec: ImcSystemSpec, encoding: str | None, input_enc: str | None = None) -> ImcSystemSpec:
    """The spec with its noise section's ``weight_encoding`` / ``input_encoding`` set (emulator only: the
    cost model's cells per weight follow ``array.differential``, which is left alone)."""
    arr = spec.chiplet.array
    update = {
        k: v for k, v in (("weight_encoding", encoding), ("input_encoding", input_enc)) if v is not None
    }
    if not update or arr.noise is None:
        return spec
    arr = arr.model_copy(update={"noise": arr.noise.model_copy(update=update)})
    return spec.model_copy(update={"chiplet": spec.chiplet.model_copy(update={"array": arr})})


def accuracy_plan(
    graph: OpGraph, policy: PrecisionPolicy, sparsity: str | None, absmax: dict[str, np.ndarray], where: str
) -> CompressionPlan:
    """build_plan's counts, with each op's outlier channels ranked by calibration activation absmax."""
    plan = build_plan(graph, policy, parse_sparsity(sparsity))
    ops = {}
    for name, comp in plan.ops.items():
        if comp.outlier_rows and name in absmax:
            comp = comp.model_copy(update={"outlier_channels": top_channels(absmax[name], comp.outlier_rows)})
        ops[name] = comp
    return plan.model_copy(update={"ops": ops, "outlier_source": f"calibration:activation absmax, {where}"})


def evaluate(loaded: Loaded, spec: ImcSystemSpec, opts: AccuracyOptions) -> AccuracyResult:
    """Score ``opts`` on ``spec`` (see module docstring)."""
    check_options(opts)
    spec = with_encoding(spec, opts.encoding, opts.input_encoding)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    text = pydoc_text() if opts.text is None else file_text(opts.text)
    ids = _tokenise(loaded, text)
    evals, calib = windows(ids, opts.tokens, opts.seq_len, min(opts.calib_tokens, max(2, len(ids) // 4)))
    policy = opts.precision if isinstance(opts.precision, PrecisionPolicy) else load_policy(opts.precision)
    mods = em.linear_modules(loaded.model, loaded.graph)
    absmax = em.activation_absmax(loaded.model, mods, calib)
    plan = accuracy_plan(loaded.graph, policy, opts.sparsity, absmax, f"{len(calib)} tokens of {text.source}")
    fp = _FloatReference(loaded, keep=opts.seeds > 1)
    noise = device_noise(spec, opts)
    array = spec.chiplet.array
    adc_range = opts.adc_range or (noise.adc_range if noise else "calibrated")
    codes = None
    if opts.compensation == "gptq":
        from llmimc.accuracy.gptq import GPTQ_CALIB_TOKENS, gptq_codes

        tail = ids[max(opts.tokens, len(ids) - GPTQ_CALIB_TOKENS) :]  # disjoint from the evaluation
        gwin = [tail[i : i + opts.seq_len] for i in range(0, len(tail), opts.seq_len)]
        codes = gptq_codes(loaded.model, mods, loaded.graph, plan, array, [w for w in gwin if len(w) >= 2])
    seeds, rows, times = _run_seeds(loaded, plan, array, noise, opts, evals, fp, calib, adc_range, codes)
    fp_sums, fp_s = fp.sums, fp.seconds
    ppl, kl, top1 = (
        Spread(mean=m, std=s)
        for m, s in (mean_std([getattr(x, k) for x in seeds]) for k in ("ppl", "kl", "top1"))
    )
    ppa, ppa_err = _ppa(loaded.graph, spec, plan, opts)
    return AccuracyResult(
        model_id=loaded.source.model_id,
        weights=loaded.source.provenance,
        hw_name=spec.name,
        cell_technology=array.cell_technology.value,
        noise_model="ideal devices" if noise is None else f"spec ({spec.name}) x {opts.noise_scale:g}",
        encoding=weight_encoding(array),
        input_encoding=f"{input_encoding(array)}, {array.dac.bits_per_cycle}-bit DAC per cycle",
        policy_name=plan.policy_name,
        sparsity=opts.sparsity,
        drift_s=opts.drift_s,
        noise_scale=opts.noise_scale,
        adc="ideal" if opts.ideal_adc else f"{array.adc.bits}-bit, {adc_range} range",
        gdc=bool(noise and noise.global_drift_compensation),
        post_calibration=opts.post_calibration,
        compensation=opts.compensation,
        text_source=text.source,
        text_sha256=text.sha256,
        text_pinned=text.pinned,
        seq_len=opts.seq_len,
        windows=len(evals),
        tokens_scored=fp_sums.tokens,
        calib_tokens=len(calib),
        fp_ppl=fp_sums.ppl,
        seeds=seeds,
        ppl=ppl,
        kl=kl,
        top1=top1,
        analog_mac_ratio=analog_mac_ratio(loaded.graph, plan),
        ops=rows,
        timing=Timing(
            load_s=loaded.load_s,
            fp_s=fp_s,
            program_s=times[0],
            calibrate_s=times[1],
            eval_s=times[2],
            cpu_s=time.process_time() - cpu0,
            wall_s=time.perf_counter() - wall0,
        ),
        ppa=ppa,
        ppa_error=ppa_err,
        notes=_notes(loaded, text, plan),
    )


def _tokenise(loaded: Loaded, text: EvalText) -> list[int]:
    enc = loaded.tokenizer(text.text, add_special_tokens=False)  # type: ignore[operator]
    return list(enc["input_ids"])


class _FloatReference:
    """Float log-probs per window, computed when first needed; kept (``Loaded.fp_cache``, at most
    ``_FP_CACHE_WINDOWS`` windows of T x V float32 each) only when another seed will ask again.
    The float metrics are summed on first use of each window."""

    def __init__(self, loaded: Loaded, keep: bool) -> None:
        self.loaded, self.keep = loaded, keep
        self.sums = MetricSums()
        self.seconds = 0.0
        self._scored: set[tuple[int, ...]] = set()

    def __call__(self, w: list[int]) -> torch.Tensor:
        key = tuple(w)
        lp = self.loaded.fp_cache.get(key)
        if lp is None:
            t = time.perf_counter()
            lp = em.log_probs(self.loaded.model, w)
            self.seconds += time.perf_counter() - t
            if self.keep:
                if len(self.loaded.fp_cache) >= _FP_CACHE_WINDOWS:
                    self.loaded.fp_cache.clear()
                self.loaded.fp_cache[key] = lp
        if key not in self._scored:
            self._scored.add(key)
            self.sums.add(lp[:-1], lp[:-1], torch.tensor(w[1:]))
        return lp


_FP_CACHE_WINDOWS = 8


def device_noise(spec: ImcSystemSpec, opts: AccuracyOptions) -> DeviceNoise | None:
    noise = spec.chiplet.array.noise
    if noise is None or opts.ideal_devices:
        return None
    if opts.gdc is not None:
        noise = noise.model_copy(update={"global_drift_compensation": opts.gdc})
    return noise


def _run_seeds(
    loaded: Loaded,
    plan: CompressionPlan,
    array: object,
    noise: DeviceNoise | None,
    opts: AccuracyOptions,
    evals: list[list[int]],
    fp: _FloatReference,
    calib: list[int],
    adc_range: str,
    codes: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[list[SeedMetrics], list[OpRow], tuple[float, float, float]]:
    from llmimc.hw.spec import CrossbarArray

    assert isinstance(array, CrossbarArray)
    mods = em.linear_modules(loaded.model, loaded.graph)
    out: list[SeedMetrics] = []
    rows: list[OpRow] = []
    t_prog = t_cal = t_eval = 0.0
    for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
        t = time.perf_counter()
        emulated = em.program_model(
            mods, loaded.graph, plan, array, noise,
            sigma_scale=opts.noise_scale, drift_s=opts.drift_s, ideal_adc=opts.ideal_adc, seed=seed,
            quantised=codes,
        )  # fmt: skip
        t_prog += time.perf_counter() - t
        t = time.perf_counter()
        em.calibrate_adc(loaded.model, emulated, calib, adc_range, plan.kv_bits)
        if opts.post_calibration:
            em.calibrate_columns(loaded.model, emulated, calib, plan.kv_bits)
        t_cal += time.perf_counter() - t
        t, fp_before = time.perf_counter(), fp.seconds
        sums = MetricSums()
        for i, w in enumerate(evals):
            lp_fp = fp(w)
            measure = not rows and i == 0
            for m in emulated.values():
                m.measure = {} if measure else None
            lp = em.log_probs(loaded.model, w, dict(emulated), plan.kv_bits)
            sums.add(lp[:-1], lp_fp[:-1], torch.tensor(w[1:]))
            if measure:
                rows = _op_rows(loaded.graph, plan, emulated)
        t_eval += time.perf_counter() - t - (fp.seconds - fp_before)
        out.append(SeedMetrics(seed=seed, ppl=sums.ppl, kl=sums.mean_kl, top1=sums.top1))
        del emulated
    return out, rows, (t_prog, t_cal, t_eval)


def _op_rows(graph: OpGraph, plan: CompressionPlan, emulated: dict[str, EmulatedLinear]) -> list[OpRow]:
    rows = []
    for op in graph.linear_ops():
        m = emulated[op.name]
        st = m.state
        comp = plan.ops[op.name]
        k = op.in_features
        placement = "digital" if comp.outlier_rows >= k else "mixed" if comp.outlier_rows else "analog"
        meas = m.measure or {}
        sig, err = meas.get("signal", 0.0), meas.get("error", 0.0)
        sqnr = 10 * math.log10(sig / err) if sig > 0 and err > 0 else (math.inf if sig > 0 else None)
        rows.append(
            OpRow(
                op_name=op.name,
                placement=placement,
                weight_bits=comp.weight_bits,
                act_bits=comp.act_bits,
                outlier_rows=comp.outlier_rows,
                slices=st.xbar.slices * (2 if st.xbar.differential else 1),
                row_blocks=st.xbar.row_blocks,
                input_cycles=st.xbar.input_cycles,
                adc_bits=st.xbar.adc_bits,
                macs_per_token=op.macs_per_token,
                out_sqnr_db=sqnr if sqnr is None or math.isfinite(sqnr) else 999.0,
                gdc_alpha=st.gdc_alpha,
            )
        )
    return rows


def _ppa(
    graph: OpGraph, spec: ImcSystemSpec, plan: CompressionPlan, opts: AccuracyOptions
) -> tuple[PpaSummary | None, str]:
    if not opts.ppa:
        return None, "not requested"
    from llmimc.sim.profile import run_profile

    prompt, gen = min(opts.seq_len, 128), 128
    try:
        sized = spec.with_chiplets(opts.chiplets) if opts.chiplets is not None else spec
        res = run_profile(graph, sized, plan, batch=1, prompt_len=prompt, gen_len=gen)
    except LlmimcError as exc:
        return None, str(exc)
    s = res.summary
    return (
        PpaSummary(
            prompt_len=prompt,
            gen_len=gen,
            ttft_s=s.ttft_s,
            mean_tpot_s=s.mean_tpot_s,
            energy_per_output_token_j=s.energy_per_output_token_j,
            analog_mac_ratio=s.analog_mac_ratio,
            arrays_used=s.arrays_used,
            chiplets_used=s.chiplets_used,
        ),
        "",
    )


def _notes(loaded: Loaded, text: EvalText, plan: CompressionPlan) -> list[str]:
    notes = [
        "metrics against the float model of the same weights: KL(fp||cfg) nats/token and top-1 agreement "
        "(llama.cpp quantisation metrics); attention matmuls, norms and embeddings stay float",
    ]
    if loaded.source.provenance.startswith("gguf:"):
        notes.append(
            f"weights: {loaded.source.provenance}; quantised weights (e.g. Q4_1) were already on a low-bit grid "
            "before dequantisation, so low-bit losses measured here are understated against a float16 original"
        )
    if not text.pinned and text.source == "pydoc_data.topics":
        notes.append(f"pydoc text hash {text.sha256[:16]} is not the pinned one (another Python version)")
    if plan.kv_bits < 16:
        notes.append(
            f"KV cache: every key (after RoPE) and value vector rounded per token and head to {plan.kv_bits} bits"
        )
    return notes
