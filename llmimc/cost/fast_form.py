"""The serving simulator's fast form of ``CompiledCostModel.iteration_cost`` (same model, fewer operations).

``llmimc.cost.model`` evaluates an iteration from 5 features with ~40 array operations; the serving
loop asks millions of times. This module rewrites the same formulas (module docstring of
``llmimc.cost.model``; the pipelined branch where every stage is one slot and weights fit) over the
variables

    x = [1, n, T, L, TL, S_1 .. S_G],   S_g = max(0, L - o_g)

(n sequences, T tokens, L = Sum L, TL = Sum T*L; o_1 < ... < o_G the distinct on-package KV
capacities of the KV chiplets, so a chiplet's spill max(0, L - on_c) is the S_g of its group):

- a unique item's time max_r U_r . f keeps only its resource rows not dominated coefficient-wise by
  another (every feature is >= 0, so a dominated row never is the maximum): t_u(f) = U_hw + g_u and
  t_u(f1) = U_hw + g_u / T with g_u = U_rest . x (f1 = f / T with has_work whole);
- Sum over slots of first-vector times = Sum_u w_u t_u(f1) + (Sum_j Sp_j . S) / T
  (w_u = items of kind u over all slots);
- the period max_j P_j = max over the shared-resource rows (with the slot's spill) and the
  own-resource rows, pruned the same way, of row . x / T;
- pipe = first + (T - 1) period; latency = max(pipe, mem, link) + t_reprogram + t_wake;
- energy = e . x + P_on latency + Sum_j G_j min(b_j, latency) + E_wake with b_j = Sum_u Inc_ju t_u(f)
  + Sp_j . S (G_j = gated power of the pieces of stage j).

Every rewrite is exact in real arithmetic; only the rounding differs (~1e-16 relative;
tests/cost/test_cost_fast_form.py checks 1e-12 against ``iteration_cost``'s reference path).

Decode-only iterations (n requests, T = n, TL = L) depend on L alone: within one spill state (which
S_g are > 0) every row is affine in L, so for a fixed choice of every maximum and minimum above (the
*configuration*) the four outputs are affine in L, valid on the interval where that choice stays
optimal (each losing row's difference to the winner is affine in L, so the interval is the
intersection of half-lines). ``decode`` tabulates, per n, the integer L axis in chunks of
``CHUNK_TOKENS`` by a left-to-right sweep (configuration at the segment start, its validity end, next
segment), a deterministic partition, and evaluates a + b L from the segment's coefficients: a few
float operations per iteration. The serving loop costs every decode-only iteration this way, one at a
time or a stretch at once, so event skipping and the step-by-step loop agree bit for bit.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llmimc.cost.compile import NUM_RESOURCES
from llmimc.cost.features import NUM_FEATURES

if TYPE_CHECKING:
    from llmimc.cost.model import CompiledCostModel

CHUNK_TOKENS = 8192  # L axis tabulated in chunks of this many tokens (each swept on first use)
_rowmax_at = np.maximum.reduceat  # maxima of consecutive row blocks in one call
_PAD_A = -1e300  # padding rows of the per-item layout: never the maximum
Coefs = tuple[float, float, float, float, float, float, float, float]  # (a, b) of lat, energy, d2d, offpkg
Key = tuple[int, int, int, int]  # (n, T, L without d, TL without d) of a family of iterations


def _undominated(rows: np.ndarray) -> np.ndarray:
    """Indices of rows not dominated coefficient-wise by another row (first of equal rows kept)."""
    n = len(rows)
    ge = np.all(rows[None, :, :] >= rows[:, None, :], axis=2)  # ge[i, j]: row j >= row i everywhere
    gt = np.any(rows[None, :, :] > rows[:, None, :], axis=2)  # gt[i, j]: row j > row i somewhere
    np.fill_diagonal(ge, False)
    earlier = np.tri(n, k=-1, dtype=bool)  # earlier[i, j]: j < i
    dominated = np.any(ge & gt, axis=1) | np.any(ge & ~gt & earlier, axis=1)
    keep = np.flatnonzero(~dominated)
    return keep if len(keep) else np.array([0])


def _upper(da: np.ndarray, db: np.ndarray) -> float:
    """The largest L up to which every da + db L <= 0 stays true (each holds at the configuration's own
    point; a row with db <= 0 never overtakes going right)."""
    pos = db > 0
    return float(np.min(-da[pos] / db[pos])) if pos.any() else float(np.inf)


class FastForm:
    """Fast iteration costs of a pipelined ``CompiledCostModel`` (module docstring)."""

    def __init__(self, cm: CompiledCostModel) -> None:
        ons, group = np.unique(cm.kv_tokens_on_package, return_inverse=True)
        self.ons = ons.astype(float)
        self.ons_list: list[float] = self.ons.tolist()
        g = len(ons)
        self.num_groups = g
        onehot = np.zeros((cm.num_kv_chiplets, g))
        onehot[np.arange(cm.num_kv_chiplets), np.asarray(group).reshape(-1)] = 1.0
        d = NUM_FEATURES + g
        self.dim = d

        def rows(per_feature: np.ndarray, per_spill: np.ndarray | None) -> np.ndarray:
            per_feature = np.atleast_2d(per_feature)
            out = np.zeros((per_feature.shape[0], d))
            out[:, :NUM_FEATURES] = per_feature
            if per_spill is not None and g:
                out[:, NUM_FEATURES:] = np.atleast_2d(per_spill) @ onehot
            return out

        n_u = cm.n_unique
        u = cm.unique_item_times_s.reshape(n_u, NUM_RESOURCES, NUM_FEATURES)
        kept = [u[i][_undominated(u[i])] for i in range(n_u)]
        m = max(len(k) for k in kept) if kept else 1
        # per-item padded layout: constant (has_work) part and the rest as rows over x
        self.u_hw = np.full((n_u, m), _PAD_A)
        self.u_rest = np.zeros((n_u, m, d))
        for i, k in enumerate(kept):
            self.u_hw[i, : len(k)] = k[:, 0]
            self.u_rest[i, : len(k), 1:NUM_FEATURES] = k[:, 1:]
        self.u_multi = np.array([len(k) > 1 for k in kept])
        # flat layout for the mixed path (maximum.reduceat over each item's rows)
        self.u_starts = np.cumsum([0] + [len(k) for k in kept])[:-1]
        self.u_hw_flat = np.concatenate([k[:, 0] for k in kept]) if kept else np.zeros(0)
        self.u_rest_flat = np.concatenate([k[:, 1:] for k in kept]) if kept else np.zeros((0, 4))
        self.w = cm.slot_item_incidence.sum(axis=0)
        self.inc = cm.slot_item_incidence
        self.sp = cm.slot_spill_time_s @ onehot if g else np.zeros((cm.num_slots, 0))  # slots x G
        self.sp_sum = self.sp.sum(axis=0)
        # the period: shared-resource rows of each slot with its spill, and the own-resource rows
        n_sh = cm.n_shared
        sh = cm.slot_shared_times_s.reshape(cm.num_slots, n_sh, NUM_FEATURES).copy()
        sh[:, :, 0] = 0.0  # f_vec has no has_work
        per = np.zeros((cm.num_slots * n_sh, d))
        per[:, :NUM_FEATURES] = sh.reshape(-1, NUM_FEATURES)
        per[:, NUM_FEATURES:] = np.repeat(self.sp, n_sh, axis=0)
        own_res = [int(r) for r in _own_resources()]
        own = np.zeros((n_u * len(own_res), d))
        own[:, 1:NUM_FEATURES] = u[:, own_res, 1:].reshape(-1, NUM_FEATURES - 1)
        period = np.vstack([per, own]) if len(cm.own_pair_slot) else per
        self.period = period[_undominated(period)]
        if len(cm.link_bytes_per_feature):
            lk = rows(cm.link_bytes_per_feature, cm.link_bytes_per_spill_token)
            self.link = lk[_undominated(lk)] / cm.link_bw_bytes_per_s
        else:
            self.link = np.zeros((1, d))
        # single rows: mem bound, linear energy, d2d bytes, off-package bytes
        self.lin = np.vstack(
            [
                rows(cm.offpkg_bound_bytes_per_feature, cm.offpkg_bytes_per_spill_token)
                / cm.mem_bw_bytes_per_s,
                rows(cm.energy_per_feature_j, cm.energy_per_spill_token_j),
                rows(cm.d2d_bytes_per_feature, cm.d2d_bytes_per_spill_token),
                rows(cm.offpkg_bytes_per_feature, cm.offpkg_bytes_per_spill_token),
            ]
        )
        self.fixed_s = float(cm.reprogram_time_s + cm.wake_time_s)
        self.on_w = float(cm.always_on_power_w)
        self.wake_j = float(cm.wake_energy_j)
        gated = np.zeros(cm.num_slots)
        np.add.at(gated, cm.power.piece_stage, cm.gated_power_w)
        self.gated_w = gated
        self._tables: dict[tuple[Key, int], tuple[list[int], list[int], list[Coefs]]] = {}
        self._build_mixed(kept)

    def _build_mixed(self, kept: list[np.ndarray]) -> None:
        """One matrix for ``mixed``, every row over x: items of one undominated row are linear and fold
        into the first-vector row and the slot rows; items of several rows keep their rows (padded to
        ``m`` each), once for t_u(f) and once for t_u(f1). Rows read as is come first (the slots' busy
        times, the 4 linear rows, t_u(f), the link); rows divided by T after their maximum come last
        (first, t_u(f1), the period: max_j P_j . x / T, T > 0), each constant c folded into the T
        column as c T: half the size of a matrix over [x, x / T], and no x / T list per call."""
        d = self.dim
        t_col = 2  # x = [1, n, T, L, TL, S..]
        single = ~self.u_multi
        rest1 = self.u_rest[:, 0, :]  # each single item's only row
        hw1 = np.where(single, self.u_hw[:, 0], 0.0)
        first_row = (self.w * single) @ rest1
        first_row[NUM_FEATURES:] += self.sp_sum
        first_row[t_col] += float(self.w @ hw1)  # (first_hw T + first_row . x) / T
        slot_rows = (self.inc * single) @ rest1
        slot_rows[:, NUM_FEATURES:] += self.sp
        slot_rows[:, 0] += (self.inc * single) @ hw1  # busy time of each slot, less its multi items
        multi = np.flatnonzero(self.u_multi)
        n_multi, m = len(multi), self.u_hw.shape[1]
        multi_hw = self.u_hw[multi].reshape(-1)  # padding rows: never the maximum
        t_f_rows = self.u_rest[multi].reshape(n_multi * m, d).copy()
        t_f_rows[:, 0] += multi_hw
        t_1_rows = self.u_rest[multi].reshape(n_multi * m, d).copy()
        t_1_rows[:, t_col] += multi_hw
        num_slots = len(slot_rows)
        blocks = [slot_rows, self.lin, t_f_rows, self.link, first_row[None, :], t_1_rows, self.period]
        at = np.cumsum([0] + [len(b) for b in blocks]).tolist()
        self.big = np.vstack(blocks)
        # maximum.reduceat: one row each for the slots and the linear rows, then each item's m rows,
        # the link rows, first, each item's m rows again, the period rows
        starts = list(range(at[2]))
        starts += [at[2] + i * m for i in range(n_multi)] + [at[3], at[4]]
        starts += [at[5] + i * m for i in range(n_multi)] + [at[6]]
        self.max_starts = np.array(starts)
        self.by_t_from = at[2] + n_multi + 1  # reduced[by_t_from:] (first, t_u(f1), period) are / T
        self.at_lin = num_slots  # reduced[at_lin : at_lin + 4]: mem, e_lin, d2d, off
        self.at_link = at[2] + n_multi
        # first and busy = their own reduced entry + multi items' t_u(f1) x w, t_u(f) x incidence
        gather = np.zeros((1 + num_slots, len(starts)))
        first_at = self.by_t_from
        gather[0, first_at] = 1.0
        gather[0, first_at + 1 : first_at + 1 + n_multi] = self.w[multi]
        gather[1:, :num_slots] = np.eye(num_slots)
        gather[1:, at[2] : at[2] + n_multi] = self.inc[:, multi]
        self.gather = gather
        self.gated_first_busy = np.concatenate(([0.0], self.gated_w))  # first's entry weighs nothing

    # -- mixed iterations ---------------------------------------------------------------------------
    def mixed(self, n: float, t: float, length: float, tl: float) -> tuple[float, float, float, float]:
        """(latency_s, energy_j, d2d_bytes, offpkg_bytes) of an iteration with work."""
        x = [1.0, n, t, length, tl, *[length - o if length > o else 0.0 for o in self.ons_list]]
        reduced = _rowmax_at(self.big @ np.array(x), self.max_starts)
        reduced[self.by_t_from :] *= 1.0 / t
        first_busy = self.gather @ reduced
        vals = reduced.tolist()
        at = self.at_lin
        mem, e_lin, d2d, off = vals[at : at + 4]
        lat = max(first_busy.item(0) + (t - 1.0) * vals[-1], mem, vals[self.at_link]) + self.fixed_s
        gated = (self.gated_first_busy @ np.minimum(first_busy, lat)).item()
        energy = e_lin + self.on_w * lat + gated + self.wake_j
        return lat, energy, d2d, off

    # -- decode-only iterations ---------------------------------------------------------------------
    def decode(self, n: int, length: int) -> tuple[float, float, float, float]:
        """(latency_s, energy_j, d2d_bytes, offpkg_bytes) of n decodes with Sum L = ``length``."""
        return self.along((n, n, 0, 0), length)

    def along(self, key: Key, d: int) -> tuple[float, float, float, float]:
        """(latency_s, energy_j, d2d_bytes, offpkg_bytes) of the iteration ``key`` plus d context tokens
        (``segment``), as a + b d."""
        _, c = self.segment(key, d)
        x = d  # float * int converts the int exactly (as ``CompiledCostModel.decode_stretch``)
        return c[0] + c[1] * x, c[2] + c[3] * x, c[4] + c[5] * x, c[6] + c[7] * x

    def segment(self, key: Key, d: int) -> tuple[int, Coefs]:
        """(last d of the segment holding ``d``, its coefficients) for the iterations whose features
        are n = key[0], T = key[1], L = key[2] + d, TL = key[3] + d (n decodes: key (n, n, 0, 0), d = L)."""
        tkey = (key, d // CHUNK_TOKENS)
        table = self._tables.get(tkey)
        if table is None:
            table = self._sweep(key, tkey[1])
            self._tables[tkey] = table
        starts, ends, coefs = table
        i = bisect_right(starts, d) - 1
        return ends[i], coefs[i]

    def _sweep(self, key: Key, chunk: int) -> tuple[list[int], list[int], list[Coefs]]:
        lo, end = chunk * CHUNK_TOKENS, (chunk + 1) * CHUNK_TOKENS - 1
        starts: list[int] = []
        ends: list[int] = []
        coefs: list[Coefs] = []
        states: dict[int, _State] = {}  # spill state -> its rows as a + b L (``_state``)
        at = lo
        while at <= end:
            last, c = self._config(key, at, states)
            last = min(end, max(at, last))
            starts.append(at)
            ends.append(last)
            coefs.append(c)
            at = last + 1
        return starts, ends, coefs

    def _state(self, key: Key, k: int) -> _State:
        """Every row of the iteration ``key`` in spill state k (groups o_1..o_k spill) as a + b L: the
        candidates of each maximum stacked (t_u(f) per item, t_u(f1) per item, the period, the link;
        padded rows never win), and the pieces the configuration's other outputs read."""
        n, tokens, l_base, tl_base = key
        x0 = np.zeros(self.dim)
        x1 = np.zeros(self.dim)
        x0[:5] = (1.0, n, tokens, l_base, tl_base)
        x1[3:5] = 1.0
        x0[NUM_FEATURES : NUM_FEATURES + k] = l_base - self.ons[:k]
        x1[NUM_FEATURES : NUM_FEATURES + k] = 1.0
        ga, gb = self.u_rest @ x0, self.u_rest @ x1  # items x rows
        ga = np.where(self.u_hw > _PAD_A, ga, 0.0)
        t = float(tokens)
        parts_a = [self.u_hw + ga, self.u_hw + ga / t, (self.period @ x0)[None, :], (self.link @ x0)[None, :]]
        parts_b = [gb, gb / t, (self.period @ x1)[None, :], (self.link @ x1)[None, :]]
        width = max(p.shape[1] for p in parts_a)
        rows = sum(p.shape[0] for p in parts_a)
        a = np.full((rows, width), _PAD_A)
        b = np.zeros((rows, width))
        r = 0
        for pa, pb in zip(parts_a, parts_b, strict=True):
            a[r : r + pa.shape[0], : pa.shape[1]] = pa
            b[r : r + pb.shape[0], : pb.shape[1]] = pb
            r += pa.shape[0]
        s0, s1 = x0[NUM_FEATURES:], x1[NUM_FEATURES:]
        return _State(
            a=a,
            b=b,
            first_sp=(float(self.sp_sum @ s0) / t, float(self.sp_sum @ s1) / t),
            busy_sp=(self.sp @ s0, self.sp @ s1),
            lin=(self.lin @ x0, self.lin @ x1),
        )

    def _config(self, key: Key, at: int, states: dict[int, _State]) -> tuple[int, Coefs]:
        """Coefficients of the configuration optimal at d = ``at`` and the last integer d where it stays
        optimal (within the spill state of ``at``)."""
        n, tokens, l_base, tl_base = key
        g = self.num_groups
        k = int(np.searchsorted(self.ons, l_base + at, side="left"))  # groups with o_g < L spill
        st = states.get(k)
        if st is None:
            st = states[k] = self._state(key, k)
        state_hi = float(self.ons[k]) - l_base if k < g else np.inf
        lx = float(at)
        t = float(tokens)
        # every maximum but the latency's at once: its row's (a, b) and the validity of all choices
        a, b = st.a, st.b
        idx = np.argmax(a + b * lx, axis=1)
        rr = np.arange(a.shape[0])
        wa, wb = a[rr, idx], b[rr, idx]
        his: list[float] = [state_hi, _upper((a - wa[:, None]).ravel(), (b - wb[:, None]).ravel())]
        n_u = self.u_hw.shape[0]
        fa, fb = wa[:n_u], wb[:n_u]  # t_u(f)
        oa, ob = wa[n_u : 2 * n_u], wb[n_u : 2 * n_u]  # t_u(f1)
        pa, pb = float(wa[2 * n_u]), float(wb[2 * n_u])  # the period's row
        la, lb = float(wa[2 * n_u + 1]), float(wb[2 * n_u + 1])  # the link's row
        first = (float(self.w @ oa) + st.first_sp[0], float(self.w @ ob) + st.first_sp[1])
        lin_a, lin_b = st.lin
        # latency = max(pipe, mem, link); the period is max(row . x) / T as in ``mixed``
        cand_a = np.array([first[0] + (t - 1.0) * (pa / t), float(lin_a[0]), la])
        cand_b = np.array([first[1] + (t - 1.0) * (pb / t), float(lin_b[0]), lb])
        w = int(np.argmax(cand_a + cand_b * lx))
        his.append(_upper(cand_a - cand_a[w], cand_b - cand_b[w]))
        lat_a, lat_b = float(cand_a[w]) + self.fixed_s, float(cand_b[w])
        busy_a = self.inc @ fa + st.busy_sp[0]
        busy_b = self.inc @ fb + st.busy_sp[1]
        below = busy_a + busy_b * lx <= lat_a + lat_b * lx
        da, db = busy_a - lat_a, busy_b - lat_b
        sign = np.where(below, 1.0, -1.0)
        his.append(_upper(sign * da, sign * db))
        min_a = np.where(below, busy_a, lat_a)
        min_b = np.where(below, busy_b, lat_b)
        e_a = float(lin_a[1]) + self.on_w * lat_a + float(self.gated_w @ min_a) + self.wake_j
        e_b = float(lin_b[1]) + self.on_w * lat_b + float(self.gated_w @ min_b)
        hi = min(his)
        last = int(np.floor(hi)) if np.isfinite(hi) else at + CHUNK_TOKENS
        coefs: Coefs = (
            lat_a,
            lat_b,
            e_a,
            e_b,
            float(lin_a[2]),
            float(lin_b[2]),
            float(lin_a[3]),
            float(lin_b[3]),
        )
        return last, coefs


@dataclass(frozen=True, slots=True)
class _State:
    """Rows of one iteration family in one spill state (``FastForm._state``)."""

    a: np.ndarray  # stacked maximum candidates: constant parts (padding: _PAD_A)
    b: np.ndarray  # ... and their slopes in L
    first_sp: tuple[float, float]  # the spill part of the first-vector time / T, as (a, b)
    busy_sp: tuple[np.ndarray, np.ndarray]  # the spill part of each slot's busy time
    lin: tuple[np.ndarray, np.ndarray]  # mem bound, linear energy, d2d, off-package bytes


def _own_resources() -> tuple[int, ...]:
    from llmimc.cost.model import OWN_RESOURCES

    return tuple(int(r) for r in OWN_RESOURCES)
