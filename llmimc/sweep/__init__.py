"""Design-space sweeps (DESIGN.md §7): axes over hardware-spec fields, chiplets, model, precision,
sparsity and load; grid/random/Latin-hypercube sampling; constraints; local-process or Ray executors;
Pareto fronts and SLO capacity search. ``run_sweep`` is the entry point; the CLI is ``llmimc sweep``.
"""

from llmimc.sweep.evaluate import PointOutcome, evaluate_point
from llmimc.sweep.run import SweepPlan, SweepResult, default_objectives, plan_sweep, run_sweep, with_capacity
from llmimc.sweep.sweep_file import CapacitySearch, SweepError, SweepFile, load_sweep_file, sweep_json_schema

__all__ = [
    "CapacitySearch",
    "PointOutcome",
    "SweepError",
    "SweepFile",
    "SweepPlan",
    "SweepResult",
    "default_objectives",
    "evaluate_point",
    "load_sweep_file",
    "plan_sweep",
    "run_sweep",
    "sweep_json_schema",
    "with_capacity",
]
