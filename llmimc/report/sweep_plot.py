"""Sweep plots: the Pareto front and each varying axis' effect on each objective.

``.html``: one self-contained plotly page (the plotly.js bundle inlined, no network needed to open
it): a scatter of every pair of objectives with the front highlighted, then one panel per
(axis, objective) showing each ok point's objective against the axis value. ``.png``: the same
panels drawn with matplotlib (Agg backend). Both are optional extras (``llmimc[plot]``). Files are
written to a temporary name and moved into place.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from llmimc.report.output import write_bytes_atomic
from llmimc.sweep import SweepResult

MAX_PAIRS = 3
MAX_AXES = 6


def plot_backend_missing(suffix: str) -> str | None:
    """Why the backend for this suffix cannot be used (None when it can)."""
    module, extra = ("plotly", "plotly") if suffix == ".html" else ("matplotlib", "matplotlib")
    try:
        __import__(module)
    except ImportError:
        return f"needs {extra}: pip install 'llmimc[plot]'"
    return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _panels(result: SweepResult) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    objectives = list(result.objectives)
    pairs = list(itertools.combinations(objectives, 2))[:MAX_PAIRS] or [(objectives[0], objectives[0])]
    axes = [a for a in result.varying_columns if a not in objectives][:MAX_AXES]
    return pairs, [(a, o) for a in axes for o in objectives]


def _ok(result: SweepResult) -> list[dict[str, Any]]:
    return [r for r in result.rows if r["status"] == "ok"]


def _xy(rows: list[dict[str, Any]], x: str, y: str) -> tuple[list[Any], list[float], list[int]]:
    xs, ys, ids = [], [], []
    for r in rows:
        yv = _num(r.get(y))
        if yv is None or r.get(x) is None:
            continue
        xs.append(r.get(x))
        ys.append(yv)
        ids.append(r["point"])
    return xs, ys, ids


def html_text(result: SweepResult) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pairs, effects = _panels(result)
    titles = [f"{b} vs {a}" for a, b in pairs] + [f"{o} by {a}" for a, o in effects]
    n = len(titles)
    cols = 2 if n > 1 else 1
    nrows = math.ceil(n / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles)
    rows = _ok(result)
    front = [r for r in rows if r["pareto"]]
    for i, (a, b) in enumerate(pairs):
        rr, cc = i // cols + 1, i % cols + 1
        for subset, name, color in ((rows, "all ok points", "lightgray"), (front, "Pareto front", "crimson")):
            xs, ys, ids = _xy(subset, a, b)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    name=name,
                    marker={"color": color},
                    text=[f"point {p}" for p in ids],
                    showlegend=i == 0,
                ),
                row=rr,
                col=cc,
            )
        fig.update_xaxes(title_text=a, row=rr, col=cc)
        fig.update_yaxes(title_text=b, row=rr, col=cc)
    for j, (axis, obj) in enumerate(effects, start=len(pairs)):
        rr, cc = j // cols + 1, j % cols + 1
        xs, ys, ids = _xy(rows, axis, obj)
        fig.add_trace(
            go.Box(
                x=[str(x) for x in xs],
                y=ys,
                boxpoints="all",
                name=axis,
                showlegend=False,
                marker={"color": "steelblue"},
            ),
            row=rr,
            col=cc,
        )
        fig.update_xaxes(title_text=axis, type="category", row=rr, col=cc)
        fig.update_yaxes(title_text=obj, row=rr, col=cc)
    fig.update_layout(
        title=f"llmimc sweep {result.name}: {len(rows)} ok points, {len(front)} on the front",
        height=360 * nrows,
        width=1100,
    )
    return str(fig.to_html(include_plotlyjs=True, full_html=True))


def png_bytes(result: SweepResult) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs, effects = _panels(result)
    n = len(pairs) + len(effects)
    cols = 2 if n > 1 else 1
    nrows = math.ceil(n / cols)
    fig, axs = plt.subplots(nrows, cols, figsize=(6 * cols, 4 * nrows), squeeze=False)
    rows = _ok(result)
    front = [r for r in rows if r["pareto"]]
    for i, (a, b) in enumerate(pairs):
        ax = axs[i // cols][i % cols]
        xs, ys, _ = _xy(rows, a, b)
        ax.scatter(xs, ys, c="lightgray", label="all ok points")
        xs, ys, _ = _xy(front, a, b)
        ax.scatter(xs, ys, c="crimson", label="Pareto front")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.legend()
    for j, (axis, obj) in enumerate(effects, start=len(pairs)):
        ax = axs[j // cols][j % cols]
        xs, ys, _ = _xy(rows, axis, obj)
        labels = sorted({str(x) for x in xs}, key=lambda s: (_num(_try_float(s)) is None, _try_float(s)))
        pos = {lab: k for k, lab in enumerate(labels)}
        ax.scatter([pos[str(x)] for x in xs], ys, c="steelblue", s=12)
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_xlabel(axis)
        ax.set_ylabel(obj)
    for k in range(n, nrows * cols):
        axs[k // cols][k % cols].axis("off")
    fig.suptitle(f"llmimc sweep {result.name}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _try_float(s: str) -> Any:
    try:
        return float(s)
    except ValueError:
        return s


def write_plot(result: SweepResult, path: Path) -> None:
    """Write an .html (plotly) or .png (matplotlib) plot atomically."""
    data = html_text(result).encode() if path.suffix.lower() == ".html" else png_bytes(result)
    write_bytes_atomic(path, data, "--plot")
