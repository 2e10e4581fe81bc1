"""Spec-field overrides by dotted path (``chiplet.array.adc.bits = 6``) on a copy of an IMC spec.

The spec is dumped to plain data, the value is set at the path, the section's ``sources`` entry for
that field is replaced by a note naming the sweep axis and the value it replaces (the spec's rule
that every number carries a source still holds: a swept value is a stated design-space assumption),
and the whole spec is validated again (sweeping an ADC's ``bits`` whose ``reference_bits`` is unset pins
``reference_bits`` to the spec's bits first, so energy and time per conversion scale as ``llmimc.hw.derive``
says instead of silently staying the same), so a value the spec would refuse (``adc.bits: 32``,
``rows: 0``) is refused here with the axis named. The input spec is never mutated.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from llmimc.hw.spec import ImcSystemSpec
from llmimc.sweep.sweep_file import SweepError, Value


def _fields(model_cls: type[BaseModel]) -> dict[str, Any]:
    return dict(model_cls.model_fields)


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def check_spec_path(path: str, where: str) -> None:
    """Refuse a path that names no leaf field of ``ImcSystemSpec`` (one line listing the choices)."""
    cls: type[BaseModel] = ImcSystemSpec
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = _fields(cls)
        if part not in fields or part == "sources":
            known = ", ".join(sorted(f for f in fields if f != "sources"))
            prefix = ".".join(parts[:i]) or "(spec)"
            raise SweepError(
                f"{where}: unknown spec path '{path}': {prefix} has no field '{part}' (fields: {known}); "
                "see `llmimc hw schema`"
            )
        sub = _model_class(fields[part].annotation)
        last = i == len(parts) - 1
        if last and sub is not None:
            raise SweepError(f"{where}: spec path '{path}' is a section, not a value; name one of its fields")
        if not last:
            if sub is None:
                raise SweepError(f"{where}: spec path '{path}': '{part}' is a value and has no sub-fields")
            cls = sub


def get_spec_value(spec: ImcSystemSpec, path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        value = getattr(value, part)
    return value.value if isinstance(value, Enum) else value


def _set(data: dict, parts: Sequence[str], value: Value, note: str) -> None:
    node = data
    for part in parts[:-1]:
        node = node[part]
    leaf = parts[-1]
    old = node.get(leaf)
    if leaf == "bits" and "reference_bits" in node and node["reference_bits"] is None:
        # energy/time per conversion were given at the spec's bits; keep that reference so they scale
        node["reference_bits"] = old
        if isinstance(node.get("sources"), dict):
            node["sources"]["reference_bits"] = (
                f"[assumption] pinned to the spec's bits ({old}) by sweep axis {'.'.join(parts)}"
            )
    node[leaf] = value
    sources = node.get("sources")
    if isinstance(sources, dict) and isinstance(value, (int, float)) and not isinstance(value, bool):
        was = sources.get(leaf, "")
        sources[leaf] = f"{note} (spec value {old}" + (f": {was})" if was else ")")


def apply_overrides(spec: ImcSystemSpec, overrides: Sequence[tuple[str, Value]], where: str) -> ImcSystemSpec:
    """A validated copy of ``spec`` with each (dotted path, value) set; SweepError names the failing axis."""
    if not overrides:
        return spec
    data = spec.model_dump(mode="json")
    for path, value in overrides:
        check_spec_path(path, where)
        _set(data, path.split("."), value, f"[assumption] sweep axis {path} = {value}")
    try:
        return ImcSystemSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        paths = ", ".join(f"{p}={v!r}" for p, v in overrides)
        raise SweepError(
            f"{where}: {paths} makes the spec invalid: {loc}: {first.get('msg')}; change that axis' values"
        ) from None
