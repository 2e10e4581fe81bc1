"""Turns the scheduler's raw columns into a ServeResult: percentiles, throughput, goodput, energy.

Definitions are in ``llmimc.sim.serve_models`` (they follow vLLM's benchmark_serving and Vidur's
metrics). Percentiles use numpy's default linear interpolation: for sorted values v_0..v_{N-1} and
q in [0, 100], h = (N - 1) q / 100 and p_q = v_floor(h) + (h - floor(h)) (v_floor(h)+1 - v_floor(h));
the time-between-tokens histogram ({gap: count}) is read with the same rule on its expanded values.

Finished requests are folded into compact columns as they finish (``FinishedColumns``), so a run
keeps O(1) memory per request unless ``ServeConfig.keep_request_records`` asks for the records.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from llmimc.sim.sched_state import GapCounts, RawRun, ReqState
from llmimc.sim.serve_models import (
    KvOccupancySeries,
    Percentiles,
    RequestRecord,
    ServeConfig,
    ServeResult,
    ServeTimeline,
)
from llmimc.traces.request import Request


def _label(q: float) -> str:
    return f"p{q:g}"


def _from_rank(n: int, mean: float, at: Callable[[float], float], qs: Sequence[float]) -> Percentiles:
    """Percentiles of n values whose q-th percentile ``at(q)`` gives (linear interpolation of ranks)."""
    return Percentiles(
        count=n, mean=mean, p50=at(50.0), p90=at(90.0), p99=at(99.0), values={_label(q): at(q) for q in qs}
    )


def percentiles(values: np.ndarray, qs: Sequence[float] = (50.0, 90.0, 99.0)) -> Percentiles:
    """Mean, p50, p90, p99 and the ``qs`` percentiles of ``values`` (all None when empty)."""
    if values.size == 0:
        return Percentiles(count=0, mean=None, p50=None, p90=None, p99=None)
    wanted = [50.0, 90.0, 99.0, *qs]
    got = np.percentile(values, wanted)
    return Percentiles(
        count=int(values.size),
        mean=float(values.mean()),
        p50=float(got[0]),
        p90=float(got[1]),
        p99=float(got[2]),
        values={_label(q): float(v) for q, v in zip(qs, got[3:], strict=True)},
    )


def histogram_percentiles(hist: dict[float, int], qs: Sequence[float] = (50.0, 90.0, 99.0)) -> Percentiles:
    """Percentiles of the multiset {value: count} (exact; independent of the order it was filled)."""
    if not hist:
        return Percentiles(count=0, mean=None, p50=None, p90=None, p99=None)
    vals = np.array(sorted(hist), dtype=float)
    counts = np.array([hist[v] for v in vals.tolist()], dtype=np.int64)
    cum = np.cumsum(counts)
    n = int(cum[-1])

    def at(q: float) -> float:
        h = (n - 1) * q / 100.0
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        v_lo = vals[np.searchsorted(cum, lo, side="right")]
        v_hi = vals[np.searchsorted(cum, hi, side="right")]
        return float(v_lo + (h - lo) * (v_hi - v_lo))

    mean = math.fsum(v * c for v, c in zip(vals.tolist(), counts.tolist(), strict=True)) / n
    return _from_rank(n, mean, at, qs)


EXPAND_RECORDS = 2_000_000  # up to this many (gap, count) records, rank by one sort of all of them


def gap_percentiles(hist: GapCounts, qs: Sequence[float] = (50.0, 90.0, 99.0)) -> Percentiles:
    """``histogram_percentiles`` of a ``GapCounts`` multiset, without a dict of every gap.

    Each count's gaps are sorted in place. The value at expanded rank r (0-based) is the smallest
    stored gap v with Sum_c c #{gaps of count c <= v} > r: up to ``EXPAND_RECORDS`` records from one
    sort of all records and the running sum of their counts, beyond that by bisection on the bit
    patterns of the (non-negative) gaps, which order like the values, so no copy of every record is
    made. Either way it is one of the stored gaps, as the histogram's rule reads it. The mean is
    Sum_c c x (pairwise sum of the count's sorted gaps) / N (the histogram's exactly rounded sum to
    ~1e-16).
    """
    groups = []
    for count, gaps in sorted(hist.by_count.items()):
        if len(gaps):
            a = np.frombuffer(gaps, dtype=float)
            a.sort()
            groups.append((count, a))
    n = sum(c * len(a) for c, a in groups)
    if not n:
        return Percentiles(count=0, mean=None, p50=None, p90=None, p99=None)
    rank_value = _rank_by_sort(groups) if len(hist) <= EXPAND_RECORDS else _rank_by_bisection(groups)

    def at(q: float) -> float:
        h = (n - 1) * q / 100.0
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        v_lo = rank_value(lo)
        v_hi = v_lo if hi == lo else rank_value(hi)
        return float(v_lo + (h - lo) * (v_hi - v_lo))

    mean = math.fsum(c * float(a.sum()) for c, a in groups) / n
    return _from_rank(n, mean, at, qs)


def _rank_by_sort(groups: list[tuple[int, np.ndarray]]) -> Callable[[int], float]:
    vals = np.concatenate([a for _, a in groups])
    counts = np.concatenate([np.full(len(a), c, dtype=np.int64) for c, a in groups])
    order = np.argsort(vals, kind="stable")
    vals = vals[order]
    cum = np.cumsum(counts[order])
    return lambda r: float(vals[np.searchsorted(cum, r, side="right")])


def _rank_by_bisection(groups: list[tuple[int, np.ndarray]]) -> Callable[[int], float]:
    if min(float(a[0]) for _, a in groups) < 0:
        raise ValueError("gaps between tokens must be >= 0")
    lo_bits = min(int(a[:1].view(np.int64)[0]) for _, a in groups)
    hi_bits = max(int(a[-1:].view(np.int64)[0]) for _, a in groups)

    def rank_value(r: int) -> float:
        lo, hi = lo_bits, hi_bits  # the answer's bits lie in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            v = np.int64(mid).view(np.float64)
            if sum(c * int(np.searchsorted(a, v, side="right")) for c, a in groups) > r:
                hi = mid
            else:
                lo = mid + 1
        return float(np.int64(lo).view(np.float64))

    return rank_value


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
    # a multiply and a sum, not np.dot: a BLAS dot this long wakes OpenBLAS's worker threads, which then
    # spin for ~0.1 CPU-s after the call on a small machine
    mean = float((frac * widths).sum() / end_time_s)
    return KvOccupancySeries(
        time_s=[float(t) for t in grid],
        used_fraction=[float(v) for v in sampled],
        peak_used_fraction=float(frac.max()),
        mean_used_fraction=mean,
    )


def ideal_prefix_hit_tokens(requests: Sequence[Request], prefix_block_tokens: int) -> list[int]:
    """Per request, the prompt tokens an unbounded prefix cache would skip (arrival order).

    A request hits its longest run of leading full prefix blocks whose ids some earlier request
    (by arrival, then input position) carried; a full-prompt hit still recomputes one token.
    """
    if not prefix_block_tokens:
        return [0] * len(requests)
    order = sorted(range(len(requests)), key=lambda i: (requests[i].arrived_at, i))
    seen: set[int] = set()
    out = [0] * len(requests)
    for i in order:
        req = requests[i]
        ids = (req.prefix_block_ids or [])[: req.num_prefill_tokens // prefix_block_tokens]
        k = 0
        while k < len(ids) and ids[k] in seen:
            k += 1
        out[i] = min(k * prefix_block_tokens, req.num_prefill_tokens - 1)
        seen.update(ids)
    return out


def record_fields(
    s: ReqState, request_id: int, ttft_s: float, tpot_s: float | None, e2e_s: float
) -> dict[str, Any]:
    """The RequestRecord fields of a finished request, as plain data in the model's field order (its
    latencies computed by the caller, ``FinishedColumns.add``)."""
    return {
        "request_id": request_id,
        "status": "finished",
        "reason": None,
        "num_prefill_tokens": s.prompt_tokens,
        "num_decode_tokens": s.decode_tokens,
        "arrived_at_s": s.arrived_at_s,
        "scheduled_at_s": s.first_scheduled_at_s,
        "first_token_at_s": s.first_token_at_s,
        "finished_at_s": s.finished_at_s,
        "ttft_s": ttft_s,
        "tpot_s": tpot_s,
        "e2e_s": e2e_s,
        "energy_j": s.energy_j,
        "preemptions": s.preemptions,
        "prefix_cache_hit_tokens": s.cache_hit_tokens,
        "prefix_cache_readmit_hit_tokens": s.readmit_hit_tokens,
        "queue_delay_s": s.first_scheduled_at_s - s.arrived_at_s,
        "kv_transfer_s": s.kv_transfer_s if s.kv_transfer_s > 0 else None,
    }


RECORD_FIELDS = tuple(RequestRecord.model_fields)  # the order of a kept row's values (record_fields')


class FinishedColumns:
    """Folds finished requests into metric columns; optionally keeps or streams their records."""

    def __init__(
        self,
        config: ServeConfig,
        request_ids: Sequence[int],
        sink: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.request_ids = request_ids
        self.sink = sink
        self.ttft = array("d")
        self.tpot = array("d")
        self.e2e = array("d")
        self.queue = array("d")
        self.output_tokens = 0
        self.prompt_tokens = 0
        self.hit_tokens = 0
        self.readmit_hit_tokens = 0
        self.good = 0
        # input index -> RequestRecord fields (keep_request_records): a rejected request's as a dict, a
        # finished one's as their values in RECORD_FIELDS order; ServeResult validates them all at once
        self.records: dict[int, dict[str, Any] | tuple[Any, ...]] = {}
        self.has_slo = not (
            config.slo_ttft_s is None and config.slo_tpot_s is None and config.slo_e2e_s is None
        )

    def add_rejected(self, index: int, fields: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink(fields)
        if self.config.keep_request_records:
            self.records[index] = fields

    def add(self, s: ReqState) -> None:
        arrived, first, finished = s.arrived_at_s, s.first_token_at_s, s.finished_at_s
        ttft = first - arrived
        e2e = finished - arrived
        tpot = (finished - first) / (s.decode_tokens - 1) if s.decode_tokens > 1 else None
        self.ttft.append(ttft)
        if tpot is not None:
            self.tpot.append(tpot)
        self.e2e.append(e2e)
        self.queue.append(s.first_scheduled_at_s - arrived)
        self.output_tokens += s.decode_tokens
        self.prompt_tokens += s.prompt_tokens
        self.hit_tokens += s.cache_hit_tokens
        self.readmit_hit_tokens += s.readmit_hit_tokens
        if not self.has_slo or _meets_slo(ttft, tpot, e2e, self.config):
            self.good += 1
        if self.sink is None and not self.config.keep_request_records:
            return
        fields = record_fields(s, self.request_ids[s.index], ttft, tpot, e2e)
        if self.sink is not None:
            self.sink(fields)
        if self.config.keep_request_records:
            # kept as a tuple of plain values: no work for Python's cyclic garbage collector, where a
            # dict or a model per request made its full collections walk every record kept so far
            self.records[s.index] = tuple(fields.values())

    def record_dicts(self) -> list[dict[str, Any]]:
        """The kept records' fields in input order."""
        records = self.records
        return [
            rec if isinstance(rec, dict) else dict(zip(RECORD_FIELDS, rec, strict=True))
            for rec in (records[i] for i in sorted(records))
        ]


def _meets_slo(ttft_s: float, tpot_s: float | None, e2e_s: float, config: ServeConfig) -> bool:
    if config.slo_ttft_s is not None and ttft_s > config.slo_ttft_s:
        return False
    if config.slo_e2e_s is not None and e2e_s > config.slo_e2e_s:
        return False
    return not (config.slo_tpot_s is not None and tpot_s is not None and tpot_s > config.slo_tpot_s)


def _timeline(
    raw: RawRun, request_ids: Sequence[int], total_blocks: int, config: ServeConfig
) -> ServeTimeline:
    scale = 1.0 / total_blocks if total_blocks else 0.0
    start = np.frombuffer(raw.it_start_s, dtype=float) if len(raw.it_start_s) else np.zeros(0)
    kv_t = np.frombuffer(raw.kv_time_s, dtype=float) if len(raw.kv_time_s) else np.zeros(0)
    keep = slice(None)
    kv_keep = slice(None)
    events = raw.preempt_events
    packages = raw.preempt_packages.tolist() if len(raw.preempt_packages) else []
    if config.timeline_window_s is not None:
        lo, hi = config.timeline_window_s
        keep = slice(int(np.searchsorted(start, lo, "left")), int(np.searchsorted(start, hi, "left")))
        kv_keep = slice(int(np.searchsorted(kv_t, lo, "left")), int(np.searchsorted(kv_t, hi, "left")))
        inside = [k for k, (t, _) in enumerate(events) if lo <= t < hi]
        events = [events[k] for k in inside]
        packages = [packages[k] for k in inside] if packages else []
    return ServeTimeline(
        iteration_start_s=raw.it_start_s[keep].tolist(),
        iteration_latency_s=raw.it_latency_s[keep].tolist(),
        iteration_energy_j=raw.it_energy_j[keep].tolist(),
        prefill_requests=raw.it_prefill_reqs[keep].tolist(),
        prefill_tokens=raw.it_prefill_tokens[keep].tolist(),
        decode_requests=raw.it_decode_reqs[keep].tolist(),
        preemptions=[(t, request_ids[i]) for t, i in events],
        iteration_package=raw.it_package[keep].tolist(),
        preemption_package=packages,
        kv_time_s=raw.kv_time_s[kv_keep].tolist(),
        kv_used_fraction=[b * scale for b in raw.kv_used_blocks[kv_keep]],
    )


def build_result(
    config: ServeConfig,
    request_ids: Sequence[int],
    cols: FinishedColumns,
    rejected_by_reason: dict[str, int],
    raw: RawRun,
    kv_capacity_tokens: int,
    kv_on_package_tokens: int,
    total_blocks: int,
    skipped_rows: dict[str, int],
    prefix_block_tokens: int = 0,
    static_power_w: float = 0.0,
    ideal_hit_tokens: int = 0,
) -> ServeResult:
    """Assemble the result; kept records are listed in input order."""
    num_requests = len(request_ids)
    num_rejected = sum(rejected_by_reason.values())
    num_finished = num_requests - num_rejected
    sim_time_s = raw.end_time_s
    per_s = 1.0 / sim_time_s if sim_time_s > 0 else 0.0
    has_slo = any(x is not None for x in (config.slo_ttft_s, config.slo_tpot_s, config.slo_e2e_s))
    good = cols.good if has_slo else 0
    qs = config.percentiles

    def arr(a: array) -> np.ndarray:
        return np.frombuffer(a, dtype=float) if len(a) else np.zeros(0)

    return ServeResult(
        config=config,
        kv_capacity_tokens=kv_capacity_tokens,
        kv_on_package_tokens=kv_on_package_tokens,
        kv_total_blocks=total_blocks,
        num_requests=num_requests,
        num_finished=num_finished,
        num_rejected=num_rejected,
        rejected_by_reason=dict(sorted(rejected_by_reason.items())),
        skipped_rows=dict(sorted(skipped_rows.items())),
        iterations=raw.iterations,
        simulated_time_s=sim_time_s,
        busy_time_s=raw.busy_time_s,
        ttft_s=percentiles(arr(cols.ttft), qs),
        tbt_s=gap_percentiles(raw.tbt_hist, qs),
        tpot_s=percentiles(arr(cols.tpot), qs),
        e2e_s=percentiles(arr(cols.e2e), qs),
        queue_delay_s=percentiles(arr(cols.queue), qs),
        output_tokens=cols.output_tokens,
        prompt_tokens=cols.prompt_tokens,
        prefill_tokens_computed=raw.prefill_tokens_computed,
        prefix_cache_hit_tokens=cols.hit_tokens,
        prefix_cache_readmit_hit_tokens=cols.readmit_hit_tokens,
        prefix_cache_ideal_hit_tokens=ideal_hit_tokens,
        prefix_cache_hit_rate=cols.hit_tokens / cols.prompt_tokens if cols.prompt_tokens else 0.0,
        prefix_cache_evictions=raw.cache_evictions,
        prefix_block_tokens=prefix_block_tokens,
        throughput_output_tokens_per_s=cols.output_tokens * per_s,
        throughput_requests_per_s=num_finished * per_s,
        throughput_total_tokens_per_s=(cols.output_tokens + cols.prompt_tokens) * per_s,
        goodput_requests_per_s=good * per_s if has_slo else None,
        slo_attainment=(good / num_requests if num_requests else 0.0) if has_slo else None,
        energy_j=raw.energy_j,
        idle_energy_j=static_power_w * max(0.0, sim_time_s - raw.busy_time_s),
        energy_per_request_j=raw.energy_j / num_finished if num_finished else None,
        energy_per_output_token_j=raw.energy_j / cols.output_tokens if cols.output_tokens else None,
        d2d_bytes=raw.d2d_bytes,
        offpkg_bytes=raw.offpkg_bytes,
        preemptions=raw.preemptions,
        stretch_iterations=raw.stretch_iterations,
        kv_occupancy=kv_occupancy_series(
            arr(raw.kv_time_s), arr(raw.kv_used_blocks), total_blocks, sim_time_s, config.kv_series_points
        ),
        requests=cols.record_dicts(),
        timeline=_timeline(raw, request_ids, total_blocks, config) if config.record_timeline else None,
    )


def transfer_fields(
    transfers: Any, link: Any, request_ids: Sequence[int], built: ServeResult, cols: FinishedColumns
) -> dict[str, Any]:
    """ServeResult fields of a disaggregated run (``llmimc.sim.disagg.Transfers`` over ``link``)."""
    durations = np.array(transfers.delays_s, dtype=float)
    update: dict[str, Any] = {
        "package_link": link.name,
        "kv_transfer_bytes": transfers.bytes_total,
        "kv_transfer_energy_j": transfers.energy_j,
        "kv_transfer_s": percentiles(durations, cols.config.percentiles),
    }
    if built.timeline is not None:
        window = cols.config.timeline_window_s
        lo, hi = window if window is not None else (-math.inf, math.inf)
        events = [(t, d, request_ids[i]) for t, d, i in transfers.events if lo <= t < hi]
        update["timeline"] = built.timeline.model_copy(update={"kv_transfers": events})
    return update
