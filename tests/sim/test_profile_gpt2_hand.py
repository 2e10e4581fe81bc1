"""GPT-2 (124 M) on 8 rram-chiplets, w8a8: headline numbers re-derived by hand from the config and
hw_specs/rram-chiplet.yaml (256x256 arrays of 2-bit cells, 8-bit ADCs, 1-bit DACs, 100 ns cycle).

- 8-bit weights on 2-bit cells: 4 slices; 8-bit inputs bit-serial: 8 cycles of 100 ns -> 800 ns MVM.
- Per layer: c_attn 768x2304, attn.c_proj 768x768, c_fc 768x3072, mlp.c_proj 3072x768; lm_head
  768x50257 runs once per sequence and step (the last token only). The w8a8 preset keeps a few
  outlier rows digital (1 of 768, 3 of 3072), which leaves the row blocks at 3 and 12.
- ADC conversions per vector = input cycles x row blocks x N x slices.
- KV bytes per token = 2 x 12 layers x 768 x 16/8.
- Die-to-die per decode token: the fp32 residual (768 x 4 B) crosses every stage boundary once
  (consecutive stages sit one hop apart on the mesh), the int32 token id goes back to chiplet 0.
  At batch 1 the model (7,542 arrays) sits on ONE chiplet (a lone token visits every stage in turn,
  so more stages add only hops and leakage): no die-to-die traffic at all; with two sequences in
  flight it spreads over the package in balanced stages.
"""

from __future__ import annotations

import pytest

from llmimc.compress import DEFAULT_POLICY, build_plan, load_policy, parse_sparsity
from llmimc.hw import load_spec
from llmimc.mapping.placement import route_hops
from llmimc.model import load_opgraph
from llmimc.sim.profile import run_profile


@pytest.fixture(scope="module")
def gpt2_profile():
    g = load_opgraph("gpt2")
    spec = load_spec("rram-chiplet").with_chiplets(8)
    plan = build_plan(g, load_policy(DEFAULT_POLICY), parse_sparsity(None))
    return run_profile(g, spec, plan, prompt_len=16, gen_len=4)


@pytest.fixture(scope="module")
def gpt2_profile_b2():
    g = load_opgraph("gpt2")
    spec = load_spec("rram-chiplet").with_chiplets(8)
    plan = build_plan(g, load_policy(DEFAULT_POLICY), parse_sparsity(None))
    return run_profile(g, spec, plan, batch=2, prompt_len=16, gen_len=4)


def test_gpt2_batch1_sits_on_one_chiplet(gpt2_profile):
    r = gpt2_profile
    assert len(r.stages) == 1 and r.stages[0].chiplets == [0] and r.summary.chiplets_used == 1
    assert r.summary.d2d_bytes_per_decode_token == 0.0 and r.summary.d2d_bytes_per_output_token == 0.0


CONV_PER_LAYER_VECTOR = 8 * 4 * (3 * 2304 + 3 * 768 + 3 * 3072 + 12 * 768)
CONV_LM_HEAD = 8 * 4 * 3 * 50257


def _count(rows, component, action):
    return next(r.count for r in rows if r.component == component and r.action == action)


def test_gpt2_adc_conversions_closed_form(gpt2_profile):
    r = gpt2_profile
    per_decode_token = 12 * CONV_PER_LAYER_VECTOR + CONV_LM_HEAD
    assert per_decode_token == 15_441_504
    assert _count(r.energy_table_decode, "adc", "conversion") == 3 * per_decode_token
    assert (
        _count(r.energy_table_prefill, "adc", "conversion") == 16 * 12 * CONV_PER_LAYER_VECTOR + CONV_LM_HEAD
    )


def test_gpt2_kv_and_d2d_bytes_per_token(gpt2_profile_b2):
    r = gpt2_profile_b2
    assert r.kv.bytes_per_token == 2 * 12 * 768 * 2
    stages = len(r.stages)
    assert stages >= 2
    back_hops = 2  # the last stage's chiplet -> chiplet 0 (memory-attached) over the mesh
    last_root = r.stages[-1].chiplets[0]
    assert last_root != 0
    d2d_decode = (stages - 1) * 768 * 4 + back_hops * 4
    assert r.summary.d2d_bytes_per_decode_token == pytest.approx(d2d_decode)
    assert r.phases[1].d2d_bytes == pytest.approx(2 * 3 * d2d_decode)
    assert r.phases[0].d2d_bytes == pytest.approx(2 * (16 * (stages - 1) * 768 * 4 + back_hops * 4))
    # bytes per output token counts the prefill traffic too
    assert r.summary.d2d_bytes_per_output_token == pytest.approx(
        (r.phases[0].d2d_bytes + r.phases[1].d2d_bytes) / (2 * 4)
    )


def test_gpt2_stage_routes_are_one_hop():
    g = load_opgraph("gpt2")
    spec = load_spec("rram-chiplet").with_chiplets(8)
    from llmimc.sim.system import build_system

    s = build_system(g, spec, build_plan(g, load_policy(DEFAULT_POLICY), parse_sparsity(None)), batch=2)
    m = s.mapping
    for a, b in zip(m.stages, m.stages[1:], strict=False):
        assert len(route_hops(m.route(a.chiplets[0], b.chiplets[0]))) == 1
    assert len(route_hops(m.route(m.stages[-1].chiplets[0], 0))) == 2


def test_gpt2_decode_latency_and_static_energy(gpt2_profile):
    r = gpt2_profile
    # batch 1: one token vector, the stages run one after the other
    first = r.per_token_latency_s[0]
    assert first == pytest.approx(sum(st.first_decode_time_s for st in r.stages), rel=1e-12)
    # lower bound: 48 layer MVMs + lm_head, 800 ns each, strictly in sequence
    assert first > 49 * 800e-9
    static = _count(r.energy_table, "static", "chiplet_second")
    assert static == pytest.approx(8 * r.summary.total_latency_s, rel=1e-12)
    assert r.summary.static_energy_j == pytest.approx(8 * 4.8 * r.summary.total_latency_s, rel=1e-12)
    assert r.summary.static_energy_share > 0.9
    assert any(n.startswith("static power dominates") for n in r.notes)
