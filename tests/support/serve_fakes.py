"""A deterministic fake IterationCostModel for the serving-simulator tests (no hardware, no model)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.cost.iteration import IterationCost, PrefillChunk
from llmimc.traces.request import Request


@dataclass(frozen=True)
class FakeCostModel:
    """Affine iteration cost: a fixed overhead, a cost per processed token and per attended KV token."""

    kv_capacity: int = 1_000_000
    kv_on_package: int = 100_000
    base_latency_s: float = 1e-3
    latency_per_token_s: float = 1e-5
    latency_per_kv_token_s: float = 1e-8
    energy_per_token_j: float = 1e-3
    base_energy_j: float = 2e-3
    d2d_bytes_per_token: float = 4096.0
    static_power: float = 0.5

    def iteration_cost(self, prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> IterationCost:
        tokens = sum(c.tokens for c in prefill) + len(decode_past_tokens)
        kv = sum(c.tokens * (c.past_tokens + c.tokens) for c in prefill) + sum(decode_past_tokens)
        spill = max(0, sum(decode_past_tokens) - self.kv_on_package)
        return IterationCost(
            latency_s=self.base_latency_s
            + self.latency_per_token_s * tokens
            + self.latency_per_kv_token_s * kv,
            energy_j=self.base_energy_j + self.energy_per_token_j * tokens,
            d2d_bytes=self.d2d_bytes_per_token * tokens,
            offpkg_bytes=2.0 * spill,
        )

    @property
    def kv_capacity_tokens(self) -> int:
        return self.kv_capacity

    @property
    def kv_on_package_tokens(self) -> int:
        return self.kv_on_package

    @property
    def static_power_w(self) -> float:
        return self.static_power


def make_requests(
    n: int, seed: int, max_prompt: int = 2000, max_decode: int = 200, rate_qps: float = 20.0
) -> list[Request]:
    """Poisson arrivals (first at t = 0) with uniform prompt and output lengths."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate_qps, n)) - 0.0
    arrivals -= arrivals[0]
    prompts = rng.integers(1, max_prompt + 1, n)
    decodes = rng.integers(1, max_decode + 1, n)
    return [
        Request(request_id=i, arrived_at=float(t), num_prefill_tokens=int(p), num_decode_tokens=int(d))
        for i, (t, p, d) in enumerate(zip(arrivals, prompts, decodes, strict=True))
    ]
