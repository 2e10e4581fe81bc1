"""Front-door functions of the accuracy capability: plain arguments in, typed results out.

- :func:`run_accuracy` -- ``llmimc accuracy``: load the model, score one configuration on one spec.
- :func:`run_search` -- ``llmimc accuracy-search``: per-op analog/digital placement under a budget
  (:mod:`llmimc.accuracy.search`), returned with the precision policy that encodes it.
"""

from __future__ import annotations

import pathlib

import torch

from llmimc.accuracy import emulator as em
from llmimc.accuracy import search as srch
from llmimc.accuracy.evaluate import (
    AccuracyOptions,
    Loaded,
    accuracy_plan,
    check_options,
    device_noise,
    evaluate,
    load,
    with_encoding,
)
from llmimc.accuracy.metrics import MetricSums
from llmimc.accuracy.result import AccuracyResult
from llmimc.accuracy.text import file_text, pydoc_text, windows
from llmimc.compress import load_policy
from llmimc.compress.policy import OpOverride, PrecisionPolicy
from llmimc.errors import LlmimcError, SpecError
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.hw.spec import ImcSystemSpec


def imc_spec(hw: str | pathlib.Path | ImcSystemSpec | None) -> ImcSystemSpec:
    spec = hw if isinstance(hw, ImcSystemSpec) else load_spec(hw or DEFAULT_IMC_SPEC)
    if not isinstance(spec, ImcSystemSpec):
        raise SpecError(
            f"--hw {spec.name}: is a digital baseline; accuracy needs an IMC spec (e.g. pcm-chiplet)"
        )
    return spec


def run_accuracy(
    model: str | Loaded,
    hw: str | pathlib.Path | ImcSystemSpec | None,
    opts: AccuracyOptions,
    cache_dir: pathlib.Path | None = None,
) -> AccuracyResult:
    """Score ``opts`` for ``model`` on ``hw`` (options are checked before the model is loaded)."""
    check_options(opts)
    spec = imc_spec(hw)
    loaded = model if isinstance(model, Loaded) else load(model, cache_dir)
    return evaluate(loaded, spec, opts)


def run_search(
    model: str | Loaded,
    hw: str | pathlib.Path | ImcSystemSpec | None,
    opts: AccuracyOptions,
    *,
    kl_budget: float | None,
    ppl_budget: float | None,
    sensitivity_tokens: int = 128,
    cache_dir: pathlib.Path | None = None,
) -> srch.SearchResult:
    """Most analog MACs within the budget (see :mod:`llmimc.accuracy.search`)."""
    if kl_budget is None and ppl_budget is None:
        raise LlmimcError("give --kl-budget or --ppl-budget (use a large value for all-analog)")
    check_options(opts)
    spec = with_encoding(imc_spec(hw), opts.encoding, opts.input_encoding)
    loaded = model if isinstance(model, Loaded) else load(model, cache_dir)
    base = opts.precision if isinstance(opts.precision, PrecisionPolicy) else load_policy(opts.precision)
    text = pydoc_text() if opts.text is None else file_text(opts.text)
    ids = list(loaded.tokenizer(text.text, add_special_tokens=False)["input_ids"])  # type: ignore[operator]
    evals, calib = windows(ids, opts.tokens, opts.seq_len, min(opts.calib_tokens, max(2, len(ids) // 4)))
    mods = em.linear_modules(loaded.model, loaded.graph)
    absmax = em.activation_absmax(loaded.model, mods, calib)
    where = f"{len(calib)} tokens of {text.source}"
    all_digital = base.model_copy(
        update={"overrides": list(base.overrides) + [OpOverride(match="*", placement="digital")]}
    )
    plan_a = accuracy_plan(loaded.graph, base, opts.sparsity, absmax, where)
    plan_d = accuracy_plan(loaded.graph, all_digital, opts.sparsity, absmax, where)
    noise, array = device_noise(spec, opts), spec.chiplet.array
    kw = {
        "sigma_scale": opts.noise_scale,
        "drift_s": opts.drift_s,
        "ideal_adc": opts.ideal_adc,
        "seed": opts.first_seed,
    }
    analog = em.program_model(mods, loaded.graph, plan_a, array, noise, **kw)  # type: ignore[arg-type]
    digital = em.program_model(mods, loaded.graph, plan_d, array, noise, **kw)  # type: ignore[arg-type]
    em.calibrate_adc(
        loaded.model,
        analog,
        calib,
        opts.adc_range or (noise.adc_range if noise else "calibrated"),
        plan_a.kv_bits,
    )
    macs = {op.name: op.macs_per_token for op in loaded.graph.linear_ops()}
    sens_window = evals[0][: max(2, sensitivity_tokens)]
    digital_kl, sens = srch.sensitivities(loaded.model, analog, digital, macs, sens_window)
    fp = [em.log_probs(loaded.model, w) for w in evals]
    fp_sums = MetricSums()
    for w, lp in zip(evals, fp, strict=True):
        fp_sums.add(lp[:-1], lp[:-1], torch.tensor(w[1:]))

    def score(digital_ops: set[str]) -> MetricSums:
        chosen = {n: (digital[n] if n in digital_ops else analog[n]) for n in analog}
        s = MetricSums()
        for w, lp in zip(evals, fp, strict=True):
            s.add(
                em.log_probs(loaded.model, w, dict(chosen), plan_a.kv_bits)[:-1], lp[:-1], torch.tensor(w[1:])
            )
        return s

    ops, m, front = srch.search_placement(sens, digital_kl, score, fp_sums.ppl, kl_budget, ppl_budget)
    budget_text = f"KL <= {kl_budget}" if kl_budget is not None else f"PPL <= float x (1 + {ppl_budget})"
    policy = srch.placement_policy(base, ops, f"llmimc accuracy-search on {spec.name}: {budget_text}")
    return srch.SearchResult(
        metric="kl" if kl_budget is not None else "ppl",
        budget=kl_budget if kl_budget is not None else float(ppl_budget or 0.0),
        fp_ppl=fp_sums.ppl,
        digital_kl=digital_kl,
        digital_ops=ops,
        analog_mac_ratio=srch.analog_ratio(sens, set(ops)),
        kl=m.mean_kl,
        ppl=m.ppl,
        sensitivities=sens,
        front=front,
        policy_yaml=srch.policy_yaml(policy),
        notes=[
            f"sensitivities on {len(sens_window)} tokens, verification on {fp_sums.tokens} scored tokens, seed "
            f"{opts.first_seed}; ADC ranges calibrated with every op analog",
        ],
    )


__all__ = ["AccuracyOptions", "Loaded", "imc_spec", "load", "run_accuracy", "run_search"]
