"""The one place numbers become text: SI prefixes, binary byte sizes, shares, counts, sparklines.

- ``si(1.23e-6, "s") == "1.23 µs"``: three significant digits with an SI prefix from E to f.
- ``iec_bytes(3 * 2**30) == "3 GiB"``: capacities (SRAM, memory) in powers of two.
- ``pct(1, 3) == "33.3%"``; ``count(12345) == "12,345"``.
- ``sparkline``: values resampled into ``width`` buckets (bucket mean or maximum) and drawn with eight
  block heights between ``lo`` and ``hi`` (default: the buckets' own minimum and maximum).
Non-finite values are printed as ``inf``/``nan`` (callers refuse them before rendering).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

BLOCKS = "▁▂▃▄▅▆▇█"
_BIG = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
_SMALL = ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """Engineering notation with an SI prefix (``digits`` significant digits); None is 'n/a'."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return f"{value} {unit}".strip()
    if value == 0:
        return f"0 {unit}".strip()
    for factor, prefix in (*_BIG, *_SMALL):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}".strip()
    return f"{value:.{digits}g} {unit}".strip()


def iec_bytes(n: float | None) -> str:
    """A byte capacity in KiB/MiB/GiB/TiB/PiB (three significant digits)."""
    if n is None:
        return "n/a"
    for factor, unit in ((2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n:.0f} B"


def pct(part: float, total: float, digits: int = 1) -> str:
    """``part`` as a percentage of ``total``; '-' when the total is zero."""
    return f"{100.0 * part / total:.{digits}f}%" if total else "-"


def ratio_pct(fraction: float, digits: int = 1) -> str:
    """A fraction (0.25) as a percentage ('25.0%')."""
    return f"{100.0 * fraction:.{digits}f}%"


def count(n: float | None) -> str:
    """A whole count with thousands separators; None is '-'."""
    return "-" if n is None else f"{n:,.0f}"


def sparkline(
    values: Sequence[float],
    width: int = 64,
    *,
    bucket: Literal["mean", "max"] = "mean",
    lo: float | None = None,
    hi: float | None = None,
) -> str:
    """``values`` resampled to at most ``width`` buckets, one block character per bucket."""
    if not values:
        return ""
    n = len(values)
    width = max(1, min(width, n))
    buckets = []
    for i in range(width):
        chunk = values[i * n // width : max(i * n // width + 1, (i + 1) * n // width)]
        buckets.append(max(chunk) if bucket == "max" else sum(chunk) / len(chunk))
    low = min(buckets) if lo is None else lo
    high = max(buckets) if hi is None else hi
    if high - low <= 1e-12 * max(abs(high), 1e-30):
        return BLOCKS[3] * width
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[min(top, max(0, int((v - low) / (high - low) * len(BLOCKS))))] for v in buckets)
