"""run_sweep end to end on 8 GPT-2 points: statuses, identical results on every executor, resume."""

from __future__ import annotations

import pytest

from llmimc import api
from llmimc.report.sweep_files import Journal, parquet_available, read_journal, write_results
from llmimc.sweep import plan_sweep, run_sweep
from llmimc.sweep.executors import ray_available
from llmimc.sweep.sweep_file import parse_sweep_data

EIGHT = {
    "name": "eight",
    "mode": "profile",
    "fixed": {"model": "gpt2", "gen_len": 4},
    # 1 tile per chiplet cannot hold GPT-2 (does-not-fit); 1030 + 4 tokens need 1033 positions > 1024 (error)
    "axes": {"chiplets": [1, 2], "chiplet.tiles": [1, 96], "prompt_len": [32, 1030]},
}


def _plan():
    return plan_sweep(parse_sweep_data(EIGHT, "eight.yaml"), "eight.yaml")


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in ("eval_time_s", "cached")} for r in rows]


@pytest.fixture(scope="module")
def serial():
    return run_sweep(_plan(), workers=1)


def test_statuses_and_values_match_the_api(serial):
    rows = serial.rows
    assert len(rows) == 8 and [r["point"] for r in rows] == list(range(8))
    by = {(r["chiplets"], r["chiplet.tiles"], r["prompt_len"]): r for r in rows}
    assert {r["status"] for r in rows if r["prompt_len"] == 1030} == {"error"}
    assert all(
        "positions" in r["reason"] and "context" in r["reason"] for r in rows if r["prompt_len"] == 1030
    )
    assert by[(1, 1, 32)]["status"] == "does-not-fit" and "chiplets" in by[(1, 1, 32)]["reason"]
    ok = by[(2, 96, 32)]
    assert ok["status"] == "ok"
    ref = api.profile("gpt2", hw="rram-chiplet", chiplets=2, prompt_len=32, gen_len=4, reference_bits=None)
    for name, value in ref.summary.model_dump().items():
        assert ok[name] == value, name
    assert ok["package_area_mm2"] == pytest.approx(150.0)
    assert serial.varying_columns == ["chiplets", "chiplet.tiles", "prompt_len"]
    assert any(r["pareto"] for r in rows) and not any(r["pareto"] for r in rows if r["status"] != "ok")


def test_two_workers_give_the_same_rows(serial):
    progress = []
    two = run_sweep(_plan(), workers=2, on_progress=lambda d, t: progress.append((d, t)))
    assert _stable(two.rows) == _stable(serial.rows)
    assert progress[0] == (0, 8) and progress[-1] == (8, 8)


@pytest.mark.skipif(not ray_available(), reason="ray is not installed (pip install 'llmimc[ray]')")
@pytest.mark.slow
def test_ray_gives_the_same_rows(serial):
    on_ray = run_sweep(_plan(), workers=2, use_ray=True)
    assert _stable(on_ray.rows) == _stable(serial.rows)
    assert on_ray.executor == "ray"


def test_resume_skips_done_points_and_reruns_errors(tmp_path, serial):
    plan = _plan()
    with Journal(tmp_path) as journal:
        first = run_sweep(plan, cache=read_journal(tmp_path), on_outcome=journal.append)
    cache = read_journal(tmp_path)
    assert len(cache) == 8
    with (tmp_path / "points.jsonl").open("a") as fh:
        fh.write('{"key": "torn')  # a line cut off by a crash is ignored
    again = run_sweep(plan, cache=read_journal(tmp_path))
    assert again.cached_points == 4 and again.evaluated_points == 4  # the four error points run again
    assert _stable(again.rows) == _stable(first.rows) == _stable(serial.rows)
    assert [r["cached"] for r in again.rows] == [r["status"] != "error" for r in again.rows]


def test_results_files(tmp_path, serial):
    import csv

    paths = write_results(serial, tmp_path)
    parquet = ["results.parquet"] if parquet_available() else []
    assert sorted(p.name for p in paths) == sorted(["pareto.csv", "results.csv", *parquet])
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 8 and rows[0]["status"] in ("ok", "does-not-fit", "error")
    ok = [i for i, r in enumerate(serial.rows) if r["status"] == "ok"]
    assert ok and all(
        float(rows[i]["energy_j"]) == serial.rows[i]["energy_j"] for i in ok
    )  # repr round-trips
    assert all(rows[i]["energy_j"] == "" for i in range(8) if i not in ok)
    pareto = list(csv.DictReader((tmp_path / "pareto.csv").open()))
    assert len(pareto) == sum(r["pareto"] for r in serial.rows)
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(tmp_path / "results.parquet")
    assert table.num_rows == 8 and "chiplet.tiles" in table.column_names
    assert table.column("energy_j").to_pylist() == [r.get("energy_j") for r in serial.rows]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_dead_worker_marks_points_as_errors_and_the_sweep_finishes(monkeypatch):
    import sweep_die_helper

    from llmimc.sweep import executors

    monkeypatch.setattr(executors, "evaluate_point", sweep_die_helper.evaluate_or_die)
    result = run_sweep(_plan(), workers=2)
    assert len(result.rows) == 8
    dead = [r for r in result.rows if r["chiplets"] == 2]
    assert all(r["status"] == "error" and "worker failed" in r["reason"] for r in dead)


def test_imc_and_gpu_points_in_one_sweep():
    sweep = parse_sweep_data(
        {
            "mode": "profile",
            "fixed": {"model": "gpt2", "prompt_len": 16, "gen_len": 4},
            "axes": {"hw": ["rram-chiplet", "h100"], "chiplets": [2], "chiplet.array.rows": [128, 256]},
        },
        "mixed.yaml",
    )
    plan = plan_sweep(sweep, "mixed.yaml")
    assert plan.duplicate_points == 1  # the rows axis does not apply to h100: one h100 point
    result = run_sweep(plan)
    gpu = [r for r in result.rows if r["hw"] == "h100"]
    assert len(gpu) == 1 and gpu[0]["status"] == "ok" and gpu[0]["chiplet.array.rows"] is None
    assert gpu[0]["num_chiplets"] == 2 and gpu[0]["package_area_mm2"] is None and not gpu[0]["pareto"]
    ref = api.profile("gpt2", hw="h100", chiplets=2, prompt_len=16, gen_len=4)
    assert gpu[0]["energy_j"] == ref.summary.energy_j
    assert any("h100 give no chiplet area" in n for n in result.notes)
