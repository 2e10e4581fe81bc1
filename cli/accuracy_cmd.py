"""`llmimc accuracy MODEL --hw SPEC --precision P`: a real LM through emulated crossbars, beside its PPA.

`llmimc accuracy-search MODEL --kl-budget X`: per-op analog/digital placement under an accuracy budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmimc_cli._common import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("accuracy")(accuracy_cmd)
    app.command("accuracy-search")(accuracy_search_cmd)


ModelArg = Annotated[
    str, typer.Argument(help="A folder with config.json + *.safetensors, a .gguf file, or smollm2-135m.")
]
HwOpt = Annotated[
    str | None, typer.Option("--hw", help="IMC spec name or YAML/JSON path (default rram-chiplet).")
]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="Precision preset or policy file.")]
SparsityOpt = Annotated[str | None, typer.Option("--sparsity", help="N:M structured sparsity, e.g. 2:4.")]
DriftOpt = Annotated[
    float, typer.Option("--drift-s", min=0.0, help="Seconds between programming and inference.")
]
TokensOpt = Annotated[int, typer.Option("--tokens", min=2, help="Evaluation tokens (windows of --seq-len).")]
SeqOpt = Annotated[int, typer.Option("--seq-len", min=2, help="Tokens per evaluation window.")]
TextOpt = Annotated[
    Path | None, typer.Option("--text", help="UTF-8 text file (default: CPython's pydoc topics).")
]
NoiseScaleOpt = Annotated[
    float, typer.Option("--noise-scale", min=0.0, help="Multiply every noise sigma of the spec (0 = none).")
]
IdealDevOpt = Annotated[bool, typer.Option("--ideal-devices", help="Ignore the spec's noise section.")]
IdealAdcOpt = Annotated[bool, typer.Option("--ideal-adc", help="Ideal ADC: fold the slices into one matrix.")]
AdcRangeOpt = Annotated[
    str | None,
    typer.Option("--adc-range", help="calibrated | worst_case (default: the spec's noise section)."),
]
GdcOpt = Annotated[
    bool | None, typer.Option("--gdc/--no-gdc", help="Global drift compensation (default: the spec's).")
]
EncodingOpt = Annotated[
    str | None,
    typer.Option("--encoding", help="differential | offset signed-weight encoding (default: the spec's)."),
]
InputEncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--input-encoding",
        help="sign_magnitude | twos_complement bit-serial input planes (default: the spec's, else sign_magnitude).",
    ),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the whole result as JSON to this path.")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, max=1024, help="torch CPU threads (default: torch's, one per core)."),
]


def _set_threads(threads: int | None) -> None:
    """torch's intra-op thread count for this process (the CLI's edge; the library leaves it alone)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


CacheOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="Where dequantised GGUF weights are cached.")
]


@friendly_errors
def accuracy_cmd(
    model: ModelArg,
    hw: HwOpt = None,
    precision: PrecisionOpt = "w8a8",
    sparsity: SparsityOpt = None,
    drift_s: DriftOpt = 3600.0,
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=64, help="Noise seeds (mean ± std).")] = 3,
    tokens: TokensOpt = 2048,
    seq_len: SeqOpt = 512,
    text: TextOpt = None,
    noise_scale: NoiseScaleOpt = 1.0,
    ideal_devices: IdealDevOpt = False,
    ideal_adc: IdealAdcOpt = False,
    adc_range: AdcRangeOpt = None,
    gdc: GdcOpt = None,
    encoding: EncodingOpt = None,
    input_encoding: InputEncodingOpt = None,
    chiplets: Annotated[
        int | None,
        typer.Option("--chiplets", "-n", min=1, help="Chiplets for the PPA (default: the spec's)."),
    ] = None,
    post_cal: Annotated[
        bool,
        typer.Option("--post-cal", help="Refit one gain per output column after programming (Lammie 2024)."),
    ] = False,
    compensation: Annotated[
        str,
        typer.Option("--compensation", help="none | gptq: round crossbar weights by GPTQ (Frantar 2023)."),
    ] = "none",
    threads: ThreadsOpt = None,
    json_path: JsonOpt = None,
    cache_dir: CacheOpt = None,
    all_rows: Annotated[bool, typer.Option("--all-rows", help="Print every op row.")] = False,
) -> None:
    """Perplexity, KL and top-1 agreement vs the float model on emulated crossbars, beside the PPA."""
    from llmimc.accuracy import AccuracyOptions, run_accuracy
    from llmimc.report.accuracy_report import DEFAULT_MAX_OP_ROWS, render_accuracy

    _set_threads(threads)
    opts = AccuracyOptions(
        precision=precision, sparsity=sparsity, drift_s=drift_s, seeds=seeds, tokens=tokens, seq_len=seq_len,
        noise_scale=noise_scale, ideal_devices=ideal_devices, ideal_adc=ideal_adc, adc_range=adc_range,
        gdc=gdc, encoding=encoding, input_encoding=input_encoding, post_calibration=post_cal, text=text,
        chiplets=chiplets, compensation=compensation,
    )  # fmt: skip
    result = run_accuracy(model, hw, opts, cache_dir=cache_dir)
    render_accuracy(result, console, max_rows=None if all_rows else DEFAULT_MAX_OP_ROWS)
    if json_path is not None:
        json_path.write_text(result.model_dump_json(indent=1), encoding="utf-8")


@friendly_errors
def accuracy_search_cmd(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="Precision policy file (YAML) to write.")],
    hw: HwOpt = None,
    precision: PrecisionOpt = "w8a8",
    kl_budget: Annotated[
        float | None, typer.Option("--kl-budget", min=0.0, help="Max mean KL (nats/token).")
    ] = None,
    ppl_budget: Annotated[
        float | None,
        typer.Option("--ppl-budget", min=0.0, help="Max perplexity increase over float, relative."),
    ] = None,
    drift_s: DriftOpt = 3600.0,
    tokens: Annotated[int, typer.Option("--tokens", min=2, help="Tokens of the verification windows.")] = 512,
    sensitivity_tokens: Annotated[
        int, typer.Option("--sensitivity-tokens", min=2, help="Tokens of the per-op sensitivity window.")
    ] = 128,
    seq_len: SeqOpt = 512,
    text: TextOpt = None,
    noise_scale: NoiseScaleOpt = 1.0,
    ideal_adc: IdealAdcOpt = False,
    encoding: EncodingOpt = None,
    threads: ThreadsOpt = None,
    json_path: JsonOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """LionHeart-style search: most analog MACs whose measured KL/PPL stays within the budget."""
    from llmimc.accuracy import AccuracyOptions, run_search
    from llmimc.report.accuracy_report import render_search

    _set_threads(threads)
    opts = AccuracyOptions(
        precision=precision, drift_s=drift_s, seeds=1, tokens=tokens, seq_len=seq_len, text=text,
        noise_scale=noise_scale, ideal_adc=ideal_adc, encoding=encoding, ppa=False,
    )  # fmt: skip
    result = run_search(
        model, hw, opts, kl_budget=kl_budget, ppl_budget=ppl_budget,
        sensitivity_tokens=sensitivity_tokens, cache_dir=cache_dir,
    )  # fmt: skip
    render_search(result, console)
    out.write_text(result.policy_yaml, encoding="utf-8")
    console.print(f"wrote {out}")
    if json_path is not None:
        json_path.write_text(result.model_dump_json(indent=1), encoding="utf-8")
