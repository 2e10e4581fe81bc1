"""Invariants of the issue-9 physics, over random hand-built models and packages (hypothesis).

- On a spec that power-gates, chiplets that hold no weights change the energy per token by no more
  than the die-to-die hops they may add (a few %): they are gated off.
- Fewer weight bits never raise the time per token or the energy per token (the bit-serial MVM time
  does not depend on weight bits; arrays, conversions and leaking periphery only shrink).
- No die-to-die link is busy for more than the run: its traffic bounds each iteration's latency.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.imc import make_spec, plan_for, random_graph

from llmimc.errors import MappingError
from llmimc.sim.profile import run_profile
from llmimc.sim.system import build_system

# rram-chiplet physics (256x256 2-bit cells, 8-bit ADC, its leakage and power gating) on small chiplets
SMALL = {"chiplet.tiles": 8, "chiplet.tile.arrays_per_tile": 16, "package.topology": "ring"}


def _layout(system) -> list[tuple[list[int], list[int]]]:
    return [(st.layers, st.chiplets) for st in system.mapping.stages]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 3),
    hidden=st.sampled_from([256, 512]),
    extra=st.integers(1, 8),
    past=st.integers(0, 2000),
    batch=st.integers(1, 4),
)
def test_empty_chiplets_are_gated_off(layers, hidden, extra, past, batch):
    g = random_graph(layers, hidden, 1)
    base_n = 6  # more chiplets than the model has units: some stay empty
    spec = make_spec({**SMALL, "package.num_chiplets": base_n})
    assert spec.chiplet.power.power_gating
    try:
        a = build_system(g, spec, plan_for(g))
        b = build_system(g, spec.with_chiplets(base_n + extra), plan_for(g))
    except MappingError:
        return
    assume(_layout(a) == _layout(b))  # same stages on the same chiplets; the rest hold no weights
    ca = a.cost_model.iteration_cost([], [past] * batch)
    cb = b.cost_model.iteration_cost([], [past] * batch)
    assert cb.energy_j == pytest.approx(ca.energy_j, rel=0.03)
    assert b.cost_model.static_power_w <= a.cost_model.static_power_w * 1.05


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 4),
    hidden=st.sampled_from([128, 256, 512]),
    chiplets=st.integers(2, 8),
    act_bits=st.sampled_from([4, 8]),
    past=st.integers(0, 2000),
    batch=st.integers(1, 4),
)
def test_fewer_weight_bits_never_slower_or_costlier(layers, hidden, chiplets, act_bits, past, batch):
    g = random_graph(layers, hidden, 1)
    spec = make_spec({**SMALL, "package.num_chiplets": chiplets})
    costs = []
    for w in (8, 4, 2):
        try:
            cm = build_system(g, spec, plan_for(g, weight_bits=w, act_bits=act_bits)).cost_model
        except MappingError:
            return
        costs.append(cm.iteration_cost([], [past] * batch))
    for hi, lo in zip(costs, costs[1:], strict=False):
        assert lo.latency_s <= hi.latency_s * (1 + 1e-9)
        assert lo.energy_j <= hi.energy_j * (1 + 1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.integers(1, 4),
    hidden=st.sampled_from([128, 512]),
    chiplets=st.integers(2, 9),
    topology=st.sampled_from(["ring", "mesh2d", "all_to_all"]),
    batch=st.integers(1, 8),
    d2d_bw=st.sampled_from([1e8, 1e9, 128e9]),
    sram=st.sampled_from([1 << 16, 1 << 24]),
)
def test_link_utilisation_never_exceeds_one(layers, hidden, chiplets, topology, batch, d2d_bw, sram):
    # small global SRAM: the KV cache spills, and every stage's spilled KV comes from the memory
    # chiplet over the same first links as the stage hand-offs (transfers of several routes share a link)
    g = random_graph(layers, hidden, 1)
    spec = make_spec(
        {
            **SMALL,
            "chiplet.tiles": 2,
            "chiplet.global_sram.capacity_bytes": sram,
            "package.num_chiplets": chiplets,
            "package.topology": topology,
            "package.d2d.bw_bytes_per_s": d2d_bw,
        }
    )
    try:
        r = run_profile(g, spec, plan_for(g), batch=batch, prompt_len=64, gen_len=4)
    except MappingError:
        return
    assert r.links, "a split model moves data between chiplets"
    for link in r.links:
        assert link.utilisation <= 1.0 + 1e-9, (link.src, link.dst, link.utilisation)


def test_without_gating_empty_chiplets_leak():
    # the contrast: a design that does not gate pays every chiplet's full leakage all the time
    g = random_graph(2, 256, 1)
    spec = make_spec({**SMALL, "package.num_chiplets": 6, "chiplet.power.power_gating": False})
    a = build_system(g, spec, plan_for(g)).cost_model
    b = build_system(g, spec.with_chiplets(12), plan_for(g)).cost_model
    assert b.static_power_w == pytest.approx(2 * a.static_power_w, rel=0.05)
    assert b.iteration_cost([], [100]).energy_j > 1.5 * a.iteration_cost([], [100]).energy_j
