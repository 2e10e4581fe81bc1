"""A cluster of identical serving packages behind a global router (``ServeConfig.replicas`` > 1).

Every package runs its own ``llmimc.sim.scheduler.Scheduler`` (queues, KV blocks, clock). Requests are
routed one by one in arrival order; before routing a request that arrives at t, every package runs
the iterations that start before t, so the router sees each package as it is at t (at iteration
granularity, as a real router sees a replica's queue). Routers:

- ``round-robin``: request i goes to package i mod R.
- ``least-loaded``: the package with the fewest outstanding requests (routed, not finished; join the
  shortest queue), lowest index on ties (vLLM production-stack / llm-d load-aware routing).
- ``prefix-affinity``: among packages whose load is at most 2 x the least load + 2 requests, the one
  whose cached prefix blocks (the router's approximate index: prefix id -> packages that served it,
  evictions not tracked, as llm-d's prefix-cache scorer) match the longest leading run of the
  request's prefix ids; without a match or prefix ids, the least-loaded one (Mooncake's cache-aware
  scheduling, Qin et al., FAST 2025; llm-d). Prefix ids are only seen with prefix caching on.

Cluster metrics: requests, tokens, energy, TBT samples and KV blocks are summed over packages (the KV
occupancy is the sum of used blocks over R x blocks), simulated time runs to the last finish anywhere;
idle static energy is counted per package (simulated time - its busy time). ``busy_time_s`` is summed
over packages. Load balance = max / mean over packages of routed requests and of busy time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from llmimc.cost.iteration import IterationCostModel
from llmimc.sim.sched_state import RawRun, ReqState, SchedulerParams, StateQueue
from llmimc.sim.scheduler import Scheduler
from llmimc.sim.serve_metrics import FinishedColumns, percentiles
from llmimc.sim.serve_models import ReplicaSummary, ServeConfig

ROUTERS = ("round-robin", "least-loaded", "prefix-affinity")


class Router:
    """Picks a package for each request (see module docstring)."""

    def __init__(self, kind: str, scheds: list[Scheduler]) -> None:
        if kind not in ROUTERS:
            raise ValueError(f"unknown router {kind!r}; use one of {', '.join(ROUTERS)}")
        self.kind = kind
        self.scheds = scheds
        self.assigned = [0] * len(scheds)
        self.count = 0
        self.holders: dict[int, set[int]] = {}  # prefix id -> packages that computed it

    def _outstanding(self) -> list[int]:
        return [a - s.done for a, s in zip(self.assigned, self.scheds, strict=True)]

    def pick(self, state: ReqState) -> int:
        n = len(self.scheds)
        if self.kind == "round-robin":
            chosen = self.count % n
        else:
            load = self._outstanding()
            least = min(load)
            chosen = load.index(least)
            if self.kind == "prefix-affinity" and state.prefix_ids:
                chosen = self._affine(state.prefix_ids, load, least, chosen)
        self.count += 1
        self.assigned[chosen] += 1
        return chosen

    def _affine(self, ids: list[int], load: list[int], least: int, fallback: int) -> int:
        best, best_len = fallback, 0
        for r, lr in enumerate(load):
            if lr > 2 * least + 2:
                continue
            k = 0
            while k < len(ids) and r in self.holders.get(ids[k], ()):
                k += 1
            if k > best_len:
                best, best_len = r, k
        for prefix_id in ids:
            self.holders.setdefault(prefix_id, set()).add(best)
        return best


def simulate_cluster(
    cost_model: IterationCostModel,
    states: StateQueue,
    params: SchedulerParams,
    config: ServeConfig,
    on_finish: Callable[[ReqState], None],
    on_progress: Callable[[int], None] | None,
    request_ids: Sequence[int],
) -> tuple[list[RawRun], list[FinishedColumns], list[int]]:
    """Route ``states`` (sorted by arrival) over ``config.replicas`` packages and run them to the end.

    Returns each package's raw run, its finished-request columns and how many requests it was routed.
    """
    quiet = config.model_copy(update={"keep_request_records": False})
    per_cols = [FinishedColumns(quiet, request_ids) for _ in range(config.replicas)]
    scheds: list[Scheduler] = []
    for cols in per_cols:

        def fan_out(s: ReqState, mine: FinishedColumns = cols) -> None:
            mine.add(s)
            on_finish(s)

        scheds.append(Scheduler(cost_model, [], params, fan_out))
    router = Router(config.router, scheds)
    report_every = max(1, len(states) // 200)
    i = 0
    while states:
        state = states.popleft()
        i += 1
        t = state.arrived_at_s
        for sched in scheds:
            sched.advance(t)
        scheds[router.pick(state)].add(state)
        if on_progress is not None and not i % report_every:
            on_progress(sum(s.done for s in scheds))
    for sched in scheds:
        sched.advance(math.inf)
    return [s.finish_run() for s in scheds], per_cols, router.assigned


def merge_raw(raws: list[RawRun], total_blocks: int) -> RawRun:
    """One RawRun for the cluster (sums; KV blocks as the sum of every package's step function)."""
    out = RawRun()
    for r in raws:
        out.iterations += r.iterations
        out.energy_j += r.energy_j
        out.d2d_bytes += r.d2d_bytes
        out.offpkg_bytes += r.offpkg_bytes
        out.busy_time_s += r.busy_time_s
        out.prefill_tokens_computed += r.prefill_tokens_computed
        out.preemptions += r.preemptions
        out.cache_evictions += r.cache_evictions
        out.stretches += r.stretches
        out.stretch_iterations += r.stretch_iterations
        out.swap.add(r.swap)
        out.tbt_hist.merge(r.tbt_hist)
    out.end_time_s = max((r.end_time_s for r in raws), default=0.0)
    times = [np.frombuffer(r.kv_time_s, dtype=float) for r in raws if len(r.kv_time_s)]
    if times:
        deltas = [
            np.diff(np.frombuffer(r.kv_used_blocks, dtype=float), prepend=0.0)
            for r in raws
            if len(r.kv_time_s)
        ]
        t = np.concatenate(times)
        order = np.argsort(t, kind="stable")
        out.kv_time_s.extend(t[order].tolist())
        out.kv_used_blocks.extend(np.cumsum(np.concatenate(deltas)[order]).tolist())
    _merge_timelines(out, raws)
    return out


_IT_COLUMNS = (
    "it_start_s",
    "it_latency_s",
    "it_energy_j",
    "it_prefill_reqs",
    "it_prefill_tokens",
    "it_decode_reqs",
)


def _merge_timelines(out: RawRun, raws: list[RawRun]) -> None:
    """Every package's iterations and preemptions, in start-time order (ties: package order), tagged
    with their package (``RawRun.it_package`` / ``preempt_packages``)."""
    starts = [np.frombuffer(r.it_start_s, dtype=float) for r in raws]
    if sum(len(t) for t in starts):
        package = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(starts)])
        order = np.lexsort((package, np.concatenate(starts)))  # stable: one package's order kept
        for name in _IT_COLUMNS:
            column = getattr(raws[0], name)
            merged = np.concatenate([np.frombuffer(getattr(r, name), dtype=column.typecode) for r in raws])
            getattr(out, name).extend(merged[order].tolist())
        out.it_package.extend(package[order].tolist())
    events = sorted(
        ((t, i, p) for p, r in enumerate(raws) for t, i in r.preempt_events), key=lambda e: (e[0], e[2])
    )
    out.preempt_events.extend((t, i) for t, i, _ in events)
    out.preempt_packages.extend(p for _, _, p in events)


def replica_summaries(
    raws: list[RawRun], cols: list[FinishedColumns], routed: list[int], total_blocks: int, sim_time_s: float
) -> list[ReplicaSummary]:
    out = []
    for i, (raw, c, n) in enumerate(zip(raws, cols, routed, strict=True)):
        used = np.frombuffer(raw.kv_used_blocks, dtype=float) if len(raw.kv_used_blocks) else np.zeros(1)
        out.append(
            ReplicaSummary(
                replica=i,
                num_requests=n,
                num_finished=len(c.e2e),
                iterations=raw.iterations,
                busy_time_s=raw.busy_time_s,
                end_time_s=raw.end_time_s,
                output_tokens=c.output_tokens,
                prompt_tokens=c.prompt_tokens,
                throughput_output_tokens_per_s=c.output_tokens / sim_time_s if sim_time_s > 0 else 0.0,
                ttft_s=percentiles(np.frombuffer(c.ttft, dtype=float) if len(c.ttft) else np.zeros(0)),
                e2e_s=percentiles(np.frombuffer(c.e2e, dtype=float) if len(c.e2e) else np.zeros(0)),
                preemptions=raw.preemptions,
                prefix_cache_hit_tokens=c.hit_tokens,
                energy_j=raw.energy_j,
                kv_peak_used_fraction=float(used.max()) / total_blocks if total_blocks else 0.0,
            )
        )
    return out


def imbalance(values: list[float]) -> float | None:
    """max / mean (1.0 = perfectly even); None when all are zero."""
    mean = sum(values) / len(values) if values else 0.0
    return max(values) / mean if mean > 0 else None


__all__ = ["ROUTERS", "Router", "imbalance", "merge_raw", "replica_summaries", "simulate_cluster"]
