"""write_vidur_csv → load_trace round-trips random request lists exactly (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmimc.traces import Request, TraceFormat, load_trace, save_vidur_csv, write_vidur_csv

gaps_s = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)
lengths = st.integers(min_value=1, max_value=1_000_000)


@st.composite
def request_lists(draw: st.DrawFn) -> list[Request]:
    n = draw(st.integers(min_value=1, max_value=40))
    t = 0.0
    out = []
    for i in range(n):
        if i:
            t += draw(gaps_s)
        out.append(
            Request(
                request_id=i, arrived_at=t, num_prefill_tokens=draw(lengths), num_decode_tokens=draw(lengths)
            )
        )
    return out


def _fields(r: Request) -> tuple[int, float, int, int]:
    return (r.request_id, r.arrived_at, r.num_prefill_tokens, r.num_decode_tokens)


@settings(max_examples=60, deadline=None)
@given(request_lists())
def test_vidur_csv_round_trip(requests: list[Request]) -> None:
    text = write_vidur_csv(requests)
    assert text.count("\n") == len(requests) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        save_vidur_csv(requests, path)
        assert path.read_text() == text
        load = load_trace(path)
    assert load.fmt is TraceFormat.VIDUR and load.skipped == {}
    assert [_fields(r) for r in load.requests] == [_fields(r) for r in requests]
    assert [r.source_line for r in load.requests] == list(range(2, len(requests) + 2))
