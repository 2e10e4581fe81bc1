"""Golden tests: Azure LLM trace 2023 → our Azure adapter → our Vidur writer == Vidur's own processed file.

Vidur (microsoft/vidur @ 7d475133) ships ``data/processed_traces/splitwise_{conv,code}.csv``,
converted from the Azure files by its authors; we must reproduce them row for row.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from llmimc.traces import TraceFormat, load_trace, write_vidur_csv

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
REF = SHARED / "traces_ref"
EXAMPLES = REPO / "traces"

needs_shared = pytest.mark.skipif(
    not REF.is_dir(), reason=f"reference traces not found at {REF} (clone shared/ beside the repo)"
)


def _read_vidur(path: Path) -> list[tuple[float, int, int]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["arrived_at", "num_prefill_tokens", "num_decode_tokens"]
    return [(float(a), int(p), int(d)) for a, p, d in rows[1:]]


def _check_against_vidur(azure: Path, vidur: Path) -> None:
    load = load_trace(azure)
    assert load.fmt is TraceFormat.AZURE
    assert load.skipped == {}
    expected = _read_vidur(vidur)
    got = [(r.arrived_at, r.num_prefill_tokens, r.num_decode_tokens) for r in load.requests]
    assert len(got) == len(expected)
    assert [g[1:] for g in got] == [e[1:] for e in expected]
    assert max(abs(g[0] - e[0]) for g, e in zip(got, expected, strict=True)) <= 1e-9
    # The writer reproduces Vidur's text byte for byte (float repr, header, line ends).
    assert write_vidur_csv(load.requests) == vidur.read_text()
    # And the parsed numbers of what we write equal Vidur's exactly.
    assert [r.request_id for r in load.requests] == list(range(len(expected)))


@needs_shared
@pytest.mark.parametrize("split", ["conv", "code"])
def test_azure_to_vidur_matches_vidur_processed_trace(split: str) -> None:
    _check_against_vidur(
        REF / "azure_llm_2023" / f"AzureLLMInferenceTrace_{split}.csv",
        REF / "vidur_processed" / f"splitwise_{split}.csv",
    )


def test_azure_to_vidur_on_shipped_samples() -> None:
    """Same check on the first 200 rows shipped in traces/ (runs without shared/)."""
    _check_against_vidur(
        EXAMPLES / "azure_conv_2023_head200.csv", EXAMPLES / "vidur_splitwise_conv_head200.csv"
    )


@needs_shared
def test_azure_arrivals_match_datetime_arithmetic() -> None:
    """Independent reference: stdlib datetime on the timestamps truncated to 6 fractional digits
    (the 7th digit is 0 on every row of the 2023 files)."""
    path = REF / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv"
    with path.open(newline="") as f:
        stamps = [row[0] for row in list(csv.reader(f))[1:]]
    assert all(s[-1] == "0" for s in stamps)
    times = [dt.datetime.strptime(s[:-1], "%Y-%m-%d %H:%M:%S.%f") for s in stamps]
    expected = [(t - times[0]).total_seconds() for t in times]
    got = [r.arrived_at for r in load_trace(path).requests]
    assert got == pytest.approx(expected, abs=1e-9, rel=0)
