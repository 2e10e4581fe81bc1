"""On-disk cache of traced OpGraphs (JSON), keyed by config hash + llmimc version + trace format.

Location: ``<platformdirs user cache dir>/llmimc/opgraphs`` (``XDG_CACHE_HOME`` honoured on Linux), or
a folder the caller names. Reading a cached graph imports neither torch nor transformers. A cached
file that does not parse is treated as a miss and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmimc import __version__
from llmimc.model.opgraph import OpGraph

# Bumped whenever tracing or fitting changes what an OpGraph contains (part of the cache key).
TRACE_FORMAT = 2


def config_hash(config_dict: dict[str, Any]) -> str:
    """Stable hash of a config dict together with the llmimc version and the trace format."""
    blob = json.dumps(config_dict, sort_keys=True, default=str) + f"|{__version__}|{TRACE_FORMAT}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """``<user cache dir>/llmimc/opgraphs`` (platformdirs; XDG_CACHE_HOME honoured)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("llmimc", appauthor=False)) / "opgraphs"


def cache_path(cache_dir: Path, model_id: str, cfg_hash: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_")[-80:] or "model"
    return cache_dir / f"{safe}-{cfg_hash}.json"


def read_cached(path: Path) -> OpGraph | None:
    """The cached OpGraph at `path`, or None when absent or unreadable."""
    try:
        return OpGraph.model_validate_json(path.read_bytes())
    except (OSError, ValueError, ValidationError):
        return None


def write_cached(path: Path, graph: OpGraph) -> None:
    """Write atomically (temp file + rename) so concurrent readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(graph.model_dump_json())
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise
