"""Phase-level totals of an OpGraph and a compact per-layer-group view (pure; for reports and CLI).

A phase instance is (T, L, batch): prefill of S tokens is (S, S), decode with c past tokens is
(1, c + 1) (see `llmimc.model.opgraph`). Identical consecutive decoder layers are collapsed into one
group ("layers 0-11 ×12") whose per-op values are summed over the group.
"""

from __future__ import annotations

from llmimc._base import Frozen
from llmimc.errors import LlmimcError
from llmimc.model.opgraph import Op, OpGraph
from llmimc.workload import Phase, phase_point

__all__ = ["OpRow", "Phase", "PhaseSummary", "phase_point", "summarize"]


class OpRow(Frozen):
    """One op (or the same op summed over a group of identical layers) at a phase instance."""

    name: str  # op name; inside a layer group relative to the layer ("self_attn.q_proj")
    layers: str  # "" outside the decoder layers, else e.g. "layers 0-31 ×32"
    layer_count: int
    kind: str
    in_features: int
    out_features: int
    num_experts: int
    weight_params: int  # summed over the group
    flops: float  # × batch, summed over the group
    act_bytes_read: float
    act_bytes_written: float


class PhaseSummary(Frozen):
    """Totals of one phase instance; every FLOP/byte total is the sum of `rows`."""

    model_id: str
    source: str
    architecture: str
    phase: Phase
    tokens: int  # T per sequence
    kv_len: int  # L per sequence after the step
    batch: int
    num_params: int
    weight_bytes: int  # num_params × dtype bytes (published dtype)
    dtype: str
    kv_bytes_per_token: float
    flops_total: float
    flops_by_kind: dict[str, float]
    act_bytes_read_total: float
    act_bytes_written_total: float
    rows: list[OpRow]


def _layer_signature(ops: list[Op], prefix: str) -> tuple:
    return tuple(
        op.model_copy(update={"name": op.name[len(prefix) :], "module_path": "", "layer": None}) for op in ops
    )


def _layer_prefix(op: Op) -> str:
    """Module-path prefix of a layer op up to and including its layer index ("model.layers.3.")."""
    parts = op.module_path.split(".")
    for i, p in enumerate(parts):
        if p == str(op.layer) and i > 0:
            return ".".join(parts[: i + 1]) + "."
    return ""


def summarize(graph: OpGraph, phase: Phase, tokens: int, context: int, batch: int = 1) -> PhaseSummary:
    """Rows (identical consecutive layers collapsed) and totals of `graph` at one phase instance."""
    if batch < 1:
        raise LlmimcError(f"--batch must be >= 1, got {batch}")
    t, kv = phase_point(phase, tokens, context)
    rows: list[OpRow] = []
    by_layer: dict[int, list[Op]] = {}
    for op in graph.ops:
        if op.layer is not None:
            by_layer.setdefault(op.layer, []).append(op)
    groups: list[tuple[int, int]] = []  # (first layer, count)
    prev_sig = None
    for layer in sorted(by_layer):
        sig = _layer_signature(by_layer[layer], _layer_prefix(by_layer[layer][0]))
        if groups and sig == prev_sig and groups[-1][0] + groups[-1][1] == layer:
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
        else:
            groups.append((layer, 1))
        prev_sig = sig
    emitted_groups: set[int] = set()
    group_of = {layer: g for g in groups for layer in range(g[0], g[0] + g[1])}

    def row(op: Op, name: str, label: str, count: int) -> OpRow:
        return OpRow(
            name=name,
            layers=label,
            layer_count=count,
            kind=op.kind.value,
            in_features=op.in_features,
            out_features=op.out_features,
            num_experts=op.num_experts,
            weight_params=op.weight_params * count,
            flops=batch * count * op.flops.at(t, kv),
            act_bytes_read=batch * count * op.act_bytes_read.at(t, kv),
            act_bytes_written=batch * count * op.act_bytes_written.at(t, kv),
        )

    for op in graph.ops:
        if op.layer is None:
            rows.append(row(op, op.name, "", 1))
            continue
        first, count = group_of[op.layer]
        if first in emitted_groups:
            continue
        emitted_groups.add(first)
        label = f"layers {first}-{first + count - 1} ×{count}" if count > 1 else f"layer {first}"
        for lop in by_layer[first]:
            prefix = _layer_prefix(lop)
            rows.append(row(lop, lop.name[len(prefix) :] or lop.name, label, count))
    by_kind: dict[str, float] = {}
    for r in rows:
        by_kind[r.kind] = by_kind.get(r.kind, 0.0) + r.flops
    info = graph.info
    return PhaseSummary(
        model_id=info.model_id,
        source=info.source,
        architecture=info.architecture,
        phase=phase,
        tokens=t,
        kv_len=kv,
        batch=batch,
        num_params=graph.num_params,
        weight_bytes=graph.num_params * info.dtype_bytes,
        dtype=info.dtype,
        kv_bytes_per_token=graph.kv_bytes_per_token(),
        flops_total=sum(r.flops for r in rows),
        flops_by_kind=by_kind,
        act_bytes_read_total=sum(r.act_bytes_read for r in rows),
        act_bytes_written_total=sum(r.act_bytes_written for r in rows),
        rows=rows,
    )
