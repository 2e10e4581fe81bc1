"""KV capacity follows the hardware: every off-package memory stack adds its free bytes to the KV."""

from __future__ import annotations

import pytest
from support.imc import traced_tiny_llama_graph

from llmimc.compress import DEFAULT_POLICY, build_plan, load_policy
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.sim.system import build_system
from llmimc.traces.request import Request


@pytest.fixture(scope="module")
def tiny():
    graph = traced_tiny_llama_graph(vocab=256, context=4096)
    return graph, build_plan(graph, load_policy(DEFAULT_POLICY))


def test_more_stacks_more_kv_by_the_stack_bytes(tiny):
    graph, plan = tiny
    spec = load_spec(DEFAULT_IMC_SPEC).with_chiplets(4)
    one = build_system(graph, spec, plan, batch=4)
    four_spec = spec.with_memory_stacks(4)
    assert four_spec.package.memory.attached_chiplets == [0, 1, 2, 3]
    four = build_system(graph, four_spec, plan, batch=4)
    kv1, kv4 = one.mapping.kv, four.mapping.kv
    assert kv4.on_package_tokens == kv1.on_package_tokens
    stack = spec.package.memory.capacity_bytes
    # three more stacks: exactly their bytes more off-package KV (floor to whole tokens)
    assert kv4.offpkg_free_bytes == pytest.approx(kv1.offpkg_free_bytes + 3 * stack)
    assert kv4.offpkg_tokens == int((kv1.offpkg_free_bytes + 3 * stack) // kv1.bytes_per_token)
    assert four.compiled.mem_bw_bytes_per_s == pytest.approx(4 * one.compiled.mem_bw_bytes_per_s)
    req = [Request(request_id=0, arrived_at=0.0, num_prefill_tokens=10, num_decode_tokens=2)]
    served = run_serve(four.cost_model, req, ServeConfig())
    assert served.kv_capacity_tokens == kv4.capacity_tokens > kv1.capacity_tokens


def test_attach_points_must_match_stacks():
    from llmimc.hw.spec import OffPackageMemory

    memory = load_spec(DEFAULT_IMC_SPEC).package.memory.model_dump()
    memory.update(stacks=3, attached_chiplets=[0, 1], sources=dict(memory["sources"], stacks="test"))
    with pytest.raises(ValueError, match="one attach point per stack"):
        OffPackageMemory.model_validate(memory)
    with pytest.raises(ValueError, match="need at least 8 chiplets"):
        load_spec(DEFAULT_IMC_SPEC).with_chiplets(4).with_memory_stacks(8)
