"""Shared row handling for the trace adapters: field parsing, bad-row policy, Request assembly.

Every adapter turns one file row into (line, raw arrival time, prompt tokens, output tokens, extras)
and hands it to a ``RowCollector`` that owns the rules common to all formats:
- lengths must be positive integers (a request generates at least one token, as in Vidur);
- arrival times must not go backwards (equal times are fine: Mooncake has many);
- a bad row raises a one-line ``TraceError`` "FILE:LINE: what is wrong; how to fix", or, with
  ``skip_bad_rows``, is skipped and counted under a reason slug (``SKIP_REASONS``);
- arrival times become seconds since the first kept request, computed by a format-specific
  ``elapsed_s(t, t0)`` on the raw values so that integer clocks (ns, ms) lose no precision.

A collector lives for one load call only (no shared state).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from llmimc.errors import TraceError
from llmimc.traces.formats import TraceFormat, TraceLoad
from llmimc.traces.request import Request

MALFORMED = "malformed_row"
NONPOSITIVE = "nonpositive_length"
NON_MONOTONE = "non_monotone_timestamp"
FAILED = "failed_request"
UNSUPPORTED = "unsupported_request"
PREFIX_MISMATCH = "prefix_blocks_mismatch"
SKIP_REASONS: tuple[str, ...] = (MALFORMED, NONPOSITIVE, NON_MONOTONE, FAILED, UNSUPPORTED, PREFIX_MISMATCH)


# Validating the whole list in one call runs pydantic's core once: ~4 us a request, faster than
# constructing Requests one by one (even with model_construct), and every field is still checked.
_REQUEST_LIST = TypeAdapter(list[Request])


def validate_requests(rows: list[dict[str, Any]], source: str) -> list[Request]:
    """Requests from plain dicts, validated in one pass (a failure here is a bug upstream)."""
    try:
        return _REQUEST_LIST.validate_python(rows)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TraceError(f"{source}: invalid request {first['loc']}: {first['msg']}") from None


class BadRow(Exception):
    """Raised by field parsers; the collector turns it into an error or a skip count."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_count(text: Any, column: str) -> int:
    """A token count: an integer (``"472"``, ``472``, or an integral float such as ``"472.0"``)."""
    if isinstance(text, bool):
        raise BadRow(MALFORMED, f"{column} is {text!r}, not a whole number of tokens")
    if isinstance(text, int):
        return text
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadRow(MALFORMED, f"{column} is {text!r}, not a whole number of tokens") from None
    if not value.is_integer():
        raise BadRow(MALFORMED, f"{column} is {text!r}, not a whole number of tokens")
    return int(value)


def parse_seconds(text: Any, column: str) -> float:
    """A finite time value (seconds or milliseconds, as the format says)."""
    if isinstance(text, bool):
        raise BadRow(MALFORMED, f"{column} is {text!r}, not a number")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadRow(MALFORMED, f"{column} is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise BadRow(MALFORMED, f"{column} is {text!r}; it must be a finite number")
    return value


@dataclass
class RowCollector:
    """Accumulates accepted rows of one trace and applies the bad-row policy."""

    source: str
    fmt: TraceFormat
    skip_bad_rows: bool
    max_requests: int | None
    prefill_column: str
    decode_column: str
    time_column: str
    lines: list[int] = field(default_factory=list)
    times: list[Any] = field(default_factory=list)
    prefill: list[int] = field(default_factory=list)
    decode: list[int] = field(default_factory=list)
    sessions: list[str | None] = field(default_factory=list)
    prefixes: list[list[int] | None] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    prefix_block_tokens: int | None = None

    def full(self) -> bool:
        return self.max_requests is not None and len(self.lines) >= self.max_requests

    def reject(self, line: int, reason: str, message: str) -> None:
        """Raise for a bad row, or count it when skipping bad rows."""
        if not self.skip_bad_rows:
            hint = "fix or delete that row, or skip bad rows (skip_bad_rows=True / --skip-bad-rows)"
            raise TraceError(f"{self.source}:{line}: {message}; {hint}")
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(
        self,
        line: int,
        time_raw: Any,
        prefill_tokens: int,
        decode_tokens: int,
        session_id: str | None = None,
        prefix_block_ids: list[int] | None = None,
    ) -> None:
        """Check one parsed row and keep it (or reject it)."""
        if prefill_tokens <= 0:
            self.reject(line, NONPOSITIVE, f"{self.prefill_column} is {prefill_tokens}; it must be >= 1")
            return
        if decode_tokens <= 0:
            self.reject(line, NONPOSITIVE, f"{self.decode_column} is {decode_tokens}; it must be >= 1")
            return
        if self.times and time_raw < self.times[-1]:
            self.reject(
                line,
                NON_MONOTONE,
                f"{self.time_column} {time_raw} is earlier than {self.times[-1]} on line {self.lines[-1]} "
                "(arrival times must not decrease); sort the file by arrival time",
            )
            return
        self.lines.append(line)
        self.times.append(time_raw)
        self.prefill.append(prefill_tokens)
        self.decode.append(decode_tokens)
        self.sessions.append(session_id)
        self.prefixes.append(prefix_block_ids)

    def finish(self, elapsed_s: Callable[[Any, Any], float]) -> TraceLoad:
        """Build the TraceLoad; an empty result is an error even when skipping bad rows."""
        if not self.lines:
            why = "the file has no data rows"
            if self.skipped:
                counts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
                why = f"every row was skipped ({counts})"
            raise TraceError(f"{self.source}: trace is empty: {why}; give a trace with at least one request")
        t0 = self.times[0]
        block_tokens = self.prefix_block_tokens
        rows = [
            {
                "request_id": i,
                "arrived_at": float(elapsed_s(t, t0)),
                "num_prefill_tokens": p,
                "num_decode_tokens": d,
                "session_id": s,
                "prefix_block_ids": b,
                "prefix_block_tokens": block_tokens if b is not None else None,
                "source_line": ln,
            }
            for i, (ln, t, p, d, s, b) in enumerate(
                zip(
                    self.lines,
                    self.times,
                    self.prefill,
                    self.decode,
                    self.sessions,
                    self.prefixes,
                    strict=True,
                )
            )
        ]
        requests = validate_requests(rows, self.source)
        return TraceLoad(requests=requests, skipped=dict(self.skipped), source=self.source, fmt=self.fmt)
