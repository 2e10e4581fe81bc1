"""Spec loader and registry: built-ins, sources, YAML/JSON round trips, one-line errors for bad specs."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmimc.errors import SpecError
from llmimc.hw import (
    DEFAULT_BASELINE,
    DEFAULT_IMC_SPEC,
    DigitalBaselineSpec,
    ImcSystemSpec,
    dump_spec,
    list_builtin_specs,
    load_spec,
    parse_spec_data,
    parse_spec_text,
)
from llmimc.hw.spec import Sourced

CONFIDENCE = re.compile(
    r"\[[^\]]*(code|summary|derived|standard|datasheet|assumption|unverified|measured|abstract)"
)


def test_builtins_load_and_are_named_after_their_files():
    names = {b.name: b for b in list_builtin_specs()}
    assert {
        "rram-chiplet",
        "rram-chiplet-ucie-standard",
        "pcm-chiplet",
        "sram-dcim-chiplet",
        "h100",
        "a100",
    } <= set(names)
    for name, b in names.items():
        spec = load_spec(name)
        assert spec.name == name == b.path.stem
        assert spec.kind == b.kind and spec.description == b.description
        assert load_spec(b.path) == spec  # by path too
    assert isinstance(load_spec(DEFAULT_IMC_SPEC), ImcSystemSpec)
    assert isinstance(load_spec(DEFAULT_BASELINE), DigitalBaselineSpec)


def _sourced_sections(model):
    if isinstance(model, Sourced):
        yield model
    for name in type(model).model_fields:
        value = getattr(model, name)
        if hasattr(type(value), "model_fields"):
            yield from _sourced_sections(value)


def test_every_builtin_number_has_a_source_with_a_confidence_tag():
    for b in list_builtin_specs():
        spec = load_spec(b.name)
        sources = (
            [s.sources for s in _sourced_sections(spec)]
            if isinstance(spec, ImcSystemSpec)
            else [spec.sources]
        )
        for src in sources:
            for field, text in src.items():
                assert CONFIDENCE.search(text), f"{b.name}: sources.{field} lacks a [confidence] tag: {text}"


def test_unknown_name_and_missing_file():
    with pytest.raises(SpecError, match="unknown hardware spec 'nope'.*rram-chiplet"):
        load_spec("nope")
    with pytest.raises(SpecError, match="no such hardware spec file"):
        load_spec("missing/dir/spec.yaml")


# --- round trips -------------------------------------------------------------------------------------
_BASE = load_spec("rram-chiplet").model_dump(mode="json")
_pos = st.floats(
    min_value=1e-18, max_value=1e-3, allow_nan=False, allow_infinity=False
)  # inside llmimc.limits ranges
_nonneg = st.one_of(st.just(0.0), _pos)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


@st.composite
def valid_imc_specs(draw):
    d = copy.deepcopy(_BASE)
    arr = d["chiplet"]["array"]
    arr["rows"] = draw(st.integers(1, 4096))
    arr["cols"] = draw(st.integers(1, 4096))
    arr["bits_per_cell"] = draw(st.integers(1, 8))
    arr["differential"] = draw(st.booleans())
    arr["cell_technology"] = draw(st.sampled_from(["rram", "pcm", "sram", "fefet", "mram"]))
    arr["read_time_per_cycle_s"] = draw(_pos)
    arr["read_energy_per_cell_j"] = draw(_nonneg)
    arr["endurance_cycles"] = draw(st.one_of(st.none(), _pos))
    arr["adc"]["bits"] = draw(st.integers(1, 16))
    arr["adc"]["energy_per_conversion_j"] = draw(_pos)
    arr["dac"]["bits_per_cycle"] = draw(st.integers(1, 16))
    d["chiplet"]["tiles"] = draw(st.integers(1, 10_000))
    d["chiplet"]["power"]["adc_leakage_w"] = draw(_nonneg)
    d["chiplet"]["power"]["power_gating"] = draw(st.booleans())
    d["chiplet"]["area_m2"] = draw(st.one_of(st.none(), _nonneg))
    d["chiplet"]["global_sram"]["capacity_bytes"] = draw(st.integers(0, 2**40))
    n = draw(st.integers(1, 64))
    d["package"]["num_chiplets"] = n
    d["package"]["topology"] = draw(st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all", "explicit"]))
    d["package"]["mesh_cols"] = draw(st.one_of(st.none(), st.integers(1, 64)))
    if d["package"]["mesh_cols"] is not None:
        d["package"]["sources"]["mesh_cols"] = draw(_text.filter(str.strip))
    if n >= 2:
        pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
        d["package"]["explicit_links"] = [list(p) for p in draw(st.lists(pairs, min_size=1, max_size=8))]
    elif d["package"]["topology"] == "explicit":
        d["package"]["topology"] = "ring"
    d["package"]["d2d"]["bw_bytes_per_s"] = draw(_pos)
    d["package"]["d2d"]["name"] = draw(_text)
    d["name"] = draw(_text)
    d["description"] = draw(_text)
    return parse_spec_data(d, "<generated>")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_imc_specs(), fmt=st.sampled_from(["yaml", "json"]))
def test_random_valid_specs_round_trip(spec, fmt):
    assert parse_spec_text(dump_spec(spec, fmt), "<round-trip>", fmt) == spec


@settings(max_examples=30, deadline=None)
@given(
    peaks=st.dictionaries(st.sampled_from(["fp16", "bf16", "int8", "fp8", "fp32"]), _pos, min_size=1),
    frac=st.floats(min_value=1e-6, max_value=1.0),
    fmt=st.sampled_from(["yaml", "json"]),
)
def test_random_baselines_round_trip(peaks, frac, fmt):
    d = load_spec("h100").model_dump(mode="json")
    d.update(peak_flops_per_s=peaks, achievable_bw_fraction=frac)
    spec = parse_spec_data(d, "<generated>")
    assert parse_spec_text(dump_spec(spec, fmt), "<round-trip>", fmt) == spec


# --- invalid specs -----------------------------------------------------------------------------------
def _set(d: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for key in head:
        d = d[key]
    if value is _DELETE:
        del d[last]
    else:
        d[last] = value


_DELETE = object()
INVALID = [  # (field set or deleted, value, where the message must point, reason)
    ("chiplet.array.adc.bits", 0, "chiplet.array.adc.bits:", "greater than or equal to 1"),
    ("chiplet.array.rows", -1, "chiplet.array.rows:", "greater than 0"),
    ("chiplet.array.read_time_per_cycle_s", 0.0, "chiplet.array.read_time_per_cycle_s:", "greater than 0"),
    ("chiplet.array.read_energy_per_cell_j", math.nan, "chiplet.array.read_energy_per_cell_j:", "finite"),
    ("package.d2d.bw_bytes_per_s", math.inf, "package.d2d.bw_bytes_per_s:", "finite"),
    ("chiplet.array.flux_capacitor", 1, "chiplet.array.flux_capacitor:", "unknown field"),
    ("chiplet.tiles", "many", "chiplet.tiles:", "valid integer"),
    ("chiplet.noc", _DELETE, "chiplet.noc:", "Field required"),
    ("package.topology", "hypercube", "package.topology:", "'ring'"),
    ("chiplet.array.sources.rows", _DELETE, "chiplet.array:", "numbers without a source: rows"),
    ("package.memory.attached_chiplets", [9], "package:", "memory.attached_chiplets names chiplet 9"),
    ("kind", _DELETE, "kind:", "missing"),
]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(("path", "value", "loc", "reason"), INVALID)
def test_invalid_specs_give_one_line_naming_file_and_field(tmp_path: Path, fmt, path, value, loc, reason):
    d = copy.deepcopy(_BASE)
    _set(d, path, value)
    f = tmp_path / f"bad.{fmt}"
    f.write_text(json.dumps(d) if fmt == "json" else yaml.safe_dump(d), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(str(f))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}: {loc}")
    assert reason in msg


def test_yaml_duplicate_keys_and_syntax_errors(tmp_path: Path):
    text = Path(list_builtin_specs()[0].path).read_text()
    dup = tmp_path / "dup.yaml"
    dup.write_text(text + "\nname: again\n")
    with pytest.raises(SpecError, match=r"dup.yaml: invalid YAML.*duplicate key 'name'"):
        load_spec(dup)
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: imc\nchiplet: [1, 2\n")
    with pytest.raises(SpecError, match=r"broken.yaml: invalid YAML at line"):
        load_spec(broken)
    listy = tmp_path / "list.json"
    listy.write_text("[1, 2]")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(listy)
