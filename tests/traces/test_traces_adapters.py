"""Each trace adapter on the example files shipped in traces/ and on the reference files in shared/."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import math
from pathlib import Path

import pytest

from llmimc.errors import TraceError
from llmimc.traces import Request, TraceFormat, TraceLoad, load_trace

REPO = Path(__file__).resolve().parents[2]
REF = REPO.parent / "shared" / "traces_ref"
EXAMPLES = REPO / "traces"

needs_shared = pytest.mark.skipif(
    not REF.is_dir(), reason=f"reference traces not found at {REF} (clone shared/ beside the repo)"
)


def _check_invariants(load: TraceLoad) -> None:
    reqs = load.requests
    assert reqs, "a load is never empty"
    assert [r.request_id for r in reqs] == list(range(len(reqs)))
    assert reqs[0].arrived_at == 0.0
    assert all(b.arrived_at >= a.arrived_at for a, b in zip(reqs, reqs[1:], strict=False))
    assert all(r.num_prefill_tokens >= 1 and r.num_decode_tokens >= 1 for r in reqs)
    assert all(math.isfinite(r.arrived_at) for r in reqs)
    lines = [r.source_line for r in reqs]
    assert all(line is not None for line in lines) and lines == sorted(set(lines))
    for r in reqs[:5]:  # they are real, validated Request objects
        assert Request(**dataclasses.asdict(r)) == r


def _mooncake_reference(path: Path) -> list[tuple[float, int, int, list[int]]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    t0 = rows[0]["timestamp"]
    return [
        ((r["timestamp"] - t0) / 1000.0, r["input_length"], r["output_length"], r["hash_ids"]) for r in rows
    ]


def _check_mooncake(path: Path, n: int) -> None:
    load = load_trace(path)
    assert load.fmt is TraceFormat.MOONCAKE
    _check_invariants(load)
    ref = _mooncake_reference(path)
    assert len(load.requests) == len(ref) == n
    for r, (t, p, d, blocks) in zip(load.requests, ref, strict=True):
        assert (r.arrived_at, r.num_prefill_tokens, r.num_decode_tokens) == (t, p, d)
        assert r.prefix_block_ids == blocks and r.prefix_block_tokens == 512
        assert len(blocks) == -(-p // 512)


def test_mooncake_sample() -> None:
    _check_mooncake(EXAMPLES / "mooncake_synthetic_head100.jsonl", 100)


@needs_shared
def test_mooncake_reference_synthetic_trace() -> None:
    _check_mooncake(REF / "mooncake_fast25" / "synthetic_trace.jsonl", 3993)
    load = load_trace(REF / "mooncake_fast25" / "synthetic_trace.jsonl")
    assert 1000 < load.duration_s < 1050  # README: ≈1,022 s


def _check_splitwise(path: Path) -> None:
    load = load_trace(path)
    assert load.fmt is TraceFormat.SPLITWISE
    _check_invariants(load)
    got = [(r.arrived_at, r.num_prefill_tokens, r.num_decode_tokens) for r in load.requests]
    # test_trace.csv: arrivals 1, 3, 4 s; prompt 4096/2048/2048; tokens 32/8/16.
    assert got == [(0.0, 4096, 32), (2.0, 2048, 8), (3.0, 2048, 16)]


def test_splitwise_sample() -> None:
    _check_splitwise(EXAMPLES / "splitwise_test_trace.csv")


@needs_shared
def test_splitwise_reference_test_trace() -> None:
    _check_splitwise(REF / "splitwise_sim" / "test_trace.csv")


def test_vidur_sample_reads_numbers_exactly() -> None:
    path = EXAMPLES / "vidur_splitwise_conv_head200.csv"
    load = load_trace(path)
    assert load.fmt is TraceFormat.VIDUR
    _check_invariants(load)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r.arrived_at, r.num_prefill_tokens, r.num_decode_tokens) for r in load.requests] == [
        (float(r["arrived_at"]), int(r["num_prefill_tokens"]), int(r["num_decode_tokens"])) for r in rows
    ]
    assert load.requests[1].source_line == 3


@needs_shared
@pytest.mark.parametrize("name", ["splitwise_conv.csv", "splitwise_code.csv"])
def test_vidur_reference_traces(name: str) -> None:
    load = load_trace(REF / "vidur_processed" / name)
    _check_invariants(load)
    assert len(load.requests) == {"splitwise_conv.csv": 19366, "splitwise_code.csv": 8819}[name]


def test_azure_sample() -> None:
    load = load_trace(EXAMPLES / "azure_conv_2023_head200.csv")
    assert load.fmt is TraceFormat.AZURE and len(load.requests) == 200
    _check_invariants(load)
    r1 = load.requests[1]  # 18:15:46.6805900 → 18:15:50.9951690
    assert r1.arrived_at == pytest.approx(4.314579, abs=1e-12)
    assert (r1.num_prefill_tokens, r1.num_decode_tokens) == (396, 109)


def test_burstgpt_constructed_sample_failed_rows() -> None:
    path = EXAMPLES / "burstgpt_constructed_sample.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    failed_lines = [i + 2 for i, r in enumerate(rows) if r["Response tokens"] == "0"]
    assert len(failed_lines) == 3
    with pytest.raises(TraceError) as info:
        load_trace(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{failed_lines[0]}: Response tokens is 0") and "\n" not in msg
    load = load_trace(path, skip_bad_rows=True)
    assert load.fmt is TraceFormat.BURSTGPT
    assert load.skipped == {"failed_request": 3}
    _check_invariants(load)
    kept = [r for r in rows if r["Response tokens"] != "0"]
    t0 = float(kept[0]["Timestamp"])
    assert [(r.arrived_at, r.num_prefill_tokens, r.num_decode_tokens) for r in load.requests] == [
        (float(k["Timestamp"]) - t0, int(k["Request tokens"]), int(k["Response tokens"])) for k in kept
    ]
    assert failed_lines[0] not in [r.source_line for r in load.requests]


def test_burstgpt_session_column(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type,SessionID\n"
        "5,ChatGPT,10,2,12,Conversation log,s1\n"
        "7.5,GPT-4,20,3,23,API log,\n"
    )
    load = load_trace(path)
    assert [(r.arrived_at, r.session_id) for r in load.requests] == [(0.0, "s1"), (2.5, None)]


def test_explicit_format_and_max_requests() -> None:
    path = EXAMPLES / "azure_conv_2023_head200.csv"
    load = load_trace(path, TraceFormat.AZURE, max_requests=10)
    assert len(load.requests) == 10
    assert load_trace(path, "azure").requests[:10] == load.requests
    assert load_trace(str(path), " AZURE ").fmt is TraceFormat.AZURE


def test_gzip_trace(tmp_path: Path) -> None:
    src = EXAMPLES / "mooncake_synthetic_head100.jsonl"
    gz = tmp_path / "trace.jsonl.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert load_trace(gz).requests == load_trace(src).requests


def test_azure_2024_style_timestamps_with_zone(tmp_path: Path) -> None:
    path = tmp_path / "azure2024.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 23:59:59.500000+00:00,10,2\n"
        "2024-05-11 00:00:00.250000+00:00,11,3\n"
        "2024-05-11 02:00:01.000000+02:00,12,4\n"  # = 00:00:01 UTC
    )
    load = load_trace(path)
    assert [r.arrived_at for r in load.requests] == [0.0, 0.75, 1.5]
