"""KV capacity follows the hardware (issue 11 item 3): every powered chiplet's free SRAM, then the
nearest memory stack (llmimc.mapping.kv). Hand-computed placements, conservation, monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.imc import plan_for, random_graph, random_spec

from llmimc.errors import MappingError
from llmimc.hw import hop_distance_matrix
from llmimc.mapping.kv import plan_kv
from llmimc.mapping.model import map_model

KIB = 1024


def _line(n: int) -> list[list[int]]:
    """Hops on a line 0 - 1 - ... - n-1."""
    return [[abs(a - b) for b in range(n)] for a in range(n)]


def test_two_kv_chiplets_and_a_weights_only_chiplet_by_hand():
    # 3 chiplets on a line, 2 layers: layer 0 on chiplet 0, layer 1 on chiplet 2 (b = 100 B/token each);
    # SRAM 10 KiB each; chiplet 1 holds only weights (outliers 240 B); reserves 0 / 0 / 0; stack 1 MB
    # free, attached at chiplet 2. Pools: F = 10240, 10000, 10240 -> 30480 B; B = 200 B/token.
    kv = plan_kv(
        kv_bits=8,
        layer_elements=[100, 100],
        layer_chiplet={0: 0, 1: 2},
        sram_capacity_bytes=10 * KIB,
        outlier_bytes_per_chiplet={1: 240.0},
        activation_reserve_per_chiplet={},
        offpkg_free_bytes=1_000_000.0,
        num_chiplets=3,
        hops=_line(3),
        stack_attach=[[2]],
    )
    # N = floor((30480 + 1e6) / 200) = 5152; S = 30480 / 200 = 152.4 tokens in SRAM for both chiplets
    assert kv.capacity_tokens == 5152
    assert kv.on_package_tokens == 152
    assert kv.offpkg_tokens == 5000
    c0, c2 = kv.chiplets
    # phase 1, by hops: each takes 102.4 tokens (10240 B) of its own SRAM; at hop 1 chiplet 0 then
    # chiplet 2 take 50 tokens (5000 B) each of chiplet 1's SRAM
    assert [(s.pool, s.pool_index, s.hops) for s in c0.segments] == [
        ("sram", 0, 0),
        ("sram", 1, 1),
        ("stack", 0, 2),
    ]
    assert [(s.pool, s.pool_index, s.hops) for s in c2.segments] == [
        ("sram", 2, 0),
        ("sram", 1, 1),
        ("stack", 0, 0),
    ]
    assert [s.tokens for s in c0.segments] == pytest.approx([102.4, 50.0, 5152 - 152.4])
    assert [s.start_token for s in c2.segments] == pytest.approx([0.0, 102.4, 152.4])
    assert c0.tokens_on_package == 102
    # conservation: every placed byte is a capacity token's byte; no pool holds more than it has free
    assert kv.placed_bytes == pytest.approx(5152 * 200)
    for p in kv.pools:
        assert p.kv_bytes <= p.free_bytes + 1e-6
    assert kv.sram_holders == [0, 1, 2]


def test_nearest_stack_serves_each_chiplet():
    # 4 chiplets on a line, one layer on chiplet 0 and one on chiplet 3; two stacks at chiplets 0 and 3;
    # no free SRAM (reserves fill it): each chiplet spills to the stack on its own chiplet (0 hops)
    kv = plan_kv(
        kv_bits=16,
        layer_elements=[64, 64],
        layer_chiplet={0: 0, 1: 3},
        sram_capacity_bytes=1000,
        outlier_bytes_per_chiplet={},
        activation_reserve_per_chiplet={c: 1000.0 for c in range(4)},
        offpkg_free_bytes=2 * 128_000.0,
        num_chiplets=4,
        hops=_line(4),
        stack_attach=[[0], [3]],
    )
    assert kv.capacity_tokens == 2 * 128_000 // 256 == 1000
    assert kv.on_package_tokens == 0
    (s0,), (s3,) = (c.segments for c in kv.chiplets)
    assert (s0.pool, s0.pool_index, s0.hops, s0.tokens) == ("stack", 0, 0, 1000)
    assert (s3.pool, s3.pool_index, s3.hops, s3.tokens) == ("stack", 1, 0, 1000)


def test_no_kv_layers_no_capacity():
    kv = plan_kv(
        kv_bits=8,
        layer_elements=[0],
        layer_chiplet={0: 0},
        sram_capacity_bytes=1000,
        outlier_bytes_per_chiplet={},
        activation_reserve_per_chiplet={},
        offpkg_free_bytes=1e6,
        num_chiplets=2,
    )
    assert kv.capacity_tokens == 0 and kv.placed_bytes == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 4),
    topology=st.sampled_from(["ring", "mesh2d", "all_to_all"]),
    sram_kib=st.sampled_from([64, 4096]),
)
def test_more_chiplets_or_stacks_never_lower_capacity_and_bytes_are_conserved(layers, topology, sram_kib):
    g = random_graph(layers, 64, 1)
    plan = plan_for(g)
    prev = None
    for n in range(2, 7):
        spec = random_spec(n, topology, 64, 1, True, sram_kib)
        try:
            m = map_model(g, spec, plan, batch=4, max_context_tokens=256)
        except MappingError:
            continue
        kv = m.kv
        assert kv.placed_bytes == pytest.approx(kv.capacity_tokens * kv.bytes_per_token, rel=1e-9)
        if prev is not None:
            assert kv.capacity_tokens >= prev
        prev = kv.capacity_tokens
        stacks = [1, 2] if n >= 2 else [1]
        caps = [
            map_model(g, spec.with_memory_stacks(k), plan, batch=4, max_context_tokens=256).kv for k in stacks
        ]
        assert caps[-1].capacity_tokens >= caps[0].capacity_tokens
        # every segment reads over a real route of the mapping
        for c in kv.chiplets:
            for sg in c.segments:
                route = m.route(sg.pool_chiplet, c.chiplet)
                assert (
                    len(route) - 1 == sg.hops == hop_distance_matrix(m.links, n)[sg.pool_chiplet][c.chiplet]
                )
