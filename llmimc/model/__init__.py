"""Model ingestion: resolve a causal LM, trace it on the meta device, return its OpGraph.

Public API (no torch import at package import time):
- `load_opgraph(model_ref, *, use_cache=True, cache_dir=None) -> OpGraph`
- `opgraph_from_config(config, model_id, source) -> OpGraph`
- `list_bundled_models() -> list[BundledModel]`
- `resolve_model(model_ref) -> ResolvedModel`
- `summarize(graph, phase, tokens, context, batch)` for reports (llmimc.model.summary)
"""

from llmimc.model.api import load_opgraph, opgraph_from_config
from llmimc.model.bundled import BundledModel, list_bundled_models
from llmimc.model.opgraph import ModelInfo, Op, OpGraph, OpKind, Poly
from llmimc.model.resolve import ResolvedModel, resolve_model

__all__ = [
    "BundledModel",
    "ModelInfo",
    "Op",
    "OpGraph",
    "OpKind",
    "Poly",
    "ResolvedModel",
    "list_bundled_models",
    "load_opgraph",
    "opgraph_from_config",
    "resolve_model",
]
