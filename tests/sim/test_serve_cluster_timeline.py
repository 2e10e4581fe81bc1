"""A cluster's timeline holds every package's iterations and preemptions, each on its package's track."""

from __future__ import annotations

from collections import Counter

import pytest
from support.serve_fakes import FakeCostModel, make_requests

from llmimc.report.timeline import serve_timeline
from llmimc.sim.serve import ServeConfig, run_serve


def _run(config: ServeConfig):
    reqs = make_requests(120, seed=5, max_prompt=600, max_decode=30, rate_qps=60.0)
    return run_serve(FakeCostModel(), reqs, config)


def test_every_replica_iteration_is_on_the_timeline():
    result = _run(ServeConfig(replicas=3, record_timeline=True))
    tl = result.timeline
    assert tl is not None
    assert len(tl.iteration_start_s) == result.iterations  # all packages, not the first one only
    assert Counter(tl.iteration_package) == {r.replica: r.iterations for r in result.replicas}
    assert tl.iteration_start_s == sorted(tl.iteration_start_s)
    assert sum(tl.iteration_energy_j) == pytest.approx(result.energy_j, rel=1e-12)
    assert len(tl.preemption_package) == len(tl.preemptions) == result.preemptions
    trace = serve_timeline(result)["traceEvents"]
    names = {
        e["tid"]: e["args"]["name"]
        for e in trace
        if e.get("ph") == "M" and e["name"] == "thread_name" and e["pid"] == 1
    }
    assert names == {10: "replica 0 iterations", 11: "replica 1 iterations", 12: "replica 2 iterations"}
    spans = Counter(e["tid"] for e in trace if e.get("cat") == "iteration")
    assert spans == {10 + r.replica: r.iterations for r in result.replicas}


def test_one_package_keeps_one_track():
    result = _run(ServeConfig(record_timeline=True))
    tl = result.timeline
    assert tl is not None and tl.iteration_package == [] and tl.preemption_package == []
    trace = serve_timeline(result)["traceEvents"]
    assert {e["tid"] for e in trace if e.get("cat") == "iteration"} == {1}


def test_disaggregated_tracks_name_prefill_and_decode_packages():
    from llmimc.hw.package_links import PACKAGE_LINKS

    reqs = make_requests(60, seed=9, max_prompt=400, max_decode=20, rate_qps=30.0)
    result = run_serve(
        FakeCostModel(),
        reqs,
        ServeConfig(disaggregate=(1, 2), record_timeline=True),
        package_link=PACKAGE_LINKS["pcie5"],
        kv_bytes_per_token=1000.0,
    )
    trace = serve_timeline(result)["traceEvents"]
    names = {
        e["tid"]: e["args"]["name"]
        for e in trace
        if e.get("ph") == "M" and e["name"] == "thread_name" and e["pid"] == 1
    }
    assert (
        names[10] == "prefill package 0"
        and names[11] == "decode package 0"
        and names[12] == "decode package 1"
    )
    assert len(result.timeline.iteration_start_s) == result.iterations


def test_window_keeps_each_iteration_with_its_package():
    full = _run(ServeConfig(replicas=2, record_timeline=True)).timeline
    part = _run(ServeConfig(replicas=2, record_timeline=True, timeline_window_s=(0.5, 1.5))).timeline
    assert full is not None and part is not None
    kept = [
        (t, p) for t, p in zip(full.iteration_start_s, full.iteration_package, strict=True) if 0.5 <= t < 1.5
    ]
    assert list(zip(part.iteration_start_s, part.iteration_package, strict=True)) == kept
