"""A worked 1-layer example on a 2-chiplet ring, every number computed by hand below.

Spec (support.imc.HAND_SPEC): 128x128 arrays of 1-bit cells, read 100 ns, 8 columns per ADC at 10 ns
-> cycle = max(100, 8 x 10) = 100 ns; 1-bit DAC and 8-bit activations -> 8 cycles -> t_mvm = 800 ns.
16 arrays per chiplet. Graph: embedding (256 B row/token) -> layer 0: fc 256x128 and one attention
score op (64 MACs per T x L) -> lm_head 128x256 (one vector per sequence per step). w8a8, KV 16-bit.

fc: 8 slices, 2 row blocks x 8 column blocks = 16 arrays; lm_head: 1 x 16 = 16 arrays, so each unit
fills one chiplet: stage 0 = embedding + layer 0 on chiplet 0 (memory attached), stage 1 = head on 1.
"""

from __future__ import annotations

import pytest
from support.imc import HAND_SPEC, hand_graph, make_spec, plan_for

from llmimc.cost.iteration import PrefillChunk
from llmimc.sim.profile import run_profile
from llmimc.sim.system import build_system

NS = 1e-9
# per-vector action counts, by hand (one shift-and-add per ADC conversion, as llmimc.hw.derive counts them,
# plus fc's 128 cross-block adds: its 2 row blocks sum in an adder tree beside the arrays)
FC = dict(cells=8 * 256 * 128 * 8, conv=8 * 2 * 1024, drives=8 * 256 * 8, adds=8 * 2 * 1024 + 128)
TREE = 1 * NS  # fc's adder tree: ceil(log2 2 row blocks) = 1 stage of one 1 GHz vector-unit cycle
LM = dict(cells=8 * 128 * 256 * 8, conv=8 * 1 * 2048, drives=8 * 128 * 16, adds=8 * 1 * 2048)


def _e_vec(c: dict) -> float:
    return c["cells"] * 1e-15 + c["conv"] * 1e-12 + c["drives"] * 2e-15 + c["adds"] * 5e-14


def _system():
    g = hand_graph()
    return g, build_system(g, make_spec(HAND_SPEC), plan_for(g))


def test_hand_mapping():
    _, s = _system()
    m = s.mapping
    assert [st.chiplets for st in m.stages] == [[0], [1]]
    tiles = {p.op_name: p.tiling for p in m.ops if p.tiling is not None}
    assert (
        tiles["layers.0.fc"].row_blocks,
        tiles["layers.0.fc"].col_blocks,
        tiles["layers.0.fc"].arrays,
    ) == (2, 8, 16)
    assert (tiles["lm_head"].row_blocks, tiles["lm_head"].col_blocks, tiles["lm_head"].arrays) == (1, 16, 16)
    assert tiles["lm_head"].timing.mvm_time_s == pytest.approx(800 * NS)
    # KV: 128 elements x 2 B = 256 B/token; SRAM 1 MiB minus the largest resident activation working set
    # on chiplet 0 (fc: 512 B read + 256 B written = 768 B; attention's 2 B x T x L score row streams
    # through a tile buffer and is not resident) -> floor((1048576 - 768) / 256) = 4093 tokens; chiplet 1
    # (lm_head: 256 B read + 512 B written = 768 B) lends another 4093 tokens' worth: 8186 in SRAM.
    assert m.kv.bytes_per_token == 256
    assert m.kv.on_package_tokens == 2 * 4093
    assert m.kv.chiplets[0].tokens_on_package == 4093
    assert m.kv.offpkg_tokens == (2**30 - 256 * 128 * 2) // 256
    assert m.kv.capacity_tokens == 2 * 4093 + (2**30 - 256 * 128 * 2) // 256
    segs = [(sg.pool, sg.pool_index, sg.hops, sg.start_token, sg.tokens) for sg in m.kv.chiplets[0].segments]
    assert segs == [
        ("sram", 0, 0, 0, 4093),
        ("sram", 1, 1, 4093, 4093),
        ("stack", 0, 0, 8186, m.kv.offpkg_tokens),
    ]
    assert m.kv.placed_bytes == pytest.approx(m.kv.capacity_tokens * 256)


@pytest.mark.parametrize("past", [0, 100, 1000])
def test_hand_decode_step(past):
    _, s = _system()
    L = past + 1
    stage0 = 0.256 * NS + 800 * NS + TREE + L * NS + (2 + 256 / 128) * NS  # embed, fc, attention, link 0->1
    stage1 = 800 * NS + (2 + 4 / 128) * NS  # lm_head, token id back to chiplet 0
    latency = stage0 + stage1
    energy = (
        _e_vec(FC)
        + _e_vec(LM)
        + 64 * L * 1e-12  # crossbars, attention MACs on the DPU
        + 256 * 8 * 4e-12  # embedding row from HBM
        + (256 + 4) * 8 * 1e-12  # die-to-die: hidden state 0->1, token id 1->0
        + 2 * 1.0 * latency  # static: 2 chiplets x 1 W
    )
    c = s.cost_model.iteration_cost([], [past])
    assert c.latency_s == pytest.approx(latency, rel=1e-6)
    assert c.energy_j == pytest.approx(energy, rel=1e-6)
    assert c.d2d_bytes == pytest.approx(256 + 4)
    assert c.offpkg_bytes == pytest.approx(256)


def test_hand_prefill_pipeline():
    _, s = _system()
    S = 16
    # the first vector pays every per-iteration term whole (link latencies, the adder tree, the lm_head's
    # one MVM on the last token)...
    tau0 = 0.256 * NS + 800 * NS + TREE + S * NS + (2 + 2) * NS  # embed row, fc MVM, S keys, link 0->1
    tau1 = 800 * NS + (2 + 4 / 128 / S) * NS  # lm_head MVM; token id (per sequence: 1/S per vector)
    # ... then S - 1 more vectors leave at the pipeline period: per vector, stage 0's fc arrays take
    # 800 ns while its shared units are far less busy (DPU: S keys x 64 MACs / 64 lanes = 16 ns; link:
    # 256 B / 128 GB/s = 2 ns); stage 1's lm_head runs once per sequence: 800 ns / S per vector
    period = max(800 * NS, S * NS, 2 * NS, 800 * NS / S)
    latency = tau0 + tau1 + (S - 1) * period
    energy = S * _e_vec(FC) + _e_vec(LM) + 64 * S * S * 1e-12 + S * 2048 * 4e-12 + (256 * S + 4) * 8e-12
    energy += 2 * latency
    c = s.cost_model.iteration_cost([PrefillChunk(S, 0)], [])
    assert c.latency_s == pytest.approx(latency, rel=1e-6)
    assert c.energy_j == pytest.approx(energy, rel=1e-6)
    assert c.d2d_bytes == pytest.approx(256 * S + 4)


def test_hand_kv_spill():
    _, s = _system()
    base = s.cost_model.iteration_cost([], [4092])  # L = 4093: all KV in chiplet 0's SRAM
    # L = 5001: 908 tokens' KV come from chiplet 1's SRAM, 1 hop: read (1e18 B/s) + 256 B / 128 GB/s each
    away = 5001 - 4093
    c = s.cost_model.iteration_cost([], [5000])
    extra_attn = away * NS  # attention MACs grow with L
    assert c.latency_s - base.latency_s == pytest.approx(
        extra_attn + away * (256 / 1e18 + 256 / 128e9), rel=1e-6
    )
    assert c.offpkg_bytes == pytest.approx(256)
    assert c.d2d_bytes - base.d2d_bytes == pytest.approx(away * 256)
    dyn = 64 * away * 1e-12 + away * 256 * 8 * 1e-12  # attention MACs, die-to-die bits
    assert c.energy_j - base.energy_j == pytest.approx(
        dyn + 2 * 1.0 * (c.latency_s - base.latency_s), rel=1e-6
    )
    # L = 10000: 4093 from chiplet 1, 10000 - 8186 = 1814 from HBM on chiplet 0 (0 hops, 1 TB/s)
    hbm = 10000 - 8186
    c = s.cost_model.iteration_cost([], [9999])
    extra = (10000 - 4093) * NS + 4093 * (256 / 1e18 + 256 / 128e9) + hbm * 256 / 1e12
    assert c.latency_s - base.latency_s == pytest.approx(extra, rel=1e-6)
    assert c.offpkg_bytes == pytest.approx(256 + hbm * 256)
    assert c.d2d_bytes - base.d2d_bytes == pytest.approx(4093 * 256)


def test_hand_profile_traffic_and_sums():
    g = hand_graph()
    r = run_profile(g, make_spec(HAND_SPEC), plan_for(g), prompt_len=16, gen_len=4)
    links = {(ln.src, ln.dst): ln for ln in r.links}
    assert links[(0, 1)].prefill_bytes == pytest.approx(256 * 16)
    assert links[(0, 1)].decode_bytes == pytest.approx(256 * 3)
    assert links[(1, 0)].prefill_bytes + links[(1, 0)].decode_bytes == pytest.approx(4 * 4)
    total = r.summary.energy_j
    assert sum(x.energy_j for x in r.energy_table) == pytest.approx(total, rel=1e-9)
    assert r.summary.ttft_s + sum(r.per_token_latency_s) == pytest.approx(
        r.summary.total_latency_s, rel=1e-12
    )


def test_hand_kv_traffic_in_the_link_table():
    # batch 2 x (prompt 3000 + 3 generated): the two decode steps hold Sum L = 2 x 3001, 2 x 3002 tokens;
    # at batch 2 two vectors are in flight, so each chiplet reserves 2 x 768 B and lends
    # (1048576 - 1536) / 256 = 4090 tokens: 1912 and 1914 tokens of layer 0 come from chiplet 1's SRAM
    # over link 1 -> 0, next to the 2 x 4 B token ids of each step
    g = hand_graph()
    r = run_profile(g, make_spec(HAND_SPEC), plan_for(g), batch=2, prompt_len=3000, gen_len=3)
    links = {(ln.src, ln.dst): ln for ln in r.links}
    assert links[(1, 0)].decode_bytes == pytest.approx(2 * 2 * 4 + (6002 - 4090 + 6004 - 4090) * 256)
    assert r.summary.offpkg_bytes == pytest.approx(2 * (3000 + 2) * 256)  # embedding rows only
