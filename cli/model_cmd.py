"""`llmimc models` and `llmimc model show`: list bundled models, show a model's traced op graph.

Imports stay light: llmimc.model (and torch, on a cache miss) is imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llmimc_cli._common import console, friendly_errors


def _si(x: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


@friendly_errors
def _models() -> None:
    from rich.table import Table

    from llmimc.model import list_bundled_models

    table = Table(title="Bundled models (available offline)")
    for col in ("id", "aliases", "architecture", "params"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for m in list_bundled_models():
        params = f"{m.num_params:,}" if m.num_params is not None else "?"
        table.add_row(m.id, ", ".join(m.aliases), m.architecture, params)
    console.print(table)
    console.print("Also accepted: a local folder with config.json, or a hub id in the Hugging Face cache.")


@friendly_errors
def _show(
    model: str, phase: str, tokens: int, context: int, batch: int, json_path: Path | None, no_cache: bool
) -> None:
    from rich.table import Table

    from llmimc.errors import LlmimcError
    from llmimc.model import load_opgraph
    from llmimc.model.summary import Phase, summarize

    try:
        ph = Phase(phase)
    except ValueError:
        raise LlmimcError(f"--phase must be 'prefill' or 'decode', got {phase!r}") from None
    graph = load_opgraph(model, use_cache=not no_cache)
    s = summarize(graph, ph, tokens, context, batch)
    table = Table(
        title=f"{s.model_id} — {s.phase.value} T={s.tokens} L={s.kv_len} batch={s.batch} ({s.architecture}, {s.dtype})"
    )
    table.add_column("op", overflow="fold")
    table.add_column("layers", overflow="fold")
    table.add_column("kind", overflow="fold")
    table.add_column("K×N", overflow="fold")
    table.add_column("FLOPs", justify="right", no_wrap=True)
    table.add_column("act B r/w", justify="right", overflow="fold")
    for r in s.rows:
        shape = ""
        if r.in_features:
            shape = f"{r.in_features}×{r.out_features}" + (f" ×{r.num_experts}E" if r.num_experts > 1 else "")
        layers = r.layers.replace("layers ", "").replace("layer ", "")
        rw = f"{_si(r.act_bytes_read, 'B')}/{_si(r.act_bytes_written, 'B')}"
        table.add_row(r.name, layers, r.kind, shape, _si(r.flops, "FLOP"), rw)
    console.print(table)
    kinds = ", ".join(
        f"{k} {_si(v, 'FLOP')}" for k, v in sorted(s.flops_by_kind.items(), key=lambda kv: -kv[1]) if v
    )
    console.print(
        f"params {s.num_params:,} ({_si(s.weight_bytes, 'B')} {s.dtype}) · KV {_si(s.kv_bytes_per_token, 'B')}/token · "
        f"total {_si(s.flops_total, 'FLOP')} ({kinds})",
        highlight=False,
    )
    if json_path is not None:
        json_path.write_text(json.dumps(s.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach `models` and the `model` sub-typer to the root app."""
    model_app = typer.Typer(help="Inspect a model's traced operator graph.", no_args_is_help=True)

    @app.command("models")
    def models() -> None:
        """List the models bundled with llmimc (usable offline)."""
        _models()

    @model_app.command("show")
    def show(
        model: str = typer.Argument(
            ..., help="Bundled id/alias (see `llmimc models`), local folder, or hub id."
        ),
        phase: str = typer.Option("prefill", "--phase", help="prefill or decode."),
        tokens: int = typer.Option(128, "--tokens", help="Prompt tokens S for prefill (T = L = S)."),
        context: int = typer.Option(128, "--context", help="Past tokens c for decode (T = 1, L = c + 1)."),
        batch: int = typer.Option(1, "--batch", help="Identical sequences in the batch."),
        json_path: Path | None = typer.Option(None, "--json", help="Also write the summary as JSON here."),
        no_cache: bool = typer.Option(
            False, "--no-cache", help="Trace again; ignore and do not write the cache."
        ),
    ) -> None:
        """Show a model's traced ops (identical layers collapsed) and phase totals."""
        _show(model, phase, tokens, context, batch, json_path, no_cache)

    app.add_typer(model_app, name="model")
