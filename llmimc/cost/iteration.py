"""The contract between the cost model and the serving simulator (DESIGN.md §5).

``llmimc.sim.serve`` asks for the cost of one scheduler iteration with a given batch composition; the
cost model answers from precomputed per-op coefficients so that an iteration costs microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol


class PrefillChunk(NamedTuple):  # a tuple: built once per chunk in the serving loop, at tuple speed
    tokens: int  # prompt tokens processed in this iteration for one request
    past_tokens: int  # tokens of that request already in the KV cache


@dataclass(frozen=True, slots=True)
class IterationCost:
    latency_s: float
    energy_j: float
    d2d_bytes: float  # die-to-die bytes moved during the iteration (all links)
    offpkg_bytes: float  # off-package memory bytes moved (KV spill, weight streaming)


class IterationCostModel(Protocol):
    """Cost of one iteration: some prefill chunks plus one decode token for each decoding request."""

    def iteration_cost(self, prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> IterationCost: ...

    @property
    def kv_capacity_tokens(self) -> int:
        """KV-cache tokens that fit on the package plus off-package memory (after weights)."""
        ...

    @property
    def kv_on_package_tokens(self) -> int:
        """KV-cache tokens that fit in chiplet SRAM."""
        ...

    @property
    def static_power_w(self) -> float:
        """Package static (leakage) power drawn while no iteration runs, charged to idle time."""
        ...
