"""Sampling the axes of a sweep: full grid, independent random draws, or a Latin hypercube.

- grid: the Cartesian product of every axis' values (a range expands to ``num`` values spaced
  evenly, geometrically with ``log``, or to ``low, low + step, ...`` not above ``high``).
- random: each of ``samples`` points draws each axis independently: a list axis uniformly among
  its values, a range uniformly in ``[low, high]`` (log-uniform with ``log``).
- lhs: Latin-hypercube sampling (McKay, Beckman & Conover, Technometrics 1979): for each axis the
  unit interval is cut into ``samples`` equal strata, one uniform draw per stratum, the strata
  shuffled independently per axis; the draw u maps to ``low + u (high - low)`` (in log space with
  ``log``) or to list value ``floor(u * len)``, so every value of a list axis appears about equally.
All randomness comes from one ``numpy.random.Generator`` seeded by the sweep file's ``seed``.
Integer ranges are rounded to whole numbers; repeated points are kept once, first occurrence first.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np

from llmimc.sweep.sweep_file import RangeAxis, Sampling, SweepError, Value

AxisSpec = list[Value] | RangeAxis
Point = dict[str, Value]


def _num(value: float, integer: bool) -> Value:
    return int(round(value)) if integer else float(value)


def grid_values(name: str, axis: AxisSpec) -> list[Value]:
    """The values a grid takes along one axis."""
    if isinstance(axis, list):
        return list(axis)
    if axis.num is None and axis.step is None:
        if axis.low == axis.high:
            return [_num(axis.low, axis.integer)]
        raise SweepError(f"axis '{name}': a range needs num or step for grid sampling (or use random/lhs)")
    if axis.step is not None:
        count = int(math.floor((axis.high - axis.low) / axis.step + 1e-9)) + 1
        raw = [axis.low + i * axis.step for i in range(count)]
    elif axis.log:
        raw = list(np.geomspace(axis.low, axis.high, axis.num or 1))
    else:
        raw = list(np.linspace(axis.low, axis.high, axis.num or 1))
    values = [_num(v, axis.integer) for v in raw]
    return list(dict.fromkeys(values))


def _from_unit(axis: AxisSpec, u: float) -> Value:
    if isinstance(axis, list):
        return axis[min(int(u * len(axis)), len(axis) - 1)]
    if axis.log:
        lo, hi = math.log(axis.low), math.log(axis.high)
        return _num(math.exp(lo + u * (hi - lo)), axis.integer)
    return _num(axis.low + u * (axis.high - axis.low), axis.integer)


def _dedupe(points: list[Point]) -> list[Point]:
    seen: dict[str, Point] = {}
    for p in points:
        seen.setdefault(json.dumps(p, sort_keys=True), p)
    return list(seen.values())


def sample_points(axes: dict[str, AxisSpec], sampling: Sampling, max_points: int = 1_000_000) -> list[Point]:
    """The points of the sweep, each a mapping axis name -> value, in a deterministic order."""
    names = list(axes)
    if not names:
        return [{}]
    if sampling.method == "grid":
        per_axis = [grid_values(n, axes[n]) for n in names]
        total = math.prod(len(v) for v in per_axis)
        if total > max_points:
            raise SweepError(f"the grid has {total} points (> {max_points}); use random or lhs sampling")
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*per_axis)]
    n = int(sampling.samples or 0)
    rng = np.random.default_rng(sampling.seed)
    if sampling.method == "random":
        units = rng.random((n, len(names)))
    else:
        units = np.empty((n, len(names)))
        for j in range(len(names)):
            units[:, j] = (rng.permutation(n) + rng.random(n)) / n
    points = [
        {name: _from_unit(axes[name], float(units[i, j])) for j, name in enumerate(names)} for i in range(n)
    ]
    return _dedupe(points)
