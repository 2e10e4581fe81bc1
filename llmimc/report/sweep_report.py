"""Rich rendering of a sweep: counts, the Pareto table, and (capacity search) the goodput ranking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from llmimc.report.units import si
from llmimc.sweep import SweepResult

DEFAULT_MAX_ROWS = 30

# Column-name suffix -> unit printed with an SI prefix (the result files keep SI base units).
_UNITS = (("_per_s", "/s"), ("_mm2", "mm²"), ("_bytes", "B"), ("_j", "J"), ("_s", "s"), ("_w", "W"))
# Short headers for the metrics a sweep usually ranks by (other columns: the name less its unit).
_SHORT = {
    "energy_per_output_token_j": "energy/tok",
    "mean_tpot_s": "TPOT",
    "p99_tpot_s": "TPOT p99",
    "ttft_s": "TTFT",
    "package_area_mm2": "area",
    "chiplet_area_mm2": "chiplet area",
    "tokens_per_s": "tokens/s",
    "max_rate_per_s": "max rate",
    "goodput_requests_per_s": "goodput",
    "point": "#",
}


def _unit(column: str) -> str | None:
    return next((unit for suffix, unit in _UNITS if column.endswith(suffix)), None)


def _header(column: str) -> str:
    """A short column header: 'TPOT', 'array.rows' (spec paths lose their 'chiplet.' prefix)."""
    if column in _SHORT:
        return _SHORT[column]
    if "." in column:
        return column.removeprefix("chiplet.").removeprefix("package.")
    for suffix, _ in _UNITS:
        if column.endswith(suffix):
            return column[: -len(suffix)].replace("_", " ")
    return column.replace("_", " ")


def _fmt(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    unit = _unit(column)
    if isinstance(value, int | float) and unit == "mm²":
        return f"{value:,.0f} mm²"
    if isinstance(value, int | float) and unit is not None:
        return si(float(value), unit)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str], max_rows: int | None) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        text = c in ("model", "hw", "precision", "sparsity")
        # numbers never wrap (a value split over two lines misreads); names fold where they must
        table.add_column(_header(c), justify="left" if text else "right", overflow="fold", no_wrap=not text)
    shown = rows if max_rows is None else rows[:max_rows]
    for row in shown:
        table.add_row(*[_fmt(c, row.get(c)) for c in columns])
    if max_rows is not None and len(rows) > max_rows:
        table.caption = f"{len(rows) - max_rows} more rows in the results files (--all-rows shows them)"
    return table


def _sort_key(objective: str, sense: str):
    def key(row: dict[str, Any]) -> float:
        v = row.get(objective)
        if not isinstance(v, (int, float)):
            return float("inf")
        return float(v) if sense == "min" else -float(v)

    return key


def summary_line(result: SweepResult) -> str:
    parts = [
        f"{len(result.rows)} points",
        f"{result.count('ok')} ok",
        f"{result.count('does-not-fit')} do not fit",
        f"{result.count('error')} errors",
        f"{len(result.pareto_rows())} on the Pareto front",
    ]
    if result.excluded_points:
        parts.append(f"{result.excluded_points} excluded by constraints")
    if result.duplicate_points:
        parts.append(f"{result.duplicate_points} duplicates sampled once")
    if result.cached_points:
        parts.append(f"{result.cached_points} reused from the output folder")
    rate = result.evaluated_points / result.wall_time_s if result.wall_time_s > 0 else 0.0
    where = (
        "Ray"
        if result.executor == "ray"
        else f"{result.workers} local worker{'s' if result.workers > 1 else ''}"
    )
    return f"{', '.join(parts)}; {result.evaluated_points} evaluated in {result.wall_time_s:.1f} s on {where} ({rate:.2f} points/s)"


def render_sweep(result: SweepResult, console: Console, max_rows: int | None = DEFAULT_MAX_ROWS) -> None:
    """Print the counts, the Pareto table sorted by the first objective, and the capacity ranking."""
    console.print(f"[bold]sweep {result.name}[/] ({result.mode}): {summary_line(result)}", highlight=False)
    objectives = list(result.objectives)
    shown_inputs = [c for c in result.varying_columns if c not in objectives]
    first = objectives[0]
    front = sorted(result.pareto_rows(), key=_sort_key(first, result.objectives[first]))
    senses = ", ".join(f"{'min' if s == 'min' else 'max'} {_header(o)}" for o, s in result.objectives.items())
    console.print(_table(f"Pareto front ({senses})", front, ["point", *shown_inputs, *objectives], max_rows))
    if result.capacity is not None:
        rank = result.capacity.rank_by
        ok = sorted((r for r in result.rows if r["status"] == "ok"), key=_sort_key(rank, "max"))
        cols = [
            "point",
            *shown_inputs,
            "max_rate_per_s",
            "goodput_requests_per_s",
            rank,
            "energy_per_output_token_j",
        ]
        console.print(
            _table(f"capacity at the SLOs, ranked by {rank}", ok, list(dict.fromkeys(cols)), max_rows)
        )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    failed = [r for r in result.rows if r["status"] == "error"]
    if failed:
        console.print(
            f"[red]{len(failed)} point(s) failed[/]; first: point {failed[0]['point']}: {failed[0]['reason']}"
        )
