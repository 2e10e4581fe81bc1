"""Sweep file validation, spec-path overrides, sampling and safe constraints (no evaluation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmimc.hw import load_spec
from llmimc.sweep import SweepError, plan_sweep, sweep_json_schema
from llmimc.sweep.constraints import MISSING, Constraint
from llmimc.sweep.overrides import apply_overrides
from llmimc.sweep.sampling import grid_values, sample_points
from llmimc.sweep.sweep_file import RangeAxis, Sampling, parse_sweep_data


def _sweep(**kw):
    data = {"mode": "profile", "fixed": {"model": "gpt2", "prompt_len": 16, "gen_len": 4}, **kw}
    return parse_sweep_data(data, "s.yaml")


def test_schema_names_sections():
    schema = sweep_json_schema()
    assert schema["title"] == "llmimc sweep file"
    assert {"axes", "fixed", "sampling", "constraints", "objectives", "capacity"} <= set(schema["properties"])


def test_empty_axis_names_the_axis():
    with pytest.raises(SweepError, match=r"s.yaml: axis 'chiplets': empty axis"):
        _sweep(axes={"chiplets": []})


def test_unknown_spec_path_names_the_axis_and_the_missing_field():
    with pytest.raises(SweepError, match=r"axis 'chiplet.array.rowz': unknown spec path .* no field 'rowz'"):
        plan_sweep(_sweep(axes={"chiplet.array.rowz": [128]}), "s.yaml")


def test_unknown_parameter_and_section_path():
    with pytest.raises(SweepError, match=r"axis 'chiplet_count': unknown profile parameter"):
        plan_sweep(_sweep(axes={"chiplet_count": [1]}), "s.yaml")
    with pytest.raises(SweepError, match=r"'chiplet.array.adc' is a section"):
        plan_sweep(_sweep(axes={"chiplet.array.adc": [1]}), "s.yaml")


def test_axis_value_failing_spec_validation_names_point_and_axis():
    with pytest.raises(
        SweepError, match=r"point 1 \(chiplet.array.adc.bits=32\).*adc.bits.*less than or equal to 16"
    ):
        plan_sweep(_sweep(axes={"chiplet.array.adc.bits": [8, 32]}), "s.yaml")


def test_axis_value_failing_parameter_validation():
    with pytest.raises(
        SweepError, match=r"point 0 \(chiplets=0\): axis 'chiplets' = 0: .*greater than or equal to 1"
    ):
        plan_sweep(_sweep(axes={"chiplets": [0, 2]}), "s.yaml")
    with pytest.raises(SweepError, match=r"axis 'precision'.*unknown precision policy 'w3a3'"):
        plan_sweep(_sweep(axes={"precision": ["w8a8", "w3a3"]}), "s.yaml")


def test_override_sets_value_and_source_note_and_leaves_spec_unchanged():
    spec = load_spec("rram-chiplet")
    out = apply_overrides(spec, [("chiplet.array.rows", 128), ("package.d2d.bw_bytes_per_s", 1e11)], "here")
    assert out.chiplet.array.rows == 128 and spec.chiplet.array.rows == 256
    assert out.package.d2d.bw_bytes_per_s == 1e11
    note = out.chiplet.array.sources["rows"]
    assert note.startswith("[assumption] sweep axis chiplet.array.rows = 128") and "spec value 256" in note
    assert out.chiplet.array.sources["cols"] == spec.chiplet.array.sources["cols"]


def test_grid_count_and_constraint_exclusion():
    plan = plan_sweep(
        _sweep(
            axes={"chiplets": [1, 2, 4, 8], "chiplet.array.rows": [128, 256]},
            constraints=["chiplets * chiplet_area_mm2 <= 300", "chiplet.array.rows >= 128", "batch == 1"],
        ),
        "s.yaml",
    )
    # rram-chiplet is 75 mm2: 1, 2, 4 chiplets pass (<= 300 mm2), 8 do not
    assert len(plan.points) == 6 and plan.excluded_points == 2
    assert {p.inputs["chiplets"] for p in plan.points} == {1, 2, 4}
    assert all(p.package_area_mm2 == pytest.approx(75.0 * p.inputs["chiplets"]) for p in plan.points)
    assert len({p.key for p in plan.points}) == 6
    assert plan.notes and "chiplet.array.rows" in plan.notes[0]  # area does not follow the array size


def test_point_key_depends_on_full_config_only():
    a = plan_sweep(_sweep(axes={"chiplets": [2, 4]}), "a").points
    b = plan_sweep(_sweep(axes={"chiplets": [4, 2]}), "b").points
    assert {p.key for p in a} == {p.key for p in b}
    c = plan_sweep(
        _sweep(axes={"chiplets": [2, 4]}, fixed={"model": "gpt2", "prompt_len": 17, "gen_len": 4}), "c"
    )
    assert not {p.key for p in a} & {p.key for p in c.points}


def test_grid_ranges():
    assert grid_values("a", RangeAxis(low=1, high=9, step=2, integer=True)) == [1, 3, 5, 7, 9]
    assert grid_values("a", RangeAxis(low=1, high=1000, num=4, log=True)) == pytest.approx([1, 10, 100, 1000])
    with pytest.raises(SweepError, match="axis 'a': a range needs num or step"):
        grid_values("a", RangeAxis(low=1, high=9))


def test_random_and_lhs_are_seeded_and_in_range():
    axes = {"x": RangeAxis(low=0.0, high=1.0), "k": [1, 2, 3, 4]}
    for method in ("random", "lhs"):
        s = Sampling(method=method, samples=40, seed=3)
        a, b = sample_points(axes, s), sample_points(axes, s)
        assert a == b
        assert all(0 <= p["x"] <= 1 and p["k"] in (1, 2, 3, 4) for p in a)
        assert sample_points(axes, Sampling(method=method, samples=40, seed=4)) != a


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 10_000))
def test_lhs_puts_one_draw_in_every_stratum(n, seed):
    points = sample_points({"x": RangeAxis(low=0.0, high=1.0)}, Sampling(method="lhs", samples=n, seed=seed))
    strata = sorted(min(int(p["x"] * n), n - 1) for p in points)
    assert strata == list(range(n))


def test_lhs_list_axis_is_balanced():
    points = sample_points({"k": ["a", "b", "c", "d"]}, Sampling(method="lhs", samples=40, seed=0))
    # deduplicated: every value appears (the 40 draws hold each of the 4 values exactly 10 times)
    assert sorted(p["k"] for p in points) == ["a", "b", "c", "d"]
    rng = np.random.default_rng(0)
    units = (rng.permutation(40) + rng.random(40)) / 40
    assert sorted(np.bincount((units * 4).astype(int))) == [10, 10, 10, 10]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "chiplets.__class__",
        "open('x')",
        "[c for c in chiplets]",
        "x[0]",
        "lambda: 1",
    ],
)
def test_constraint_refuses_anything_but_arithmetic(text):
    with pytest.raises(SweepError, match="not allowed|not an expression"):
        c = Constraint(text, "c")
        c.holds({"chiplets": 1, "x": (1,)}.get)


def test_constraint_evaluates_dotted_names_and_functions():
    c = Constraint("chiplet.array.rows >= 2 * max(a, 3) and p in ('w8a8', 'w4a8') and not b", "c")
    assert c.names == {"chiplet.array.rows", "a", "p", "b"}
    assert c.holds({"chiplet.array.rows": 8, "a": 4, "p": "w8a8", "b": False}.get)
    assert not c.holds({"chiplet.array.rows": 7, "a": 4, "p": "w8a8", "b": False}.get)
    with pytest.raises(SweepError, match="'a' has no value"):
        c.holds(lambda name: {"chiplet.array.rows": 8}.get(name, MISSING))
    assert Constraint("2 ** 10 == 1024 and log2(8) == 3 and sqrt(4) == 2", "c").holds({}.get)
    with pytest.raises(SweepError, match="too large"):
        Constraint("10 ** 100000 > 1", "c").holds({}.get)
    assert math.isclose(Constraint("a / 4 == 0.25", "c").holds({"a": 1}.get), 1)


def test_unknown_constraint_name_is_refused_before_running():
    with pytest.raises(SweepError, match=r"constraints\[0\]: unknown name 'area'"):
        plan_sweep(_sweep(axes={"chiplets": [1]}, constraints=["chiplets * area <= 800"]), "s.yaml")


def test_bad_objective_and_capacity_in_profile_mode():
    with pytest.raises(SweepError, match="objective 'tpot' is not a profile metric"):
        plan_sweep(_sweep(objectives={"tpot": "min"}), "s.yaml")
    with pytest.raises(SweepError, match="capacity search needs mode: serve"):
        _sweep(capacity={"slo_ttft_s": 1.0})


@pytest.mark.parametrize("name", ["llama7b_chiplets", "gpt2_adc_lhs", "gpt2_serve_capacity"])
def test_example_sweeps_plan(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / f"{name}.yaml"
    plan = plan_sweep(path)
    assert plan.points
    if name == "llama7b_chiplets":
        assert len(plan.points) >= 50 and plan.excluded_points == 6


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ({"low": 5, "high": 1}, "axis 'a': range Value error, high (1.0) is below low (5.0)"),
        ({"low": 1, "high": 2, "num": 0}, "axis 'a': range num: Input should be greater than or equal to 1"),
        ({"lo": 1}, "axis 'a': range low: Field required"),
        ("x", "axis 'a': give a list of values or a range"),
        ([{"x": 1}], "axis 'a': value {'x': 1} is not a number"),
    ],
)
def test_bad_axis_forms_name_the_axis(axis, message):
    with pytest.raises(SweepError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        _sweep(axes={"a": axis})


def test_sweeping_adc_bits_keeps_the_energy_reference():
    spec = load_spec("rram-chiplet")
    data = spec.model_dump(mode="json")
    data["chiplet"]["array"]["adc"]["reference_bits"] = None
    del data["chiplet"]["array"]["adc"]["sources"]["reference_bits"]
    unset = type(spec).model_validate(data)
    out = apply_overrides(unset, [("chiplet.array.adc.bits", 6)], "here")
    assert out.chiplet.array.adc.bits == 6 and out.chiplet.array.adc.reference_bits == 8
    assert "pinned" in out.chiplet.array.adc.sources["reference_bits"]


def test_list_values_reach_list_fields():
    plan = plan_sweep(
        _sweep(
            fixed={"model": "gpt2", "chiplets": 2},
            axes={"package.memory.attached_chiplets": [[0], [0, 1], [0]]},
        ),
        "s.yaml",
    )
    assert [p.spec.package.memory.attached_chiplets for p in plan.points] == [
        [0],
        [0, 1],
    ]  # [0] sampled twice
    with pytest.raises(SweepError, match=r"point 1 \(package.memory.attached_chiplets=\[0, 5\]\).*chiplet 5"):
        plan_sweep(
            _sweep(
                fixed={"model": "gpt2", "chiplets": 2},
                axes={"package.memory.attached_chiplets": [[0], [0, 5]]},
            ),
            "s.yaml",
        )


def test_null_values_and_none_in_constraints():
    plan = plan_sweep(
        _sweep(
            axes={"sparsity": [None, "2:4"], "chiplets": [1, 2]},
            constraints=["sparsity == None or chiplets == 2"],
        ),
        "s.yaml",
    )
    assert [(p.inputs["sparsity"], p.inputs["chiplets"]) for p in plan.points] == [
        (None, 1),
        (None, 2),
        ("2:4", 2),
    ]
