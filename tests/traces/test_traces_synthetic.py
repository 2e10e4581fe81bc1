"""Synthetic traces: determinism per seed, arrival-rate and Gamma-cv statistics, length sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmimc.errors import TraceError
from llmimc.traces import read_length_table, synthetic_trace

REPO = Path(__file__).resolve().parents[2]
LENGTHS = REPO / "traces" / "arxiv_summarization_lengths_head200.csv"


def _gaps(load) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.diff([r.arrived_at for r in load.requests])


def test_same_seed_same_requests_different_seed_differs() -> None:
    def make(seed: int):  # type: ignore[no-untyped-def]
        return synthetic_trace(
            300, 4.0, rng=np.random.default_rng(seed), arrival="gamma", cv=2.0, lengths_path=LENGTHS
        )

    assert make(7).requests == make(7).requests
    assert make(7).requests != make(8).requests


def test_poisson_mean_interarrival_and_cv() -> None:
    rate = 5.0
    load = synthetic_trace(20_000, rate, rng=np.random.default_rng(1), prefill_tokens=64, decode_tokens=8)
    gaps = _gaps(load)
    assert load.requests[0].arrived_at == 0.0 and len(load.requests) == 20_000
    # Mean of 19,999 exponential gaps: standard error 0.7 %; allow 5 %.
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)
    assert all(r.num_prefill_tokens == 64 and r.num_decode_tokens == 8 for r in load.requests)
    assert [r.request_id for r in load.requests] == list(range(20_000))


@pytest.mark.parametrize("cv", [0.5, 2.0, 4.0])
def test_gamma_respects_rate_and_cv(cv: float) -> None:
    rate = 2.0
    load = synthetic_trace(
        40_000, rate, rng=np.random.default_rng(2), arrival="gamma", cv=cv, prefill_tokens=1, decode_tokens=1
    )
    gaps = _gaps(load)
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.1)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.15)


def test_lengths_sampled_from_file_and_fixed_override() -> None:
    table_p, table_d = read_length_table(LENGTHS)
    assert len(table_p) == 200
    pairs = set(zip(table_p.tolist(), table_d.tolist(), strict=True))
    load = synthetic_trace(500, 1.0, rng=np.random.default_rng(3), lengths_path=LENGTHS)
    got = [(r.num_prefill_tokens, r.num_decode_tokens) for r in load.requests]
    assert set(got) <= pairs and len(set(got)) > 100  # drawn from the file's rows, many distinct
    fixed = synthetic_trace(50, 1.0, rng=np.random.default_rng(3), lengths_path=LENGTHS, decode_tokens=16)
    assert all(r.num_decode_tokens == 16 for r in fixed.requests)
    assert {r.num_prefill_tokens for r in fixed.requests} <= set(table_p.tolist())


def test_lengths_from_a_trace_file() -> None:
    sample = REPO / "traces" / "splitwise_test_trace.csv"
    load = synthetic_trace(30, 1.0, rng=np.random.default_rng(0), lengths_path=sample)
    assert {(r.num_prefill_tokens, r.num_decode_tokens) for r in load.requests} <= {
        (4096, 32),
        (2048, 8),
        (2048, 16),
    }


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"num_requests": 0}, "num_requests"),
        ({"rate_qps": 0.0}, "rate_qps"),
        ({"rate_qps": float("inf")}, "rate_qps"),
        ({"arrival": "weibull"}, "arrival"),
        ({"arrival": "gamma", "cv": -1.0}, "cv"),
        ({"cv": 2.0}, "needs arrival='gamma'"),
        ({"prefill_tokens": None}, "lengths are unknown"),
        ({"decode_tokens": 0}, "decode_tokens"),
    ],
)
def test_bad_arguments(kwargs: dict, needle: str) -> None:
    args = {"num_requests": 5, "rate_qps": 1.0, "prefill_tokens": 8, "decode_tokens": 2} | kwargs
    with pytest.raises(TraceError, match=needle):
        synthetic_trace(rng=np.random.default_rng(0), **args)


def test_bad_length_file(tmp_path: Path) -> None:
    path = tmp_path / "lengths.csv"
    path.write_text("num_prefill_tokens,num_decode_tokens\n5,6\n0,3\n")
    with pytest.raises(TraceError, match=rf"^{path}:3: lengths 0,3 must both be >= 1"):
        synthetic_trace(5, 1.0, rng=np.random.default_rng(0), lengths_path=path)
