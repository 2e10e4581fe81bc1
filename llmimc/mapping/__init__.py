"""Mapping: crossbar tiling, partitioning over chiplets, placement, routing and KV residency.

Public API: :func:`map_model` returning an immutable :class:`Mapping` (see ``llmimc.mapping.model``).
"""

from llmimc.errors import MappingError
from llmimc.mapping.kv import KvChiplet, KvLayer, KvResidency
from llmimc.mapping.model import Mapping, OpPlacement, ReprogramPlan, Stage, map_model
from llmimc.mapping.tiling import MvmTiming, OpTiling, mvm_timing, tile_op

__all__ = [
    "KvChiplet",
    "KvLayer",
    "KvResidency",
    "Mapping",
    "MappingError",
    "MvmTiming",
    "OpPlacement",
    "OpTiling",
    "ReprogramPlan",
    "Stage",
    "map_model",
    "mvm_timing",
    "tile_op",
]
