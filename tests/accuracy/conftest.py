"""Fixtures of the accuracy tests (builders in support.accuracy)."""

from __future__ import annotations

import pytest
from support.accuracy import tiny_llama

from llmimc.accuracy.evaluate import Loaded
from llmimc.hw import load_spec
from llmimc.hw.spec import ImcSystemSpec


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return tiny_llama(tmp_path_factory)


@pytest.fixture(scope="session")
def pcm() -> ImcSystemSpec:
    spec = load_spec("pcm-chiplet")
    assert isinstance(spec, ImcSystemSpec)
    return spec


@pytest.fixture(scope="session")
def rram() -> ImcSystemSpec:
    spec = load_spec("rram-chiplet")
    assert isinstance(spec, ImcSystemSpec)
    return spec
