"""Trace formats llmimc reads, the result of loading one, and format detection from a file's header.

Formats (column names as their publishers spell them):
- ``vidur``: Vidur's simulator-ready CSV ``arrived_at,num_prefill_tokens,num_decode_tokens`` (seconds),
  e.g. ``data/processed_traces/splitwise_conv.csv`` in microsoft/vidur (Agrawal et al., MLSys 2024).
- ``azure``: Azure LLM inference trace 2023/2024 ``TIMESTAMP,ContextTokens,GeneratedTokens``
  (Azure/AzurePublicDataset; Patel et al., "Splitwise", ISCA 2024).
- ``mooncake``: Mooncake JSONL ``timestamp`` (ms), ``input_length``, ``output_length``, ``hash_ids``
  (512-token prefix blocks) (kvcache-ai/Mooncake; Qin et al., FAST 2025).
- ``burstgpt``: BurstGPT CSV ``Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type``
  (HPMLL/BurstGPT; Wang et al., arXiv:2401.17644).
- ``splitwise``: SplitwiseSim CSV
  ``request_id,request_type,application_id,arrival_timestamp,batch_size,prompt_size,token_size``
  (Mutinifni/splitwise-sim).
"""

from __future__ import annotations

from enum import Enum

from llmimc._base import Frozen
from llmimc.errors import TraceError
from llmimc.traces.request import Request


class TraceFormat(str, Enum):
    """A request-trace file format; ``auto`` detects it from the extension and header."""

    AUTO = "auto"
    VIDUR = "vidur"
    AZURE = "azure"
    MOONCAKE = "mooncake"
    BURSTGPT = "burstgpt"
    SPLITWISE = "splitwise"


FILE_FORMATS: tuple[TraceFormat, ...] = tuple(f for f in TraceFormat if f is not TraceFormat.AUTO)

# Columns each CSV format needs (by name; extra columns are allowed).
REQUIRED_COLUMNS: dict[TraceFormat, tuple[str, ...]] = {
    TraceFormat.VIDUR: ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    TraceFormat.AZURE: ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    TraceFormat.BURSTGPT: ("Timestamp", "Request tokens", "Response tokens"),
    TraceFormat.SPLITWISE: ("arrival_timestamp", "prompt_size", "token_size"),
    TraceFormat.MOONCAKE: ("timestamp", "input_length", "output_length"),
}

LENGTH_COLUMNS: tuple[str, str] = ("num_prefill_tokens", "num_decode_tokens")


class TraceLoad(Frozen):
    """Requests read from one trace (or generated), with what was skipped and why.

    ``requests`` are sorted by arrival, ``request_id`` = 0..n-1 in file order, ``arrived_at`` in
    seconds since the first request. ``skipped`` maps a reason slug to the number of rows skipped
    for it (only non-empty when ``skip_bad_rows`` was set; rows after ``max_requests`` are not read).
    ``fmt`` is the resolved file format (``None`` for a synthetic trace).
    """

    requests: list[Request]
    skipped: dict[str, int]
    source: str
    fmt: TraceFormat | None

    @property
    def num_requests(self) -> int:
        return len(self.requests)

    @property
    def duration_s(self) -> float:
        """Time from the first to the last arrival."""
        return self.requests[-1].arrived_at - self.requests[0].arrived_at if self.requests else 0.0


def parse_format(fmt: TraceFormat | str, source: str) -> TraceFormat:
    """Turn a user-given format name into a TraceFormat, or a one-line TraceError."""
    if isinstance(fmt, TraceFormat):
        return fmt
    try:
        return TraceFormat(str(fmt).strip().lower())
    except ValueError:
        names = ", ".join(f.value for f in TraceFormat)
        raise TraceError(f"{source}: unknown trace format {fmt!r}; use one of: {names}") from None


def detect_csv_format(columns: list[str], source: str) -> TraceFormat:
    """Pick the CSV format whose required columns all appear in the header."""
    present = set(columns)
    for fmt in (TraceFormat.VIDUR, TraceFormat.AZURE, TraceFormat.BURSTGPT, TraceFormat.SPLITWISE):
        if all(c in present for c in REQUIRED_COLUMNS[fmt]):
            return fmt
    if all(c in present for c in LENGTH_COLUMNS):
        raise TraceError(
            f"{source}:1: this is a length-statistics file (no arrival times); "
            "use it as the lengths file of a synthetic trace, or add an 'arrived_at' column"
        )
    shown = ",".join(columns)[:120]
    raise TraceError(
        f"{source}:1: cannot tell the trace format from the header {shown!r}; "
        f"pass the format explicitly (one of: {', '.join(f.value for f in FILE_FORMATS)})"
    )
