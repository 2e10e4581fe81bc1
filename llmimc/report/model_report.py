"""Reports of models: the bundled list (``llmimc models``) and a phase summary (``llmimc model show``).

Rendering only: rows and totals come from ``llmimc.model.summary.PhaseSummary``.
"""

from __future__ import annotations

from llmimc.model.bundled import BundledModel
from llmimc.model.summary import PhaseSummary
from llmimc.report.sections import Block, Col, Line, Table
from llmimc.report.units import count, si


def bundled_models_blocks(models: list[BundledModel]) -> list[Block]:
    """One row per model: the id with its aliases stacked below it, the model type and the size."""
    t = Table(
        "bundled models (available offline)",
        [Col("id (aliases below)", no_wrap=True), Col("type"), Col("params", "right")],
    )
    for m in models:
        t.add(
            "\n".join((m.id, *(f"  {a}" for a in m.aliases))),
            m.model_type,
            count(m.num_params) if m.num_params is not None else "?",
        )
    hint = "a local folder with config.json, or a hub id in the Hugging Face cache"
    return [t, Line(hint, label="also accepted")]


def phase_summary_blocks(s: PhaseSummary) -> list[Block]:
    heads = ("op", "layers", "kind", "K×N", "FLOPs", "act B r/w")
    t = Table(
        f"{s.model_id}: {s.phase.value} T={s.tokens} L={s.kv_len} batch={s.batch} ({s.architecture}, {s.dtype})",
        [Col(h, "right" if h in ("FLOPs", "act B r/w") else "left") for h in heads],
    )
    for r in s.rows:
        shape = ""
        if r.in_features:
            shape = f"{r.in_features}×{r.out_features}" + (f" ×{r.num_experts}E" if r.num_experts > 1 else "")
        layers = r.layers.replace("layers ", "").replace("layer ", "")
        t.add(
            r.name,
            layers,
            r.kind,
            shape,
            si(r.flops, "FLOP"),
            f"{si(r.act_bytes_read, 'B')}/{si(r.act_bytes_written, 'B')}",
        )
    kinds = ", ".join(
        f"{k} {si(v, 'FLOP')}" for k, v in sorted(s.flops_by_kind.items(), key=lambda kv: -kv[1]) if v
    )
    totals = (
        f"params {count(s.num_params)} ({si(s.weight_bytes, 'B')} {s.dtype}) · KV {si(s.kv_bytes_per_token, 'B')}/token · "
        f"total {si(s.flops_total, 'FLOP')} ({kinds})"
    )
    return [t, Line(totals)]
