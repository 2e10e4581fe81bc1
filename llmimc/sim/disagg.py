"""Prefill/decode disaggregation: P prefill packages hand finished prefills to D decode packages.

As Splitwise (Patel et al., ISCA 2024), DistServe (Zhong et al., OSDI 2024) and Mooncake (Qin et al.,
FAST 2025): a request is routed (``ServeConfig.router``) to a prefill package, which runs its prompt
(chunked prefill, batched with other prefills) and samples the first token. Its KV cache, P tokens x
``kv_bytes_per_token`` bytes, then crosses the prefill package's ``package_link`` (one full-duplex link
per package; transfers leave one at a time, first come first served):

    start = max(prefill end, link free);  transfer_s = latency_s + bytes / bw_bytes_per_s
    energy_j = bytes x 8 x energy_per_bit_j;  ready = start + transfer_s

The first token reaches the user with the KV (TTFT includes the transfer). At ``ready`` the request
joins a decode package (routed like arrivals), which admits it with all its KV blocks at once and
decodes the remaining D - 1 tokens; a preemption there recomputes on the decode package. A request
with one output token finishes on its prefill package (nothing to ship). The prefill package frees
the KV when the transfer is scheduled (the copy sits in the link's send buffer).

Prefill packages never wait for decode packages, so the prefill tier runs first (its hand-offs are
the decode tier's arrivals); the decode tier is then a cluster of D packages (``llmimc.sim.cluster``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from llmimc.cost.iteration import IterationCostModel
from llmimc.hw.spec import PackageLink
from llmimc.sim.cluster import Router
from llmimc.sim.sched_state import RawRun, ReqState, SchedulerParams, StateQueue
from llmimc.sim.scheduler import Scheduler
from llmimc.sim.serve_metrics import FinishedColumns
from llmimc.sim.serve_models import ServeConfig


@dataclass
class Transfers:
    """KV transfers over the package links: totals and one (start_s, duration_s, index) per request."""

    bytes_total: float = 0.0
    energy_j: float = 0.0
    events: list[tuple[float, float, int]] = field(default_factory=list)
    delays_s: list[float] = field(default_factory=list)  # per request: prefill end to KV delivered


class _Links:
    """One FIFO link per prefill package."""

    def __init__(self, link: PackageLink, kv_bytes_per_token: float, packages: int) -> None:
        self.link = link
        self.kv_bytes_per_token = kv_bytes_per_token
        self.free_at = [0.0] * packages
        self.out = Transfers()
        self.delivered: list[ReqState] = []

    def ship(self, package: int, r: ReqState, prefill_end_s: float) -> None:
        nbytes = r.prefill_target * self.kv_bytes_per_token
        start = max(prefill_end_s, self.free_at[package])
        busy = nbytes / self.link.bw_bytes_per_s
        self.free_at[package] = start + busy
        ready = start + self.link.latency_s + busy
        energy = nbytes * 8.0 * self.link.energy_per_bit_j
        self.out.bytes_total += nbytes
        self.out.energy_j += energy
        self.out.events.append((start, ready - start, r.index))
        r.energy_j += energy
        r.kv_transfer_s = ready - prefill_end_s
        self.out.delays_s.append(r.kv_transfer_s)
        r.first_token_at_s = ready  # the first token reaches the user with the KV
        r.last_token_at_s = ready
        r.ready_at_s = ready
        r.kv_ready = True
        r.prefix_ids = None  # the decode package gets the KV itself, not via its prefix cache
        self.delivered.append(r)


def simulate_disaggregated(
    cost_model: IterationCostModel,
    states: StateQueue,
    params: SchedulerParams,
    config: ServeConfig,
    link: PackageLink,
    kv_bytes_per_token: float,
    on_finish: Callable[[ReqState], None],
    request_ids: Sequence[int],
) -> tuple[list[RawRun], list[FinishedColumns], list[int], Transfers]:
    """Run the prefill tier, ship the KV, run the decode tier (see module docstring).

    Returns every package's raw run (prefill packages first), finished-request columns per package,
    requests routed to each package, and the transfers.
    """
    assert config.disaggregate is not None
    n_prefill, n_decode = config.disaggregate
    quiet = config.model_copy(update={"keep_request_records": False})
    links = _Links(link, kv_bytes_per_token, n_prefill)
    cols = [FinishedColumns(quiet, request_ids) for _ in range(n_prefill + n_decode)]
    prefill: list[Scheduler] = []
    for p in range(n_prefill):

        def finish_here(s: ReqState, mine: FinishedColumns = cols[p]) -> None:
            mine.add(s)
            on_finish(s)

        def hand_off(s: ReqState, t: float, package: int = p) -> None:
            links.ship(package, s, t)

        prefill.append(Scheduler(cost_model, [], params, finish_here, hand_off))
    p_router = Router(config.router, prefill)
    while states:
        state = states.popleft()
        for sched in prefill:
            sched.advance(state.arrived_at_s)
        prefill[p_router.pick(state)].add(state)
    for sched in prefill:
        sched.advance(math.inf)

    decode: list[Scheduler] = []
    for d in range(n_decode):

        def finish_there(s: ReqState, mine: FinishedColumns = cols[n_prefill + d]) -> None:
            mine.add(s)
            on_finish(s)

        decode.append(Scheduler(cost_model, [], params, finish_there))
    d_router = Router(config.router, decode)
    delivered = deque(sorted(links.delivered, key=lambda s: (s.ready_at_s, s.index)))
    links.delivered.clear()
    while delivered:
        state = delivered.popleft()
        for sched in decode:
            sched.advance(state.ready_at_s)
        decode[d_router.pick(state)].add(state)
    for sched in decode:
        sched.advance(math.inf)
    raws = [s.finish_run() for s in prefill + decode]
    return raws, cols, p_router.assigned + d_router.assigned, links.out
