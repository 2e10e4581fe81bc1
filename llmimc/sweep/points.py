"""Sweep points: the sampled axis values turned into validated, picklable, hashable point configs.

``expand_points`` checks every parameter name (a known workload/system parameter or a spec path),
validates every point's values (ranges and types via ``ProfileParams``/``ServeParams``; spec overrides
by re-validating the spec), resolves each model, hardware spec and precision policy once, evaluates
the constraints (``llmimc.sweep.constraints``) and returns one ``PointConfig`` per kept point. A bad
value stops here with one line naming the axis and the point, before anything runs.

A point's ``key`` is the SHA-256 of its full configuration: mode, model, the complete hardware spec
after overrides, precision and sparsity, workload, capacity-search settings, the content of any
policy or trace file it reads, and the llmimc version; equal keys mean equal results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmimc import __version__
from llmimc._base import Frozen
from llmimc.errors import LlmimcError, one_line
from llmimc.hw.loader import SpecT
from llmimc.hw.spec import DigitalBaselineSpec, HwSpec, ImcSystemSpec
from llmimc.sweep.constraints import MISSING, Constraint
from llmimc.sweep.overrides import apply_overrides, check_spec_path, get_spec_value
from llmimc.sweep.sampling import sample_points
from llmimc.sweep.sweep_file import (
    PROFILE_PARAMS,
    SERVE_PARAMS,
    CapacitySearch,
    SweepError,
    SweepFile,
    Value,
    is_spec_path,
)

MM2_PER_M2 = 1e6
DERIVED_NAMES: tuple[str, ...] = ("chiplet_area_mm2", "package_area_mm2")


class ProfileParams(Frozen):
    model: str = Field(min_length=1)
    hw: str = "rram-chiplet"
    chiplets: int | None = Field(default=None, ge=1)
    precision: str = "w8a8"
    sparsity: str | None = None
    batch: int = Field(default=1, ge=1)
    prompt_len: int = Field(default=128, ge=1)
    gen_len: int = Field(default=128, ge=1)


class ServeParams(Frozen):
    model_config = ConfigDict(frozen=True, extra="allow")  # extras pass through to llmimc.api.serve
    model: str = Field(min_length=1)
    hw: str = "rram-chiplet"
    chiplets: int | None = Field(default=None, ge=1)
    precision: str = "w8a8"
    sparsity: str | None = None
    trace: str | None = None
    rate: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    num_requests: int | None = Field(default=None, ge=1)
    arrival: Literal["poisson", "gamma"] = "poisson"
    cv: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    prompt_len: int | None = Field(default=None, ge=1)
    gen_len: int | None = Field(default=None, ge=1)
    seed: int = Field(default=0, ge=0)
    lengths: str | None = None
    time_scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)


class PointConfig(Frozen):
    """Everything one evaluation needs (picklable: plain data and a frozen spec)."""

    index: int
    key: str
    mode: Literal["profile", "serve"]
    inputs: dict[str, Value | None]  # the row's input columns (effective values)
    params: ProfileParams | ServeParams
    spec: HwSpec  # IMC: chiplet count and spec-path overrides applied; digital: GPU count
    serve_extra: dict[str, Value] = Field(default_factory=dict)
    capacity: CapacitySearch | None = None
    chiplet_area_mm2: float | None
    package_area_mm2: float | None

    @property
    def count(self) -> int:
        """Chiplets (IMC) or GPUs (digital) of this point."""
        return _count(self.spec)


def check_names(sweep: SweepFile, serve_api_params: frozenset[str], label: str) -> None:
    """Every fixed/axis name is a known parameter, an api.serve parameter (serve mode) or a spec path."""
    known = PROFILE_PARAMS if sweep.mode == "profile" else SERVE_PARAMS
    for name in [*sweep.fixed, *sweep.axes]:
        kind = "axis" if name in sweep.axes else "fixed parameter"
        if is_spec_path(name):
            check_spec_path(name, f"{label}: {kind} '{name}'")
        elif name not in known and not (sweep.mode == "serve" and name in serve_api_params):
            raise SweepError(
                f"{label}: {kind} '{name}': unknown {sweep.mode} parameter; use one of {', '.join(known)}"
                + (
                    f", an llmimc.api.serve parameter ({', '.join(sorted(serve_api_params))})"
                    if sweep.mode == "serve"
                    else ""
                )
                + ", or a spec path (chiplet.…, package.…; see `llmimc hw schema`)"
            )
    if "model" not in sweep.fixed and "model" not in sweep.axes:
        raise SweepError(f"{label}: no model; add fixed: {{model: NAME}} or a model axis")
    if (
        sweep.mode == "serve"
        and sweep.capacity is not None
        and ("rate" in sweep.axes or "rate" in sweep.fixed)
    ):
        raise SweepError(f"{label}: capacity search chooses the rate itself; remove 'rate' from fixed/axes")


def _describe(point: Mapping[str, Value]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(no axes)"


def _params(
    mode: str, values: dict[str, Value], where: str, axes: Mapping[str, Any]
) -> ProfileParams | ServeParams:
    cls = ProfileParams if mode == "profile" else ServeParams
    try:
        return cls.model_validate(values)
    except ValidationError as err:
        raise SweepError(_value_error(err, where, values, axes)) from None


def _value_error(err: ValidationError, where: str, values: Mapping[str, Any], axes: Mapping[str, Any]) -> str:
    """One line naming the axis (or fixed parameter) whose value failed; the point for whole-model rules."""
    first = err.errors()[0]
    loc = first.get("loc", ())
    if not loc:
        return one_line(f"{where}: {first.get('msg')}")
    name = str(loc[0])
    kind = "axis" if name in axes else "fixed parameter"
    return one_line(f"{where}: {kind} '{name}' = {values.get(name)!r}: {first.get('msg')}")


def _check_serve_config(extra: dict[str, Value], where: str, axes: Mapping[str, Any]) -> None:
    """Pass-through names that are ServeConfig fields are validated here, before anything runs."""
    from llmimc.sim.serve_models import ServeConfig

    fields = {k: v for k, v in extra.items() if k in ServeConfig.model_fields}
    if not fields:
        return
    try:
        ServeConfig.model_validate(fields)
    except ValidationError as err:
        raise SweepError(_value_error(err, where, fields, axes)) from None


def _file_digest(ref: str | None) -> str | None:
    if ref is None or not Path(ref).is_file():
        return None
    return hashlib.sha256(Path(ref).read_bytes()).hexdigest()


def point_key(mode: str, params: BaseModel, spec: SpecT, capacity: CapacitySearch | None) -> str:
    p = params.model_dump(mode="json")
    doc = {
        "llmimc": __version__,
        "mode": mode,
        "params": {k: v for k, v in p.items() if k not in ("hw", "chiplets")},
        "spec": spec.model_dump(mode="json"),
        "capacity": capacity.model_dump(mode="json") if capacity is not None else None,
        "files": {k: _file_digest(p.get(k)) for k in ("precision", "trace", "lengths")},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


class _Resolver:
    """Loads each distinct hardware spec, precision policy, sparsity and model once; errors name the axis."""

    def __init__(self, axes: Mapping[str, Any], label: str, check_model: Callable[[str], None]) -> None:
        self._axes, self._label, self._check_model = axes, label, check_model
        self._specs: dict[str, SpecT] = {}
        self._seen: set[tuple[str, str]] = set()

    def _kind(self, name: str) -> str:
        return f"{self._label}: {'axis' if name in self._axes else 'fixed parameter'} '{name}'"

    def spec(self, ref: str) -> SpecT:
        if ref not in self._specs:
            from llmimc.hw import load_spec

            try:
                self._specs[ref] = load_spec(ref)
            except LlmimcError as err:
                raise SweepError(f"{self._kind('hw')}: {err}") from None
        return self._specs[ref]

    def check(self, params: ProfileParams | ServeParams) -> None:
        from llmimc.compress import load_policy, parse_sparsity

        for name, value, fn in (
            ("precision", params.precision, load_policy),
            ("sparsity", params.sparsity, parse_sparsity),
            ("model", params.model, self._check_model),
        ):
            if value is None or (name, value) in self._seen:
                continue
            try:
                fn(value)
            except LlmimcError as err:
                raise SweepError(one_line(f"{self._kind(name)}: {err}")) from None
            self._seen.add((name, value))


def _count(spec: SpecT) -> int:
    """Chiplets on an IMC package, GPUs (tensor-parallel degree) of a digital system."""
    return spec.package.num_chiplets if isinstance(spec, ImcSystemSpec) else spec.num_gpus


def _with_count(spec: SpecT, count: int | None, where: str) -> SpecT:
    if count is None:
        return spec
    if isinstance(spec, DigitalBaselineSpec):
        return spec.with_gpus(count)
    try:
        return spec.with_chiplets(count)
    except ValueError as err:  # pydantic's ValidationError included
        raise SweepError(one_line(f"{where}: chiplets={count}: {err}")) from None


def _areas(spec: SpecT) -> tuple[float | None, float | None]:
    if not isinstance(spec, ImcSystemSpec):
        return None, None
    chip = spec.chiplet.area_m2
    if chip is None:
        return None, None
    return chip * MM2_PER_M2, chip * MM2_PER_M2 * spec.package.num_chiplets


def _namespace(
    values: Mapping[str, Value], spec: SpecT, areas: tuple[float | None, float | None]
) -> Callable[[str], Any]:
    def lookup(name: str) -> Any:
        if name == "chiplets":
            return _count(spec)
        if name in values:
            return values[name]
        area = {"chiplet_area_mm2": areas[0], "package_area_mm2": areas[1]}.get(name)
        if area is not None:
            return area
        if is_spec_path(name) and isinstance(spec, ImcSystemSpec):
            return get_spec_value(spec, name)
        return MISSING

    return lookup


FILE_PARAMS: tuple[str, ...] = ("hw", "precision", "trace", "lengths")


def _rebase(name: str, value: Value, base_dir: Path | None) -> Value:
    """A relative file path that exists beside the sweep file is read from there."""
    if base_dir is None or name not in FILE_PARAMS or not isinstance(value, str) or Path(value).is_absolute():
        return value
    beside = base_dir / value
    return str(beside) if beside.is_file() else value


def _check_constraint_names(sweep: SweepFile, constraints: list[Constraint]) -> None:
    plain = {*sweep.fixed, *sweep.axes, *DERIVED_NAMES, *PROFILE_PARAMS, *SERVE_PARAMS}
    for c in constraints:
        for name in sorted(c.names - plain):
            if not is_spec_path(name):
                raise SweepError(
                    f"{c.where}: unknown name '{name}' in '{c.text}'; use parameters, "
                    f"spec paths or {', '.join(DERIVED_NAMES)}"
                )
            check_spec_path(name, c.where)


def _holds(c: Constraint, lookup: Callable[[str], Any], where: str) -> bool:
    try:
        return c.holds(lookup)
    except SweepError as err:
        raise SweepError(f"{where}: {err}") from None


def expand_points(
    sweep: SweepFile,
    label: str,
    *,
    serve_api_params: frozenset[str] = frozenset(),
    check_model: Callable[[str], None] | None = None,
    base_dir: Path | None = None,
) -> tuple[list[PointConfig], int]:
    """(kept points, number excluded by constraints); SweepError on the first bad name or value."""
    check_names(sweep, serve_api_params, label)
    constraints = [Constraint(text, f"{label}: constraints[{i}]") for i, text in enumerate(sweep.constraints)]
    _check_constraint_names(sweep, constraints)
    resolver = _Resolver(sweep.axes, label, check_model or (lambda _m: None))
    known = set(ProfileParams.model_fields if sweep.mode == "profile" else ServeParams.model_fields)
    kept: list[PointConfig] = []
    excluded = 0
    for i, point in enumerate(sample_points(dict(sweep.axes), sweep.sampling)):
        where = f"{label}: point {i} ({_describe(point)})"
        merged = {**sweep.fixed, **point}
        overrides = [(k, v) for k, v in merged.items() if is_spec_path(k)]
        plain = {k: _rebase(k, v, base_dir) for k, v in merged.items() if not is_spec_path(k)}
        params = _params(sweep.mode, plain, where, sweep.axes)
        resolver.check(params)
        spec = resolver.spec(params.hw)
        shown: dict[str, Value | None] = dict(overrides)
        if isinstance(spec, ImcSystemSpec):
            spec = apply_overrides(spec, overrides, where)
        else:  # spec paths name IMC fields: a digital point does not take them (and dedupes across them)
            shown = dict.fromkeys(shown)
        spec = _with_count(spec, params.chiplets, where)
        effective = {k: v for k, v in params.model_dump(mode="json").items() if k in known}
        effective["chiplets"] = _count(spec)
        extra = {k: v for k, v in plain.items() if k not in known}
        values = {**effective, **extra, **shown}
        areas = _areas(spec)
        lookup = _namespace(values, spec, areas)
        if not all(_holds(c, lookup, where) for c in constraints):
            excluded += 1
            continue
        _check_serve_config(extra, where, sweep.axes)
        order = [*sweep.axes, *sweep.fixed, *effective]
        kept.append(
            PointConfig(
                index=len(kept),
                key=point_key(sweep.mode, params, spec, sweep.capacity),
                mode=sweep.mode,
                inputs={k: values[k] for k in dict.fromkeys(order)},
                params=params,
                spec=spec,
                serve_extra=extra,
                capacity=sweep.capacity,
                chiplet_area_mm2=areas[0],
                package_area_mm2=areas[1],
            )
        )
    return kept, excluded
