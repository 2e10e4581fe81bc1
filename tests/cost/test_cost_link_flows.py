"""Per-route replay of die-to-die traffic: what a chiplet sends is what the destination receives.

Every transfer in the compiled cost model is a chain of hops; replaying the chains checks that each hop
is a real directed link of the package, that consecutive hops share a chiplet, that a chain is exactly
the mapping's route between its endpoints, and that the bytes are the same on every hop (nothing is
created or lost in flight). Summed over chains, the bytes per link equal the profile's link table.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from support.imc import plan_for, random_graph, random_spec

from llmimc.errors import MappingError
from llmimc.sim.profile import run_profile
from llmimc.sim.system import build_system


def _chains(hops: list[tuple[tuple[int, int], np.ndarray]]) -> list[list[tuple[tuple[int, int], np.ndarray]]]:
    """Split an item's hop list into transfers: a chain continues while the next hop leaves the chiplet
    the previous one reached with the same bytes."""
    chains: list[list] = []
    for hop in hops:
        if chains:
            (prev_src, prev_dst), prev_bytes = chains[-1][-1]
            (src, _), b = hop
            if src == prev_dst and np.array_equal(b, prev_bytes) and src != chains[-1][0][0][0]:
                chains[-1].append(hop)
                continue
        chains.append([hop])
    return chains


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    layers=st.integers(1, 4),
    chiplets=st.integers(2, 9),
    topology=st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all"]),
    sram_kib=st.sampled_from([64, 4096]),
)
def test_bytes_sent_equal_bytes_received_on_every_route(layers, chiplets, topology, sram_kib):
    g = random_graph(layers, 64, 1)
    spec = random_spec(chiplets, topology, 64, 1, True, sram_kib)
    plan = plan_for(g, weight_bits=8, n=1, m=1, outlier_fraction=0.0)
    try:
        s = build_system(g, spec, plan)
    except MappingError:  # does not fit this package: not a case for this test
        reject()
    directed = set(s.compiled.links)
    per_link = {lk: np.zeros(5) for lk in directed}
    for item in s.compiled.items:
        for chain in _chains(item.links):
            src, dst = chain[0][0][0], chain[-1][0][1]
            route = [src] + [h[0][1] for h in chain]
            assert all(h[0] in directed for h in chain)
            # the chain is the mapping's route, or a prefix of it when two transfers of one item
            # happen to continue each other with equal bytes
            full = s.mapping.route(src, dst)
            assert route == full, (item.kind, route, full)
            first = chain[0][1]
            for h in chain:
                assert np.array_equal(h[1], first)  # same bytes on every hop
                per_link[h[0]] += h[1]
        for lk, _ in item.spill_links:  # a breakpoint's change in bytes may be negative (llmimc.mapping.kv)
            assert lk in directed
    # ... but the KV traffic on every link is never negative, whatever the context held
    cm = s.cost_model
    for ctx in (0.0, 1.0, 7.5, 100.0, 1e3, 1e4, 1e5, float(s.mapping.kv.capacity_tokens)):
        f = np.array([1.0, 1.0, 1.0, ctx, ctx])
        assert (cm.link_bytes_per_spill_token @ cm.spill(f) >= -1e-6).all()
    # replayed per-link bytes equal the profile's link table for a concrete workload
    r = run_profile(g, spec, plan, prompt_len=8, gen_len=3)
    table = {(ln.src, ln.dst): ln.prefill_bytes for ln in r.links}
    f_prefill = np.array([1.0, 1.0, 8.0, 8.0, 64.0])  # one sequence: T = L = 8
    for lk, coeff in per_link.items():
        spilled = any(l2 == lk for it in s.compiled.items for (l2, _) in it.spill_links)
        if not spilled:
            assert table.get(lk, 0.0) == pytest.approx(float(coeff @ f_prefill), rel=1e-9, abs=1e-9)
