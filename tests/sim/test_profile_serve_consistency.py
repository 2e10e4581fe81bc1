"""A single request served alone by the serving simulator matches run_profile exactly."""

from __future__ import annotations

import pytest
from support.imc import traced_tiny_llama_graph

from llmimc.compress import build_plan, load_policy
from llmimc.hw import load_spec
from llmimc.sim.profile import run_profile
from llmimc.sim.system import build_system
from llmimc.traces.request import Request


@pytest.mark.parametrize(("prompt", "gen", "experts"), [(32, 8, 1), (7, 5, 4)])
def test_single_request_serve_equals_profile(prompt, gen, experts):
    from llmimc.sim.serve import run_serve
    from llmimc.sim.serve_models import ServeConfig

    g = traced_tiny_llama_graph(layers=2, hidden=64, experts=experts)
    spec = load_spec("rram-chiplet").with_chiplets(2)
    plan = build_plan(g, load_policy("w8a8"))
    prof = run_profile(g, spec, plan, prompt_len=prompt, gen_len=gen)
    system = build_system(g, spec, plan, max_context_tokens=prompt + gen)
    res = run_serve(
        system.cost_model,
        [Request(request_id=0, arrived_at=0.0, num_prefill_tokens=prompt, num_decode_tokens=gen)],
        ServeConfig(record_timeline=True),
    )
    rec = res.requests[0]
    assert rec.status == "finished"
    assert rec.ttft_s == pytest.approx(prof.summary.ttft_s, rel=1e-12)
    assert rec.e2e_s == pytest.approx(prof.summary.total_latency_s, rel=1e-12)
    assert res.timeline.iteration_latency_s == pytest.approx(
        [prof.summary.ttft_s, *prof.per_token_latency_s], rel=1e-12
    )
    assert rec.energy_j == pytest.approx(prof.summary.energy_j, rel=1e-9)
