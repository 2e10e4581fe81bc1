"""`llmimc hw` commands through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from llmimc.hw import derive, load_spec, spec_json_schema
from llmimc_cli.main import app

runner = CliRunner()


def test_hw_list_shows_every_builtin():
    res = runner.invoke(app, ["hw", "list"])
    assert res.exit_code == 0, res.output
    for name in (
        "rram-chiplet",
        "pcm-chiplet",
        "sram-dcim-chiplet",
        "rram-chiplet-ucie-standard",
        "h100",
        "a100",
    ):
        assert name in res.output


def test_hw_show_imc_text_and_json():
    res = runner.invoke(app, ["hw", "show", "rram-chiplet", "--chiplets", "256", "--weight-bits", "4"])
    assert res.exit_code == 0, res.output
    assert "256 chiplets" in res.output and "weight capacity at 4-bit" in res.output
    assert "bisection 16 links" in res.output
    res = runner.invoke(app, ["hw", "show", "pcm-chiplet", "--chiplets", "1", "--weight-bits", "4", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    expected = derive(load_spec("pcm-chiplet"), 1, weight_bits=4)
    assert data["chiplet"]["peak_tops"] == expected.chiplet.peak_tops
    assert data["weight_capacity_params"] == expected.weight_capacity_params


def test_hw_show_baseline_and_bad_reference():
    res = runner.invoke(app, ["hw", "show", "h100"])
    assert res.exit_code == 0, res.output
    assert "989 TFLOP/s" in res.output
    res = runner.invoke(app, ["hw", "show", "no-such-chip"])
    assert res.exit_code == 2
    assert "unknown hardware spec 'no-such-chip'" in res.output
    assert "Traceback" not in res.output


def test_hw_validate_good_and_bad(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(load_spec("h100").model_dump(mode="json")))
    bad = tmp_path / "bad.yaml"
    d = load_spec("rram-chiplet").model_dump(mode="json")
    d["chiplet"]["array"]["adc"]["bits"] = 0
    bad.write_text(yaml.safe_dump(d))
    res = runner.invoke(app, ["hw", "validate", str(good)])
    assert res.exit_code == 0 and "ok:" in res.output
    res = runner.invoke(app, ["hw", "validate", str(good), str(bad)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    bad_lines = [line for line in res.output.splitlines() if "invalid:" in line]
    assert len(bad_lines) == 1
    assert "chiplet.array.adc.bits" in res.output and "bad.yaml" in res.output


def test_hw_schema_stdout_and_file(tmp_path: Path):
    res = runner.invoke(app, ["hw", "schema"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert schema == spec_json_schema()
    assert {"ImcSystemSpec", "DigitalBaselineSpec"} <= set(schema["$defs"])
    out = tmp_path / "schema.json"
    res = runner.invoke(app, ["hw", "schema", "--out", str(out)])
    assert res.exit_code == 0
    assert json.loads(out.read_text()) == schema
