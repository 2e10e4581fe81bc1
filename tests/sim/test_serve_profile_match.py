"""A single request served alone matches run_profile (same compiled cost model, same phases)."""

from __future__ import annotations

import pytest
from support.imc import traced_tiny_llama_graph

from llmimc.compress import DEFAULT_POLICY, build_plan, load_policy
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.sim.profile import run_profile
from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.sim.system import build_system
from llmimc.traces.request import Request

pytestmark = pytest.mark.torch  # traces with torch/transformers


@pytest.fixture(scope="module")
def tiny():
    graph = traced_tiny_llama_graph(vocab=256, context=512)
    spec = load_spec(DEFAULT_IMC_SPEC).with_chiplets(2)
    plan = build_plan(graph, load_policy(DEFAULT_POLICY))
    return graph, spec, plan


@pytest.mark.parametrize(("prompt_len", "gen_len"), [(48, 9), (100, 1), (7, 30)])
def test_single_request_matches_run_profile(tiny, prompt_len, gen_len):
    graph, spec, plan = tiny
    profile = run_profile(graph, spec, plan, batch=1, prompt_len=prompt_len, gen_len=gen_len)
    system = build_system(graph, spec, plan, batch=1, max_context_tokens=prompt_len + gen_len)
    request = Request(request_id=0, arrived_at=0.0, num_prefill_tokens=prompt_len, num_decode_tokens=gen_len)
    result = run_serve(system.cost_model, [request], ServeConfig(record_timeline=True))
    rec = result.requests[0]
    assert rec.status == "finished"
    assert rec.ttft_s == pytest.approx(profile.summary.ttft_s, rel=1e-12)
    served_steps = result.timeline.iteration_latency_s[1:]
    assert served_steps == pytest.approx(profile.per_token_latency_s, rel=1e-12)
    assert len(served_steps) == gen_len - 1
    assert rec.e2e_s == pytest.approx(profile.summary.total_latency_s, rel=1e-12)
    assert result.energy_j == pytest.approx(profile.summary.energy_j, rel=1e-9)
    if gen_len > 1:
        assert rec.tpot_s == pytest.approx(profile.summary.mean_tpot_s, rel=1e-12)
