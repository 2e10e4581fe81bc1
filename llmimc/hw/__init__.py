"""Hardware specs (DESIGN.md §3): pydantic models, YAML/JSON loader, built-in registry, topology, derived figures."""

from llmimc.hw.derive import (
    BaselineFigures,
    DerivedFigures,
    LevelFigures,
    LinkFigures,
    MvmFigures,
    cells_per_weight,
    cycle_time_s,
    derive,
    derive_baseline,
    input_cycles,
    mvm_figures,
    slices_per_weight,
)
from llmimc.hw.loader import (
    SpecT,
    dump_spec,
    load_spec_file,
    parse_spec_data,
    parse_spec_text,
    spec_json_schema,
)
from llmimc.hw.registry import (
    DEFAULT_BASELINE,
    DEFAULT_IMC_SPEC,
    BuiltinSpec,
    builtin_spec_names,
    list_builtin_specs,
    load_spec,
)
from llmimc.hw.spec import DigitalBaselineSpec, ImcSystemSpec
from llmimc.hw.topology import (
    bisection_links,
    hop_distance_matrix,
    hop_distances_from,
    shortest_path,
    topology_links,
)

__all__ = [
    "BaselineFigures",
    "DerivedFigures",
    "LevelFigures",
    "LinkFigures",
    "MvmFigures",
    "cells_per_weight",
    "cycle_time_s",
    "derive",
    "derive_baseline",
    "input_cycles",
    "mvm_figures",
    "slices_per_weight",
    "spec_json_schema",
    "DEFAULT_BASELINE",
    "DEFAULT_IMC_SPEC",
    "BuiltinSpec",
    "DigitalBaselineSpec",
    "ImcSystemSpec",
    "SpecT",
    "bisection_links",
    "builtin_spec_names",
    "dump_spec",
    "hop_distance_matrix",
    "hop_distances_from",
    "list_builtin_specs",
    "load_spec",
    "load_spec_file",
    "parse_spec_data",
    "parse_spec_text",
    "shortest_path",
    "topology_links",
]
