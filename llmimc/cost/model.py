"""The compiled iteration cost model: cost of one scheduler iteration in a few matrix products.

Latency model (DESIGN.md §4). Each item's time is its critical resource time (``llmimc.cost.compile``);
a virtual chiplet's (slot's) busy time b_v is the sum of its items' times (ops in order, then its
outgoing transfers) plus its KV spill time; a stage is as slow as its slowest slot (a split stage's
chiplets work in parallel). The V = Sum T token vectors of the iteration stream through the ops of a
stage and through the stages (weight-stationary pipelining as in ISAAC, PUMA and 3D-SiM): the first
vector takes tau_s in stage s (its ops one after another, with the per-iteration latencies and floors
whole), and the next vectors follow at the pipeline's period P, the largest over slots of

    P_v = max( max over the slot's ops of the op's own-array time per vector  (analog: each op has
               its own arrays, so consecutive vectors overlap across ops),
               max over shared resources r of Sum over the slot's items of t_r per vector
               (DPU, tile buffers, global SRAM, NoC, outgoing transfers, off-package) )

    t_pipe = Sum_s tau_s + (V - 1) max_v P_v

so the pipeline fills and drains once per iteration. V = 1 gives the sequential sum, and the latency
never drops when a vector is added. Shared bounds of the whole package:

    latency = max(t_pipe, offpkg_bytes / bw_mem, max over links of link_bytes / bw_link)
              + t_reprogram + t_wake

(off-package memory serves every stage; a die-to-die link carries at most bw_link bytes per second,
so its traffic within an iteration bounds the iteration: contention; t_wake = the first stage's power-
gating wake-up, ``llmimc.cost.power``; t_reprogram = 0 when weights fit). With weight reprogramming
the virtual chiplets of different rounds share physical chiplets and each round's weights must be
written before it computes, so t_pipe is then the plain sum of all virtual chiplets' times.

Energy = Sum of action counts x energy per action over all items, plus the leakage actions of
``llmimc.cost.power`` (always-on components x latency, gated stage components x min(b_v, latency),
one wake-up per gated domain per iteration).

``IterationCost.d2d_bytes`` is the bytes carried summed over every die-to-die link (a transfer over
h hops counts h times), as in the per-link table of a profile.

Features (``features``): prefill chunk (T tokens, p past) contributes n_seq 1, T, L = p + T, T*L; a
decoding request with c past tokens contributes (T = 1, L = c + 1); spill tokens of KV chiplet c are
max(0, Sum L - on_c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.cost import actions as A
from llmimc.cost import power as P
from llmimc.cost.compile import F_L, F_ONE, F_T, NUM_F, NUM_R, Compiled, R
from llmimc.cost.iteration import IterationCost, PrefillChunk


@dataclass(frozen=True)
class IterationDetail:
    latency_s: float
    stage_times_s: np.ndarray
    bound: str
    slot_busy_s: np.ndarray
    static_counts: np.ndarray  # chiplets x actions (leakage)


# resources that belong to one op (its own arrays / tiles): consecutive vectors overlap across ops
OWN_RESOURCES = (R["analog"], R["analog_min"], R["tile_min"], R["shift_add"])
SHARED_RESOURCES = tuple(i for i in range(NUM_R) if i not in OWN_RESOURCES)


def features(prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> np.ndarray:
    n = len(prefill) + len(decode_past_tokens)
    if n == 0:
        return np.zeros(NUM_F)
    st = sl = stl = 0.0
    for ch in prefill:
        length = ch.past_tokens + ch.tokens
        st += ch.tokens
        sl += length
        stl += ch.tokens * length
    # each decode sequence adds T = 1 and L = past + 1 (so T x L = L)
    n_dec = len(decode_past_tokens)
    dec_l = sum(decode_past_tokens) + n_dec
    st += n_dec
    sl += dec_l
    stl += dec_l
    return np.array([1.0 if st > 0 else 0.0, float(n), st, sl, stl])


class CompiledCostModel:
    """Implements ``llmimc.cost.iteration.IterationCostModel`` from a :class:`Compiled` system."""

    def __init__(self, compiled: Compiled, *, kv_capacity_tokens: int, kv_on_package_tokens: int):
        self.compiled = compiled
        self._kv_capacity = int(kv_capacity_tokens)
        self._kv_on = int(kv_on_package_tokens)
        items = compiled.items
        n = len(items)
        n_kv = len(compiled.kv_chips)
        kv_index = {c: i for i, c in enumerate(compiled.kv_chips)}
        self.n_kv = n_kv
        self.e = np.array(compiled.energy_per_action_j)
        self.C5 = np.stack([it.counts for it in items]) if n else np.zeros((0, A.NUM_ACTIONS, NUM_F))
        self.CS = np.stack([it.spill_counts for it in items]) if n else np.zeros((0, A.NUM_ACTIONS))
        self.spill_idx = np.array([kv_index.get(it.spill_chip, -1) for it in items], dtype=int)
        self.kv_on = np.array(compiled.kv_tokens_on, dtype=float)
        self.spill_mask = self.spill_idx >= 0

        # Energy, off-package and die-to-die byte coefficients (fast path).
        self.E5 = np.einsum("naf,a->f", self.C5, self.e)
        self.ES = np.zeros(n_kv)
        self.O5 = np.zeros(NUM_F)  # off-package bytes for the bandwidth bound (no reprogram stream)
        self.O5_all = self.C5[:, A.OFFPKG, :].sum(axis=0) / 8.0
        self.OS = np.zeros(n_kv)
        link_index = {lk: i for i, lk in enumerate(compiled.links)}
        self.link_index = link_index
        self.LB5 = np.zeros((len(compiled.links), NUM_F))
        self.LS = np.zeros((len(compiled.links), n_kv))
        for i, it in enumerate(items):
            if it.kind != "reprogram":
                self.O5 += self.C5[i, A.OFFPKG] / 8.0
            if it.spill_chip >= 0:
                k = kv_index[it.spill_chip]
                self.ES[k] += float(self.CS[i] @ self.e)
                self.OS[k] += self.CS[i, A.OFFPKG] / 8.0
                for lk, b in it.spill_links:
                    self.LS[link_index[lk], k] += b
            for lk, b5 in it.links:
                self.LB5[link_index[lk]] += b5
        self.D5 = self.LB5.sum(axis=0)
        self.DS = self.LS.sum(axis=0)

        # Latency: unique item time blocks, slot x unique incidence, per-slot spill time.
        times = np.stack([it.times for it in items]) if n else np.zeros((0, NUM_R, NUM_F))
        flat = times.reshape(n, NUM_R * NUM_F)
        uniq, inv = np.unique(flat, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        self.n_unique = uniq.shape[0]
        self.TU = uniq.reshape(self.n_unique * NUM_R, NUM_F)
        self.item_unique = inv
        n_slots = len(compiled.slot_chiplet)
        self.stage_slots_flat = list(range(n_slots))
        self.item_slot = np.array([it.slot for it in items], dtype=int)
        self.SA = np.zeros((n_slots, self.n_unique))
        np.add.at(self.SA, (self.item_slot, inv), 1.0)
        self.SS = np.zeros((n_slots, n_kv))
        for it in items:
            if it.spill_chip >= 0:
                self.SS[it.slot, kv_index[it.spill_chip]] += it.spill_time_s
        self.stage_starts = np.array([s[0] for s in compiled.stage_slots], dtype=int)
        # Pipeline period: shared-resource sums per slot, own-resource maxima per (slot, unique item).
        shared = np.zeros((n_slots, len(SHARED_RESOURCES), NUM_F))
        if n:
            np.add.at(shared, self.item_slot, times[:, SHARED_RESOURCES, :])
        self.SH = shared.reshape(n_slots * len(SHARED_RESOURCES), NUM_F)
        self.n_shared = len(SHARED_RESOURCES)
        pairs = sorted(
            {(int(sl), int(u)) for sl, u in zip(self.item_slot.tolist(), inv.tolist(), strict=True)}
        )
        self.own_slot = np.array([p[0] for p in pairs], dtype=int)
        self.own_uniq = np.array([p[1] for p in pairs], dtype=int)
        self.own_starts = (
            np.flatnonzero(np.r_[True, np.diff(self.own_slot) != 0]) if pairs else np.zeros(0, int)
        )
        self.power = compiled.power
        self.static_idle_w = P.idle_power_w(compiled.power, self.e)
        self.e_on_w = self.static_idle_w  # fast path of P.static_counts(...).sum(axis=0) @ e
        self.e_gated_w = compiled.power.gated_counts_per_s @ self.e
        self.e_wake_j = float((compiled.power.wake_counts @ self.e).sum())
        self.wake_s = compiled.power.wakeup_time_s
        self.link_bw = compiled.d2d_bw_bytes_per_s
        self.mem_bw = compiled.mem_bw_bytes_per_s
        self.t_reprog = compiled.reprogram_time_s
        self.sequential = compiled.reprogram_time_s > 0 or n_slots > compiled.num_chiplets

    # -- protocol ----------------------------------------------------------------------------------
    @property
    def kv_capacity_tokens(self) -> int:
        return self._kv_capacity

    @property
    def kv_on_package_tokens(self) -> int:
        return self._kv_on

    @property
    def static_power_w(self) -> float:
        """Power between iterations: the always-on components (``llmimc.cost.power``)."""
        return float(self.static_idle_w)

    def spill(self, f: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, f[F_L] - self.kv_on)

    def slot_times(self, f: np.ndarray, s: np.ndarray) -> np.ndarray:
        tu = (self.TU @ f).reshape(self.n_unique, NUM_R).max(axis=1)
        return self.SA @ tu + self.SS @ s

    def period(self, f_vec: np.ndarray, s_vec: np.ndarray) -> np.ndarray:
        """Per-slot pipeline period P_v for one average vector (module docstring)."""
        n_slots = len(self.stage_slots_flat)
        sh = (self.SH @ f_vec).reshape(n_slots, self.n_shared).max(axis=1) + self.SS @ s_vec
        if len(self.own_slot):
            own_u = (self.TU @ f_vec).reshape(self.n_unique, NUM_R)[:, OWN_RESOURCES].max(axis=1)
            own = np.zeros(n_slots)
            own[self.own_slot[self.own_starts]] = np.maximum.reduceat(own_u[self.own_uniq], self.own_starts)
            sh = np.maximum(sh, own)
        return sh

    def _evaluate(self, f: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, str, np.ndarray]:
        """Latency, per-stage times, binding bound and per-slot busy times of one iteration."""
        v = f[F_T]
        slot_t = self.slot_times(f, s)
        if v <= 0:
            return 0.0, np.zeros(len(self.stage_starts)), "idle", slot_t
        if self.sequential:  # reprogramming: rounds share chiplets, every virtual chiplet runs in turn
            stage_t = np.maximum.reduceat(slot_t, self.stage_starts)
            pipe = float(slot_t.sum())
        else:
            # first vector through every stage (one average vector: the iteration's features / V, with
            # the per-iteration floors and latencies whole), then V - 1 more at the pipeline's period
            f1 = f / v
            f1[F_ONE] = f[F_ONE]
            first = np.maximum.reduceat(self.slot_times(f1, s / v), self.stage_starts)
            f_vec = f / v
            f_vec[F_ONE] = 0.0
            per = np.maximum.reduceat(self.period(f_vec, s / v), self.stage_starts)
            stage_t = first + (v - 1.0) * per
            pipe = float(first.sum()) + (v - 1.0) * float(per.max())
        mem = (self.O5 @ f + self.OS @ s) / self.mem_bw
        link = float((self.LB5 @ f + self.LS @ s).max()) / self.link_bw if len(self.LB5) else 0.0
        bound = max((pipe, "pipeline"), (mem, "offpkg_bw"), (link, "link"), key=lambda x: x[0])[1]
        lat = max(pipe, mem, link) + (self.t_reprog + self.wake_s) * f[F_ONE]
        return float(lat), stage_t, bound, slot_t

    def latency(self, f: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, str]:
        """Iteration latency (s), per-stage times and the binding bound ('pipeline' / 'offpkg_bw' / 'link')."""
        lat, stage_t, bound, _ = self._evaluate(f, s)
        return lat, stage_t, bound

    def _stage_busy(self, slot_t: np.ndarray) -> np.ndarray:
        """Busy time of each stage: its slowest slot's work (its weights are powered while it runs)."""
        return np.maximum.reduceat(slot_t, self.stage_starts) if len(slot_t) else np.zeros(0)

    def detail(self, f: np.ndarray, s: np.ndarray) -> IterationDetail:
        """Latency, stage times, bound, per-slot busy times (work, at most the iteration: ops overlap in
        a pipeline) and leakage action counts per chiplet of one iteration, in one evaluation."""
        lat, stage_t, bound, slot_t = self._evaluate(f, s)
        static = P.static_counts(self.power, lat, self._stage_busy(slot_t), float(f[F_ONE]))
        return IterationDetail(lat, stage_t, bound, np.minimum(slot_t, lat), static)

    def iteration_cost(self, prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> IterationCost:
        f = features(prefill, decode_past_tokens)
        if f[F_T] <= 0:
            return IterationCost(latency_s=0.0, energy_j=0.0, d2d_bytes=0.0, offpkg_bytes=0.0)
        s = self.spill(f)
        lat, _, _, slot_t = self._evaluate(f, s)
        busy = np.minimum(self._stage_busy(slot_t)[self.power.piece_stage], lat)
        static = self.e_on_w * lat + self.e_gated_w @ busy + self.e_wake_j * float(f[F_ONE])
        energy = float(self.E5 @ f + self.ES @ s) + float(static)
        return IterationCost(
            latency_s=float(lat),
            energy_j=energy,
            d2d_bytes=float(self.D5 @ f + self.DS @ s),
            offpkg_bytes=float(self.O5_all @ f + self.OS @ s),
        )

    # -- detail (profile) --------------------------------------------------------------------------
    def item_counts(self, f_sum: np.ndarray, s_sum: np.ndarray) -> np.ndarray:
        """Action counts per item (n_items x NUM_ACTIONS) for summed features and summed spill."""
        counts = self.C5 @ f_sum
        if self.n_kv:
            sp = np.where(self.spill_mask, s_sum[np.clip(self.spill_idx, 0, None)], 0.0)
            counts = counts + self.CS * sp[:, None]
        return counts

    def link_bytes(self, f_sum: np.ndarray, s_sum: np.ndarray) -> np.ndarray:
        return self.LB5 @ f_sum + self.LS @ s_sum
