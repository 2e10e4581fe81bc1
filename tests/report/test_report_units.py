"""llmimc.report.units: the one number formatter and sparkline (hand-checked strings)."""

from __future__ import annotations

import math

import pytest

from llmimc.report.units import BLOCKS, count, iec_bytes, pct, si, sparkline


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1.23e-6, "s", "1.23 µs"),
        (0.0, "J", "0 J"),
        (None, "J", "n/a"),
        (4.8, "W", "4.8 W"),
        (36_900.0, "B", "36.9 kB"),
        (2.5e18, "FLOP/s", "2.5 EFLOP/s"),
        (-3e-3, "J", "-3 mJ"),
        (1e-18, "s", "1e-18 s"),
        (math.inf, "J", "inf J"),
        (12.0, "", "12"),
    ],
)
def test_si(value: float | None, unit: str, text: str) -> None:
    assert si(value, unit) == text


def test_bytes_counts_shares_params() -> None:
    assert iec_bytes(3 * 2**30) == "3 GiB" and iec_bytes(512) == "512 B"
    assert count(12345) == "12,345" and count(None) == "-"
    assert pct(1, 3) == "33.3%" and pct(1, 0) == "-"


def test_sparkline_mean_and_max_buckets() -> None:
    assert sparkline([]) == ""
    assert sparkline([1.0, 2.0, 3.0, 4.0], 4) == BLOCKS[0] + BLOCKS[2] + BLOCKS[5] + BLOCKS[7]
    assert sparkline([5.0] * 10, 4) == BLOCKS[3] * 4  # flat: mid height
    # max buckets on a fixed 0..1 scale (occupancy): [0, 1] and [0.5, 0.5] -> full, half
    assert sparkline([0.0, 1.0, 0.5, 0.5], 2, bucket="max", lo=0.0, hi=1.0) == BLOCKS[7] + BLOCKS[4]
    assert len(sparkline(list(range(1000)), 32)) == 32
