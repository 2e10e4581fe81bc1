"""Sweep tests run offline with a private OpGraph cache."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _offline_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()
