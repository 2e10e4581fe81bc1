"""Serve report (rich) and Perfetto timeline built from a fake-cost-model run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from support.serve_fakes import FakeCostModel, make_requests

from llmimc.errors import LlmimcError
from llmimc.report.serve_report import render_serve_report, sparkline
from llmimc.report.timeline import serve_timeline
from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.traces.request import Request


@pytest.fixture(scope="module")
def result():
    requests = make_requests(60, seed=11, rate_qps=100.0)
    requests.append(Request(request_id=60, arrived_at=0.2, num_prefill_tokens=5000, num_decode_tokens=5))
    config = ServeConfig(record_timeline=True, slo_ttft_s=0.2, max_context_tokens=4096)
    return run_serve(FakeCostModel(kv_capacity=3000), requests, config, skipped_rows={"bad_count": 2})


def test_timeline_is_valid_trace_event_json(result):
    trace = json.loads(json.dumps(serve_timeline(result)))
    events = trace["traceEvents"]
    iterations = [e for e in events if e.get("cat") == "iteration"]
    assert len(iterations) == result.iterations
    assert sum(e["args"]["prefill_tokens"] for e in iterations) == result.prefill_tokens_computed
    assert all(e["dur"] > 0 for e in iterations)
    spans = [e for e in events if e.get("cat") == "request" and e["name"].startswith("req ")]
    assert len(spans) == result.num_finished
    assert len([e for e in events if e.get("cat") == "preemption"]) == result.preemptions > 0
    # spans sharing a lane never overlap
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for e in spans:
        by_lane.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for intervals in by_lane.values():
        intervals.sort()
        assert all(a[1] <= b[0] for a, b in zip(intervals, intervals[1:], strict=False))


def test_timeline_needs_recorded_iterations():
    plain = run_serve(FakeCostModel(), make_requests(3, seed=1), ServeConfig())
    with pytest.raises(LlmimcError, match="record_timeline"):
        serve_timeline(plain)


def test_report_shows_the_headline_numbers(result):
    console = Console(record=True, width=140)
    render_serve_report(result, console, "test run")
    text = console.export_text()
    for needle in (
        "time to first token",
        "time between tokens",
        "end-to-end latency",
        "goodput (TTFT ≤ 0.2 s)",
        "energy per request",
        "die-to-die traffic",
        "KV occupancy",
        "preemptions",
        "prompt_exceeds_context",
        "bad_count: 2",
    ):
        assert needle in text


def test_sparkline_scales_to_top():
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert len(sparkline([0.3] * 500, width=40)) == 40
    assert sparkline([]) == ""


def test_timeline_follows_the_trace_event_format(result):
    """Schema of Google's Trace Event Format (JSON object form): what Perfetto and chrome://tracing load."""
    trace = json.loads(json.dumps(serve_timeline(result)))
    assert set(trace) == {"traceEvents", "displayTimeUnit"} and trace["displayTimeUnit"] in ("ms", "ns")
    for e in trace["traceEvents"]:
        assert e["ph"] in ("X", "B", "E", "C", "i", "M"), e
        assert isinstance(e["name"], str) and isinstance(e["pid"], int)
        assert isinstance(e.get("args", {}), dict)
        if e["ph"] == "M":
            assert e["name"] in ("process_name", "thread_name") and isinstance(e["args"]["name"], str)
            continue
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0  # microseconds
        if e["ph"] == "X":
            assert isinstance(e["tid"], int) and e["dur"] >= 0
        if e["ph"] == "i":
            assert e["s"] in ("g", "p", "t") and isinstance(e["tid"], int)
        if e["ph"] == "C":
            assert all(isinstance(v, (int, float)) for v in e["args"].values())
    # ts/dur are microseconds: the iteration spans add up to the busy time
    iterations = [e for e in trace["traceEvents"] if e.get("cat") == "iteration"]
    assert sum(e["dur"] for e in iterations) * 1e-6 == pytest.approx(result.busy_time_s, rel=1e-6)


def test_timeline_kv_counter_is_the_exact_step_function(result):
    events = serve_timeline(result)["traceEvents"]
    counter = [e["args"]["used"] for e in events if e["ph"] == "C"]
    tl = result.timeline
    assert max(counter) == pytest.approx(result.kv_occupancy.peak_used_fraction)
    # one point per change of the scheduler's step function, not the report's 120 samples
    changes = [f for k, f in enumerate(tl.kv_used_fraction) if k == 0 or f != tl.kv_used_fraction[k - 1]]
    assert counter == changes
    assert len(tl.kv_time_s) > len(result.kv_occupancy.time_s)


def test_timeline_shows_rejected_requests(result):
    events = serve_timeline(result)["traceEvents"]
    rejected = [e for e in events if e.get("cat") == "rejection"]
    assert [e["args"]["request_id"] for e in rejected] == [60]
    assert rejected[0]["args"]["reason"] == "prompt_exceeds_context"
    assert rejected[0]["ts"] == pytest.approx(0.2e6)


def test_report_says_when_prefix_caching_had_nothing_to_share():
    requests = make_requests(5, seed=2)
    on = run_serve(FakeCostModel(), requests, ServeConfig(enable_prefix_caching=True))
    assert on.prefix_block_tokens == 0
    console = Console(record=True, width=160)
    render_serve_report(on, console, "caching")
    assert "prefix caching had no effect" in console.export_text()
    shared = [
        Request(
            request_id=i,
            arrived_at=0.1 * i,
            num_prefill_tokens=100,
            num_decode_tokens=2,
            prefix_block_ids=[7],
            prefix_block_tokens=64,
        )
        for i in range(3)
    ]
    used = run_serve(FakeCostModel(), shared, ServeConfig(enable_prefix_caching=True))
    assert used.prefix_block_tokens == 64 and used.prefix_cache_hit_tokens == 2 * 64
    console = Console(record=True, width=160)
    render_serve_report(used, console, "caching")
    assert "prefix caching had no effect" not in console.export_text()


@pytest.mark.parametrize("expand", [True, False])
def test_gap_counts_read_like_the_expanded_histogram(monkeypatch, expand):
    """GapCounts (gaps grouped by share count) gives the {gap: count} histogram's percentiles exactly
    (both the sort and the bisection path) and its mean to rounding."""
    from llmimc.sim import serve_metrics
    from llmimc.sim.sched_state import GapCounts

    if not expand:
        monkeypatch.setattr(serve_metrics, "EXPAND_RECORDS", 0)
    rng = np.random.default_rng(3)
    hist: dict[float, int] = {}
    gaps = GapCounts()
    pool = rng.exponential(0.05, 300).tolist()  # repeats: the same gap under several counts
    for _ in range(2000):
        g, c = pool[int(rng.integers(0, 300))], int(rng.integers(1, 9))
        gaps.add(g, c)
        hist[g] = hist.get(g, 0) + c
    qs = (50.0, 90.0, 99.0, 99.9, 0.0, 100.0)
    got = serve_metrics.gap_percentiles(gaps, qs)
    ref = serve_metrics.histogram_percentiles(hist, qs)
    assert got.count == ref.count
    assert (got.p50, got.p90, got.p99, got.values) == (ref.p50, ref.p90, ref.p99, ref.values)
    assert got.mean == pytest.approx(ref.mean, rel=1e-14)
