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

Costs of the K iterations: ``stretch_costs`` asks the cost model for each iteration (exact
per-request past-token lists), so the results equal the step-by-step loop's bit for bit; the saving is
the scheduler's per-request bookkeeping. (A batched cost-model entry point, features linear in k
evaluated for all K at once, would also vectorise the cost; it belongs in ``llmimc.cost.model``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from llmimc.cost.features import NUM_FEATURES, Feature
from llmimc.cost.iteration import IterationCostModel
from llmimc.sim.sched_state import ReqState, add_gaps

if TYPE_CHECKING:
    from llmimc.sim.scheduler import Scheduler

MAX_STRETCH_ITERATIONS = 512  # iterations costed per stretch (bounds the wasted work before an arrival)
COST_BATCH = 32  # iterations costed per iteration_costs call (bounds the work wasted past an arrival)
MIN_STRETCH_ITERATIONS = 3  # shorter stretches go through the ordinary step


def allocation_steps(computed: np.ndarray, block_tokens: int, steps: int) -> np.ndarray:
    """New KV blocks needed at each of ``steps`` decode iterations (see module docstring)."""
    first = (-computed) % block_tokens
    hist = np.bincount(first, minlength=block_tokens)
    reps = -(-steps // block_tokens)
    return np.tile(hist, reps)[:steps]


def blocks_gained(computed: np.ndarray, block_tokens: int, steps: int) -> np.ndarray:
    """Blocks each request allocates within ``steps`` iterations."""
    first = (-computed) % block_tokens
    return np.where(first < steps, 1 + (steps - 1 - first) // block_tokens, 0)


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
    """Advance a decode-only stretch at once (see llmimc.sim.decode_stretch); False if none."""
    dec = self.decoding
    n = len(dec)
    if self.prefilling or not dec or n > self.p.max_tokens_per_iter:
        return False
    blocked = bool(self.waiting)
    if blocked and not self.admission_blocked():
        return False
    steps = min(min(r.left for r in dec), MAX_STRETCH_ITERATIONS)
    if steps < MIN_STRETCH_ITERATIONS:
        return False
    computed = np.fromiter((r.computed for r in dec), dtype=np.int64, count=n)
    cum_alloc = np.cumsum(allocation_steps(computed, self.p.block_tokens, steps))
    steps = min(steps, int(np.searchsorted(cum_alloc, self.alloc.available(), side="right")))
    if steps < MIN_STRETCH_ITERATIONS:
        return False
    # iteration k >= 1 starts at the end of iteration k - 1; it may run only if no arrival has joined
    # by then (an arrival that cannot be admitted anyway does not matter) and if it starts before until_s
    t_limit = until_s
    if not blocked and self.pending:
        t_limit = min(t_limit, self.pending[0].ready_at_s)
    lat, energy, d2d, offpkg, ends = stretch_costs(self.cost_model, computed, steps, self.now, t_limit)
    # even one or two iterations are applied: their costs are known and the outcome is a step's
    _apply_stretch(self, dec, computed, cum_alloc, len(lat), lat, energy, d2d, offpkg, ends)
    return True


def _apply_stretch(
    self: Scheduler,
    dec: list[ReqState],
    computed: np.ndarray,
    cum_alloc: np.ndarray,
    steps: int,
    lat: np.ndarray,
    energy: np.ndarray,
    d2d: np.ndarray,
    offpkg: np.ndarray,
    ends: np.ndarray,
) -> None:
    raw, alloc, n = self.run_data, self.alloc, len(dec)
    lat, energy, ends = lat[:steps], energy[:steps], ends[:steps]
    starts = np.concatenate(([self.now], ends[:-1]))
    used0 = alloc.used_blocks
    alloc.allocate(int(cum_alloc[steps - 1]))  # same evictions as one block at a time
    raw.kv_time_s.extend(starts.tolist())
    raw.kv_used_blocks.extend((used0 + cum_alloc[:steps]).astype(float).tolist())
    end = float(ends[-1])
    hist = raw.tbt_hist
    add_gaps(hist, [float(ends[0]) - r.last_token_at_s for r in dec])
    for g in np.diff(ends).tolist():
        hist[g] = hist.get(g, 0) + n
    e_tok = energy / n
    acc = np.empty((n, steps + 1))
    acc[:, 0] = [r.energy_j for r in dec]
    acc[:, 1:] = e_tok[None, :]
    per_req = np.cumsum(acc, axis=1)[:, -1].tolist()
    gained = blocks_gained(computed, self.p.block_tokens, steps).tolist()
    for r, e, g in zip(dec, per_req, gained, strict=True):
        r.computed += steps
        r.left -= steps
        r.energy_j = e
        r.last_token_at_s = end
        r.private_blocks += g
    raw.energy_j = _running_sum(raw.energy_j, energy)
    raw.d2d_bytes = _running_sum(raw.d2d_bytes, d2d[:steps])
    raw.offpkg_bytes = _running_sum(raw.offpkg_bytes, offpkg[:steps])
    raw.busy_time_s = _running_sum(raw.busy_time_s, lat)
    if self.p.record_timeline:
        raw.it_start_s.extend(starts.tolist())
        raw.it_latency_s.extend(lat.tolist())
        raw.it_energy_j.extend(energy.tolist())
        raw.it_prefill_reqs.extend([0] * steps)
        raw.it_prefill_tokens.extend([0] * steps)
        raw.it_decode_reqs.extend([n] * steps)
    raw.iterations += steps
    raw.stretches += 1
    raw.stretch_iterations += steps
    self.now = end
    if min(r.left for r in dec) == 0:
        self.retire_decodes(end)
        raw.kv_time_s.append(end)
        raw.kv_used_blocks.append(alloc.used_blocks)


def _running_sum(total: float, values: np.ndarray) -> float:
    """total + v0 + v1 + ... added left to right (as the step-by-step loop does)."""
    for v in values.tolist():  # Python floats are IEEE doubles: the same additions as np.cumsum
        total = total + v
    return float(total)
