"""A deterministic fake IterationCostModel for the serving-simulator tests (no hardware, no model)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmimc.cost.iteration import IterationCost, PrefillChunk
from llmimc.sim.swap import SwapCost
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


def prefixed_requests(
    n: int, seed: int, mean_gap_s: float, max_prompt: int, max_decode: int, prefix_block_tokens: int | None
) -> list[Request]:
    """Poisson arrivals with uniform lengths (prompt 1..max_prompt - 1, output 1..max_decode - 1), drawn
    one request at a time; with ``prefix_block_tokens``, each carries prefix ids from {0, 1, 2}, one per
    block (so prompts share prefixes) and one more for the partial block."""
    rng = np.random.default_rng(seed)
    out, t = [], 0.0
    for i in range(n):
        t += float(rng.exponential(mean_gap_s))
        p = int(rng.integers(1, max_prompt))
        out.append(
            Request(
                request_id=i,
                arrived_at=t,
                num_prefill_tokens=p,
                num_decode_tokens=int(rng.integers(1, max_decode)),
                prefix_block_ids=[int(x) for x in rng.integers(0, 3, size=p // prefix_block_tokens + 1)]
                if prefix_block_tokens
                else None,
                prefix_block_tokens=prefix_block_tokens,
            )
        )
    return out


def swap_cost(space_bytes: float) -> SwapCost:
    """A swap region of ``space_bytes``: 1 kB per token, 0.1 ms per token + 10 us per copy, 2 / 3 uJ per
    token out / in, 0.5 W static."""
    return SwapCost(
        bytes_per_token=1000.0,
        space_bytes=space_bytes,
        time_per_token_s=1e-4,
        latency_s=1e-5,
        energy_out_per_token_j=2e-6,
        energy_in_per_token_j=3e-6,
        static_power_w=0.5,
    )
