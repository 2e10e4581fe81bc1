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

import numpy as np

from llmimc.cost.compile import F_L, F_ONE, F_SEQ, F_T, F_TL, NUM_F, NUM_R
from llmimc.cost.iteration import IterationCostModel
from llmimc.cost.model import CompiledCostModel

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
