"""Disk cache of OpGraphs: warm loads skip torch, --no-cache bypasses, keys follow the config.

Bundled models load their shipped graph and never touch the disk cache (tests/model/test_model_shipped.py),
so the cache is exercised with local folders holding a bundled config.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmimc.model import load_opgraph
from llmimc.model.bundled import find_bundled, load_bundled_config
from llmimc.model.cache import config_hash

pytestmark = pytest.mark.torch  # traces with torch/transformers


def _local_copy(alias: str, folder: Path) -> str:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(load_bundled_config(find_bundled(alias))))
    return str(folder)


def test_warm_load_does_not_import_torch(tmp_path):
    model = _local_copy("gpt2", tmp_path / "gpt2")
    cache = tmp_path / "cache"
    cold = load_opgraph(model, cache_dir=cache)
    files = list(cache.glob("*.json"))
    assert len(files) == 1 and cold.config_hash in files[0].name
    code = (
        "import sys, pathlib; from llmimc.model import load_opgraph; "
        f"g = load_opgraph({model!r}, cache_dir=pathlib.Path({str(cache)!r})); "
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
    model = _local_copy("opt-125m", tmp_path / "opt")
    cache = tmp_path / "cache"
    graph = load_opgraph(model, cache_dir=cache)
    (path,) = cache.glob("*.json")
    path.write_text("{broken")
    again = load_opgraph(model, cache_dir=cache)
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
