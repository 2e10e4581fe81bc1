"""Pareto front: hand cases and the defining invariants (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmimc.sweep.pareto import pareto_mask

OBJ = {"e": "min", "t": "max"}


def _rows(pairs, status="ok"):
    return [{"status": status, "e": e, "t": t} for e, t in pairs]


def _dominates(a, b):
    return a["e"] <= b["e"] and a["t"] >= b["t"] and (a["e"] < b["e"] or a["t"] > b["t"])


def test_hand_case_with_max_objective_ties_and_non_ok_rows():
    rows = _rows([(1, 1), (2, 3), (3, 2), (2, 3), (0.5, 0.5), (5, 5)])
    rows[5]["status"] = "does-not-fit"  # would dominate everything, but takes no part
    rows.append({"status": "ok", "e": None, "t": 9})  # missing objective: takes no part
    assert pareto_mask(rows, OBJ) == [True, True, False, True, True, False, False]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25))
def test_front_is_undominated_and_dominates_the_rest(pairs):
    rows = _rows(pairs)
    mask = pareto_mask(rows, OBJ)
    front = [r for r, m in zip(rows, mask, strict=True) if m]
    assert front
    for r, m in zip(rows, mask, strict=True):
        dominated = any(_dominates(o, r) for o in rows)
        assert m == (not dominated)
        if not m:
            assert any(_dominates(f, r) for f in front)


def test_tolerance_treats_near_ties_as_ties():
    rows = _rows([(1.0, 1.0), (2.0, 1.0000001), (0.5, 0.2)])
    assert pareto_mask(rows, OBJ) == [True, True, True]
    assert pareto_mask(rows, OBJ, tolerance=1e-3) == [True, False, True]
