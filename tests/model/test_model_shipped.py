"""Pre-traced OpGraphs shipped for the bundled models: equal to a fresh trace, loaded without torch.

A failure of `test_shipped_graph_equals_fresh_trace` after changing the tracer, a bundled config,
TRACE_FORMAT, transformers or the llmimc version means the shipped files are stale: regenerate them
with ``python tools/regen_bundled_graphs.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from importlib import resources

import pytest

from llmimc import __version__
from llmimc.model import list_bundled_models, load_opgraph
from llmimc.model.bundled import find_bundled, load_bundled_config
from llmimc.model.cache import config_hash
from llmimc.model.shipped import read_shipped_graph, shipped_graph_bytes, shipped_graph_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
]  # traces with torch/transformers (slow: real forwards or every bundled model)

BUNDLED = list_bundled_models()
REGEN = (
    "stale shipped graph: run `python tools/regen_bundled_graphs.py` and commit the .opgraph.json.gz files"
)


@pytest.mark.parametrize("model", BUNDLED, ids=[m.id for m in BUNDLED])
def test_shipped_graph_equals_fresh_trace(model, fresh_trace):
    shipped = read_shipped_graph(model)
    assert shipped is not None, f"{shipped_graph_file(model)} missing or unreadable; {REGEN}"
    fresh = fresh_trace(model.id)
    assert shipped.llmimc_version == __version__, f"{model.id}: {REGEN}"
    assert shipped.config_hash == config_hash(load_bundled_config(model)), f"{model.id}: {REGEN}"
    assert shipped.model_dump() == fresh.model_dump(), f"{model.id}: {REGEN}"


def test_shipped_files_are_deterministic_gzip_and_small():
    files = resources.files("llmimc.model.configs")
    total_bytes = 0
    for model in BUNDLED:
        raw = files.joinpath(shipped_graph_file(model)).read_bytes()
        total_bytes += len(raw)
        assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0", f"{model.id}: not gzip with mtime 0"
        graph = read_shipped_graph(model)
        assert json.loads(gzip.decompress(raw)) == json.loads(graph.model_dump_json())
        assert gzip.decompress(shipped_graph_bytes(graph)) == gzip.decompress(raw)
    assert total_bytes < 1_000_000


def test_load_returns_shipped_graph_without_tracing_or_caching(tmp_path, monkeypatch):
    import llmimc.model.graph as graph_mod

    def no_trace(*args, **kwargs):
        raise AssertionError("traced although a current shipped graph exists")

    monkeypatch.setattr(graph_mod, "build_opgraph", no_trace)
    graph = load_opgraph("llama-2-70b", cache_dir=tmp_path)
    assert graph == read_shipped_graph(find_bundled("llama-2-70b"))
    assert graph.info.model_id == "meta-llama/Llama-2-70b-hf" and graph.info.source == "bundled"
    assert not list(tmp_path.iterdir())


def test_stale_shipped_graph_falls_back_to_tracing(tmp_path, monkeypatch, fresh_trace):
    import llmimc.model.api as api

    real = api.read_shipped_graph

    def stale(model):
        g = real(model)
        return g.model_copy(update={"config_hash": "0" * 16})

    monkeypatch.setattr(api, "read_shipped_graph", stale)
    graph = load_opgraph("gpt2", cache_dir=tmp_path)
    assert graph == fresh_trace("gpt2")
    assert len(list(tmp_path.glob("*.json"))) == 1  # traced, so written to the disk cache


def test_no_cache_never_reads_the_shipped_graph(tmp_path, monkeypatch):
    import llmimc.model.api as api

    def forbidden(model):
        raise AssertionError("use_cache=False read the shipped graph")

    monkeypatch.setattr(api, "read_shipped_graph", forbidden)
    graph = load_opgraph("opt-125m", use_cache=False, cache_dir=tmp_path)
    assert graph.num_params == 125_239_296
    assert not list(tmp_path.iterdir())


def test_hub_cache_copy_of_a_bundled_id_wins_over_the_shipped_graph(tmp_path, monkeypatch):
    """A config of the same id in the HF cache is the user's model: traced, not the shipped graph."""
    from huggingface_hub import constants

    bundled = next(m for m in BUNDLED if m.id == "gpt2")
    config = {**load_bundled_config(bundled), "n_layer": 2}
    repo = tmp_path / "hub" / "models--openai-community--gpt2"
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").write_text(json.dumps(config))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    graph = load_opgraph("openai-community/gpt2", cache_dir=tmp_path / "cache")
    assert graph.info.source.startswith("hub-cache:") and graph.info.num_layers == 2


def _cold_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"), HF_HUB_OFFLINE="1", COLUMNS="160")
    env.pop("HF_HUB_CACHE", None)
    return env


def test_cold_load_of_gpt2_does_not_import_torch(tmp_path):
    code = (
        "import sys; from llmimc.model import load_opgraph; g = load_opgraph('gpt2'); "
        "print(g.num_params, g.info.source, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_cold_env(tmp_path), capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["124439808", "bundled", "False", "False"]
    assert not (tmp_path / "xdg").exists()  # the shipped graph is not copied to the user cache


def test_cold_cli_model_show_does_not_import_torch(tmp_path):
    cmd = [sys.executable, "-X", "importtime", "-m", "llmimc_cli.main", "model", "show", "gpt2"]
    done = subprocess.run(cmd, env=_cold_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "lm_head" in done.stdout and "0-11 ×12" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "transformers")}
    assert not heavy and "llmimc.model.shipped" in imported
