"""Turns the scheduler's raw columns into a ServeResult: percentiles, throughput, goodput, energy.

Definitions are in ``llmimc.sim.serve_models`` (they follow vLLM's benchmark_serving and Vidur's
metrics; goodput as in DistServe, Zhong et al., OSDI 2024). Percentiles use numpy's default linear
interpolation.
"""

from __future__ import annotations

import numpy as np

from llmimc.sim.scheduler import RawRun, ReqState
from llmimc.sim.serve_models import (
    KvOccupancySeries,
    Percentiles,
    RequestRecord,
    ServeConfig,
    ServeResult,
    ServeTimeline,
)


def percentiles(values: np.ndarray) -> Percentiles:
    """Mean, p50, p90, p99 of ``values`` (all None when empty)."""
    if values.size == 0:
        return Percentiles(count=0, mean=None, p50=None, p90=None, p99=None)
    p50, p90, p99 = np.percentile(values, [50.0, 90.0, 99.0])
    return Percentiles(
        count=int(values.size), mean=float(values.mean()), p50=float(p50), p90=float(p90), p99=float(p99)
    )


def kv_occupancy_series(
    time_s: np.ndarray, used_blocks: np.ndarray, total_blocks: int, end_time_s: float, points: int
) -> KvOccupancySeries:
    """Sample the step function (time_s[k], used_blocks[k]) at ``points`` evenly spaced times.

    Before the first sample and while idle the occupancy is the last recorded value, which is what the
    allocator held then (the scheduler records a sample whenever requests finish).
    """
    if time_s.size == 0 or total_blocks == 0 or end_time_s <= 0:
        return KvOccupancySeries(
            time_s=[0.0] * points,
            used_fraction=[0.0] * points,
            peak_used_fraction=0.0,
            mean_used_fraction=0.0,
        )
    frac = used_blocks / total_blocks
    grid = np.linspace(0.0, end_time_s, points)
    idx = np.searchsorted(time_s, grid, side="right") - 1
    sampled = np.where(idx >= 0, frac[np.maximum(idx, 0)], 0.0)
    widths = np.diff(np.append(time_s, end_time_s))
    mean = float(np.dot(frac, widths) / end_time_s)
    return KvOccupancySeries(
        time_s=[float(t) for t in grid],
        used_fraction=[float(v) for v in sampled],
        peak_used_fraction=float(frac.max()),
        mean_used_fraction=mean,
    )


def _record(s: ReqState, request_id: int) -> RequestRecord:
    ttft = s.first_token_at_s - s.arrived_at_s
    tpot = (s.finished_at_s - s.first_token_at_s) / (s.decode_tokens - 1) if s.decode_tokens > 1 else None
    return RequestRecord(
        request_id=request_id,
        status="finished",
        num_prefill_tokens=s.prompt_tokens,
        num_decode_tokens=s.decode_tokens,
        arrived_at_s=s.arrived_at_s,
        scheduled_at_s=s.first_scheduled_at_s,
        first_token_at_s=s.first_token_at_s,
        finished_at_s=s.finished_at_s,
        ttft_s=ttft,
        tpot_s=tpot,
        e2e_s=s.finished_at_s - s.arrived_at_s,
        energy_j=s.energy_j,
        preemptions=s.preemptions,
        prefix_cache_hit_tokens=s.cache_hit_tokens,
    )


def _meets_slo(rec: RequestRecord, config: ServeConfig) -> bool:
    if rec.status != "finished":
        return False
    if config.slo_ttft_s is not None and rec.ttft_s > config.slo_ttft_s:
        return False
    return not (config.slo_tpot_s is not None and rec.tpot_s is not None and rec.tpot_s > config.slo_tpot_s)


def _timeline(raw: RawRun, request_ids: list[int], total_blocks: int) -> ServeTimeline:
    scale = 1.0 / total_blocks if total_blocks else 0.0
    return ServeTimeline(
        iteration_start_s=raw.it_start_s.tolist(),
        iteration_latency_s=raw.it_latency_s.tolist(),
        iteration_energy_j=raw.it_energy_j.tolist(),
        prefill_requests=raw.it_prefill_reqs.tolist(),
        prefill_tokens=raw.it_prefill_tokens.tolist(),
        decode_requests=raw.it_decode_reqs.tolist(),
        preemptions=[(t, request_ids[i]) for t, i in raw.preempt_events],
        kv_time_s=raw.kv_time_s.tolist(),
        kv_used_fraction=[b * scale for b in raw.kv_used_blocks],
    )


def build_result(
    config: ServeConfig,
    request_ids: list[int],
    served: list[ReqState],
    rejected: dict[int, RequestRecord],
    raw: RawRun,
    kv_capacity_tokens: int,
    kv_on_package_tokens: int,
    total_blocks: int,
    skipped_rows: dict[str, int],
    prefix_block_tokens: int = 0,
    static_power_w: float = 0.0,
) -> ServeResult:
    """Assemble the result; records are listed in input order (``request_ids[i]`` is input i's id)."""
    by_index = {s.index: s for s in served}
    records = [
        rejected[i] if i in rejected else _record(by_index[i], request_ids[i])
        for i in range(len(request_ids))
    ]
    finished = [r for r in records if r.status == "finished"]
    reasons: dict[str, int] = {}
    for r in records:
        if r.reason is not None:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1

    sim_time_s = raw.end_time_s
    output_tokens = sum(r.num_decode_tokens for r in finished)
    per_s = 1.0 / sim_time_s if sim_time_s > 0 else 0.0
    has_slo = config.slo_ttft_s is not None or config.slo_tpot_s is not None
    good = sum(1 for r in finished if _meets_slo(r, config)) if has_slo else 0
    tpots = np.array([r.tpot_s for r in finished if r.tpot_s is not None], dtype=float)

    return ServeResult(
        config=config,
        kv_capacity_tokens=kv_capacity_tokens,
        kv_on_package_tokens=kv_on_package_tokens,
        kv_total_blocks=total_blocks,
        num_requests=len(records),
        num_finished=len(finished),
        num_rejected=len(records) - len(finished),
        rejected_by_reason=dict(sorted(reasons.items())),
        skipped_rows=dict(sorted(skipped_rows.items())),
        iterations=raw.iterations,
        simulated_time_s=sim_time_s,
        busy_time_s=raw.busy_time_s,
        ttft_s=percentiles(np.array([r.ttft_s for r in finished], dtype=float)),
        tbt_s=percentiles(np.frombuffer(raw.tbt_s, dtype=float) if len(raw.tbt_s) else np.zeros(0)),
        tpot_s=percentiles(tpots),
        e2e_s=percentiles(np.array([r.e2e_s for r in finished], dtype=float)),
        output_tokens=output_tokens,
        prompt_tokens=sum(r.num_prefill_tokens for r in finished),
        prefill_tokens_computed=raw.prefill_tokens_computed,
        prefix_cache_hit_tokens=sum(r.prefix_cache_hit_tokens for r in finished),
        prefix_cache_evictions=raw.cache_evictions,
        prefix_block_tokens=prefix_block_tokens,
        throughput_output_tokens_per_s=output_tokens * per_s,
        throughput_requests_per_s=len(finished) * per_s,
        goodput_requests_per_s=good * per_s if has_slo else None,
        slo_attainment=(good / len(records) if records else 0.0) if has_slo else None,
        energy_j=raw.energy_j,
        idle_energy_j=static_power_w * max(0.0, sim_time_s - raw.busy_time_s),
        energy_per_request_j=raw.energy_j / len(finished) if finished else None,
        energy_per_output_token_j=raw.energy_j / output_tokens if output_tokens else None,
        d2d_bytes=raw.d2d_bytes,
        offpkg_bytes=raw.offpkg_bytes,
        preemptions=raw.preemptions,
        kv_occupancy=kv_occupancy_series(
            np.frombuffer(raw.kv_time_s, dtype=float),
            np.frombuffer(raw.kv_used_blocks, dtype=float),
            total_blocks,
            sim_time_s,
            config.kv_series_points,
        ),
        requests=records,
        timeline=_timeline(raw, request_ids, total_blocks) if config.record_timeline else None,
    )
