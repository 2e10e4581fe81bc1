"""A mapped, compiled IMC system: the Mapping plus its iteration cost model (DESIGN.md §1, §4).

``build_system`` runs ``llmimc.mapping.map_model`` and compiles the result into a
:class:`~llmimc.cost.model.CompiledCostModel`, which implements the serving simulator's
``IterationCostModel`` protocol (``llmimc.cost.iteration``).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmimc.compress.plan import CompressionPlan
from llmimc.cost.compile import Compiled, compile_mapping
from llmimc.cost.model import CompiledCostModel
from llmimc.hw.spec import ImcSystemSpec
from llmimc.mapping.model import Mapping, map_model
from llmimc.model.opgraph import OpGraph


@dataclass(frozen=True)
class System:
    graph: OpGraph
    spec: ImcSystemSpec
    plan: CompressionPlan
    mapping: Mapping
    compiled: Compiled
    cost_model: CompiledCostModel


def build_system(
    graph: OpGraph,
    spec: ImcSystemSpec,
    plan: CompressionPlan,
    *,
    batch: int = 1,
    max_context_tokens: int | None = None,
    allow_reprogramming: bool = False,
) -> System:
    """Map ``graph`` onto ``spec`` and compile its cost model (raises MappingError if it cannot fit)."""
    mapping = map_model(
        graph,
        spec,
        plan,
        batch=batch,
        max_context_tokens=max_context_tokens,
        allow_reprogramming=allow_reprogramming,
    )
    compiled = compile_mapping(graph, spec, plan, mapping)
    model = CompiledCostModel(
        compiled,
        kv_capacity_tokens=mapping.kv.capacity_tokens,
        kv_on_package_tokens=mapping.kv.on_package_tokens,
    )
    return System(graph=graph, spec=spec, plan=plan, mapping=mapping, compiled=compiled, cost_model=model)
