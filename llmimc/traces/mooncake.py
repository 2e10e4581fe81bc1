"""Mooncake-style JSONL traces (kvcache-ai/Mooncake, FAST'25 release; Qin et al., FAST 2025).

One JSON object a line: ``timestamp`` (integer milliseconds from trace start; several requests can
share one), ``input_length``, ``output_length`` (tokens) and optionally ``hash_ids``: remapped ids
of the prompt's 512-token blocks, where equal leading ids mean a shareable KV-cache prefix. They
become ``prefix_block_ids`` with ``prefix_block_tokens = 512``. A row whose ``hash_ids`` length is
not ceil(input_length / 512) is inconsistent (``prefix_blocks_mismatch``); every row of the
published synthetic trace passes this check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from llmimc.traces._rows import MALFORMED, PREFIX_MISMATCH, BadRow, RowCollector, parse_count, parse_seconds
from llmimc.traces.formats import TraceFormat, TraceLoad

MOONCAKE_BLOCK_TOKENS = 512  # tokens per hash_ids block (Mooncake FAST25-release traces README)


def _parse_record(text: str) -> tuple[Any, int, int, list[int] | None]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRow(MALFORMED, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise BadRow(MALFORMED, "line is not a JSON object")
    for key in ("timestamp", "input_length", "output_length"):
        if key not in record:
            raise BadRow(MALFORMED, f"missing field {key!r}")
    t = record["timestamp"]
    if not isinstance(t, int) or isinstance(t, bool):
        t = parse_seconds(t, "timestamp")  # a float millisecond value is accepted too
    p = parse_count(record["input_length"], "input_length")
    d = parse_count(record["output_length"], "output_length")
    blocks = record.get("hash_ids")
    if blocks is None or p <= 0:
        return t, p, d, blocks  # a non-positive length is rejected by the collector
    if not isinstance(blocks, list) or not all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in blocks
    ):
        raise BadRow(MALFORMED, "hash_ids must be a list of non-negative integers")
    expected = -(-p // MOONCAKE_BLOCK_TOKENS) if p > 0 else 0
    if len(blocks) != expected:
        raise BadRow(
            PREFIX_MISMATCH,
            f"hash_ids has {len(blocks)} blocks but input_length {p} needs "
            f"ceil({p}/{MOONCAKE_BLOCK_TOKENS}) = {expected}",
        )
    return t, p, d, blocks


def _elapsed_ms_to_s(t_ms: float, t0_ms: float) -> float:
    return (t_ms - t0_ms) / 1000.0


def read_mooncake_trace(
    lines: Iterable[str], source: str, *, skip_bad_rows: bool, max_requests: int | None
) -> TraceLoad:
    """Parse the text lines of one Mooncake JSONL trace."""
    collector = RowCollector(
        source=source,
        fmt=TraceFormat.MOONCAKE,
        skip_bad_rows=skip_bad_rows,
        max_requests=max_requests,
        prefill_column="input_length",
        decode_column="output_length",
        time_column="timestamp",
        prefix_block_tokens=MOONCAKE_BLOCK_TOKENS,
    )
    for line_no, text in enumerate(lines, start=1):
        if collector.full():
            break
        if not text.strip():
            continue  # blank line: not a request
        try:
            t, p, d, blocks = _parse_record(text)
        except BadRow as bad:
            collector.reject(line_no, bad.reason, bad.message)
            continue
        collector.add(line_no, t, p, d, prefix_block_ids=blocks)
    return collector.finish(_elapsed_ms_to_s)
