"""Pareto front: the rows no other row dominates over the chosen objectives.

Row a dominates row b when a is at least as good as b in every objective (<= for "min", >= for
"max") and strictly better in at least one (Deb, Multi-Objective Optimization using Evolutionary
Algorithms, 2001, def. 2.5). With a relative ``tolerance`` t > 0, differences within t of a value
count as ties: a dominates b when a_i <= b_i + t |b_i| in every objective and a_i < b_i - t |b_i| in
at least one (in the spirit of epsilon-dominance, Laumanns et al., Evol. Comput. 2002), so points that
differ by float noise (a few ns of TPOT) do not all stay on the front. Rows that are not ``ok`` or lack a finite value for an objective take no
part. Equal rows do not dominate each other, so duplicates are all on the front. O(n² k) pairwise
comparison, vectorised per row with numpy; fine for the ~10⁴ points a sweep produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np


def _value(row: Mapping[str, Any], name: str) -> float | None:
    v = row.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def pareto_mask(
    rows: Sequence[Mapping[str, Any]], objectives: Mapping[str, Literal["min", "max"]], tolerance: float = 0.0
) -> list[bool]:
    """One flag per row: True when the row is ok and on the front."""
    names = list(objectives)
    idx: list[int] = []
    vals: list[list[float]] = []
    for i, row in enumerate(rows):
        if row.get("status") != "ok":
            continue
        signed: list[float] = []
        for n in names:
            v = _value(row, n)
            if v is None:
                break
            signed.append(v if objectives[n] == "min" else -v)
        else:
            idx.append(i)
            vals.append(signed)
    mask = [False] * len(rows)
    if not idx:
        return mask
    m = np.array(vals)
    for j, i in enumerate(idx):
        margin = tolerance * np.abs(m[j])
        no_worse = np.all(m <= m[j] + margin, axis=1)
        better = np.any(m < m[j] - margin, axis=1)
        mask[i] = not bool(np.any(no_worse & better))
    return mask
