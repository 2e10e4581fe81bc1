"""Pre-traced OpGraphs of the bundled models, shipped as package data next to their configs.

Each bundled config ``llmimc/model/configs/<stem>.json`` may have a ``<stem>.opgraph.json.gz``: the
gzip-compressed JSON of the OpGraph that the real tracer (`llmimc.model.graph.build_opgraph`) produces
for it, written by ``tools/regen_bundled_graphs.py``. `llmimc.model.load_opgraph` returns it only when
its config hash and llmimc version equal the ones resolution computes (the disk-cache key), so a
bundled model loads without importing torch or transformers; a stale or missing file means a trace.
``tests/model/test_model_shipped.py`` checks every shipped graph against a fresh trace.
"""

from __future__ import annotations

import gzip
import zlib
from importlib import resources

from llmimc.model.bundled import BundledModel
from llmimc.model.opgraph import OpGraph

_PACKAGE = "llmimc.model.configs"
SHIPPED_GRAPH_SUFFIX = ".opgraph.json.gz"


def shipped_graph_file(model: BundledModel) -> str:
    """File name (inside llmimc/model/configs) of the shipped graph of `model`."""
    return model.config_file.removesuffix(".json") + SHIPPED_GRAPH_SUFFIX


def read_shipped_graph(model: BundledModel) -> OpGraph | None:
    """The shipped OpGraph of `model`, or None when the file is absent or unreadable."""
    try:
        raw = resources.files(_PACKAGE).joinpath(shipped_graph_file(model)).read_bytes()
        return OpGraph.model_validate_json(gzip.decompress(raw))
    except (OSError, EOFError, zlib.error, ValueError):  # ValueError covers pydantic's ValidationError
        return None


def shipped_graph_bytes(graph: OpGraph) -> bytes:
    """Deterministic gzip (mtime 0, level 9) of the graph's compact JSON: regeneration is byte-stable."""
    return gzip.compress(graph.model_dump_json().encode("utf-8"), compresslevel=9, mtime=0)
