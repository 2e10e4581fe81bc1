"""Quantizer, N:M pruner and SQNR against element-by-element references."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from llmimc.compress.sqnr import SQNR_CAP_DB, block_errors, nm_prune_rows, rtn_per_row, sqnr_db

finite = st.floats(min_value=-100.0, max_value=100.0, allow_nan=False, width=32)


def _rtn_reference(w: np.ndarray, bits: int) -> np.ndarray:
    out = np.zeros_like(w)
    qmax = 2 ** (bits - 1) - 1
    for r in range(w.shape[0]):
        amax = max(abs(float(x)) for x in w[r])
        for c in range(w.shape[1]):
            if amax > 0:
                s = amax / qmax
                out[r, c] = max(-qmax, min(qmax, round(float(w[r, c]) / s))) * s  # python round: half-even
    return out


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 9)), elements=finite),
       bits=st.integers(2, 8))  # fmt: skip
def test_rtn_matches_reference_and_error_bound(w: np.ndarray, bits: int) -> None:
    q = rtn_per_row(w, bits)
    np.testing.assert_allclose(q, _rtn_reference(w, bits), rtol=1e-5, atol=1e-6)
    amax = np.abs(w).max(axis=1, keepdims=True)
    assert np.all(np.abs(w - q) <= amax / (2 ** (bits - 1) - 1) / 2 * (1 + 1e-5) + 1e-6)


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 11)), elements=finite),
       nm=st.sampled_from([(1, 4), (2, 4), (4, 8), (1, 2), (3, 4)]))  # fmt: skip
def test_nm_prune_keeps_largest_n_of_each_group(w: np.ndarray, nm: tuple[int, int]) -> None:
    n, m = nm
    p = nm_prune_rows(w, n, m)
    for r in range(w.shape[0]):
        for g0 in range(0, w.shape[1], m):
            grp, kept = w[r, g0 : g0 + m], p[r, g0 : g0 + m]
            assert np.count_nonzero(kept) <= n
            assert np.all((kept == 0) | (kept == grp))
            # the kept magnitude is the best any choice of n positions could keep
            best = max(
                sum(abs(float(grp[i])) for i in c)
                for c in itertools.combinations(range(len(grp)), min(n, len(grp)))
            )
            assert math.isclose(float(np.abs(kept).sum()), best, rel_tol=1e-6, abs_tol=1e-6)


def test_outliers_in_fp16_raise_sqnr_and_all_digital_is_exact() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (16, 64)).astype(np.float32)
    w[:, [3, 50]] *= 60.0
    mask = np.zeros(64, dtype=bool)
    mask[[3, 50]] = True
    e = block_errors(w, mask, 4, 16, 1, 1)
    assert sqnr_db(e.signal, e.err_policy) > sqnr_db(e.signal, e.err_uniform) + 10
    hand = 10 * math.log10(float((w.astype(np.float64) ** 2).sum()) / e.err_uniform)
    assert sqnr_db(e.signal, e.err_uniform) == hand
    w16 = w.astype(np.float16).astype(np.float32)
    all_dig = block_errors(w16, np.ones(64, dtype=bool), 4, 16, 1, 1)
    assert all_dig.err_policy == 0.0 and sqnr_db(all_dig.signal, all_dig.err_policy) == SQNR_CAP_DB
    int8_out = block_errors(w, mask, 4, 8, 1, 1)  # INT8 outliers (Atom) sit between fp16 and none
    assert e.err_policy < int8_out.err_policy < int8_out.err_uniform


def test_more_bits_more_sqnr() -> None:
    w = np.random.default_rng(1).normal(0, 1, (8, 128)).astype(np.float32)
    none = np.zeros(128, dtype=bool)
    db = []
    for bits in (2, 4, 6, 8):
        e = block_errors(w, none, bits, 16, 1, 1)
        db.append(sqnr_db(e.signal, e.err_uniform))
    assert db == sorted(db)
    assert 6.0 * 1.5 < db[-1] - db[1] < 6.02 * 4 + 3  # ~6 dB per bit


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 9)), elements=finite),
       nm=st.sampled_from([(1, 4), (2, 4), (1, 2), (3, 4)]), group=st.integers(1, 4))  # fmt: skip
def test_array_shared_mask_is_one_pattern_per_group_and_the_best_one(
    w: np.ndarray, nm: tuple[int, int], group: int
) -> None:
    """The array-shared pattern: rows (output channels) r0..r0+G-1 keep the same n of every m columns,
    the n with the largest energy over the group; it never prunes less error than per-channel N:M."""
    n, m = nm
    shared = nm_prune_rows(w, n, m, rows_per_mask=group)
    for r0 in range(0, w.shape[0], group):
        block = w[r0 : r0 + group].astype(np.float64)
        kept = shared[r0 : r0 + group]
        for g0 in range(0, w.shape[1], m):
            cols = range(g0, min(g0 + m, w.shape[1]))
            pos = [c for c in cols if np.any(kept[:, c] != 0)]
            assert len(pos) <= n
            assert np.all(
                (kept[:, g0 : g0 + m] == 0) | (kept[:, g0 : g0 + m] == w[r0 : r0 + group, g0 : g0 + m])
            )
            energy = float((kept[:, g0 : g0 + m].astype(np.float64) ** 2).sum())
            best = max(
                float(sum((block[:, c] ** 2).sum() for c in choice))
                for choice in itertools.combinations(cols, min(n, len(cols)))
            )
            assert math.isclose(energy, best, rel_tol=1e-6, abs_tol=1e-6)
    err_shared = float(((w.astype(np.float64) - shared) ** 2).sum())
    err_channel = float(((w.astype(np.float64) - nm_prune_rows(w, n, m)) ** 2).sum())
    assert err_channel <= err_shared * (1 + 1e-9) + 1e-9
