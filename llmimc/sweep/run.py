"""run_sweep: expand a sweep file into points, evaluate the ones not cached, and assemble the rows.

Pure core: nothing is printed or written here. The caller passes outcomes already known (``cache``,
keyed by point key; the CLI reads them from the output folder so a re-run skips done points) and
receives each new outcome through ``on_outcome`` (the CLI appends it to the folder's journal) and
progress through ``on_progress(done, total)``. Cached ``error`` outcomes are evaluated again (the
cause may have been fixed); ``ok`` and ``does-not-fit`` ones are reused.

Each row: ``point`` (index), ``key``, the input columns (every fixed/axis parameter with its effective
value, spec paths by their dotted name, ``chiplets``), ``chiplet_area_mm2``/``package_area_mm2``
(None when the spec gives no chiplet area), ``status``, ``reason``, the metrics, ``eval_time_s``,
``cached`` and ``pareto`` (on the front of the objectives, ``llmimc.sweep.pareto``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field

from llmimc._base import Frozen
from llmimc.cost.breakdown import Summary
from llmimc.sim.serve_models import Percentiles, ServeResult
from llmimc.sweep.evaluate import PointOutcome
from llmimc.sweep.executors import run_local, run_ray
from llmimc.sweep.pareto import pareto_mask
from llmimc.sweep.points import DERIVED_NAMES, PointConfig, expand_points
from llmimc.sweep.sweep_file import CapacitySearch, SweepError, SweepFile, load_sweep_file

Objectives = dict[str, Literal["min", "max"]]
PROFILE_OBJECTIVES: Objectives = {
    "energy_per_output_token_j": "min",
    "mean_tpot_s": "min",
    "package_area_mm2": "min",
}
SERVE_OBJECTIVES: Objectives = {
    "energy_per_output_token_j": "min",
    "tpot_s_p99": "min",
    "throughput_output_tokens_per_s": "max",
}
CAPACITY_METRICS = (
    "max_rate_per_s",
    "unsustained_rate_per_s",
    "capacity_trials",
    "goodput_per_chiplet",
    "goodput_per_mm2",
    "goodput_per_w",
)


class SweepResult(Frozen):
    name: str
    mode: Literal["profile", "serve"]
    rows: list[dict[str, Any]]  # one per point, in point order
    input_columns: list[str]  # the parameters that vary between points come first
    varying_columns: list[str]
    objectives: Objectives
    capacity: CapacitySearch | None = None
    excluded_points: int = 0  # removed by constraints
    duplicate_points: int = 0  # sampled twice (same key); evaluated once
    cached_points: int = 0
    evaluated_points: int = 0
    wall_time_s: float = 0.0
    executor: str = "local"
    workers: int = 1
    notes: list[str] = Field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r["status"] == status)

    def pareto_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["pareto"]]


def metric_names(mode: str, capacity: bool) -> set[str]:
    """Metric columns a point of this mode can have (for checking objective names)."""
    if mode == "profile":
        return set(Summary.model_fields) | {"num_chiplets", *DERIVED_NAMES}
    names: set[str] = {"kv_peak_used_fraction", "total_energy_j", "avg_power_w", *DERIVED_NAMES}
    for name, info in ServeResult.model_fields.items():
        if info.annotation is Percentiles or Percentiles in get_args(info.annotation):
            names |= {f"{name}_{k}" for k in ("mean", "p50", "p90", "p99")}
        elif name not in ("config", "requests", "timeline", "kv_occupancy"):
            names.add(name)
    return names | (set(CAPACITY_METRICS) if capacity else set())


def default_objectives(sweep: SweepFile) -> Objectives:
    if sweep.objectives:
        return dict(sweep.objectives)
    if sweep.capacity is not None:
        return {sweep.capacity.rank_by: "max", "energy_per_output_token_j": "min"}
    return dict(PROFILE_OBJECTIVES if sweep.mode == "profile" else SERVE_OBJECTIVES)


def with_capacity(sweep: SweepFile, search: CapacitySearch) -> SweepFile:
    """The sweep with a capacity search (the CLI's --find-max-rate flags)."""
    if sweep.mode != "serve":
        raise SweepError("--find-max-rate needs a serve sweep (mode: serve)")
    return SweepFile.model_validate({**sweep.model_dump(), "capacity": search.model_dump()})


def _row(cfg: PointConfig, out: PointOutcome, cached: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"point": cfg.index, "key": cfg.key, **cfg.inputs}
    row["chiplet_area_mm2"] = cfg.chiplet_area_mm2
    row["package_area_mm2"] = cfg.package_area_mm2
    row["status"] = out.status
    row["reason"] = out.reason
    row.update(out.metrics)
    row["eval_time_s"] = out.eval_time_s
    row["cached"] = cached
    return row


def _columns(points: list[PointConfig]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    for p in points:
        names += [k for k in p.inputs if k not in names]
    varying = [n for n in names if len({repr(p.inputs.get(n)) for p in points}) > 1]
    return varying + [n for n in names if n not in varying], varying


class SweepPlan(Frozen):
    """A validated sweep: its points (deduplicated by key) and objectives, before anything runs."""

    sweep: SweepFile
    label: str
    points: list[PointConfig]
    objectives: Objectives
    excluded_points: int
    duplicate_points: int
    notes: list[str]


def plan_notes(sweep: SweepFile, points: list[PointConfig], objectives: Objectives) -> list[str]:
    """Caveats the report prints with the results."""
    notes = []
    digital = sorted({str(p.inputs.get("hw")) for p in points if p.chiplet_area_mm2 is None})
    area = [o for o in objectives if o in DERIVED_NAMES]
    if digital and area:
        notes.append(
            f"{', '.join(digital)} give no chiplet area, so their points take no part in a front over {', '.join(area)}"
        )
    content = [a for a in sweep.axes if a.startswith("chiplet.") and a != "chiplet.area_m2"]
    if content:
        notes.append(
            f"chiplet_area_mm2/package_area_mm2 use the spec's chiplet.area_m2, which the axes {', '.join(content)} "
            "do not change; add a chiplet.area_m2 axis if the area should follow them"
        )
    return notes


def plan_sweep(
    sweep: SweepFile | str | Path, label: str | None = None, base_dir: Path | None = None
) -> SweepPlan:
    """Validate names, values, constraints and objectives; SweepError names the first bad axis/point.

    Relative file paths in the sweep (hw, precision, trace, lengths) that exist under ``base_dir``
    (default: the sweep file's folder when a path is given) are read from there.
    """
    if not isinstance(sweep, SweepFile):
        label = label or str(sweep)
        base_dir = base_dir or Path(sweep).parent
        sweep = load_sweep_file(sweep)
    label = label or sweep.name
    objectives = default_objectives(sweep)
    known = metric_names(sweep.mode, sweep.capacity is not None)
    for name in objectives:
        if name not in known and name not in sweep.axes and name not in sweep.fixed:
            raise SweepError(
                f"{label}: objective '{name}' is not a {sweep.mode} metric; use one of {', '.join(sorted(known))}"
            )
    from llmimc.sweep.serve_eval import passthrough_names

    points, excluded = expand_points(
        sweep,
        label,
        serve_api_params=passthrough_names() if sweep.mode == "serve" else frozenset(),
        check_model=_check_model,
        base_dir=base_dir,
    )
    unique: dict[str, PointConfig] = {}
    for p in points:
        unique.setdefault(p.key, p)
    kept = [p.model_copy(update={"index": i}) for i, p in enumerate(unique.values())]
    return SweepPlan(
        sweep=sweep,
        label=label,
        points=kept,
        objectives=objectives,
        excluded_points=excluded,
        duplicate_points=len(points) - len(kept),
        notes=plan_notes(sweep, kept, objectives),
    )


def run_sweep(
    sweep: SweepFile | SweepPlan | str | Path,
    *,
    workers: int = 1,
    use_ray: bool = False,
    ray_address: str | None = None,
    cache: Mapping[str, PointOutcome] | None = None,
    on_outcome: Callable[[PointOutcome], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run a sweep (a SweepFile, a path to one, or a plan) and return every point's row and Pareto flag.

    ``workers > 1`` starts worker processes with the spawn method, which re-imports the calling
    script: call it under ``if __name__ == "__main__":`` there. ``use_ray`` runs the points as Ray
    tasks (a local instance, or the cluster at ``ray_address``).
    """
    start = time.perf_counter()
    plan = sweep if isinstance(sweep, SweepPlan) else plan_sweep(sweep)
    points = plan.points
    cache = cache or {}
    outcomes: dict[str, tuple[PointOutcome, bool]] = {}
    for p in points:
        hit = cache.get(p.key)
        if hit is not None and hit.status != "error":
            outcomes[p.key] = (hit, True)
    todo = [p for p in points if p.key not in outcomes]
    total = len(points)
    if on_progress is not None:
        on_progress(len(outcomes), total)

    def done(out: PointOutcome) -> None:
        outcomes[out.key] = (out, False)
        if on_outcome is not None:
            on_outcome(out)
        if on_progress is not None:
            on_progress(len(outcomes), total)

    if use_ray:
        run_ray(todo, workers, ray_address, done)
    else:
        run_local(todo, workers, done)
    rows = [_row(p, *outcomes[p.key]) for p in points]
    for row, flag in zip(rows, pareto_mask(rows, plan.objectives, plan.sweep.pareto_tolerance), strict=True):
        row["pareto"] = flag
    inputs, varying = _columns(points)
    return SweepResult(
        name=plan.sweep.name,
        mode=plan.sweep.mode,
        rows=rows,
        input_columns=inputs,
        varying_columns=varying,
        objectives=plan.objectives,
        capacity=plan.sweep.capacity,
        excluded_points=plan.excluded_points,
        duplicate_points=plan.duplicate_points,
        notes=plan.notes,
        cached_points=total - len(todo),
        evaluated_points=len(todo),
        wall_time_s=time.perf_counter() - start,
        executor="ray" if use_ray else "local",
        workers=workers,
    )


def _check_model(model: str) -> None:
    from llmimc.model.resolve import resolve_model

    resolve_model(model)


__all__ = ["SweepPlan", "SweepResult", "default_objectives", "plan_sweep", "run_sweep", "with_capacity"]
