"""Serving-loop entry points of the fast cost form (``llmimc.cost.fast_form``) and a run's cost session.

- ``fast_iteration_cost``: one iteration. Decode-only: the n-decodes family at d = Sum L. With
  prefill chunks: features n, T, L = L_p + D, TL = TL_p + D where L_p, TL_p are the chunks' and D the
  decodes' Sum L, so the iteration belongs to the family (n, T, L_p, TL_p) at d = D; it is evaluated
  directly (``FastForm.mixed``) unless a session has seen that family more than
  ``FAMILY_TABLE_AFTER`` times, after which the family's segment table serves it (a + b D; fixed-length
  synthetic workloads repeat a few families a million times, trace replays almost never repeat one).
- ``decode_stretch``: K decode-only iterations of one batch from the n-decodes table, the end times
  summed left to right as the step loop adds them, cut before the first iteration that would start at
  or after an arrival.
- ``CostSession``: the per-run view a scheduler uses. Which families it tables depends only on the
  iterations of that run, in order, so a run's results do not depend on what other runs costed
  before on the same model (the table and the direct form agree to ~1e-16, not bit for bit).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate
from typing import TYPE_CHECKING

from llmimc.cost.fast_form import FastForm, Key
from llmimc.cost.features import prefill_sums
from llmimc.cost.iteration import IterationCost, PrefillChunk

if TYPE_CHECKING:
    from llmimc.cost.model import CompiledCostModel

FAMILY_TABLE_AFTER = 16  # a session tables a prefill family after this many direct evaluations
STRETCH_RUN = 32  # decode iterations costed per list pass (bounds the work past an arrival)
StretchCosts = tuple[list[float], list[float], list[float], list[float], list[float]]


def fast_iteration_cost(
    fast: FastForm, prefill: list[PrefillChunk], decode_past_tokens: list[int], seen: dict[Key, int] | None
) -> IterationCost:
    """One iteration through the fast form (module docstring); ``seen`` counts a session's families."""
    lat, energy, d2d, off = fast_cost(fast, prefill, len(decode_past_tokens), sum(decode_past_tokens), seen)
    return IterationCost(latency_s=lat, energy_j=energy, d2d_bytes=d2d, offpkg_bytes=off)


def fast_cost(
    fast: FastForm, prefill: list[PrefillChunk], n_dec: int, dec_past_sum: int, seen: dict[Key, int] | None
) -> tuple[float, float, float, float]:
    """(latency_s, energy_j, d2d_bytes, offpkg_bytes) of ``fast_iteration_cost`` from the decodes' count
    and Sum of past tokens alone (all the fast form reads of them)."""
    dec_l = dec_past_sum + n_dec
    if not prefill:
        if not n_dec:
            return 0.0, 0.0, 0.0, 0.0
        return fast.along((n_dec, n_dec, 0, 0), dec_l)
    t, l_sum, tl = prefill_sums(prefill)
    t += n_dec
    if t <= 0:
        return 0.0, 0.0, 0.0, 0.0
    n = len(prefill) + n_dec
    if seen is not None:
        key = (n, t, l_sum, tl)
        count = seen.get(key, 0)
        if count >= FAMILY_TABLE_AFTER:
            return fast.along(key, dec_l)
        seen[key] = count + 1
    return fast.mixed(float(n), float(t), float(l_sum + dec_l), float(tl + dec_l))


def decode_stretch(
    fast: FastForm, n: int, context_tokens: int, steps: int, now_s: float, t_limit_s: float
) -> StretchCosts:
    """(latency_s, energy_j, d2d_bytes, offpkg_bytes, end_s) of up to ``steps`` decode-only iterations
    of n requests whose Sum L is ``context_tokens`` + n k at iteration k, from ``now_s``, stopping
    before the first iteration that would start at or after ``t_limit_s``; each iteration is costed
    exactly as ``fast_iteration_cost`` costs it (the same segment, the same operations)."""
    key = (n, n, 0, 0)
    out: StretchCosts | None = None
    end = now_s
    k = 0
    while k < steps:
        length = context_tokens + n * k
        seg_end, c = fast.segment(key, length)
        # iterations k..k1-1 lie in this segment; cost them in runs of STRETCH_RUN
        k1 = min(steps, k + (seg_end - length) // n + 1, k + STRETCH_RUN)
        xs = range(length, context_tokens + n * k1, n)
        a, b = c[0], c[1]
        lats = [a + b * x for x in xs]  # float * int: the int converts exactly, as in ``FastForm.along``
        ends = list(accumulate(lats, initial=end))  # left to right, as the step loop adds
        del ends[0]
        # iteration j (> 0 overall) runs only if the one before it ended before the limit
        cut = bisect_left(ends, t_limit_s) + 1
        if cut < len(lats):
            xs, lats, ends = xs[:cut], lats[:cut], ends[:cut]
        part = (lats, [c[2] + c[3] * x for x in xs], _affine(c[4], c[5], xs), _affine(c[6], c[7], xs), ends)
        if out is None:
            out = part
        else:
            for whole, more in zip(out, part, strict=True):
                whole += more
        end = ends[-1]
        k += len(lats)
        if end >= t_limit_s:
            break
    return out if out is not None else ([], [], [], [], [])


def _affine(a: float, b: float, xs: range) -> list[float]:
    """[a + b x for x in xs]; one value repeated when b is zero (x >= 1, so b x is a zero of b's sign
    and every a + b x is the same float: bytes that do not grow with the context)."""
    if b == 0.0:
        return [a + b * xs[0]] * len(xs)
    return [a + b * x for x in xs]


class CostSession:
    """One serving run's view of a ``CompiledCostModel`` (an ``IterationCostModel``; module docstring)."""

    def __init__(self, model: CompiledCostModel) -> None:
        self.model = model
        self.seen: dict[Key, int] = {}  # prefill family -> direct evaluations so far
        self.fast = model.fast()  # built once per model (None: the reference path serves)

    def iteration_cost(self, prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> IterationCost:
        fast = self.model.fast()
        if fast is None:
            return self.model.iteration_cost_reference(prefill, decode_past_tokens)
        return fast_iteration_cost(fast, prefill, decode_past_tokens, self.seen)

    def summed_cost(
        self, prefill: list[PrefillChunk], n_dec: int, dec_past_sum: int
    ) -> tuple[float, float, float, float] | None:
        """``iteration_cost`` as (latency_s, energy_j, d2d_bytes, offpkg_bytes) from the decodes' count and
        Sum of past tokens (the scheduler's decode clock keeps no per-request list); None without a fast
        form (then ``iteration_cost`` needs the list)."""
        fast = self.fast
        return None if fast is None else fast_cost(fast, prefill, n_dec, dec_past_sum, self.seen)

    def decode_stretch(
        self, n: int, context_tokens: int, steps: int, now_s: float, t_limit_s: float
    ) -> StretchCosts | None:
        fast = self.fast
        return None if fast is None else decode_stretch(fast, n, context_tokens, steps, now_s, t_limit_s)

    @property
    def kv_capacity_tokens(self) -> int:
        return self.model.kv_capacity_tokens

    @property
    def kv_on_package_tokens(self) -> int:
        return self.model.kv_on_package_tokens

    @property
    def static_power_w(self) -> float:
        return self.model.static_power_w
