"""`llmimc profile MODEL --chiplets N`: one request batch through prefill and decode on an IMC package."""

from __future__ import annotations

from pathlib import Path

import typer

from llmimc_cli._common import console, fail, friendly_errors


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("profile")(profile_cmd)


@friendly_errors
def profile_cmd(
    model: str = typer.Argument(
        ..., help="Model: bundled alias/id, HF hub id (cached) or a folder with config.json."
    ),
    chiplets: int | None = typer.Option(
        None, "--chiplets", "-n", help="Number of chiplets (default: the spec's)."
    ),
    hw: str | None = typer.Option(
        None, "--hw", help="IMC hardware spec name or YAML/JSON path (default rram-chiplet)."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Identical sequences processed together."),
    prompt_len: int = typer.Option(128, "--prompt-len", help="Prompt tokens per sequence."),
    gen_len: int = typer.Option(128, "--gen-len", help="Generated tokens per sequence."),
    precision: str | None = typer.Option(
        None, "--precision", help="Precision preset or policy file (default w8a8)."
    ),
    sparsity: str | None = typer.Option(None, "--sparsity", help="N:M structured sparsity, e.g. 2:4."),
    weights: Path | None = typer.Option(
        None, "--weights", help="Folder with safetensors weights (outlier statistics)."
    ),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Digital baseline spec to compare with, e.g. h100."
    ),
    allow_reprogramming: bool = typer.Option(
        False,
        "--allow-reprogramming",
        help="If weights do not fit, stream and reprogram them every iteration.",
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the whole result as JSON to this path."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Re-trace the model instead of using the OpGraph cache."
    ),
    all_rows: bool = typer.Option(
        False, "--all-rows", help="Print every stage, chiplet and link row (default: the first/busiest 24)."
    ),
) -> None:
    """Profile prefill and decode of one request batch: latency, energy, traffic, KV residency."""
    if chiplets is not None and chiplets < 1:
        raise fail(f"--chiplets must be >= 1 (got {chiplets})")
    if batch < 1:
        raise fail(f"--batch must be >= 1 (got {batch})")
    if prompt_len < 1:
        raise fail(f"--prompt-len must be >= 1 (got {prompt_len})")
    if gen_len < 1:
        raise fail(f"--gen-len must be >= 1 (got {gen_len})")
    from llmimc import api
    from llmimc.report.profile_report import DEFAULT_MAX_ROWS, render_profile

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
    render_profile(result, console, max_rows=None if all_rows else DEFAULT_MAX_ROWS)
    if json_path is not None:
        json_path.write_text(result.model_dump_json(indent=2))
        console.print(f"wrote {json_path}")
