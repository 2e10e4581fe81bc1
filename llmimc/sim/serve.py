"""Serving emulation: replay a request trace through continuous batching on a costed system.

``run_serve`` is pure: it takes an iteration cost model (``llmimc.cost.iteration``), the requests and
a ServeConfig, and returns a ServeResult. Requests that can never be served are rejected up front with
a reason (prompt longer than the model context, prompt plus output beyond it, or peak KV tokens
P + D - 1 beyond the KV capacity less the admission watermark, so that a preempted request can always
be re-admitted once it runs alone); every other request runs to completion through
``llmimc.sim.scheduler`` (the scheduling policy and its references are described there), so every
input request ends finished or rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from llmimc.cost.iteration import IterationCostModel
from llmimc.errors import LlmimcError
from llmimc.hw.spec import PackageLink
from llmimc.sim.cluster import imbalance, merge_raw, replica_summaries, simulate_cluster
from llmimc.sim.disagg import simulate_disaggregated
from llmimc.sim.sched_state import LazyStates, StateQueue
from llmimc.sim.scheduler import RawRun, ReqState, SchedulerParams, simulate
from llmimc.sim.serve_metrics import FinishedColumns, build_result, ideal_prefix_hit_tokens, transfer_fields
from llmimc.sim.serve_models import (
    REJECT_EXCEEDS_KV_CAPACITY,
    REJECT_PROMPT_EXCEEDS_CONTEXT,
    REJECT_TOTAL_EXCEEDS_CONTEXT,
    ServeConfig,
    ServeResult,
)
from llmimc.sim.swap import SwapCost
from llmimc.traces.request import Request

__all__ = ["ServeConfig", "ServeResult", "ServeConfigError", "run_serve"]


class ServeConfigError(LlmimcError):
    """Scheduler settings that cannot work with these requests or this system."""


def _rejection(req: Request, config: ServeConfig, admissible_blocks: int) -> str | None:
    ctx = config.max_context_tokens
    if ctx is not None and req.num_prefill_tokens > ctx:
        return REJECT_PROMPT_EXCEEDS_CONTEXT
    if ctx is not None and req.num_prefill_tokens + req.num_decode_tokens > ctx:
        return REJECT_TOTAL_EXCEEDS_CONTEXT
    peak_tokens = req.num_prefill_tokens + req.num_decode_tokens - 1
    if -(-peak_tokens // config.block_tokens) > admissible_blocks:
        return REJECT_EXCEEDS_KV_CAPACITY
    return None


def _prefix_block_tokens(requests: list[Request], config: ServeConfig) -> int:
    """The prefix-block size shared by all requests that carry prefix ids (0: caching off or unused)."""
    if not config.enable_prefix_caching:
        return 0
    sizes = {r.prefix_block_tokens for r in requests if r.prefix_block_ids}
    if not sizes:
        return 0
    if None in sizes or len(sizes) > 1:
        raise ServeConfigError(
            "prefix caching needs one prefix_block_tokens value on every request with prefix ids; "
            f"found {sorted(str(s) for s in sizes)}"
        )
    size = next(iter(sizes))
    assert size is not None  # None was excluded above
    if size % config.block_tokens:
        raise ServeConfigError(
            f"prefix blocks of {size} tokens are not a whole number of KV blocks of "
            f"{config.block_tokens} tokens; choose a block size that divides {size}"
        )
    return size


def _admissible(
    requests: list[Request], config: ServeConfig, admissible_blocks: int, pbt: int, cols: FinishedColumns
) -> tuple[LazyStates, list[Request], dict[str, int]]:
    """Scheduler states of the requests that can be served (sorted by arrival, then position; built as
    they join); the others are recorded as rejected in ``cols``. Returns the states, the served requests
    and rejections by reason."""
    scale = config.time_scale
    rejected_by_reason: dict[str, int] = {}
    served: list[Request] = []
    positions: list[int] = []
    for i, req in enumerate(requests):
        reason = _rejection(req, config, admissible_blocks)
        if reason is not None:
            rejected_by_reason[reason] = rejected_by_reason.get(reason, 0) + 1
            cols.add_rejected(
                i,
                {
                    "request_id": req.request_id,
                    "status": "rejected",
                    "reason": reason,
                    "num_prefill_tokens": req.num_prefill_tokens,
                    "num_decode_tokens": req.num_decode_tokens,
                    "arrived_at_s": req.arrived_at * scale,
                },
            )
            continue
        served.append(req)
        positions.append(i)
    arrived = np.array([r.arrived_at * scale for r in served], dtype=float)
    order = np.lexsort((np.array(positions, dtype=np.int64), arrived))
    sorted_positions = [positions[k] for k in order.tolist()]

    def make(i: int) -> ReqState:
        req = requests[i]
        ids = req.prefix_block_ids
        full_prefix = ids[: req.num_prefill_tokens // pbt] if pbt and ids else None
        return ReqState(
            index=i,
            arrived_at_s=req.arrived_at * scale,
            prompt_tokens=req.num_prefill_tokens,
            decode_tokens=req.num_decode_tokens,
            left=req.num_decode_tokens,
            prefill_target=req.num_prefill_tokens,
            prefix_ids=full_prefix or None,
        )

    return LazyStates(sorted_positions, make), served, rejected_by_reason


def run_serve(
    cost_model: IterationCostModel,
    requests: list[Request],
    config: ServeConfig,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    skipped_rows: Mapping[str, int] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    package_link: PackageLink | None = None,
    kv_bytes_per_token: float = 0.0,
    swap_cost: SwapCost | None = None,
) -> ServeResult:
    """Simulate serving ``requests``.

    ``package_link`` and ``kv_bytes_per_token`` (all layers) are needed with ``config.disaggregate``;
    ``swap_cost`` (``llmimc.sim.swap.swap_cost``) with ``config.preemption == "swap"``.

    ``on_progress(done, total)`` is called now and then if given; ``on_record(fields)`` receives every
    request's record fields (rejected ones first, then finished ones in finishing order) so a caller
    can stream them instead of keeping them (``ServeConfig.keep_request_records``).
    """
    capacity_tokens = int(cost_model.kv_capacity_tokens)
    swap = _swap_for(config, swap_cost, capacity_tokens)
    capacity_tokens -= swap.reserved_tokens if swap is not None else 0
    total_blocks = capacity_tokens // config.block_tokens
    watermark_blocks = int(config.watermark_fraction * total_blocks)
    pbt = _prefix_block_tokens(requests, config)
    request_ids = [r.request_id for r in requests]
    cols = FinishedColumns(config, request_ids, on_record)

    states, served, rejected_by_reason = _admissible(
        requests, config, total_blocks - watermark_blocks, pbt, cols
    )

    params = SchedulerParams(
        max_batch=config.max_batch,
        max_tokens_per_iter=config.max_tokens_per_iter,
        chunk_tokens=config.chunk_size,
        block_tokens=config.block_tokens,
        total_blocks=total_blocks,
        prefix_block_tokens=pbt,
        record_timeline=config.record_timeline,
        watermark_blocks=watermark_blocks,
        event_skipping=config.event_skipping,
        swap=swap,
    )
    total = len(requests)
    n_rejected = total - len(states)
    if on_progress is not None:
        on_progress(n_rejected, total)
    transfers = None
    if config.disaggregate is not None:
        if package_link is None:
            raise ServeConfigError(
                "disaggregation ships KV between packages: give a package link (--package-link NAME, "
                "or a package_link section in the hardware spec)"
            )
        raws, per_cols, routed, transfers = simulate_disaggregated(
            cost_model, states, params, config, package_link, kv_bytes_per_token, cols.add, request_ids
        )
    elif config.replicas > 1:
        raws, per_cols, routed = _run_cluster(
            cost_model, states, params, config, cols, on_progress, total, n_rejected
        )
    else:
        raw = simulate(cost_model, states, params, on_progress, total, n_rejected, on_finish=cols.add)
    if on_progress is not None:
        on_progress(total, total)
    packages = config.num_packages
    if packages > 1:
        raw = merge_raw(raws, total_blocks)
        raw.energy_j += transfers.energy_j if transfers is not None else 0.0
    built = build_result(
        config=config,
        request_ids=request_ids,
        cols=cols,
        rejected_by_reason=rejected_by_reason,
        raw=raw,
        kv_capacity_tokens=capacity_tokens * packages,
        kv_on_package_tokens=int(cost_model.kv_on_package_tokens) * packages,
        total_blocks=total_blocks * packages,
        skipped_rows=dict(skipped_rows or {}),
        prefix_block_tokens=pbt,
        static_power_w=float(cost_model.static_power_w),
        ideal_hit_tokens=sum(ideal_prefix_hit_tokens(served, pbt)),
    )
    if swap is not None:
        built = built.model_copy(update=_swap_fields(raw, swap))
    if packages == 1:
        return built
    sim_time_s = built.simulated_time_s
    static_w = float(cost_model.static_power_w)
    update: dict[str, Any] = {
        "idle_energy_j": static_w * sum(max(0.0, sim_time_s - r.busy_time_s) for r in raws),
        "num_replicas": packages,
        "router": config.router,
        "replicas": replica_summaries(raws, per_cols, routed, total_blocks, sim_time_s),
        "load_imbalance_requests": imbalance([float(n) for n in routed]),
        "load_imbalance_busy": imbalance([r.busy_time_s for r in raws]),
    }
    if transfers is not None and package_link is not None:
        update |= transfer_fields(transfers, package_link, request_ids, built, cols)
    return built.model_copy(update=update)


def _swap_for(config: ServeConfig, cost: SwapCost | None, capacity_tokens: int) -> SwapCost | None:
    """The swap cost when swap preemption is asked for (checked against the KV capacity), else None."""
    if config.preemption != "swap":
        return None
    if cost is None:
        raise ServeConfigError(
            "swap preemption needs an IMC package with off-package memory to swap to; "
            "use --preemption recompute"
        )
    if cost.reserved_tokens >= capacity_tokens:
        raise ServeConfigError(
            f"a swap space of {cost.space_bytes / 2**30:.3g} GiB takes all {capacity_tokens} KV tokens; "
            "lower --swap-space"
        )
    return cost


def _swap_fields(raw: RawRun, cost: SwapCost) -> dict[str, Any]:
    st = raw.swap
    return {
        "swap_outs": st.swap_outs,
        "swap_ins": st.swap_ins,
        "swap_fallbacks": st.fallbacks,
        "swap_out_bytes": st.out_bytes,
        "swap_in_bytes": st.in_bytes,
        "swap_time_s": st.time_s,
        "swap_energy_j": st.energy_j,
        "swap_peak_used_bytes": st.peak_used_bytes,
        "swap_reserved_tokens": cost.reserved_tokens,
    }


def _run_cluster(
    cost_model: IterationCostModel,
    states: StateQueue,
    params: SchedulerParams,
    config: ServeConfig,
    cols: FinishedColumns,
    on_progress: Callable[[int, int], None] | None,
    total: int,
    offset: int,
) -> tuple[list[RawRun], list[FinishedColumns], list[int]]:
    report = None
    if on_progress is not None:
        progress = on_progress

        def report(done: int) -> None:
            progress(offset + done, total)

    return simulate_cluster(cost_model, states, params, config, cols.add, report, cols.request_ids)
