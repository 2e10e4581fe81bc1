"""Serve report (rich) and Perfetto timeline built from a fake-cost-model run."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from serve_fakes import FakeCostModel, make_requests

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
