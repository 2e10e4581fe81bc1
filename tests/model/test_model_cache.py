"""Disk cache of OpGraphs: warm loads skip torch, --no-cache bypasses, keys follow the config."""

from __future__ import annotations

import os
import subprocess
import sys

from llmimc.model import load_opgraph
from llmimc.model.cache import config_hash


def test_warm_load_does_not_import_torch(tmp_path):
    cold = load_opgraph("gpt2", cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and cold.config_hash in files[0].name
    code = (
        "import sys, pathlib; from llmimc.model import load_opgraph; "
        f"g = load_opgraph('gpt2', cache_dir=pathlib.Path({str(tmp_path)!r})); "
        "print(g.num_params, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == [str(cold.num_params), "False", "False"]


def test_no_cache_neither_reads_nor_writes(tmp_path):
    graph = load_opgraph("gpt2", use_cache=False, cache_dir=tmp_path)
    assert graph.num_params == 124_439_808
    assert not list(tmp_path.iterdir())


def test_corrupt_cache_file_is_retraced(tmp_path):
    graph = load_opgraph("facebook/opt-125m", cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.json")
    path.write_text("{broken")
    again = load_opgraph("opt-125m", cache_dir=tmp_path)
    assert again == graph


def test_config_hash_changes_with_config_and_is_order_free():
    a = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2}
    b = {"num_hidden_layers": 2, "hidden_size": 64, "model_type": "llama"}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "num_hidden_layers": 3})


def test_default_cache_dir_honours_xdg(monkeypatch, tmp_path):
    from llmimc.model.cache import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "llmimc" / "opgraphs"
