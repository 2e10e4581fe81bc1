"""Resolution of model references and one-line errors for bad input (library and CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from llmimc.errors import ModelResolutionError
from llmimc.model import load_opgraph, resolve_model
from llmimc_cli.main import app

pytestmark = pytest.mark.torch  # traces with torch/transformers

TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 50,
    "max_position_embeddings": 64,
    "torch_dtype": "bfloat16",
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.mark.parametrize(
    "ref,model_id",
    [
        ("gpt2", "gpt2"),
        ("llama-2-7b", "meta-llama/Llama-2-7b-hf"),
        ("Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"),
        ("mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1"),
        ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
        ("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B"),
    ],
)
def test_bundled_aliases_resolve(ref, model_id):
    resolved = resolve_model(ref)
    assert resolved.model_id == model_id and resolved.source == "bundled"


def test_local_folder_is_traced(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    graph = load_opgraph(str(tmp_path), use_cache=False)
    assert graph.info.source == f"local:{tmp_path / 'config.json'}"
    assert graph.info.num_kv_heads == 2 and graph.info.dtype == "bfloat16"
    assert graph.kv_bytes_per_token() == 2 * 2 * 2 * 8 * 2


def test_unknown_model_names_close_matches():
    with pytest.raises(ModelResolutionError, match="did you mean llama-2-7b"):
        resolve_model("lama-2-7b")
    with pytest.raises(ModelResolutionError, match="HF_HUB_OFFLINE"):
        resolve_model("acme/not-a-model")


def _bert_folder(tmp_path):
    bert = {
        "architectures": ["BertForMaskedLM"],
        "model_type": "bert",
        "hidden_size": 32,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "intermediate_size": 64,
        "vocab_size": 50,
    }
    (tmp_path / "config.json").write_text(json.dumps(bert))
    return tmp_path


def test_bad_inputs_raise_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelResolutionError, match="no config.json"):
        resolve_model(str(empty))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "llama", ')
    with pytest.raises(ModelResolutionError, match=r"malformed config.json \(line 1"):
        resolve_model(str(bad))
    bert = tmp_path / "bert"
    bert.mkdir()
    with pytest.raises(ModelResolutionError, match="encoder-only"):
        load_opgraph(str(_bert_folder(bert)), use_cache=False)


@pytest.mark.parametrize("case", ["unknown", "no_config", "malformed", "encoder_only", "bad_phase"])
def test_cli_bad_input_exit_2_one_line(case, tmp_path):
    args = ["model", "show"]
    if case == "unknown":
        args += ["lama-2-7b"]
    elif case == "no_config":
        args += [str(tmp_path)]
    elif case == "malformed":
        (tmp_path / "config.json").write_text("{not json")
        args += [str(tmp_path)]
    elif case == "encoder_only":
        args += [str(_bert_folder(tmp_path))]
    else:
        args += ["gpt2", "--phase", "train"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    out = result.output.strip()
    assert out.startswith("error:") and "\n" not in out and "Traceback" not in out
    if case == "unknown":
        assert "llama-2-7b" in out


def test_hub_cache_is_honoured(tmp_path):
    """A config in the HF hub cache (HF_HUB_CACHE) resolves offline; run in a fresh interpreter."""
    snap = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(TINY_LLAMA))
    (tmp_path / "hub" / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny" / "refs" / "main").write_text("abc123")
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    code = (
        "from llmimc.model import resolve_model; r = resolve_model('acme/tiny'); print(r.model_id, r.source)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("acme/tiny hub-cache:") and "abc123" in out
