"""`llmimc sweep SWEEP.yaml`: a design-space sweep (profile or serve points) with a Pareto front.

`llmimc sweep schema` prints the sweep file's JSON Schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from llmimc_cli._common import console, err_console, fail, friendly_errors

SCHEMA_WORD = "schema"


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("sweep")(sweep_cmd)


def _check_plot(plot: Path | None) -> None:
    if plot is None:
        return
    suffix = plot.suffix.lower()
    if suffix not in (".html", ".png"):
        raise fail(f"--plot {plot}: give a .html (plotly) or .png (matplotlib) file")
    if plot.is_dir() or not plot.parent.is_dir():
        raise fail(f"--plot {plot}: folder {plot.parent} does not exist (or the path is a folder)")
    from llmimc.report.sweep_plot import plot_backend_missing

    missing = plot_backend_missing(suffix)
    if missing:
        raise fail(f"--plot {plot}: {missing}")


def _capacity(
    find_max_rate: bool,
    slo_ttft_s: float | None,
    slo_tpot_s: float | None,
    attainment: float,
    rank_by: str | None,
):
    from llmimc.sweep import CapacitySearch

    if not find_max_rate:
        if slo_ttft_s is not None or slo_tpot_s is not None or rank_by is not None:
            raise fail("--slo-ttft-s/--slo-tpot-s/--rank-by belong to --find-max-rate; add it")
        return None
    if slo_ttft_s is None and slo_tpot_s is None:
        raise fail("--find-max-rate needs --slo-ttft-s and/or --slo-tpot-s")
    fields: dict[str, float | str | None] = {
        "slo_ttft_s": slo_ttft_s,
        "slo_tpot_s": slo_tpot_s,
        "attainment": attainment,
    }
    if rank_by is not None:
        fields["rank_by"] = rank_by
    return CapacitySearch.model_validate(fields)


@friendly_errors
def sweep_cmd(
    sweep_file: Annotated[
        str, typer.Argument(help="Sweep file (.yaml/.json), or 'schema' to print its JSON Schema.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for results.csv/.parquet, pareto.csv; re-runs resume."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-j", min=1, max=1024, help="Local worker processes.")
    ] = 1,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run points as Ray tasks (pip install 'llmimc\\[ray]').")
    ] = False,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Existing Ray cluster (default: start a local one).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the front and each axis' effect: out.html or out.png.")
    ] = None,
    find_max_rate: Annotated[
        bool, typer.Option("--find-max-rate", help="Serve sweeps: bisect the highest rate meeting the SLOs.")
    ] = False,
    slo_ttft_s: Annotated[float | None, typer.Option("--slo-ttft-s", min=0, help="TTFT SLO (s).")] = None,
    slo_tpot_s: Annotated[float | None, typer.Option("--slo-tpot-s", min=0, help="TPOT SLO (s).")] = None,
    attainment: Annotated[
        float, typer.Option("--attainment", min=0, max=1, help="Share of requests within the SLOs.")
    ] = 0.9,
    rank_by: Annotated[
        Literal["goodput_per_chiplet", "goodput_per_mm2", "goodput_per_w"] | None,
        typer.Option(
            "--rank-by", help="Capacity ranking: goodput_per_chiplet, goodput_per_mm2 or goodput_per_w."
        ),
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all-rows", help="Print every Pareto row (default: 30).")
    ] = False,
) -> None:
    """Explore a design space: evaluate every point of a sweep file and print its Pareto front."""
    from llmimc.report.sweep_report import DEFAULT_MAX_ROWS, render_sweep
    from llmimc.sweep import plan_sweep, sweep_json_schema, with_capacity

    if sweep_file == SCHEMA_WORD and not Path(sweep_file).exists():
        console.print_json(json.dumps(sweep_json_schema()))
        return
    if ray_address is not None and not ray:
        raise fail("--ray-address needs --ray")
    _check_plot(plot)
    search = _capacity(find_max_rate, slo_ttft_s, slo_tpot_s, attainment, rank_by)
    from llmimc.sweep import load_sweep_file

    sweep = load_sweep_file(sweep_file)
    if search is not None:
        sweep = with_capacity(sweep, search)
    plan = plan_sweep(sweep, sweep_file, base_dir=Path(sweep_file).parent)
    result = _run(plan, out, workers, ray, ray_address)
    written = []  # files first: a closed stdout (| head) must not lose the results
    if out is not None:
        from llmimc.report.sweep_files import write_results

        written += write_results(result, out)
    if plot is not None:
        from llmimc.report.sweep_plot import write_plot

        write_plot(result, plot)
        written.append(plot)
    render_sweep(result, console, max_rows=None if all_rows else DEFAULT_MAX_ROWS)
    if written:
        console.print(f"wrote {', '.join(str(p) for p in written)}")
    if out is not None:
        from llmimc.report.sweep_files import parquet_available

        if not parquet_available():
            console.print("results.parquet not written: pip install 'llmimc\\[sweep]' (pyarrow)")


def _run(plan, out: Path | None, workers: int, ray: bool, ray_address: str | None):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from llmimc.report.sweep_files import Journal, prepare_out_dir, read_journal
    from llmimc.sweep import run_sweep

    cache = {}
    if out is not None:
        prepare_out_dir(out)
        cache = read_journal(out)
    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("sweep", total=len(plan.points))

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if out is None:
            return run_sweep(
                plan, workers=workers, use_ray=ray, ray_address=ray_address, on_progress=on_progress
            )
        with Journal(out) as journal:
            return run_sweep(
                plan,
                workers=workers,
                use_ray=ray,
                ray_address=ray_address,
                cache=cache,
                on_outcome=journal.append,
                on_progress=on_progress,
            )
