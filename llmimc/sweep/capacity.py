"""SLO capacity search: the highest arrival rate a configuration sustains (DistServe goodput).

A rate r is *sustained* when at least ``attainment`` of the requests finish within the SLOs
(TTFT <= slo_ttft_s and TPOT <= slo_tpot_s; ServeResult.slo_attainment), the criterion of DistServe
(Zhong et al., OSDI 2024). The same request pattern is replayed at every rate (arrival times scaled
by native_rate / r, lengths unchanged), so attainment falls with r up to simulation noise.

Search: starting at ``rate_start``, double while sustained (or halve while not) to bracket the
capacity between a sustained ``lo`` and an unsustained ``hi``; then bisect until
(hi - lo) / hi <= rel_tol. The answer is ``lo``, so the true capacity lies in [lo, hi):
the reported rate is low by at most rel_tol. If ``rate_max`` is still sustained the capacity is
reported as at least rate_max; if even ``rate_min`` is not, the capacity is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from llmimc.sweep.sweep_file import CapacitySearch

R = TypeVar("R")


@dataclass(frozen=True)
class CapacityFound(Generic[R]):
    max_rate_per_s: float  # highest sustained rate found (0 when rate_min is not sustained)
    unsustained_rate_per_s: float | None  # lowest rate found not sustained (None: rate_max sustained)
    trials: int
    at_max: R | None  # the evaluation at max_rate_per_s
    note: str


def find_max_rate(attains: Callable[[float], tuple[float, R]], search: CapacitySearch) -> CapacityFound[R]:
    """Bracket and bisect; ``attains(rate)`` returns (SLO attainment in [0, 1], the evaluation)."""
    trials = 0

    def ok(rate: float) -> tuple[bool, R]:
        nonlocal trials
        trials += 1
        attained, result = attains(rate)
        return attained >= search.attainment, result

    rate = search.rate_start
    good, result = ok(rate)
    lo: float | None = rate if good else None
    hi: float | None = None if good else rate
    best: R | None = result if good else None
    while lo is None:
        assert hi is not None
        rate = hi / 2
        if rate < search.rate_min:
            return CapacityFound(0.0, hi, trials, None, f"not sustained even at {hi:.4g} req/s")
        good, result = ok(rate)
        if good:
            lo, best = rate, result
        else:
            hi = rate
    while hi is None:
        rate = lo * 2
        if rate > search.rate_max:
            return CapacityFound(
                lo, None, trials, best, f"sustained up to rate_max; capacity >= {lo:.4g} req/s"
            )
        good, result = ok(rate)
        if good:
            lo, best = rate, result
        else:
            hi = rate
    while (hi - lo) / hi > search.rel_tol:
        mid = (lo + hi) / 2
        good, result = ok(mid)
        if good:
            lo, best = mid, result
        else:
            hi = mid
    return CapacityFound(lo, hi, trials, best, "")
