"""`llmimc models` and `llmimc model show` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmimc_cli.main import app


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COLUMNS", "200")


def test_models_lists_bundled():
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for text in ("gpt2", "meta-llama/Llama-2-70b-hf", "mixtral-8x7b", "124,439,808"):
        assert text in result.output


def test_show_prefill_collapses_layers_and_writes_json(tmp_path):
    path = tmp_path / "gpt2.json"
    result = CliRunner().invoke(
        app, ["model", "show", "gpt2", "--tokens", "64", "--batch", "2", "--json", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "0-11 ×12" in result.output and "lm_head" in result.output
    data = json.loads(path.read_text())
    assert data["num_params"] == 124_439_808
    assert data["weight_bytes"] == 124_439_808 * 4
    assert data["kv_bytes_per_token"] == 2 * 12 * 12 * 64 * 4
    assert (data["phase"], data["tokens"], data["kv_len"], data["batch"]) == ("prefill", 64, 64, 2)
    assert data["flops_total"] == pytest.approx(sum(r["flops"] for r in data["rows"]))
    linear = 2 * 2 * 64 * 12 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) + 2 * 2 * 768 * 50257
    assert data["flops_by_kind"]["linear"] == linear


def test_show_decode_no_cache(tmp_path):
    path = tmp_path / "d.json"
    args = [
        "model",
        "show",
        "llama-2-7b",
        "--phase",
        "decode",
        "--context",
        "1023",
        "--json",
        str(path),
        "--no-cache",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    assert (data["tokens"], data["kv_len"]) == (1, 1024)
    # score + context: 2 x 2 x hidden FLOPs per cached token per layer
    assert data["flops_by_kind"]["attn_score"] == 2 * 4096 * 1024 * 32
    assert not (tmp_path / "xdg").exists()
