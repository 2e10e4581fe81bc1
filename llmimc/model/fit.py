"""Turn per-trace-point op costs into exact per-sequence Polys in (T, L) (no torch).

Each op cost is measured at several (T, L) points of a real traced forward (prefill, chunked and
decode steps sharing one KV cache). The model value(T, L) = c0 + c_t*T + c_l*L + c_tl*T*L is solved
by least squares on all points and then required to be *exact* at every point (more points than
coefficients, so at least one point verifies the fit). A cost that is not of this form (e.g. an
architecture whose work is quadratic in T) raises `FitError` naming the op instead of extrapolating
wrongly.
"""

from __future__ import annotations

import numpy as np

from llmimc.errors import LlmimcError
from llmimc.model.opgraph import Poly


class FitError(LlmimcError):
    """A traced op cost is not bilinear in (T, L) at the traced points."""


def design_matrix(points: list[tuple[int, int]]) -> np.ndarray:
    t = np.array([p[0] for p in points], dtype=np.float64)
    kv = np.array([p[1] for p in points], dtype=np.float64)
    return np.stack([np.ones_like(t), t, kv, t * kv], axis=1)


def check_points(points: list[tuple[int, int]]) -> None:
    """The trace points must determine the four coefficients and leave at least one check point."""
    if len(points) < 5 or np.linalg.matrix_rank(design_matrix(points)) < 4:
        raise FitError(f"trace points {points} cannot determine and verify c0, c_t, c_l, c_tl")


def _clean(c: float, scale: float) -> float:
    """Snap float noise of the solve to the nearest integer (costs are integer counts)."""
    r = round(c)
    return float(r) if abs(c - r) < 1e-9 * scale else float(c)


def fit_poly(points: list[tuple[int, int]], values: list[float], what: str) -> Poly:
    """Exact bilinear fit of `values` measured at `points` = [(T, L), ...]."""
    a = design_matrix(points)
    y = np.asarray(values, dtype=np.float64)
    if not np.any(y):
        return Poly()
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    scale = max(1.0, float(np.max(np.abs(y))))
    coef = np.array([_clean(c, scale) for c in coef])
    resid = np.abs(a @ coef - y)
    tol = 1e-6 * max(1.0, float(np.max(np.abs(y))))
    if float(np.max(resid)) > tol:
        worst = int(np.argmax(resid))
        raise FitError(
            f"{what}: cost is not of the form c0 + c_t*T + c_l*L + c_tl*T*L "
            f"(value {y[worst]:g} at T={points[worst][0]}, L={points[worst][1]} vs fit {a[worst] @ coef:g})"
        )
    return Poly(c0=coef[0], c_t=coef[1], c_l=coef[2], c_tl=coef[3])
