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

Costs of the K iterations: ``stretch_costs`` evaluates the compiled cost model (``CompiledCostModel``)
on all K feature vectors with one matrix product per term of its latency formula (the formula is
``CompiledCostModel.latency``; a test checks the two agree); any other cost model is called once per
iteration with the exact per-request past-token lists.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from llmimc.cost.compile import F_L, F_ONE, F_SEQ, F_T, F_TL, NUM_F, NUM_R
from llmimc.cost.iteration import IterationCostModel, PrefillChunk
from llmimc.cost.model import CompiledCostModel, features
from llmimc.sim.sched_state import ReqState, add_gaps

if TYPE_CHECKING:
    from llmimc.sim.scheduler import Scheduler

MAX_STRETCH_ITERATIONS = 512  # iterations costed per stretch (bounds the wasted work before an arrival)
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
    cost_model: IterationCostModel, computed: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(latency_s, energy_j, d2d_bytes, offpkg_bytes) of ``steps`` decode-only iterations."""
    if isinstance(cost_model, CompiledCostModel):
        return _compiled_costs(cost_model, len(computed), int(computed.sum()), steps)
    out = np.empty((4, steps))
    base = computed.tolist()
    for k in range(steps):
        c = cost_model.iteration_cost([], [p + k for p in base])
        out[0, k] = float(c.latency_s)
        out[1, k] = float(c.energy_j)
        out[2, k] = float(c.d2d_bytes)
        out[3, k] = float(c.offpkg_bytes)
    return out[0], out[1], out[2], out[3]


class IterationCoster:
    """Cost of one iteration as (latency_s, energy_j, d2d_bytes, offpkg_bytes) floats.

    For a ``CompiledCostModel`` it evaluates ``CompiledCostModel.iteration_cost``'s formula with fewer
    array operations (the whole iteration and its first average vector share one slot-time product;
    energy, die-to-die and off-package bytes share one matrix): equal to rounding (a test checks
    1e-12). Other cost models are called as they are.
    """

    def __init__(self, cost_model: IterationCostModel) -> None:
        self.cost_model = cost_model
        self.m = cost_model if isinstance(cost_model, CompiledCostModel) else None
        if self.m is not None:
            m = self.m
            self.lin_f = np.vstack([m.E5, m.D5, m.O5_all, m.O5])
            self.lin_s = np.vstack([m.ES, m.DS, m.OS, m.OS])

    def __call__(
        self, chunks: list[PrefillChunk], decode_past: list[int]
    ) -> tuple[float, float, float, float]:
        m = self.m
        if m is None:
            c = self.cost_model.iteration_cost(chunks, decode_past)
            return float(c.latency_s), float(c.energy_j), float(c.d2d_bytes), float(c.offpkg_bytes)
        f = features(chunks, decode_past)
        s = np.maximum(0.0, f[F_L] - m.kv_on)
        v = float(f[F_T])
        if m.sequential:
            pipe = float(m.slot_times(f, s).sum())
        else:
            ff = np.empty((NUM_F, 2))
            ff[:, 0] = f
            ff[:, 1] = f / v
            ff[F_ONE, 1] = f[F_ONE]
            ss = np.empty((len(s), 2))
            ss[:, 0] = s
            ss[:, 1] = s / v
            tu = (m.TU @ ff).reshape(m.n_unique, NUM_R, 2).max(axis=1)
            stage = np.maximum.reduceat(m.SA @ tu + m.SS @ ss, m.stage_starts, axis=0)
            pipe = float(stage[:, 1].sum()) + (v - 1.0) * float(stage[:, 0].max()) / v
        lin = (self.lin_f @ f + self.lin_s @ s).tolist()
        lat = max(pipe, lin[3] / m.mem_bw) + m.t_reprog * float(f[F_ONE])
        return lat, lin[0] + m.static_w * lat, lin[1], lin[2]


def _compiled_costs(
    m: CompiledCostModel, n: int, past_sum: int, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``CompiledCostModel.iteration_cost`` of n decodes with Sum past = past_sum + k n, k < steps."""
    length = (past_sum + n + n * np.arange(steps, dtype=np.int64)).astype(float)
    f = np.empty((NUM_F, steps))
    f[F_ONE] = 1.0
    f[F_SEQ] = float(n)
    f[F_T] = float(n)
    f[F_L] = length
    f[F_TL] = length
    s = np.maximum(0.0, length[None, :] - m.kv_on[:, None])  # spill tokens per KV chiplet
    starts = m.stage_starts

    def slot_times(ff: np.ndarray, ss: np.ndarray) -> np.ndarray:
        tu = (m.TU @ ff).reshape(m.n_unique, NUM_R, steps).max(axis=1)
        return m.SA @ tu + m.SS @ ss

    slot_t = slot_times(f, s)
    if m.sequential:
        pipe = slot_t.sum(axis=0)
    else:
        v = float(n)
        stage_t = np.maximum.reduceat(slot_t, starts, axis=0)
        f1 = f / v
        f1[F_ONE] = f[F_ONE]
        first = np.maximum.reduceat(slot_times(f1, s / v), starts, axis=0)
        pipe = first.sum(axis=0) + (v - 1.0) * stage_t.max(axis=0) / v
    mem = (m.O5 @ f + m.OS @ s) / m.mem_bw
    lat = np.maximum(pipe, mem) + m.t_reprog * f[F_ONE]
    energy = m.E5 @ f + m.ES @ s + m.static_w * lat
    d2d = m.D5 @ f + m.DS @ s
    offpkg = m.O5_all @ f + m.OS @ s
    return lat, energy, d2d, offpkg


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
    lat, energy, d2d, offpkg = stretch_costs(self.cost_model, computed, steps)
    ends = np.cumsum(np.concatenate(([self.now], lat)))[1:]
    # iteration k >= 1 starts at ends[k - 1]; it may run only if no arrival has joined by then
    # (an arrival that cannot be admitted anyway does not matter) and if it starts before until_s
    t_limit = until_s
    if not blocked and self.pending:
        t_limit = min(t_limit, self.pending[0].ready_at_s)
    if t_limit < math.inf:
        steps = min(steps, 1 + int(np.searchsorted(ends[:-1], t_limit, side="left")))
    if steps < MIN_STRETCH_ITERATIONS:
        return False
    _apply_stretch(self, dec, computed, cum_alloc, steps, lat, energy, d2d, offpkg, ends)
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
    return float(np.cumsum(np.concatenate(([total], values)))[-1])
