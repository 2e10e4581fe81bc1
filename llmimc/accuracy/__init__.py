"""Accuracy beside PPA (DESIGN.md §8): a real causal LM through emulated analog crossbars.

Heavy modules (torch, transformers) load on first use of a name below.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "AccuracyOptions": "llmimc.accuracy.evaluate",
    "AccuracyResult": "llmimc.accuracy.result",
    "Loaded": "llmimc.accuracy.evaluate",
    "load": "llmimc.accuracy.evaluate",
    "evaluate": "llmimc.accuracy.evaluate",
    "run_accuracy": "llmimc.accuracy.runner",
    "run_search": "llmimc.accuracy.runner",
    "SearchResult": "llmimc.accuracy.search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
