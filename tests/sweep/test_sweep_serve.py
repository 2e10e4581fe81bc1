"""Serve sweeps: synthetic load axes, ServeConfig pass-through names, and the equivalence with api.serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmimc import api
from llmimc.sim.serve_models import ServeConfig
from llmimc.sweep import SweepError, plan_sweep, run_sweep
from llmimc.sweep.sweep_file import parse_sweep_data
from llmimc.workload import SyntheticWorkload

FIXED = {"model": "gpt2", "chiplets": 2, "num_requests": 12, "prompt_len": 32, "gen_len": 4, "seed": 3}


def test_serve_points_equal_api_serve():
    sweep = parse_sweep_data(
        {"mode": "serve", "fixed": FIXED, "axes": {"rate": [50.0, 400.0], "max_batch": [2, 16]}}, "s.yaml"
    )
    result = run_sweep(sweep)
    assert [r["status"] for r in result.rows] == ["ok"] * 4
    row = next(r for r in result.rows if r["rate"] == 400.0 and r["max_batch"] == 2)
    ref = api.serve(
        "gpt2",
        SyntheticWorkload(rate_qps=400.0, num_requests=12, prompt_len=32, gen_len=4, seed=3),
        chiplets=2,
        config=ServeConfig(max_batch=2),
    )
    assert row["ttft_s_p99"] == ref.ttft_s.p99 and row["energy_j"] == ref.energy_j
    assert row["total_energy_j"] == ref.total_energy_j and row["num_finished"] == 12
    assert set(result.objectives) == {
        "energy_per_output_token_j",
        "tpot_s_p99",
        "throughput_output_tokens_per_s",
    }


def test_time_scale_compresses_arrivals():
    sweep = parse_sweep_data(
        {"mode": "serve", "fixed": {**FIXED, "rate": 20.0}, "axes": {"time_scale": [1.0, 0.5]}}, "s.yaml"
    )
    slow, fast = run_sweep(sweep).rows
    assert fast["simulated_time_s"] < slow["simulated_time_s"]


def test_unknown_serve_name_and_bad_passthrough_value():
    with pytest.raises(SweepError, match=r"axis 'replicaz': unknown serve parameter.*max_batch"):
        plan_sweep(parse_sweep_data({"mode": "serve", "fixed": FIXED, "axes": {"replicaz": [1]}}, "s"), "s")
    bad = parse_sweep_data(
        {"mode": "serve", "fixed": {**FIXED, "rate": 5.0}, "axes": {"max_batch": [4, 0]}}, "s"
    )
    with pytest.raises(
        SweepError, match=r"point 1 \(max_batch=0\): axis 'max_batch' = 0: .*greater than or equal to 1"
    ):
        plan_sweep(bad, "s")


def test_relative_trace_path_is_read_beside_the_sweep_file(tmp_path, monkeypatch):
    from llmimc.traces import Request
    from llmimc.traces.writer import save_vidur_csv

    folder = tmp_path / "sweeps"
    folder.mkdir()
    reqs = [
        Request(request_id=i, arrived_at=0.01 * i, num_prefill_tokens=16, num_decode_tokens=2)
        for i in range(4)
    ]
    save_vidur_csv(reqs, folder / "t.csv")
    (folder / "s.yaml").write_text("mode: serve\nfixed: {model: gpt2, chiplets: 2, trace: t.csv}\n")
    monkeypatch.chdir(tmp_path)
    (row,) = run_sweep("sweeps/s.yaml").rows
    assert (
        row["status"] == "ok"
        and row["num_finished"] == 4
        and Path(row["trace"]).resolve() == folder / "t.csv"
    )
