"""The sweep file: a pydantic-validated YAML/JSON description of a design-space exploration.

A sweep names a mode (``profile``: one request batch, or ``serve``: a request trace through continuous
batching), fixed parameters, axes, a sampling method, constraints and objectives::

    mode: profile
    fixed: {model: meta-llama/Llama-2-7b-hf, hw: rram-chiplet, prompt_len: 128, gen_len: 128}
    axes:
      chiplets: [72, 96, 128]                    # a list of values ...
      chiplet.array.adc.bits: {low: 4, high: 8, num: 3, integer: true}   # ... or a range
      precision: [w8a8, w4a8-outlier]
    sampling: {method: grid}                     # grid | random | lhs (with samples, seed)
    constraints: ["chiplets * chiplet_area_mm2 <= 20000"]
    objectives: {energy_per_output_token_j: min, mean_tpot_s: min, package_area_mm2: min}
    pareto_tolerance: 0.001                      # relative differences below 0.1 % count as ties

Parameter names (in ``fixed`` and ``axes``) are either workload/system parameters (``PROFILE_PARAMS``,
``SERVE_PARAMS``; in serve mode any further name must be a ``ServeConfig`` field or a keyword of
``llmimc.api.serve``, so new serving options such as replicas pass straight through) or a dotted path into the IMC hardware spec
(``chiplet.array.rows``, ``package.d2d.bw_bytes_per_s``; see ``llmimc hw schema``) that is applied to
a copy of the spec and re-validated (``llmimc.sweep.overrides``). Spec paths do not apply to a
digital (GPU) ``hw``: such points take the spec as it is, and the duplicates this makes run once.
Grid ranges expand to ``num`` evenly spaced values (geometrically spaced with ``log``) or to
``low, low + step, ...`` up to ``high``; random and Latin-hypercube sampling draw within
``[low, high]`` (``llmimc.sweep.sampling``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from llmimc._base import Frozen
from llmimc.errors import LlmimcError, one_line


class SweepError(LlmimcError):
    """A sweep file, axis, point or output folder is invalid (one line naming it)."""


Atom = bool | int | float | str | None  # None (YAML null): the parameter's default
Value = Atom | list[Atom]  # a list value is for list/tuple fields (disaggregate: [1, 3])
SPEC_ROOTS: tuple[str, ...] = ("chiplet", "package")

# name -> description; values are validated per point by ``llmimc.sweep.points``.
COMMON_PARAMS: dict[str, str] = {
    "model": "bundled alias/id, HF hub id (cached) or a folder with config.json",
    "hw": "hardware spec: built-in name or .yaml/.json path (IMC, or a digital GPU baseline such as h100)",
    "chiplets": "chiplets on the IMC package, or GPUs of a digital spec (default: the spec's)",
    "precision": "precision preset or policy file (default w8a8)",
    "sparsity": "N:M structured weight sparsity, e.g. 2:4 (default dense)",
}
PROFILE_PARAMS: dict[str, str] = {
    **COMMON_PARAMS,
    "batch": "identical sequences processed together",
    "prompt_len": "prompt tokens per sequence",
    "gen_len": "generated tokens per sequence",
}
SERVE_PARAMS: dict[str, str] = {
    **COMMON_PARAMS,
    "trace": "request trace file (Vidur, Azure, Mooncake, BurstGPT...)",
    "rate": "synthetic workload: mean arrivals per second (with num_requests)",
    "num_requests": "synthetic workload: number of requests",
    "arrival": "synthetic arrivals: poisson or gamma",
    "cv": "coefficient of variation of gamma inter-arrival times",
    "prompt_len": "synthetic prompt tokens per request",
    "gen_len": "synthetic output tokens per request",
    "seed": "seed of the synthetic workload",
    "lengths": "synthetic workload: CSV of (prefill, decode) lengths to sample from",
    "time_scale": "multiply every arrival time by this factor (< 1: denser traffic)",
}
# Further serve-mode names pass through: ServeConfig fields (max_batch, max_tokens_per_iter,
# chunk_size, block_tokens, enable_prefix_caching, ...) and keyword parameters of llmimc.api.serve.


class RangeAxis(Frozen):
    """Values between ``low`` and ``high`` (inclusive)."""

    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    num: int | None = Field(default=None, ge=1, le=100_000)  # grid: this many evenly spaced values
    step: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # grid: low, low+step, ... <= high
    log: bool = False  # geometric spacing / log-uniform draws (low > 0)
    integer: bool = False  # round every value to a whole number

    @model_validator(mode="after")
    def _consistent(self) -> RangeAxis:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.log and self.low <= 0:
            raise ValueError("log spacing needs low > 0")
        if self.num is not None and self.step is not None:
            raise ValueError("give num or step, not both")
        if self.log and self.step is not None:
            raise ValueError("step is additive; use num with log spacing")
        return self


Axis = Annotated[list[Value], Field(min_length=1)] | RangeAxis


class Sampling(Frozen):
    method: Literal["grid", "random", "lhs"] = "grid"
    samples: int | None = Field(default=None, ge=1, le=1_000_000)  # random/lhs: number of points
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _samples_given(self) -> Sampling:
        if self.method != "grid" and self.samples is None:
            raise ValueError(f"method {self.method} needs samples: N")
        return self


class CapacitySearch(Frozen):
    """SLO capacity search: the highest arrival rate at which >= ``attainment`` of requests meet the SLOs."""

    slo_ttft_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    slo_tpot_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    attainment: float = Field(default=0.9, gt=0, le=1)
    rate_start: float = Field(default=1.0, gt=0, allow_inf_nan=False)  # first rate tried (req/s)
    rate_min: float = Field(default=1e-3, gt=0, allow_inf_nan=False)  # below this: capacity 0
    rate_max: float = Field(default=1e6, gt=0, allow_inf_nan=False)  # stop doubling here
    rel_tol: float = Field(default=0.01, gt=0, lt=1)  # stop when (hi - lo) / hi <= rel_tol
    rank_by: Literal["goodput_per_chiplet", "goodput_per_mm2", "goodput_per_w"] = "goodput_per_chiplet"

    @model_validator(mode="after")
    def _some_slo(self) -> CapacitySearch:
        if self.slo_ttft_s is None and self.slo_tpot_s is None:
            raise ValueError("give slo_ttft_s and/or slo_tpot_s")
        if not self.rate_min <= self.rate_start <= self.rate_max:
            raise ValueError("need rate_min <= rate_start <= rate_max")
        return self


class SweepFile(Frozen):
    """A design-space sweep (see the module docstring; ``llmimc sweep schema`` prints the JSON Schema)."""

    name: str = "sweep"
    description: str = ""
    mode: Literal["profile", "serve"] = "profile"
    fixed: dict[str, Value] = Field(default_factory=dict)
    axes: dict[str, Axis] = Field(default_factory=dict)
    sampling: Sampling = Sampling()
    constraints: list[str] = Field(default_factory=list)
    objectives: dict[str, Literal["min", "max"]] = Field(default_factory=dict)
    pareto_tolerance: float = Field(default=0.0, ge=0, lt=1)  # relative differences counted as ties
    capacity: CapacitySearch | None = None

    @model_validator(mode="after")
    def _names(self) -> SweepFile:
        both = sorted(set(self.fixed) & set(self.axes))
        if both:
            raise ValueError(f"'{both[0]}' is both fixed and an axis; keep one")
        if self.capacity is not None and self.mode != "serve":
            raise ValueError("capacity search needs mode: serve")
        return self


def sweep_json_schema() -> dict:
    schema = SweepFile.model_json_schema()
    schema["title"] = "llmimc sweep file"
    return schema


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if not str(p).startswith(("list[", "RangeAxis", "function-"))]
    return ".".join(parts) or "(top level)"


def parse_sweep_data(data: object, label: str) -> SweepFile:
    """Validate parsed data; errors become one SweepError line naming ``label`` and the field/axis."""
    if not isinstance(data, dict):
        raise SweepError(
            f"{label}: a sweep file must be a mapping (mode, fixed, axes, ...), got {type(data).__name__}"
        )
    try:
        return SweepFile.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        first = errors[0]
        loc = tuple(first.get("loc", ()))
        msg = str(first.get("msg", "invalid"))
        if loc[:1] == ("axes",) and len(loc) >= 2:
            axes = data.get("axes")
            raw = axes.get(loc[1]) if isinstance(axes, dict) else None
            raise SweepError(one_line(f"{label}: axis '{loc[1]}': {_axis_problem(raw, msg)}")) from None
        if first.get("type") == "extra_forbidden":
            msg += " (unknown key: check `llmimc sweep schema`)"
        raise SweepError(one_line(f"{label}: {_loc(loc)}: {msg}")) from None


def _axis_problem(raw: object, fallback: str) -> str:
    """What is wrong with one axis: validated again on its own so the message fits its form."""
    if isinstance(raw, list):
        if not raw:
            return "empty axis; give at least one value"
        atoms = (bool, int, float, str, type(None))
        bad = next(
            (
                v
                for v in raw
                if not isinstance(v, atoms)
                and not (isinstance(v, list) and all(isinstance(a, atoms) for a in v))
            ),
            None,
        )
        return (
            f"value {bad!r} is not a number, string, boolean or list of them" if bad is not None else fallback
        )
    if isinstance(raw, dict):
        try:
            RangeAxis.model_validate(raw)
        except ValidationError as err:
            e = err.errors()[0]
            where = ".".join(str(p) for p in e.get("loc", ()))
            return f"range {where + ': ' if where else ''}{e.get('msg')} (a range has low, high, num|step, log, integer)"
        return fallback
    return f"give a list of values or a range {{low, high, num}}, not {type(raw).__name__}"


def load_sweep_file(path: str | Path) -> SweepFile:
    """Read and validate one sweep file (.yaml/.yml/.json)."""
    p = Path(path)
    if not p.is_file():
        raise SweepError(f"{p}: no such sweep file; give a .yaml or .json sweep file (see examples/sweeps/)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SweepError(one_line(f"{p}: cannot read: {err}")) from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise SweepError(
            one_line(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {err}")
        ) from None
    return parse_sweep_data(data, str(p))


def is_spec_path(name: str) -> bool:
    return "." in name and name.split(".", 1)[0] in SPEC_ROOTS
