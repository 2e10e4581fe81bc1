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

Features: ``llmimc.cost.features`` (f = [has_work, n_seq, Sum T, Sum L, Sum T*L]); spill tokens of KV
chiplet c are max(0, Sum L - on_c).

Names: per_feature arrays hold coefficients of the features (x @ f), per_spill_token arrays of the
spill tokens of each KV chiplet (x @ s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.cost import power as P
from llmimc.cost.actions import NUM_ACTIONS, Action, EnergyRow, energy_table
from llmimc.cost.compile import NUM_RESOURCES, Compiled, Resource
from llmimc.cost.fast_form import FastForm
from llmimc.cost.features import NUM_FEATURES, Feature, features
from llmimc.cost.iteration import IterationCost, PrefillChunk
from llmimc.cost.session import CostSession, StretchCosts, decode_stretch, fast_iteration_cost

__all__ = ["CompiledCostModel", "IterationDetail", "PhaseTotals", "features"]

# plain ints for the hot path (numpy indexes them without an enum lookup)
_HAS_WORK, _TOKENS, _CONTEXT = int(Feature.HAS_WORK), int(Feature.TOKENS), int(Feature.CONTEXT)
_OFFPKG = int(Action.OFFPKG)
_max = np.maximum.reduce  # ndarray.max without its Python wrapper (hot path)


@dataclass(frozen=True)
class IterationDetail:
    latency_s: float
    stage_times_s: np.ndarray
    bound: str
    slot_busy_s: np.ndarray
    static_counts: np.ndarray  # chiplets x actions (leakage)


@dataclass(frozen=True)
class PhaseTotals:
    """Dynamic totals of a phase (features and spill tokens summed over its iterations)."""

    item_counts: np.ndarray  # items x actions
    item_energy_j: np.ndarray  # per item
    action_counts: np.ndarray  # per action, summed over items
    link_bytes: np.ndarray  # per directed link (``Compiled.links``)
    offpkg_bytes: float  # every off-package byte (KV spill and weight reprogramming included)

    @property
    def d2d_bytes(self) -> float:
        """Bytes carried summed over every die-to-die link."""
        return float(self.link_bytes.sum())


# resources that belong to one op (its own arrays / tiles): consecutive vectors overlap across ops
OWN_RESOURCES = (Resource.ANALOG, Resource.ANALOG_MIN, Resource.TILE_MIN, Resource.SHIFT_ADD)
SHARED_RESOURCES = tuple(r for r in Resource if r not in OWN_RESOURCES)
_OWN = [int(r) for r in OWN_RESOURCES]
_SHARED = [int(r) for r in SHARED_RESOURCES]


class CompiledCostModel:
    """Implements ``llmimc.cost.iteration.IterationCostModel`` from a :class:`Compiled` system."""

    def __init__(self, compiled: Compiled, *, kv_capacity_tokens: int, kv_on_package_tokens: int):
        self.compiled = compiled
        self._kv_capacity = int(kv_capacity_tokens)
        self._kv_on = int(kv_on_package_tokens)
        self.num_kv_chiplets = len(compiled.kv_chips)
        self.energy_per_action_j = np.array(compiled.energy_per_action_j)
        self.link_index = {lk: i for i, lk in enumerate(compiled.links)}
        self._build_counts(compiled)
        self._build_times(compiled)
        self.power = compiled.power
        self.static_idle_w = P.idle_power_w(compiled.power, self.energy_per_action_j)
        self.always_on_power_w = self.static_idle_w  # fast path of P.static_counts(...).sum(axis=0) @ e
        self.gated_power_w = compiled.power.gated_counts_per_s @ self.energy_per_action_j
        self.wake_energy_j = float((compiled.power.wake_counts @ self.energy_per_action_j).sum())
        self.wake_time_s = compiled.power.wakeup_time_s
        self.link_bw_bytes_per_s = compiled.d2d_bw_bytes_per_s
        self.mem_bw_bytes_per_s = compiled.mem_bw_bytes_per_s
        self.reprogram_time_s = compiled.reprogram_time_s
        self.sequential = compiled.reprogram_time_s > 0 or self.num_slots > compiled.num_chiplets
        self._fast_form: FastForm | None = None  # built on the first serving call (``fast``)

    def _build_counts(self, compiled: Compiled) -> None:
        """Action counts, energy, off-package and die-to-die byte coefficients (the fast path)."""
        items = compiled.items
        n = len(items)
        n_kv = self.num_kv_chiplets
        kv_index = {c: i for i, c in enumerate(compiled.kv_chips)}
        e = self.energy_per_action_j
        # items x actions x features, and items x actions per spilled token of the item's KV chiplet
        self.counts_per_feature = (
            np.stack([it.counts for it in items]) if n else np.zeros((0, NUM_ACTIONS, NUM_FEATURES))
        )
        self.spill_counts = np.stack([it.spill_counts for it in items]) if n else np.zeros((0, NUM_ACTIONS))
        self.item_spill_kv = np.array([kv_index.get(it.spill_chip, -1) for it in items], dtype=int)
        self.kv_tokens_on_package = np.array(compiled.kv_tokens_on, dtype=float)
        self.item_spills = self.item_spill_kv >= 0
        self.energy_per_feature_j = np.einsum("naf,a->f", self.counts_per_feature, e)
        self.energy_per_spill_token_j = np.zeros(n_kv)
        # off-package bytes for the bandwidth bound (the reprogramming stream is charged by time)
        self.offpkg_bound_bytes_per_feature = np.zeros(NUM_FEATURES)
        self.offpkg_bytes_per_feature = self.counts_per_feature[:, _OFFPKG, :].sum(axis=0) / 8.0
        self.offpkg_bytes_per_spill_token = np.zeros(n_kv)
        self.link_bytes_per_feature = np.zeros((len(compiled.links), NUM_FEATURES))
        self.link_bytes_per_spill_token = np.zeros((len(compiled.links), n_kv))
        for i, it in enumerate(items):
            if it.kind != "reprogram":
                self.offpkg_bound_bytes_per_feature += self.counts_per_feature[i, _OFFPKG] / 8.0
            if it.spill_chip >= 0:
                k = kv_index[it.spill_chip]
                self.energy_per_spill_token_j[k] += float(self.spill_counts[i] @ e)
                self.offpkg_bytes_per_spill_token[k] += self.spill_counts[i, _OFFPKG] / 8.0
                for lk, b in it.spill_links:
                    self.link_bytes_per_spill_token[self.link_index[lk], k] += b
            for lk, nbytes in it.links:
                self.link_bytes_per_feature[self.link_index[lk]] += nbytes
        self.d2d_bytes_per_feature = self.link_bytes_per_feature.sum(axis=0)
        self.d2d_bytes_per_spill_token = self.link_bytes_per_spill_token.sum(axis=0)

    def _build_times(self, compiled: Compiled) -> None:
        """Latency: unique item time blocks, slot x unique incidence, per-slot spill time, and the
        pipeline period's shared-resource sums per slot and own-resource maxima per (slot, unique item)."""
        items = compiled.items
        n = len(items)
        kv_index = {c: i for i, c in enumerate(compiled.kv_chips)}
        times = np.stack([it.times for it in items]) if n else np.zeros((0, NUM_RESOURCES, NUM_FEATURES))
        flat = times.reshape(n, NUM_RESOURCES * NUM_FEATURES)
        uniq, inv = np.unique(flat, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        self.n_unique = uniq.shape[0]
        # (unique item x resource) x features: resource times of each distinct item
        self.unique_item_times_s = uniq.reshape(self.n_unique * NUM_RESOURCES, NUM_FEATURES)
        self.item_unique = inv
        self.num_slots = n_slots = len(compiled.slot_chiplet)
        self.item_slot = np.array([it.slot for it in items], dtype=int)
        self.slot_item_incidence = np.zeros((n_slots, self.n_unique))  # items of each unique kind per slot
        np.add.at(self.slot_item_incidence, (self.item_slot, inv), 1.0)
        self.slot_spill_time_s = np.zeros((n_slots, self.num_kv_chiplets))  # per spilled token
        for it in items:
            if it.spill_chip >= 0:
                self.slot_spill_time_s[it.slot, kv_index[it.spill_chip]] += it.spill_time_s
        self.stage_starts = np.array([s[0] for s in compiled.stage_slots], dtype=int)
        shared = np.zeros((n_slots, len(_SHARED), NUM_FEATURES))
        if n:
            np.add.at(shared, self.item_slot, times[:, _SHARED, :])
        self.slot_shared_times_s = shared.reshape(n_slots * len(_SHARED), NUM_FEATURES)
        self.n_shared = len(_SHARED)
        pairs = sorted(
            {(int(sl), int(u)) for sl, u in zip(self.item_slot.tolist(), inv.tolist(), strict=True)}
        )
        self.own_pair_slot = np.array([p[0] for p in pairs], dtype=int)
        self.own_pair_unique = np.array([p[1] for p in pairs], dtype=int)
        self.own_slot_starts = (
            np.flatnonzero(np.r_[True, np.diff(self.own_pair_slot) != 0]) if pairs else np.zeros(0, int)
        )
        # fast path of ``_evaluate`` (maxima are exact in any order, so these change no result):
        # 1 where a slot holds items of a unique kind (the own-resource maximum over its items)
        self.own_mask = (self.slot_item_incidence > 0).astype(float)
        # one slot per stage: the per-stage maxima are the slot values themselves
        self.stage_is_slot = len(self.stage_starts) == n_slots and bool(
            np.array_equal(self.stage_starts, np.arange(n_slots))
        )

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
        """Tokens spilled off-package per KV chiplet: max(0, Sum L - on_c)."""
        return np.maximum(0.0, f[_CONTEXT] - self.kv_tokens_on_package)

    def no_spill(self) -> np.ndarray:
        """A zero spill vector (one entry per KV chiplet)."""
        return np.zeros(self.num_kv_chiplets)

    def slot_times(self, f: np.ndarray, s: np.ndarray) -> np.ndarray:
        tu = (self.unique_item_times_s @ f).reshape(self.n_unique, NUM_RESOURCES).max(axis=1)
        return self.slot_item_incidence @ tu + self.slot_spill_time_s @ s

    def period(self, f_vec: np.ndarray, s_vec: np.ndarray) -> np.ndarray:
        """Per-slot pipeline period P_v for one average vector (module docstring)."""
        n_slots = self.num_slots
        sh = (self.slot_shared_times_s @ f_vec).reshape(n_slots, self.n_shared).max(axis=1)
        sh = sh + self.slot_spill_time_s @ s_vec
        if len(self.own_pair_slot):
            own_u = (
                (self.unique_item_times_s @ f_vec).reshape(self.n_unique, NUM_RESOURCES)[:, _OWN].max(axis=1)
            )
            own = np.zeros(n_slots)
            own[self.own_pair_slot[self.own_slot_starts]] = np.maximum.reduceat(
                own_u[self.own_pair_unique], self.own_slot_starts
            )
            sh = np.maximum(sh, own)
        return sh

    def _pipeline_fast(self, f: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slot_t, first, per) of ``_evaluate``'s pipelined branch per slot when every stage is one
        slot (fewer array operations than ``slot_times`` + ``period`` + the stage maxima; same values)."""
        v = f[_TOKENS]
        f1 = f / v
        f1[_HAS_WORK] = f[_HAS_WORK]
        f_vec = f / v
        f_vec[_HAS_WORK] = 0.0
        # three matrix-vector products, not one matrix product: BLAS gemm rounds differently from gemv
        u = self.unique_item_times_s
        shape = (self.n_unique, NUM_RESOURCES)
        tu_f = _max((u @ f).reshape(shape), axis=1)
        tu_1 = _max((u @ f1).reshape(shape), axis=1)
        ut_v = (u @ f_vec).reshape(shape)
        sv = s / v
        spill_f = self.slot_spill_time_s @ s
        spill_v = self.slot_spill_time_s @ sv
        slot_t = self.slot_item_incidence @ tu_f + spill_f
        first = self.slot_item_incidence @ tu_1 + spill_v
        sh = _max((self.slot_shared_times_s @ f_vec).reshape(self.num_slots, self.n_shared), axis=1)
        sh = sh + spill_v
        if len(self.own_pair_slot):
            own_u = _max(ut_v[:, _OWN], axis=1)
            sh = np.maximum(sh, _max(self.own_mask * own_u, axis=1))
        return slot_t, first, sh

    def _evaluate(self, f: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, str, np.ndarray]:
        """Latency, per-stage times, binding bound and per-slot busy times of one iteration."""
        v = f[_TOKENS]
        if v > 0 and self.stage_is_slot and not self.sequential:
            slot_t, first, per = self._pipeline_fast(f, s)
            stage_t = first + (v - 1.0) * per
            pipe = float(first.sum()) + (v - 1.0) * float(per.max())
            return self._bounds(f, s, pipe, stage_t, slot_t)
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
            f1[_HAS_WORK] = f[_HAS_WORK]
            first = np.maximum.reduceat(self.slot_times(f1, s / v), self.stage_starts)
            f_vec = f / v
            f_vec[_HAS_WORK] = 0.0
            per = np.maximum.reduceat(self.period(f_vec, s / v), self.stage_starts)
            stage_t = first + (v - 1.0) * per
            pipe = float(first.sum()) + (v - 1.0) * float(per.max())
        return self._bounds(f, s, pipe, stage_t, slot_t)

    def _bounds(
        self, f: np.ndarray, s: np.ndarray, pipe: float, stage_t: np.ndarray, slot_t: np.ndarray
    ) -> tuple[float, np.ndarray, str, np.ndarray]:
        """The shared bounds (off-package bandwidth, die-to-die links) on top of the pipeline time."""
        mem = (
            self.offpkg_bound_bytes_per_feature @ f + self.offpkg_bytes_per_spill_token @ s
        ) / self.mem_bw_bytes_per_s
        link = (
            float((self.link_bytes_per_feature @ f + self.link_bytes_per_spill_token @ s).max())
            / self.link_bw_bytes_per_s
            if len(self.link_bytes_per_feature)
            else 0.0
        )
        bound = max((pipe, "pipeline"), (mem, "offpkg_bw"), (link, "link"), key=lambda x: x[0])[1]
        lat = max(pipe, mem, link) + (self.reprogram_time_s + self.wake_time_s) * f[_HAS_WORK]
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
        static = P.static_counts(self.power, lat, self._stage_busy(slot_t), float(f[_HAS_WORK]))
        return IterationDetail(lat, stage_t, bound, np.minimum(slot_t, lat), static)

    def fast(self) -> FastForm | None:
        """The fast form of ``iteration_cost`` (``llmimc.cost.fast_form``) when the model is pipelined with
        one slot per stage (else None: the reference path serves)."""
        if self._fast_form is None and self.stage_is_slot and not self.sequential and self.n_unique:
            self._fast_form = FastForm(self)
        return self._fast_form

    def iteration_cost(self, prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> IterationCost:
        """Cost of one iteration; through the fast form where there is one (equal to rounding)."""
        fast = self.fast()
        if fast is None:
            return self.iteration_cost_reference(prefill, decode_past_tokens)
        return fast_iteration_cost(fast, prefill, decode_past_tokens, None)

    def decode_stretch(
        self, n: int, context_tokens: int, steps: int, now_s: float, t_limit_s: float
    ) -> StretchCosts | None:
        """``llmimc.cost.session.decode_stretch`` of this model's fast form (None without one)."""
        fast = self.fast()
        return None if fast is None else decode_stretch(fast, n, context_tokens, steps, now_s, t_limit_s)

    def session(self) -> CostSession:
        """A serving run's view of this model (``llmimc.cost.session``)."""
        return CostSession(self)

    def iteration_cost_reference(
        self, prefill: list[PrefillChunk], decode_past_tokens: list[int]
    ) -> IterationCost:
        """``iteration_cost`` from the feature vector and the full coefficient arrays (the reference the
        fast form is tested against)."""
        f = features(prefill, decode_past_tokens)
        if f[_TOKENS] <= 0:
            return IterationCost(latency_s=0.0, energy_j=0.0, d2d_bytes=0.0, offpkg_bytes=0.0)
        s = self.spill(f)
        lat, _, _, slot_t = self._evaluate(f, s)
        stage_busy = slot_t if self.stage_is_slot else self._stage_busy(slot_t)
        busy = np.minimum(stage_busy[self.power.piece_stage], lat)
        static = (
            self.always_on_power_w * lat
            + self.gated_power_w @ busy
            + self.wake_energy_j * float(f[_HAS_WORK])
        )
        energy = float(self.energy_per_feature_j @ f + self.energy_per_spill_token_j @ s) + float(static)
        return IterationCost(
            latency_s=float(lat),
            energy_j=energy,
            d2d_bytes=float(self.d2d_bytes_per_feature @ f + self.d2d_bytes_per_spill_token @ s),
            offpkg_bytes=float(self.offpkg_bytes_per_feature @ f + self.offpkg_bytes_per_spill_token @ s),
        )

    def iteration_costs(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``iteration_cost`` of K iterations at once: ``f`` holds one feature column per iteration
        (NUM_FEATURES x K, every column with work); returns (latency_s, energy_j, d2d_bytes,
        offpkg_bytes) arrays. The formulas of ``_evaluate``/``period``/``iteration_cost`` with a K axis
        (equal to rounding; tests/sim/test_serve_event_skipping.py checks): the serving simulator's
        event skipping costs a stretch of decode-only iterations, whose features are linear in the
        step, with one call. Keep it in step with ``_evaluate``."""
        k = f.shape[1]
        s = np.maximum(0.0, f[_CONTEXT][None, :] - self.kv_tokens_on_package[:, None])
        v = f[_TOKENS]
        starts = self.stage_starts
        one = self.stage_is_slot  # per-stage maxima are the slot values

        def slots(ff: np.ndarray, ss: np.ndarray) -> np.ndarray:
            tu = _max((self.unique_item_times_s @ ff).reshape(self.n_unique, NUM_RESOURCES, k), axis=1)
            return self.slot_item_incidence @ tu + self.slot_spill_time_s @ ss

        slot_t = slots(f, s)
        if self.sequential:
            pipe = slot_t.sum(axis=0)
        else:
            f1 = f / v
            f1[_HAS_WORK] = f[_HAS_WORK]
            first = slots(f1, s / v)
            first = first if one else np.maximum.reduceat(first, starts, axis=0)
            f_vec = f / v
            f_vec[_HAS_WORK] = 0.0
            s_vec = s / v
            n_slots = self.num_slots
            sh = _max((self.slot_shared_times_s @ f_vec).reshape(n_slots, self.n_shared, k), axis=1)
            sh = sh + self.slot_spill_time_s @ s_vec
            if len(self.own_pair_slot):
                own_u = (self.unique_item_times_s @ f_vec).reshape(self.n_unique, NUM_RESOURCES, k)[
                    :, _OWN, :
                ]
                own = np.zeros((n_slots, k))
                own[self.own_pair_slot[self.own_slot_starts]] = np.maximum.reduceat(
                    _max(own_u, axis=1)[self.own_pair_unique], self.own_slot_starts, axis=0
                )
                sh = np.maximum(sh, own)
            per = sh if one else np.maximum.reduceat(sh, starts, axis=0)
            pipe = first.sum(axis=0) + (v - 1.0) * _max(per, axis=0)
        mem = (
            self.offpkg_bound_bytes_per_feature @ f + self.offpkg_bytes_per_spill_token @ s
        ) / self.mem_bw_bytes_per_s
        link = (
            _max(self.link_bytes_per_feature @ f + self.link_bytes_per_spill_token @ s, axis=0)
            / self.link_bw_bytes_per_s
            if len(self.link_bytes_per_feature)
            else np.zeros(k)
        )
        lat = (
            np.maximum(np.maximum(pipe, mem), link)
            + (self.reprogram_time_s + self.wake_time_s) * f[_HAS_WORK]
        )
        if one:
            stage_busy = slot_t
        else:
            stage_busy = np.maximum.reduceat(slot_t, starts, axis=0) if len(slot_t) else np.zeros((0, k))
        busy = np.minimum(stage_busy[self.power.piece_stage], lat[None, :])
        static = self.always_on_power_w * lat + self.gated_power_w @ busy + self.wake_energy_j * f[_HAS_WORK]
        energy = self.energy_per_feature_j @ f + self.energy_per_spill_token_j @ s + static
        d2d = self.d2d_bytes_per_feature @ f + self.d2d_bytes_per_spill_token @ s
        offpkg = self.offpkg_bytes_per_feature @ f + self.offpkg_bytes_per_spill_token @ s
        return lat, energy, d2d, offpkg

    # -- detail (profile) --------------------------------------------------------------------------
    def item_counts(self, f_sum: np.ndarray, s_sum: np.ndarray) -> np.ndarray:
        """Action counts per item (n_items x NUM_ACTIONS) for summed features and summed spill."""
        counts = self.counts_per_feature @ f_sum
        if self.num_kv_chiplets:
            sp = np.where(self.item_spills, s_sum[np.clip(self.item_spill_kv, 0, None)], 0.0)
            counts = counts + self.spill_counts * sp[:, None]
        return counts

    def link_bytes(self, f_sum: np.ndarray, s_sum: np.ndarray) -> np.ndarray:
        """Bytes carried by each directed link (``Compiled.links``)."""
        return self.link_bytes_per_feature @ f_sum + self.link_bytes_per_spill_token @ s_sum

    def offpkg_bytes(self, f_sum: np.ndarray, s_sum: np.ndarray) -> float:
        """Every off-package byte (KV spill and weight reprogramming included)."""
        return float(self.offpkg_bytes_per_feature @ f_sum + self.offpkg_bytes_per_spill_token @ s_sum)

    def phase_totals(self, f_sum: np.ndarray, s_sum: np.ndarray) -> PhaseTotals:
        """Dynamic totals of a phase from its features and spill tokens summed over its iterations
        (action counts are linear in both, so one evaluation covers every iteration)."""
        counts = self.item_counts(f_sum, s_sum)
        return PhaseTotals(
            item_counts=counts,
            item_energy_j=counts @ self.energy_per_action_j,
            action_counts=counts.sum(axis=0),
            link_bytes=self.link_bytes(f_sum, s_sum),
            offpkg_bytes=self.offpkg_bytes(f_sum, s_sum),
        )

    def leakage_energy_j(self, static_counts: np.ndarray) -> np.ndarray:
        """Energy of leakage action counts (``IterationDetail.static_counts``): counts @ energy per action."""
        return static_counts @ self.energy_per_action_j

    def energy_table(self, action_counts: np.ndarray) -> list[EnergyRow]:
        """One row per action: count x energy per action (``llmimc.cost.actions.energy_table``)."""
        return energy_table(action_counts.tolist(), self.energy_per_action_j.tolist())
