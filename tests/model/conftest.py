"""Shared fixtures for tests/model: one fresh trace per bundled model per test session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llmimc.model import OpGraph, load_opgraph


@pytest.fixture(scope="session")
def fresh_trace() -> Callable[[str], OpGraph]:
    """`fresh_trace(model_id)`: the graph of a real trace (``use_cache=False``), memoised per session."""
    graphs: dict[str, OpGraph] = {}

    def trace(model_id: str) -> OpGraph:
        if model_id not in graphs:
            graphs[model_id] = load_opgraph(model_id, use_cache=False)
        return graphs[model_id]

    return trace
