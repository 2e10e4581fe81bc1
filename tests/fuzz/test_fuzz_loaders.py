"""Hypothesis on the loaders: any value in a spec, config.json or policy either loads (finite, within
llmimc.limits ranges) or raises the loader's one-line LlmimcError; nothing else escapes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmimc.compress import load_policy
from llmimc.errors import ModelResolutionError, PolicyError, SpecError
from llmimc.hw import load_spec, parse_spec_text
from llmimc.limits import non_finite_path, spec_range_problem
from llmimc.model.resolve import read_config_file

_BASE = load_spec("rram-chiplet").model_dump(mode="json")
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)


def _numeric_paths(data: object, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for k, v in data.items() if k != "sources" for p in _numeric_paths(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _numeric_paths(v, (*path, i))]
    return [path] if isinstance(data, int | float) and not isinstance(data, bool) else []


_PATHS = _numeric_paths(_BASE)


def _one_line(err: Exception) -> None:
    assert "\n" not in str(err) and str(err).strip()


_spec_case = given(where=st.sampled_from(_PATHS), value=_values, fmt=st.sampled_from(["yaml", "json"]))


@settings(max_examples=40, deadline=None)
@_spec_case
def test_any_spec_value_loads_in_range_or_is_one_line(where: tuple, value: object, fmt: str) -> None:
    check_spec_value(where, value, fmt)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@_spec_case
def test_any_spec_value_many(where: tuple, value: object, fmt: str) -> None:
    check_spec_value(where, value, fmt)


def check_spec_value(where: tuple, value: object, fmt: str) -> None:
    data = json.loads(json.dumps(_BASE))
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    if fmt == "json":
        text = json.dumps(data, allow_nan=True)
    else:
        import yaml

        text = yaml.safe_dump(data)
    try:
        spec = parse_spec_text(text, "<fuzz>", fmt)
    except SpecError as err:
        _one_line(err)
        return
    dumped = spec.model_dump(mode="json")
    assert non_finite_path(dumped) is None
    assert spec_range_problem(dumped) is None


_CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 128,
}


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(sorted(_CONFIG) + ["rope_theta", "head_dim", "text_config"]), value=_values)
def test_any_config_value_reads_or_is_one_line(key: str, value: object, tmp_path_factory) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "config.json"
    path.write_text(json.dumps(dict(_CONFIG, **{key: value}), allow_nan=True))
    try:
        data = read_config_file(path)
    except ModelResolutionError as err:
        _one_line(err)
        return
    if key in ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "vocab_size"):
        values = data[key] if isinstance(data[key], list) else [data[key]]  # None: transformers' default
        assert all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in values)
    assert not (isinstance(data.get(key), float) and math.isnan(data[key]))


@settings(max_examples=100, deadline=None)
@given(
    key=st.sampled_from(
        ["weight_bits", "act_bits", "kv_bits", "outlier_fraction", "outlier_bits", "sparsity", "name"]
    ),
    value=_values,
)
def test_any_policy_value_loads_or_is_one_line(key: str, value: object, tmp_path_factory) -> None:
    path = Path(tmp_path_factory.mktemp("pol")) / "p.json"
    base = {"name": "p", "weight_bits": 8, "act_bits": 8, "kv_bits": 16}
    path.write_text(json.dumps(dict(base, **{key: value}), allow_nan=True))
    try:
        load_policy(path)
    except PolicyError as err:
        _one_line(err)


def test_bytes_that_are_not_utf8_are_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "m" / "config.json"
    cfg.parent.mkdir()
    cfg.write_bytes(b'{"model_type": "llama", \xff}')
    pol = tmp_path / "p.yaml"
    pol.write_bytes(b"name: \xff\n")
    spec = tmp_path / "s.yaml"
    spec.write_bytes(b"kind: imc\nname: \xff\n")
    for load, path, err_type in (
        (read_config_file, cfg, ModelResolutionError),
        (load_policy, pol, PolicyError),
    ):
        try:
            load(path)
        except err_type as err:
            assert "UTF-8" in str(err) and str(path) in str(err)
        else:
            raise AssertionError(f"{path} loaded")
    try:
        load_spec(str(spec))
    except SpecError as err:
        assert str(spec) in str(err)
