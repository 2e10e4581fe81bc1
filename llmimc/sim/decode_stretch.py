"""Event skipping: a stretch of decode-only iterations advanced in one vectorised step.

Between events (an arrival that could be admitted, a completion, a KV allocation that would preempt,
a prefill chunk) the batch is n decoding requests with past tokens c_i. Iteration k of the stretch
(k = 0, 1, ...) costs the batch with past tokens c_i + k, so its cost-model features are linear in k
(``llmimc.cost.model.features``: n_seq = T = n, L = T x L = Sum c_i + n + k n), and request i needs a
new KV block at iteration k exactly when (c_i + k) mod block_tokens = 0. Hence

    allocations(k) = hist[k mod b],   hist[r] = #{i : (-c_i) mod b = r}

and the stretch may run K = min(min_i left_i, first k whose cumulative allocations exceed the
available blocks, first k >= 1 starting at or after the next admissible arrival) iterations.
Iteration end times are the running sum now + lat_0 + lat_1 + ... (the same additions, in the same
order, as the step-by-step loop), so the schedule is identical.

Costs of the K iterations: a cost model with ``decode_stretch`` (``CompiledCostModel``) costs them
from its fast form (``llmimc.cost.fast_form``: for n decodes every output is affine in Sum L on a
segment, so an iteration is a + b L), reading the same segment that ``iteration_cost`` reads for the
same batch, so a stretch and the step-by-step loop agree bit for bit; any other model is asked once
per iteration with the exact per-request past-token lists (``stretch_costs``). The run totals are summed
left to right, one iteration at a time, as the step loop adds them; the requests are not touched: n,
Sum c_i and the residue histogram come from the decode clock (``llmimc.sim.decode_clock``), whose
running energy sum takes the stretch's per-token energies one iteration at a time, as ``tick`` does.
Plain Python on lists: a stretch is a few iterations of a few requests on a lightly loaded package,
where numpy's per-call overhead would dominate.
"""

from __future__ import annotations

from functools import reduce
from itertools import repeat
from operator import add, sub, truediv
from typing import TYPE_CHECKING

import numpy as np

from llmimc.cost.features import NUM_FEATURES, Feature
from llmimc.cost.iteration import IterationCostModel
from llmimc.sim.sched_state import kv_point

if TYPE_CHECKING:
    from llmimc.sim.scheduler import Scheduler

MAX_STRETCH_ITERATIONS = 512  # iterations costed per stretch (bounds the wasted work before an arrival)
COST_BATCH = 32  # iterations costed per iteration_costs call (bounds the work wasted past an arrival)
MIN_STRETCH_ITERATIONS = 3  # shorter stretches go through the ordinary step


def stretch_costs(
    cost_model: IterationCostModel, computed: np.ndarray, steps: int, now_s: float, t_limit_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(latency_s, energy_j, d2d_bytes, offpkg_bytes, end_s) of up to ``steps`` decode-only iterations
    from ``now_s``, stopping before the first iteration that would start at or after ``t_limit_s``.

    A cost model with ``iteration_costs`` (``CompiledCostModel``) costs all of them in one call from
    their features (n_seq = T = n, L = T x L = Sum c_i + n + k n, ``llmimc.cost.model.features``),
    in batches of ``COST_BATCH`` until the arrival limit is passed; any other model is asked once per
    iteration with the exact per-request past-token lists. End times are summed left to right, as the
    step-by-step loop adds them.
    """
    n = len(computed)
    fast = getattr(cost_model, "decode_stretch", None)
    if fast is not None:
        costs = fast(n, int(computed.sum()) + n, steps, now_s, t_limit_s)
        if costs is not None:
            lat, energy, d2d, offpkg, ends = (np.array(c) for c in costs)
            return lat, energy, d2d, offpkg, ends
    batch = getattr(cost_model, "iteration_costs", None)
    out = np.empty((5, steps))
    end = now_s
    k = 0
    if batch is not None:
        past0 = int(computed.sum())
        while k < steps and (k == 0 or end < t_limit_s):
            m = min(COST_BATCH, steps - k)
            length = (past0 + n + n * np.arange(k, k + m, dtype=np.int64)).astype(float)
            f = np.empty((NUM_FEATURES, m))
            f[Feature.HAS_WORK], f[Feature.SEQUENCES], f[Feature.TOKENS] = 1.0, float(n), float(n)
            f[Feature.CONTEXT], f[Feature.TOKENS_X_CONTEXT] = length, length
            out[:4, k : k + m] = batch(f)
            for j in range(k, k + m):
                if j > k and end >= t_limit_s:  # iteration j would start at or after the limit
                    return out[0, :j], out[1, :j], out[2, :j], out[3, :j], out[4, :j]
                end = end + float(out[0, j])
                out[4, j] = end
            k += m
        return out[0, :k], out[1, :k], out[2, :k], out[3, :k], out[4, :k]
    base = computed.tolist()
    iteration_cost = cost_model.iteration_cost
    while k < steps and (k == 0 or end < t_limit_s):
        c = iteration_cost([], [p + k for p in base])
        latency = float(c.latency_s)
        end = end + latency
        out[:, k] = (latency, float(c.energy_j), float(c.d2d_bytes), float(c.offpkg_bytes), end)
        k += 1
    return out[0, :k], out[1, :k], out[2, :k], out[3, :k], out[4, :k]


def try_stretch(self: Scheduler, until_s: float) -> bool:
    """Advance a decode-only stretch at once (see llmimc.sim.decode_stretch); False if none.

    Plain Python on the decode clock's aggregates (``llmimc.sim.decode_clock``): the requests' own
    fields are not touched, so a stretch costs O(iterations + block tokens), not O(batch)."""
    dec = self.decoding
    n = len(dec)
    if self.prefilling or not dec or n > self.p.max_tokens_per_iter:
        return False
    blocked = bool(self.waiting)
    if blocked and not self.admission_blocked():
        return False
    clock = self.clock
    k0 = clock.k
    steps = clock.next_finish() - k0
    if steps > MAX_STRETCH_ITERATIONS:
        steps = MAX_STRETCH_ITERATIONS
    if steps < MIN_STRETCH_ITERATIONS:
        return False
    bt = clock.bt
    at = k0 % bt  # requests allocating at iterations k = r, r + bt, ... of the stretch (module docstring)
    hist = clock.residue[at:] + clock.residue[:at]
    available = self.alloc.available()
    if n * -(-steps // bt) > available:  # the blocks may run out: stop before the first that would not fit
        total = 0
        for k in range(steps):
            total += hist[k % bt]
            if total > available:
                steps = k
                break
        if steps < MIN_STRETCH_ITERATIONS:
            return False
    # iteration k >= 1 starts at the end of iteration k - 1; it may run only if no arrival has joined
    # by then (an arrival that cannot be admitted anyway does not matter) and if it starts before until_s
    t_limit = until_s
    if not blocked and self.next_ready_s < t_limit:
        t_limit = self.next_ready_s
    costs = _costs(self, clock.offset_sum + n * k0, steps, t_limit)
    # even one or two iterations are applied: their costs are known and the outcome is a step's
    _apply_stretch(self, hist, *costs)
    return True


def _costs(
    self: Scheduler, past_sum: int, steps: int, t_limit_s: float
) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
    cost_model, n, now_s = self.cost_model, len(self.decoding), self.now
    fast = self.stretch_costs
    if fast is not None:
        costs = fast(n, past_sum + n, steps, now_s, t_limit_s)
        if costs is not None:
            return costs
    k = self.clock.k
    computed = np.array([r.computed + k - r.clock_k for r in self.decoding])
    lat, energy, d2d, offpkg, ends = stretch_costs(cost_model, computed, steps, now_s, t_limit_s)
    return lat.tolist(), energy.tolist(), d2d.tolist(), offpkg.tolist(), ends.tolist()


def _apply_stretch(
    self: Scheduler,
    hist: list[int],
    lat: list[float],
    energy: list[float],
    d2d: list[float],
    offpkg: list[float],
    ends: list[float],
) -> None:
    raw, alloc, clock, dec = self.run_data, self.alloc, self.clock, self.decoding
    n = len(dec)
    steps = len(lat)
    bt = clock.bt
    # blocks taken: hist[r] requests allocate at each iteration k = r, r + bt, ... < steps
    used = alloc.used_blocks + hist[0]
    if steps <= bt:  # each residue allocates once, at iteration r (sorted)
        residues = [r for r in range(steps) if hist[r]]
        if residues:
            alloc.allocate(sum([hist[r] for r in residues]))
        later = residues[1:] if residues and not residues[0] else residues
    else:
        residues = [r for r in range(bt) if hist[r]]
        alloc.allocate(sum([hist[r] * ((steps - r + bt - 1) // bt) for r in residues]))
        later = sorted([k for r in residues for k in range(r or bt, steps, bt)])
    if used != raw.kv_last_blocks:  # kv_point, then a point at each later iteration that allocates
        raw.kv_time_s.append(self.now)
        raw.kv_used_blocks.append(used)
    if later:
        kv_time, kv_used = raw.kv_time_s, raw.kv_used_blocks
        for k in later:
            used += hist[k % bt]
            kv_time.append(ends[k - 1])
            kv_used.append(used)
    raw.kv_last_blocks = used
    end = ends[-1]
    gaps = raw.tbt_hist
    if clock.fresh:
        clock.add_gaps(gaps, ends[0], dec, n)
    else:  # every last token at the clock's latest iteration end
        gaps.add(ends[0] - clock.last_end_s, n)
    if steps > 1:
        gaps.extend(map(sub, ends[1:], ends), n)  # t_k - t_(k-1)
    # per-request energies: the clock's running sum, read per request when it is synced (decode_clock)
    clock.advance(energy if n == 1 else list(map(truediv, energy, repeat(n, steps))), end, dec)  # e / 1 == e
    # totals added left to right, one iteration at a time (as the step-by-step loop does)
    raw.energy_j = reduce(add, energy, raw.energy_j)
    raw.d2d_bytes = reduce(add, d2d, raw.d2d_bytes)
    raw.offpkg_bytes = reduce(add, offpkg, raw.offpkg_bytes)
    raw.busy_time_s = reduce(add, lat, raw.busy_time_s)
    if self.p.record_timeline:
        raw.it_start_s.append(self.now)
        raw.it_start_s.extend(ends[:-1])
        raw.it_latency_s.extend(lat)
        raw.it_energy_j.extend(energy)
        raw.it_prefill_reqs.extend([0] * steps)
        raw.it_prefill_tokens.extend([0] * steps)
        raw.it_decode_reqs.extend([n] * steps)
    raw.iterations += steps
    raw.stretches += 1
    raw.stretch_iterations += steps
    self.now = end
    if clock.k in clock.finish:
        self._retire_clocked(end)
        kv_point(raw, end, alloc.used_blocks)
