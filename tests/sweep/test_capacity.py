"""SLO capacity search: the bisection itself, and a hand-computable capacity through the serve path."""

from __future__ import annotations

import pytest

from llmimc import api
from llmimc.sweep import CapacitySearch, run_sweep
from llmimc.sweep.capacity import find_max_rate
from llmimc.sweep.sweep_file import parse_sweep_data


def _step(capacity: float):
    return lambda rate: (1.0 if rate <= capacity else 0.0, rate)


@pytest.mark.parametrize("capacity", [0.37, 3.0, 37.3, 4100.0])
def test_bisection_brackets_the_capacity_within_tolerance(capacity):
    search = CapacitySearch(slo_ttft_s=1.0, rel_tol=0.01)
    found = find_max_rate(_step(capacity), search)
    assert found.max_rate_per_s <= capacity < found.unsustained_rate_per_s
    assert (found.unsustained_rate_per_s - found.max_rate_per_s) / found.unsustained_rate_per_s <= 0.01
    assert found.at_max == found.max_rate_per_s


def test_bisection_limits():
    search = CapacitySearch(slo_ttft_s=1.0, rate_min=0.5, rate_max=64.0)
    zero = find_max_rate(_step(0.1), search)
    assert zero.max_rate_per_s == 0.0 and zero.at_max is None and "not sustained" in zero.note
    high = find_max_rate(_step(1e9), search)
    assert high.max_rate_per_s == 64.0 and high.unsustained_rate_per_s is None and "rate_max" in high.note


@pytest.mark.slow
def test_hand_computable_capacity(tmp_path):
    """One package, one request at a time (max_batch 1), N = 10 requests evenly spaced a = 1/r apart.

    Served alone a request takes S = the profile's total latency, its first token after t0 = TTFT.
    Above r = 1/S request k waits k (S - a), so it meets TTFT <= t0 + d iff k (S - a) <= d. With
    attainment 0.9, requests 0..8 must meet it: 8 (S - a) <= d, i.e. r <= 1 / (S - d/8).
    With d = S/2 the capacity is r* = 1 / (S (1 - 1/16)) = 16 / (15 S).
    """
    from llmimc.traces import Request
    from llmimc.traces.writer import save_vidur_csv

    prompt, gen, n = 64, 8, 10
    alone = api.profile(
        "gpt2", hw="rram-chiplet", chiplets=2, prompt_len=prompt, gen_len=gen, reference_bits=None
    )
    s, t0 = alone.summary.total_latency_s, alone.summary.ttft_s
    d = s / 2
    hand = 16 / (15 * s)
    trace = tmp_path / "even.csv"
    save_vidur_csv(
        [
            Request(request_id=i, arrived_at=float(i), num_prefill_tokens=prompt, num_decode_tokens=gen)
            for i in range(n)
        ],
        trace,
    )
    sweep = parse_sweep_data(
        {
            "mode": "serve",
            "fixed": {
                "model": "gpt2",
                "hw": "rram-chiplet",
                "chiplets": 2,
                "trace": str(trace),
                "max_batch": 1,
            },
            "capacity": {"slo_ttft_s": t0 + d, "attainment": 0.9, "rel_tol": 0.005, "rate_start": 10.0},
        },
        "cap.yaml",
    )
    (row,) = run_sweep(sweep).rows
    assert row["status"] == "ok", row["reason"]
    assert hand * (1 - 0.005) <= row["max_rate_per_s"] <= hand * (1 + 1e-9)
    assert row["unsustained_rate_per_s"] > hand
    assert row["slo_attainment"] >= 0.9 and row["num_finished"] == n
    assert row["goodput_per_chiplet"] == pytest.approx(row["goodput_requests_per_s"] / 2)
    assert row["goodput_per_mm2"] == pytest.approx(row["goodput_requests_per_s"] / 150.0)
