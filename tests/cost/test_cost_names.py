"""The cost model's named axes and its one detail seam (issue 13 items 3 and 5).

- ``Action`` is the ACTIONS table's index: one member per row, in order;
- ``Feature`` names the layout ``features`` builds (has_work, n_seq, Sum T, Sum L, Sum T*L);
- ``Op.vectors_per_sequence`` = FLOPs / (2 K N E load), the rule mapping and cost share;
- ``CompiledCostModel.phase_totals`` agrees with ``iteration_cost`` on dynamic energy, die-to-die
  bytes and off-package bytes (one iteration is a phase of one).
"""

from __future__ import annotations

import numpy as np
import pytest
from support.imc import HAND_SPEC, hand_graph, linear, make_spec, plan_for

from llmimc.cost.actions import ACTIONS, IDX, NUM_ACTIONS, Action, energy_per_action
from llmimc.cost.compile import NUM_RESOURCES, Resource
from llmimc.cost.features import NUM_FEATURES, Feature, features
from llmimc.cost.iteration import PrefillChunk
from llmimc.sim.system import build_system


def test_action_enum_is_the_table_index():
    assert list(ACTIONS) == list(Action) and NUM_ACTIONS == len(ACTIONS) == 24
    assert [int(a) for a in Action] == list(range(NUM_ACTIONS))
    assert all(IDX[(c, a)] == act for act, (c, a, _) in ACTIONS.items())
    assert ACTIONS[Action.CONVERSION][:2] == ("adc", "conversion")
    assert ACTIONS[Action.GSRAM_READ][:2] == ("global_sram", "read_bit")
    assert len(energy_per_action(make_spec(HAND_SPEC))) == NUM_ACTIONS


def test_feature_names_follow_the_vector_layout():
    # a prefill chunk of 3 tokens after 2 past (L = 5) and a decode with 4 past (T = 1, L = 5)
    f = features([PrefillChunk(3, 2)], [4])
    assert NUM_FEATURES == len(f) == 5 and NUM_RESOURCES == len(Resource) == 10
    assert f[Feature.HAS_WORK] == 1.0
    assert f[Feature.SEQUENCES] == 2.0
    assert f[Feature.TOKENS] == 3.0 + 1.0
    assert f[Feature.CONTEXT] == 5.0 + 5.0
    assert f[Feature.TOKENS_X_CONTEXT] == 3.0 * 5.0 + 5.0
    assert not features([], []).any()


def test_vectors_per_sequence():
    per_token = linear("fc", 0, 256, 128)
    assert per_token.vectors_per_sequence.c_t == 1.0 and per_token.vectors_at(7, 9) == 7.0
    head = linear("lm_head", None, 128, 256, per_token=False)  # one vector per sequence and step
    assert head.vectors_per_sequence.c0 == 1.0 and head.vectors_per_sequence.c_t == 0.0
    moe = linear("experts", 0, 64, 64, experts=8, load=0.25)  # 2 of 8 experts: flops x E x load
    assert moe.macs_per_token == 64 * 64 * 8 * 0.25
    assert moe.vectors_per_sequence.c_t == pytest.approx(1.0)
    empty = linear("empty", 0, 0, 64)
    assert empty.vectors_per_sequence.c_t == 1.0 and empty.vectors_at(1, 1) == 1.0


def test_spec_derived_rates():
    spec = make_spec(HAND_SPEC)
    ch = spec.chiplet
    assert ch.arrays == ch.tiles * ch.tile.arrays_per_tile
    assert ch.dpu.macs_per_s == ch.dpu.macs_per_cycle * ch.dpu.frequency_hz


@pytest.mark.parametrize("past", [16, 200_000])  # the second spills KV off-package
def test_phase_totals_agree_with_iteration_cost(past):
    g = hand_graph()
    cm = build_system(g, make_spec(HAND_SPEC), plan_for(g), max_context_tokens=past + 1).cost_model
    f = features([], [past] * 2)
    s = cm.spill(f)
    assert (s > 0).any() == (past > 100_000)
    tot = cm.phase_totals(f, s)
    it = cm.iteration_cost([], [past] * 2)
    static_j = float(cm.leakage_energy_j(cm.detail(f, s).static_counts).sum())
    assert tot.item_energy_j.sum() + static_j == pytest.approx(it.energy_j, rel=1e-9)
    assert tot.link_bytes.sum() == pytest.approx(it.d2d_bytes, rel=1e-12)
    assert tot.offpkg_bytes == pytest.approx(it.offpkg_bytes, rel=1e-12)
    assert np.array_equal(tot.action_counts, tot.item_counts.sum(axis=0))
    rows = cm.energy_table(tot.action_counts)
    assert [(r.component, r.action) for r in rows] == [(c, a) for c, a, _ in ACTIONS.values()]
    assert sum(r.energy_j for r in rows) == pytest.approx(tot.item_energy_j.sum(), rel=1e-9)
