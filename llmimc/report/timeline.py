"""Chrome/Perfetto trace of a serving run (open it in https://ui.perfetto.dev or chrome://tracing).

Uses the Trace Event Format (Google, "Trace Event Format", the JSON Object Format with
``traceEvents``; timestamps in microseconds):
- process 1 "scheduler": one complete event ("X") per iteration with its batch composition (prefill
  requests and tokens, decode requests, energy) in ``args``, on one track per package when there are
  several (replicas; disaggregation's prefill then decode packages); preemptions as instant events
  ("i") on their package's track;
  KV-cache occupancy as a counter track ("C"): the scheduler's exact step function (one point per
  change), not the report's evenly spaced samples.
- process 2 "requests": one span per finished request from arrival to finish, with nested "queued",
  "prefill" and "decode" spans; requests are packed onto as few lanes (threads) as overlap allows.
  Rejected requests are instant events at their arrival on lane 0 "rejected", with the reason.

The function returns the JSON-serialisable dict; the CLI writes it.
"""

from __future__ import annotations

import heapq

from llmimc.errors import LlmimcError
from llmimc.sim.serve_models import ServeResult, ServeTimeline

_US_PER_S = 1e6
_SCHED_PID = 1
_REQ_PID = 2
_ITER_TID = 1  # one package's iterations
_KV_LINK_TID = 2  # disaggregation's KV transfers
_PACKAGE_TID0 = 10  # package p's iterations at tid 10 + p when there are several


def _us(t_s: float) -> float:
    return round(t_s * _US_PER_S, 3)


def _meta(pid: int, tid: int | None, kind: str, name: str) -> dict:
    event = {"name": kind, "ph": "M", "pid": pid, "args": {"name": name}}
    if tid is not None:
        event["tid"] = tid
    return event


def _span(name: str, cat: str, start_s: float, end_s: float, pid: int, tid: int, args: dict) -> dict:
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": _us(start_s),
        "dur": _us(end_s) - _us(start_s),
        "pid": pid,
        "tid": tid,
        "args": args,
    }


def serve_timeline(result: ServeResult) -> dict:
    """Trace Event Format dict for ``result`` (which must have been run with record_timeline)."""
    tl = result.timeline
    if tl is None:
        raise LlmimcError(
            "the serve result has no timeline; run it with record_timeline=True (--timeline PATH)"
        )
    events: list[dict] = [
        _meta(_SCHED_PID, None, "process_name", "scheduler"),
        _meta(_REQ_PID, None, "process_name", "requests"),
    ]
    events += _package_tracks(result, tl)
    events += _iteration_events(tl)
    events += _preemption_events(tl)
    events += _kv_counter_events(tl)
    events += _kv_transfer_events(result, tl)
    events += _rejection_events(result)
    events += _request_lane_events(result)
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def _package_tid(tl: ServeTimeline, k: int, packages: list[int]) -> int:
    return _PACKAGE_TID0 + packages[k] if packages else _ITER_TID


def _package_tracks(result: ServeResult, tl: ServeTimeline) -> list[dict]:
    """Thread names: one "iterations" track, or one per package of a cluster."""
    if not tl.iteration_package and not tl.preemption_package:
        return [_meta(_SCHED_PID, _ITER_TID, "thread_name", "iterations")]
    n_prefill = result.config.disaggregate[0] if result.config.disaggregate else 0
    names = []
    for p in range(result.config.num_packages):
        if result.config.disaggregate:
            role, idx = ("prefill", p) if p < n_prefill else ("decode", p - n_prefill)
            names.append(_meta(_SCHED_PID, _PACKAGE_TID0 + p, "thread_name", f"{role} package {idx}"))
        else:
            names.append(_meta(_SCHED_PID, _PACKAGE_TID0 + p, "thread_name", f"replica {p} iterations"))
    return names


def _iteration_events(tl: ServeTimeline) -> list[dict]:
    """One span per iteration on its package's track, named by what it ran."""
    events = []
    columns = zip(
        tl.iteration_start_s,
        tl.iteration_latency_s,
        tl.iteration_energy_j,
        tl.prefill_requests,
        tl.prefill_tokens,
        tl.decode_requests,
        strict=True,
    )
    for k, (start_s, latency_s, energy_j, n_pre, pre_tokens, n_dec) in enumerate(columns):
        args = {
            "iteration": k,
            "prefill_requests": n_pre,
            "prefill_tokens": pre_tokens,
            "decode_requests": n_dec,
            "energy_j": energy_j,
        }
        name = "mixed" if n_pre and n_dec else ("prefill" if n_pre else "decode")
        tid = _package_tid(tl, k, tl.iteration_package)
        events.append(_span(name, "iteration", start_s, start_s + latency_s, _SCHED_PID, tid, args))
    return events


def _preemption_events(tl: ServeTimeline) -> list[dict]:
    return [
        {
            "name": "preempt",
            "cat": "preemption",
            "ph": "i",
            "s": "t",
            "ts": _us(t_s),
            "pid": _SCHED_PID,
            "tid": _package_tid(tl, k, tl.preemption_package),
            "args": {"request_id": request_id},
        }
        for k, (t_s, request_id) in enumerate(tl.preemptions)
    ]


def _kv_counter_events(tl: ServeTimeline) -> list[dict]:
    """The KV blocks in use as a counter: one point where the exact step function changes."""
    events = []
    last_frac = None
    for t_s, frac in zip(tl.kv_time_s, tl.kv_used_fraction, strict=True):
        if frac == last_frac:
            continue
        last_frac = frac
        events.append(
            {"name": "kv_used_fraction", "ph": "C", "ts": _us(t_s), "pid": _SCHED_PID, "args": {"used": frac}}
        )
    return events


def _kv_transfer_events(result: ServeResult, tl: ServeTimeline) -> list[dict]:
    """Disaggregation: each prompt's KV crossing the package link, on its own track."""
    if not tl.kv_transfers:
        return []
    events = [_meta(_SCHED_PID, _KV_LINK_TID, "thread_name", f"KV transfers ({result.package_link})")]
    for start_s, duration_s, request_id in tl.kv_transfers:
        end_s = start_s + duration_s
        events.append(
            _span(
                f"kv {request_id}",
                "kv_transfer",
                start_s,
                end_s,
                _SCHED_PID,
                _KV_LINK_TID,
                {"request_id": request_id},
            )
        )
    return events


def _rejection_events(result: ServeResult) -> list[dict]:
    rejected = [r for r in result.requests if r.status == "rejected"]
    events = [_meta(_REQ_PID, 0, "thread_name", "rejected")] if rejected else []
    for r in rejected:
        args = {
            "request_id": r.request_id,
            "reason": r.reason,
            "prompt_tokens": r.num_prefill_tokens,
            "output_tokens": r.num_decode_tokens,
        }
        events.append(
            {
                "name": f"rejected {r.request_id}",
                "cat": "rejection",
                "ph": "i",
                "s": "t",
                "ts": _us(r.arrived_at_s),
                "pid": _REQ_PID,
                "tid": 0,
                "args": args,
            }
        )
    return events


def _request_lane_events(result: ServeResult) -> list[dict]:
    """Finished requests on the fewest lanes (a lane is reused once its request finished), each with
    its queued / prefill / KV transfer / decode phases."""
    events: list[dict] = []
    lanes_free_at: list[tuple[float, int]] = []  # (time the lane frees up, lane id)
    n_lanes = 0
    finished = sorted(
        (r for r in result.requests if r.status == "finished"), key=lambda r: (r.arrived_at_s, r.request_id)
    )
    for r in finished:
        scheduled_s, first_s, finished_s = r.scheduled_at_s, r.first_token_at_s, r.finished_at_s
        assert scheduled_s is not None and first_s is not None and finished_s is not None  # finished
        if lanes_free_at and lanes_free_at[0][0] <= r.arrived_at_s:
            _, lane = heapq.heappop(lanes_free_at)
        else:
            n_lanes += 1
            lane = n_lanes
            events.append(_meta(_REQ_PID, lane, "thread_name", f"lane {lane}"))
        heapq.heappush(lanes_free_at, (finished_s, lane))
        args = {
            "request_id": r.request_id,
            "prompt_tokens": r.num_prefill_tokens,
            "output_tokens": r.num_decode_tokens,
            "ttft_s": r.ttft_s,
            "energy_j": r.energy_j,
            "preemptions": r.preemptions,
        }
        events.append(
            _span(f"req {r.request_id}", "request", r.arrived_at_s, finished_s, _REQ_PID, lane, args)
        )
        shipped_s = first_s - (r.kv_transfer_s or 0.0)  # disaggregation: the KV crosses the link first
        phases = (
            ("queued", r.arrived_at_s, scheduled_s),
            ("prefill", scheduled_s, shipped_s),
            ("kv transfer", shipped_s, first_s),
            ("decode", first_s, finished_s),
        )
        for name, start_s, end_s in phases:
            if end_s > start_s:
                events.append(_span(name, "request", start_s, end_s, _REQ_PID, lane, {}))
    return events
