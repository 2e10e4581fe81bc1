"""Wall-clock timestamps of the Azure LLM inference traces as integer nanoseconds.

The 2023 files write ``2023-11-16 18:17:03.9799600`` (7 fractional digits, no zone), which
``datetime.strptime`` cannot read (``%f`` takes at most 6 digits); the 2024 files add a UTC offset
(``+00:00``). We parse to integer nanoseconds since 0001-01-01 so differences are exact, then
convert a difference to seconds as ``whole_seconds + remainder_ns / 1e9``. For the microsecond
timestamps of the 2023 trace this gives bit-for-bit the floats in Vidur's processed traces
(``data/processed_traces/splitwise_{conv,code}.csv``, microsoft/vidur), which a plain
``delta_us / 1e6`` does not (9 of 19,366 conv rows differ in the last bit).
"""

from __future__ import annotations

import datetime as _dt
import re

from llmimc.traces._rows import MALFORMED, BadRow

_NS_PER_S = 1_000_000_000
_TIMESTAMP_RE = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?\s*"
)


def parse_timestamp_ns(text: str, column: str, ordinal_cache: dict[str, int]) -> int:
    """``YYYY-MM-DD HH:MM:SS[.fraction][Z|+HH:MM]`` → integer ns since 0001-01-01 (UTC if zoned).

    ``ordinal_cache`` (owned by the caller, one per file) memoises the day number per date string.
    """
    m = _TIMESTAMP_RE.fullmatch(text)
    if m is None:
        raise BadRow(MALFORMED, f"{column} is {text!r}, not a timestamp like '2023-11-16 18:17:03.9799600'")
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    date_text = f"{year}{month}{day}"
    days = ordinal_cache.get(date_text)
    if days is None:
        try:
            days = _dt.date(int(year), int(month), int(day)).toordinal()
        except ValueError:
            raise BadRow(MALFORMED, f"{column} is {text!r}, which is not a valid date") from None
        ordinal_cache[date_text] = days
    hours, minutes, seconds = int(hh), int(mm), int(ss)
    if hours > 23 or minutes > 59 or seconds > 60:
        raise BadRow(MALFORMED, f"{column} is {text!r}, which is not a valid time of day")
    frac_ns = int(frac.ljust(9, "0")) if frac else 0
    offset_s = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset_s = (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * (1 if zone[0] == "+" else -1)
    whole_s = days * 86400 + hours * 3600 + minutes * 60 + seconds - offset_s
    return whole_s * _NS_PER_S + frac_ns


def elapsed_ns_to_s(t_ns: int, t0_ns: int) -> float:
    """Seconds from ``t0_ns`` to ``t_ns``: whole seconds plus the nanosecond remainder / 1e9."""
    delta_ns = t_ns - t0_ns
    return delta_ns // _NS_PER_S + (delta_ns % _NS_PER_S) / 1e9
