"""Public entry points of model ingestion: resolve → (shipped graph | disk cache | trace) → OpGraph.

`load_opgraph` never imports torch for a bundled model whose shipped pre-traced graph is current
(llmimc.model.shipped) or for a graph already in the disk cache; tracing (and with it torch and
transformers) is imported only on a miss, with ``use_cache=False``, or for `opgraph_from_config`.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

from llmimc import __version__
from llmimc.errors import ModelResolutionError, one_line
from llmimc.model.cache import cache_path, config_hash, default_cache_dir, read_cached, write_cached
from llmimc.model.opgraph import OpGraph
from llmimc.model.resolve import ResolvedModel, resolve_model
from llmimc.model.shipped import read_shipped_graph

if TYPE_CHECKING:  # pragma: no cover
    import transformers


def config_from_dict(config_dict: dict[str, Any], where: str) -> transformers.PretrainedConfig:
    """Build the transformers config class named by ``model_type`` (never remote code)."""
    from transformers import CONFIG_MAPPING

    model_type = config_dict.get("model_type")
    try:
        cls = CONFIG_MAPPING[str(model_type)]
    except KeyError:
        raise ModelResolutionError(
            f"{where}: model_type {model_type!r} is not known to this transformers version "
            f"(llmimc never runs remote code); use a supported decoder-only model"
        ) from None
    from huggingface_hub.errors import StrictDataclassError

    from llmimc.model.graph import quiet_transformers

    try:
        with quiet_transformers():  # legacy-value notices (e.g. Gemma's hidden_act) are not ours to print
            return cls.from_dict(dict(config_dict))
    except (ValueError, TypeError, KeyError, AttributeError, ZeroDivisionError, OverflowError) as e:
        raise ModelResolutionError(one_line(f"{where}: invalid config for {model_type}: {e}")) from None
    except StrictDataclassError as e:  # huggingface_hub's config validators (transformers >= 5)
        cause = e.__cause__ if e.__cause__ is not None else e
        raise ModelResolutionError(
            one_line(f"{where}: invalid config for {model_type}: {str(cause).rstrip('.')}; fix config.json")
        ) from None


def require_hf(what: str) -> None:
    """Raise a one-line error if torch or transformers (the ``[hf]`` extra) is not installed."""
    import importlib.util

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelResolutionError(
            f"{what} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            'installed: pip install "llmimc[hf]" (bundled models work without it: llmimc models)'
        )


def opgraph_from_config(config: transformers.PretrainedConfig, model_id: str, source: str) -> OpGraph:
    """Trace a transformers config object directly (no resolution, no cache)."""
    from llmimc.model.graph import build_opgraph

    return build_opgraph(config, model_id, source, config_hash(config.to_dict()))


def _current_shipped(resolved: ResolvedModel, cfg_hash: str) -> OpGraph | None:
    """The shipped graph of a bundled model, if it was traced from this config by this llmimc version."""
    if resolved.bundled is None:
        return None
    graph = read_shipped_graph(resolved.bundled)
    if graph is None or graph.config_hash != cfg_hash or graph.llmimc_version != __version__:
        return None
    return graph


def load_opgraph(model_ref: str, *, use_cache: bool = True, cache_dir: pathlib.Path | None = None) -> OpGraph:
    """Resolve `model_ref` (bundled alias / id, local folder, HF cache) and return its OpGraph.

    A bundled model's shipped graph, or a graph traced before for the same config (hash of
    config.json + llmimc version) in the disk cache, is returned without importing torch (the shipped
    one is not copied to the disk cache); ``use_cache=False`` always traces and writes nothing.
    """
    resolved = resolve_model(model_ref)
    cfg_hash = config_hash(resolved.config)
    if use_cache:
        shipped = _current_shipped(resolved, cfg_hash)
        if shipped is not None:
            return shipped
    path = cache_path(cache_dir or default_cache_dir(), resolved.model_id, cfg_hash)
    if use_cache:
        cached = read_cached(path)
        if cached is not None and cached.config_hash == cfg_hash and cached.llmimc_version == __version__:
            info = cached.info.model_copy(update={"model_id": resolved.model_id, "source": resolved.source})
            return cached.model_copy(update={"info": info})
    require_hf(f"tracing {resolved.model_id}")
    from llmimc.model.graph import build_opgraph

    where = resolved.source if resolved.source != "bundled" else f"bundled config of {resolved.model_id}"
    config = config_from_dict(resolved.config, where)
    graph = build_opgraph(config, resolved.model_id, resolved.source, cfg_hash)
    if use_cache:
        try:
            write_cached(path, graph)
        except OSError:
            pass  # the cache is only an optimisation: an unwritable cache dir still returns the graph
    return graph
