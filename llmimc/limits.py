"""Sane bounds on sizes and spec numbers, each with the reason it exists.

Counts (chiplets, batch, lengths) are bounded so that every accepted input finishes in seconds and
fits in memory; spec numbers are bounded to physical ranges so that a typo (``static_power_w:
1e308``, a time in ns written as seconds) is refused with its field path instead of turning into
``inf`` or ``nan`` in the results. The bounds are generous: each is orders of magnitude beyond any
published device (see /work/shared/hw_reference.md) and sits where a larger value can only be an
error in the input.

Counts:
- ``MAX_CHIPLETS = 1024``: a 300 mm wafer holds about 1,100 dies of 8 x 8 mm before edge loss, so
  1024 chiplets is already wafer scale (Cerebras WSE-2 is one wafer; Simba has 36 chiplets). Route
  and placement work grows with chiplets squared: about 2 s at 1024, 21 s at 4096, and the issue's
  2^31 exhausted 22 GB of memory.
- ``MAX_BATCH = 65_536`` sequences: 256x vLLM's default ``max_num_seqs`` (256); per-step work grows
  with the batch.
- ``MAX_TOKENS = 16_777_216`` (2^24) per prompt or generation: above every published context window
  (Llama 4 Scout: 10M tokens); the model's own context is checked afterwards.

Spec numbers (by the unit suffix of the field name; every number must also be finite):
see ``SPEC_RANGES``. Counts in specs (rows, cols, tiles) are bounded by the same reasoning.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from llmimc.errors import BoundsError

MAX_CHIPLETS = 1024
MAX_BATCH = 65_536
MAX_TOKENS = 16_777_216

# suffix -> (upper bound, unit shown, why). Lower bounds (> 0 or >= 0) are the spec models' own.
SPEC_RANGES: dict[str, tuple[float, str, str]] = {
    "_w": (1e6, "W", "a megawatt per chip or package; powers are in watts"),
    "_j": (
        1e-3,
        "J",
        "energies are per action (bit, cell, conversion, MAC) in joules; 1 mJ per action is beyond any device",
    ),
    "_s": (1.0, "s", "times are per action (cycle, conversion, hop) in seconds"),
    # device noise (llmimc.accuracy): times since programming, not per action
    "relaxation_times_s": (1e9, "s", "times since programming in seconds; 1e9 s is ~30 years of retention"),
    "drift_t0_s": (1e9, "s", "times since programming in seconds; 1e9 s is ~30 years of retention"),
    "_hz": (1e11, "Hz", "clocks are in hertz; 100 GHz is beyond any CMOS clock"),
    "_bytes": (2.0**50, "B", "capacities are in bytes; 1 PiB per package is beyond any memory stack"),
    "_bytes_per_s": (1e16, "B/s", "bandwidths are in bytes per second; 10 PB/s is beyond any link or memory"),
    "_flops_per_s": (1e19, "FLOP/s", "10 EFLOP/s per device is beyond any accelerator"),
    "_m2": (1.0, "m2", "areas are in square metres; a 300 mm wafer is 0.07 m2"),
    "_cycles": (1e20, "cycles", "endurance beyond 1e20 writes is not a measured figure"),
    "_fraction": (1.0, "", "fractions are at most 1"),
}
# integer counts in specs: field name -> upper bound
SPEC_COUNT_MAX: dict[str, int] = {
    "rows": 65_536,
    "cols": 65_536,
    "tiles": 1_000_000,
    "arrays_per_tile": 65_536,
    "num_chiplets": MAX_CHIPLETS,
    "columns_per_adc": 65_536,
    "macs_per_cycle": 2**40,
    "mesh_cols": MAX_CHIPLETS,
}


def check_count(value: int, name: str, low: int, high: int, why: str) -> int:
    """Return ``value`` if ``low <= value <= high``, else raise `BoundsError` naming ``name`` and why."""
    if not low <= value <= high:
        raise BoundsError(f"{name} must be in {low:,}..{high:,} (got {value:,}): {why}")
    return value


def check_chiplets(n: int, name: str = "chiplets") -> int:
    return check_count(n, name, 1, MAX_CHIPLETS, "1024 chiplets is already wafer scale (see llmimc.limits)")


def _range_for(key: str) -> tuple[float, str, str] | None:
    # longest suffix first: "_bytes_per_s" before "_s", "_flops_per_s" before "_s"
    for suffix in sorted(SPEC_RANGES, key=len, reverse=True):
        if key.endswith(suffix):
            return SPEC_RANGES[suffix]
    return None


def _walk(data: object, path: tuple[str, ...], unit_key: str) -> Iterator[tuple[str, str, object]]:
    """Yield (dotted path, governing key, value) for every number in nested dicts/lists."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "sources":
                continue
            key = str(k)
            yield from _walk(v, (*path, key), key if _range_for(key) or key in SPEC_COUNT_MAX else unit_key)
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            yield from _walk(v, (*path, str(i)), unit_key)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield ".".join(path), unit_key, data


def spec_range_problem(data: object) -> str | None:
    """The first spec number that is not finite or outside its physical range, as 'path: why'; else None."""
    for where, key, value in _walk(data, (), ""):
        assert isinstance(value, (int, float))
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where}: {value} is not a finite number"
        if key in SPEC_COUNT_MAX and value > SPEC_COUNT_MAX[key]:
            return f"{where}: {value:,} is above the sane maximum {SPEC_COUNT_MAX[key]:,} (see llmimc.limits)"
        rng = _range_for(key)
        if rng is not None and abs(value) > rng[0]:
            high, unit, why = rng
            return f"{where}: {value:g} is above the physical maximum {high:g} {unit} ({why})"
    return None


def non_finite_path(data: object, path: str = "") -> str | None:
    """Dotted path of the first NaN or infinite float in nested dicts/lists (a JSON dump), else None."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (path or "(top level)")
    items = (
        data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    )
    for k, v in items:
        found = non_finite_path(v, f"{path}.{k}" if path else str(k))
        if found is not None:
            return found
    return None


def check_finite_result(data: object, what: str) -> None:
    """Raise `BoundsError` if a result (as plain data) holds NaN or infinity: never print those with exit 0."""
    where = non_finite_path(data)
    if where is not None:
        raise BoundsError(
            f"{what}: {where} is not a finite number; a spec value or size is beyond what the model can "
            "represent (check the spec's numbers and the sizes given)"
        )
