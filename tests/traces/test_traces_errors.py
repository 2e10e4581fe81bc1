"""Bad trace input gives one-line TraceErrors naming file and line; skip_bad_rows counts by reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmimc.errors import TraceError
from llmimc.traces import Request, load_trace, validate_against_context

VIDUR_HEADER = "arrived_at,num_prefill_tokens,num_decode_tokens\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(TraceError) as info:
        load_trace(path, **kwargs)  # type: ignore[arg-type]
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("0.0,10,5\n1.0,-3,5\n", 3, "num_prefill_tokens is -3"),
        ("0.0,10,5\n1.0,10,0\n", 3, "num_decode_tokens is 0"),
        ("0.0,10,5\n2.0,10,5\n1.0,10,5\n", 4, "earlier than 2.0 on line 3"),
        ("0.0,10,5\nabc,10,5\n", 3, "arrived_at is 'abc'"),
        ("0.0,10,5\n1.0,10.5,5\n", 3, "not a whole number"),
        ("0.0,10,5\n1.0,10\n", 3, "row has 2 fields but the header has 3"),
        ("0.0,10,5\nnan,10,5\n", 3, "finite"),
    ],
)
def test_bad_vidur_rows_name_file_and_line(tmp_path: Path, body: str, line: int, needle: str) -> None:
    path = _write(tmp_path, "t.csv", VIDUR_HEADER + body)
    msg = _error(path)
    assert msg.startswith(f"{path}:{line}: ") and needle in msg
    assert "skip_bad_rows" in msg  # says how to fix


def test_skip_bad_rows_counts_by_reason(tmp_path: Path) -> None:
    body = (
        "0.0,10,5\n"  # line 2 ok
        "1.0,0,5\n"  # 3 nonpositive
        "x,1,1\n"  # 4 malformed
        "2.0,10,5\n"  # 5 ok
        "1.5,10,5\n"  # 6 non-monotone
        "3.0,10\n"  # 7 malformed (field count)
        "\n"  # 8 blank: not a request, not counted
        "4.0,7,-1\n"  # 9 nonpositive
        "4.0,7,8\n"  # 10 ok (equal time is fine)
    )
    path = _write(tmp_path, "t.csv", VIDUR_HEADER + body)
    load = load_trace(path, skip_bad_rows=True)
    assert load.skipped == {"nonpositive_length": 2, "malformed_row": 2, "non_monotone_timestamp": 1}
    assert [r.source_line for r in load.requests] == [2, 5, 10]
    assert [r.request_id for r in load.requests] == [0, 1, 2]
    assert [r.arrived_at for r in load.requests] == [0.0, 2.0, 4.0]


def test_empty_traces(tmp_path: Path) -> None:
    assert "empty" in _error(_write(tmp_path, "a.csv", ""))
    assert "no data rows" in _error(_write(tmp_path, "b.csv", VIDUR_HEADER))
    msg = _error(_write(tmp_path, "c.csv", VIDUR_HEADER + "0,0,1\n1,1,0\n"), skip_bad_rows=True)
    assert "every row was skipped (2 nonpositive_length)" in msg
    assert "empty" in _error(_write(tmp_path, "d.jsonl", "\n\n"))


def test_unknown_and_undetectable_format(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", VIDUR_HEADER + "0,1,1\n")
    msg = _error(path, fmt="sharegpt")
    assert "unknown trace format 'sharegpt'" in msg and "vidur" in msg
    odd = _write(tmp_path, "odd.csv", "a,b,c\n1,2,3\n")
    assert "cannot tell the trace format" in _error(odd)
    stats = _write(tmp_path, "stats.csv", "num_prefill_tokens,num_decode_tokens\n5,6\n")
    assert "length-statistics file" in _error(stats)


def test_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,374\n")
    msg = _error(path, fmt="azure")
    assert msg.startswith(f"{path}:1: missing column 'GeneratedTokens'")


def test_missing_file_and_bad_max_requests(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nope.csv")
    assert "not a file" in _error(tmp_path)
    path = _write(tmp_path, "t.csv", VIDUR_HEADER + "0,1,1\n")
    assert "max_requests" in _error(path, max_requests=0)


def test_bad_azure_timestamp(tmp_path: Path) -> None:
    body = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,3,4\n2023-13-16 18:15:47.0,3,4\n"
    msg = _error(_write(tmp_path, "a.csv", body))
    assert msg.startswith(f"{tmp_path / 'a.csv'}:3: TIMESTAMP") and "not a valid date" in msg


def test_mooncake_errors_and_skips(tmp_path: Path) -> None:
    lines = [
        '{"timestamp": 5, "input_length": 600, "output_length": 3, "hash_ids": [0, 1]}',
        '{"timestamp": 5, "input_length": 600, "output_length": 3, "hash_ids": [0]}',  # mismatch
        '{"timestamp": 6, "input_length": 10}',  # missing output_length
        "{not json",
        '{"timestamp": 4, "input_length": 10, "output_length": 1}',  # goes back in time
        '{"timestamp": 9, "input_length": 10, "output_length": 1}',
    ]
    path = _write(tmp_path, "m.jsonl", "\n".join(lines) + "\n")
    msg = _error(path)
    assert msg.startswith(f"{path}:2: hash_ids has 1 blocks but input_length 600 needs")
    load = load_trace(path, skip_bad_rows=True)
    assert load.skipped == {"prefix_blocks_mismatch": 1, "malformed_row": 2, "non_monotone_timestamp": 1}
    assert [(r.source_line, r.arrived_at) for r in load.requests] == [(1, 0.0), (6, 0.004)]


def test_splitwise_unsupported_rows(tmp_path: Path) -> None:
    body = (
        "request_id,request_type,application_id,arrival_timestamp,batch_size,prompt_size,token_size\n"
        "0,2,0,1,1,4096,32\n1,1,0,2,1,10,10\n2,2,0,3,4,10,10\n"
    )
    path = _write(tmp_path, "s.csv", body)
    assert "request_type is '1'" in _error(path)
    assert load_trace(path, skip_bad_rows=True).skipped == {"unsupported_request": 2}


def test_validate_against_context(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", VIDUR_HEADER + "0,100,10\n1,1000,20\n2,5000,5\n")
    reqs = load_trace(path).requests
    validate_against_context(reqs, 5005, str(path))
    with pytest.raises(TraceError) as info:
        validate_against_context(reqs, 2048, str(path))
    msg = str(info.value)
    assert msg.startswith(f"{path}:4: request 2 needs 5000 prompt + 5 output = 5005 tokens")
    assert "2048" in msg and "\n" not in msg
    with pytest.raises(TraceError, match=r":3: request 1 needs a 1000-token prompt"):
        validate_against_context(reqs, 999, str(path), include_decode=False)
    synthetic = [Request(request_id=0, arrived_at=0.0, num_prefill_tokens=9, num_decode_tokens=1)]
    with pytest.raises(TraceError, match=r"^gen: request 0 needs"):
        validate_against_context(synthetic, 8, "gen")
