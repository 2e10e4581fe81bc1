"""`llmimc sweep` through typer's CliRunner: the table, the files, plots, and one-line bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmimc.report.sweep_files import parquet_available
from llmimc_cli.main import app

runner = CliRunner()

SMALL = {
    "name": "small",
    "mode": "profile",
    "fixed": {"model": "gpt2", "prompt_len": 16, "gen_len": 4},
    "axes": {"chiplets": [1, 2, 4], "precision": ["w8a8", "w4a8-outlier"]},
}


def _write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_schema_prints_json():
    r = runner.invoke(app, ["sweep", "schema"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["title"] == "llmimc sweep file"


def test_sweep_prints_pareto_and_writes_files_then_resumes(tmp_path):
    spec = _write(tmp_path, SMALL)
    out = tmp_path / "out" / "nested"
    r = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Pareto front" in r.output and "6 points, 6 ok" in r.output
    parquet = {"results.parquet"} if parquet_available() else set()
    assert {p.name for p in out.iterdir()} == {"results.csv", "pareto.csv", "points.jsonl", *parquet}
    first = (out / "results.csv").read_text().splitlines()
    r2 = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert r2.exit_code == 0 and "6 reused from the output folder" in r2.output
    assert (out / "results.csv").read_text().splitlines()[1:] != []
    header = first[0].split(",")
    assert header[:3] == ["point", "chiplets", "precision"] and "status" in header and "pareto" in header
    assert len((out / "points.jsonl").read_text().splitlines()) == 6  # nothing evaluated twice


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"chiplet.array.rowz": [128]}, "axis 'chiplet.array.rowz': unknown spec path"),
        ({"chiplet.array.adc.bits": [8, 99]}, "point 1 (chiplet.array.adc.bits=99)"),
        ({"chiplets": []}, "axis 'chiplets': empty axis"),
        ({"batch": [1, -2]}, "axis 'batch' = -2"),
    ],
)
def test_bad_axis_is_one_line_exit_2_and_writes_nothing(tmp_path, axes, message):
    spec = _write(tmp_path, {**SMALL, "axes": axes})
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not out.exists()


def test_unwritable_output_folder(tmp_path):
    spec = _write(tmp_path, SMALL)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = runner.invoke(app, ["sweep", str(spec), "--out", str(blocker / "out")])
    assert r.exit_code == 2 and "folder is not writable" in r.output and str(blocker) in r.output
    r = runner.invoke(app, ["sweep", str(spec), "--out", str(blocker)])
    assert r.exit_code == 2 and "is a file" in r.output


def test_missing_file_bad_yaml_and_flag_misuse(tmp_path):
    r = runner.invoke(app, ["sweep", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "no such sweep file" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: [1, 2\n")
    r = runner.invoke(app, ["sweep", str(bad)])
    assert r.exit_code == 2 and "not valid YAML" in r.output
    spec = _write(tmp_path, SMALL)
    r = runner.invoke(app, ["sweep", str(spec), "--find-max-rate", "--slo-ttft-s", "1"])
    assert r.exit_code == 2 and "needs a serve sweep" in r.output
    r = runner.invoke(app, ["sweep", str(spec), "--plot", str(tmp_path / "p.svg")])
    assert r.exit_code == 2 and ".html" in r.output
    r = runner.invoke(app, ["sweep", str(spec), "--workers", "0"])
    assert r.exit_code == 2


@pytest.mark.parametrize(
    ("suffix", "module", "magic"),
    [(".html", "plotly", b"<html"), pytest.param(".png", "matplotlib", b"\x89PNG", marks=pytest.mark.slow)],
)
def test_plot_files(tmp_path, suffix, module, magic):
    pytest.importorskip(module)
    spec = _write(tmp_path, SMALL)
    plot = tmp_path / f"front{suffix}"
    r = runner.invoke(app, ["sweep", str(spec), "--plot", str(plot)])
    assert r.exit_code == 0, r.output
    data = plot.read_bytes()
    assert magic in data[:200]
    if suffix == ".html":
        text = data.decode()
        assert "Pareto front" in text and "energy_per_output_token_j by chiplets" in text
        assert '<script src="http' not in text and len(text) > 1_000_000  # self-contained: plotly.js inlined
