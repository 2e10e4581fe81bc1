"""CSV trace adapters: Vidur, Azure LLM 2023/2024, BurstGPT and SplitwiseSim rows → Requests.

Columns are found by name (extra columns are fine); ``num_decode_tokens`` always counts every
output token, including the one the prefill produces (Vidur's convention; SplitwiseSim's
``token_size`` and Azure's ``GeneratedTokens`` mean the same).

Format-specific rules:
- vidur: ``arrived_at`` in seconds (Vidur, microsoft/vidur ``TraceReplayRequestGenerator``).
- azure: ``TIMESTAMP`` wall clock with up to 9 fractional digits, optional UTC offset
  (see ``timestamps.py`` for the exact seconds arithmetic that matches Vidur's converted traces).
- burstgpt: ``Timestamp`` seconds from 0:00 of the first day; a row with ``Response tokens`` 0 is a
  request that failed (HPMLL/BurstGPT README). Failed rows are an error by default, like any zero
  length, with a message pointing to ``skip_bad_rows`` (counted as ``failed_request``) or the
  upstream ``BurstGPT_without_fails_*.csv`` files. ``Model``/``Log Type`` are ignored; a
  ``SessionID``/``Session ID`` column, if present, becomes ``session_id``.
- splitwise: ``arrival_timestamp`` in seconds; ``request_type`` must be 2 (GENERATIVE_LLM, the only
  type SplitwiseSim runs) and ``batch_size`` 1 when present, else the row is ``unsupported_request``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from typing import Any

from llmimc.errors import TraceError
from llmimc.traces._rows import (
    FAILED,
    MALFORMED,
    UNSUPPORTED,
    BadRow,
    RowCollector,
    parse_count,
    parse_seconds,
)
from llmimc.traces.formats import REQUIRED_COLUMNS, TraceFormat, TraceLoad
from llmimc.traces.timestamps import elapsed_ns_to_s, parse_timestamp_ns

# A row parser returns (raw arrival time, prompt tokens, output tokens, session id).
RowParser = Callable[[list[str]], tuple[Any, int, int, str | None]]

_SESSION_COLUMNS = ("SessionID", "Session ID", "session_id")


def read_header(reader: Iterable[list[str]], source: str) -> list[str]:
    """The header row, stripped of whitespace and a UTF-8 byte-order mark."""
    for row in reader:
        if row:
            return [c.strip().lstrip("\ufeff").strip() for c in row]
    raise TraceError(f"{source}: trace is empty: the file has no header or rows; give a non-empty trace")


def _column_index(header: list[str], fmt: TraceFormat, source: str) -> dict[str, int]:
    index = {name: i for i, name in enumerate(header)}
    for name in REQUIRED_COLUMNS[fmt]:
        if name not in index:
            raise TraceError(
                f"{source}:1: missing column {name!r} for the {fmt.value} format "
                f"(header has: {','.join(header)[:120]}); rename the column or pass the right format"
            )
    return index


def _elapsed_float_s(t: float, t0: float) -> float:
    return t - t0


def _vidur_parser(index: dict[str, int]) -> RowParser:
    i_t, i_p, i_d = index["arrived_at"], index["num_prefill_tokens"], index["num_decode_tokens"]

    def parse(row: list[str]) -> tuple[Any, int, int, str | None]:
        return (
            parse_seconds(row[i_t], "arrived_at"),
            parse_count(row[i_p], "num_prefill_tokens"),
            parse_count(row[i_d], "num_decode_tokens"),
            None,
        )

    return parse


def _azure_parser(index: dict[str, int]) -> RowParser:
    i_t, i_p, i_d = index["TIMESTAMP"], index["ContextTokens"], index["GeneratedTokens"]
    ordinal_cache: dict[str, int] = {}

    def parse(row: list[str]) -> tuple[Any, int, int, str | None]:
        return (
            parse_timestamp_ns(row[i_t], "TIMESTAMP", ordinal_cache),
            parse_count(row[i_p], "ContextTokens"),
            parse_count(row[i_d], "GeneratedTokens"),
            None,
        )

    return parse


def _burstgpt_parser(index: dict[str, int]) -> RowParser:
    i_t, i_p, i_d = index["Timestamp"], index["Request tokens"], index["Response tokens"]
    i_s = next((index[c] for c in _SESSION_COLUMNS if c in index), None)

    def parse(row: list[str]) -> tuple[Any, int, int, str | None]:
        t = parse_seconds(row[i_t], "Timestamp")
        p = parse_count(row[i_p], "Request tokens")
        d = parse_count(row[i_d], "Response tokens")
        if d == 0:
            raise BadRow(
                FAILED,
                "Response tokens is 0: a failed request in BurstGPT (use BurstGPT_without_fails_*.csv)",
            )
        session = (row[i_s].strip() or None) if i_s is not None else None
        return t, p, d, session

    return parse


def _splitwise_parser(index: dict[str, int]) -> RowParser:
    i_t, i_p, i_d = index["arrival_timestamp"], index["prompt_size"], index["token_size"]
    i_type, i_batch = index.get("request_type"), index.get("batch_size")

    def parse(row: list[str]) -> tuple[Any, int, int, str | None]:
        if i_type is not None and parse_count(row[i_type], "request_type") != 2:
            raise BadRow(
                UNSUPPORTED,
                f"request_type is {row[i_type]!r}; only 2 (generative LLM inference) is supported",
            )
        if i_batch is not None and parse_count(row[i_batch], "batch_size") != 1:
            raise BadRow(UNSUPPORTED, f"batch_size is {row[i_batch]!r}; only batch_size 1 is supported")
        return (
            parse_seconds(row[i_t], "arrival_timestamp"),
            parse_count(row[i_p], "prompt_size"),
            parse_count(row[i_d], "token_size"),
            None,
        )

    return parse


_PARSERS: dict[TraceFormat, Callable[[dict[str, int]], RowParser]] = {
    TraceFormat.VIDUR: _vidur_parser,
    TraceFormat.AZURE: _azure_parser,
    TraceFormat.BURSTGPT: _burstgpt_parser,
    TraceFormat.SPLITWISE: _splitwise_parser,
}


def read_csv_trace(
    lines: Iterable[str],
    fmt: TraceFormat,
    source: str,
    *,
    skip_bad_rows: bool,
    max_requests: int | None,
) -> TraceLoad:
    """Parse the text lines of one CSV trace of format ``fmt``."""
    reader = csv.reader(lines)
    header = read_header(reader, source)
    index = _column_index(header, fmt, source)
    prefill_col, decode_col = REQUIRED_COLUMNS[fmt][1], REQUIRED_COLUMNS[fmt][2]
    collector = RowCollector(
        source=source,
        fmt=fmt,
        skip_bad_rows=skip_bad_rows,
        max_requests=max_requests,
        prefill_column=prefill_col,
        decode_column=decode_col,
        time_column=REQUIRED_COLUMNS[fmt][0],
    )
    parse = _PARSERS[fmt](index)
    n_columns = len(header)
    try:
        for row in reader:
            if collector.full():
                break
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line: not a request
            if len(row) != n_columns:
                collector.reject(line, MALFORMED, f"row has {len(row)} fields but the header has {n_columns}")
                continue
            try:
                t, p, d, session = parse(row)
            except BadRow as bad:
                collector.reject(line, bad.reason, bad.message)
                continue
            collector.add(line, t, p, d, session_id=session)
    except csv.Error as exc:
        raise TraceError(f"{source}:{reader.line_num}: not valid CSV ({exc}); fix the quoting") from None
    elapsed = elapsed_ns_to_s if fmt is TraceFormat.AZURE else _elapsed_float_s
    return collector.finish(elapsed)
