"""`llmimc profile MODEL --chiplets N`: one request batch through prefill and decode on an IMC package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmimc.limits import MAX_BATCH, MAX_CHIPLETS, MAX_TOKENS
from llmimc_cli._common import OutputFormat, console, friendly_errors, output_path, spinner, write_output


def _preset_help() -> str:
    """The --precision help with the preset names (read from the package files: no library import)."""
    from importlib import resources

    folder = resources.files("llmimc") / "compress" / "presets"
    names = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    return f"Precision preset ({', '.join(names)}; default w8a8; see llmimc presets) or a policy file."


@friendly_errors
def profile_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="Model: bundled alias/id (llmimc models), HF hub id (cached) or a folder with config.json."
        ),
    ],
    chiplets: Annotated[
        int | None,
        typer.Option(
            "--chiplets",
            "-n",
            min=1,
            max=MAX_CHIPLETS,
            help="Number of chiplets, 1..1024 (1024 is already wafer scale); default: the spec's.",
        ),
    ] = None,
    hw: Annotated[
        str | None, typer.Option("--hw", help="IMC hardware spec name (llmimc hw list) or YAML/JSON path.")
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            "--batch", "-b", min=1, max=MAX_BATCH, help="Identical sequences processed together, 1..65,536."
        ),
    ] = 1,
    prompt_len: Annotated[
        int,
        typer.Option(
            "--prompt-len",
            min=1,
            max=MAX_TOKENS,
            help="Prompt tokens per sequence, 1..2^24 (and within the model's context).",
        ),
    ] = 128,
    gen_len: Annotated[
        int,
        typer.Option(
            "--gen-len",
            min=1,
            max=MAX_TOKENS,
            help="Generated tokens per sequence, 1..2^24 (and within the model's context).",
        ),
    ] = 128,
    precision: Annotated[str | None, typer.Option("--precision", help=_preset_help())] = None,
    sparsity: Annotated[
        str | None, typer.Option("--sparsity", help="N:M structured sparsity, e.g. 2:4.")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Folder with safetensors weights (outlier statistics).")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Digital baseline spec to compare with, e.g. h100.")
    ] = None,
    allow_reprogramming: Annotated[
        bool,
        typer.Option(
            "--allow-reprogramming", help="If weights do not fit, stream and reprogram them every iteration."
        ),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the whole result as JSON to this file.")
    ] = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="table (rich), plain (ASCII, no colour), json or markdown."),
    ] = OutputFormat.table,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Re-trace the model instead of using the OpGraph cache.")
    ] = False,
    all_rows: Annotated[
        bool, typer.Option("--all-rows", help="Print every stage, chiplet and link row (default: 24 each).")
    ] = False,
) -> None:
    """Profile prefill and decode of one request batch: latency, energy, traffic, KV residency."""
    json_out = output_path(json_path, "--json")
    from llmimc import api
    from llmimc.limits import check_finite_result
    from llmimc.report.profile_report import DEFAULT_MAX_ROWS, render_profile

    with spinner(f"profiling {model} (tracing a model seen for the first time takes 20-30 s)"):
        result = api.profile(
            model,
            hw=hw,
            chiplets=chiplets,
            batch=batch,
            prompt_len=prompt_len,
            gen_len=gen_len,
            precision=precision,
            sparsity=sparsity,
            weights=weights,
            baseline=baseline,
            allow_reprogramming=allow_reprogramming,
            use_cache=not no_cache,
        )
    check_finite_result(result.model_dump(mode="python"), "profile result")
    render_profile(result, console, max_rows=None if all_rows else DEFAULT_MAX_ROWS, fmt=fmt.value)
    if json_out is not None:
        write_output(json_out, result.model_dump_json(indent=2) + "\n", "--json")
