"""Swap preemption to off-package memory (issue 11 item 4, llmimc.sim.swap): hand-worked schedule,
accounting, the swap space bound, and the CLI error on a spec without off-package memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from support.serve_fakes import FakeCostModel, make_requests, swap_cost
from typer.testing import CliRunner

from llmimc.cost.iteration import PrefillChunk
from llmimc.sim.serve import ServeConfig, ServeConfigError, run_serve
from llmimc.traces.request import Request
from llmimc_cli.main import app

# 1 kB per token; 10 tokens' swap region; 0.1 ms per token + 10 us per copy; 2 / 3 uJ per token out / in
SWAP = swap_cost(10_000.0)


def _two_requests() -> list[Request]:
    return [
        Request(request_id=i, arrived_at=0.0, num_prefill_tokens=4, num_decode_tokens=5) for i in range(2)
    ]


def test_swap_replaces_the_recompute_by_the_two_copies():
    """The recompute scenario of test_serve_scheduler (10 one-token blocks, two 4+5 requests), with swap:
    at the third iteration A needs a block, B (5 tokens' KV, 2 emitted) is swapped out instead of freed;
    A decodes to its finish; B's 5 tokens are copied back and it decodes its last 3 tokens. The run costs
    exactly its 8 iterations plus the two copies: no 6-token re-prefill."""
    fake = FakeCostModel(kv_capacity=20)  # 10 tokens' capacity go to the swap region: 10 blocks left
    cfg = ServeConfig(block_tokens=1, record_timeline=True, preemption="swap")
    result = run_serve(fake, _two_requests(), cfg, swap_cost=SWAP)
    tl = result.timeline
    assert result.kv_capacity_tokens == 10 and result.swap_reserved_tokens == 10
    assert tl.prefill_tokens == [8, 0, 0, 0, 0, 0, 0, 0]
    assert tl.decode_requests == [0, 2, 1, 1, 1, 1, 1, 1]
    assert [r.preemptions for r in result.requests] == [0, 1]
    assert result.prefill_tokens_computed == 8
    assert (result.swap_outs, result.swap_ins, result.swap_fallbacks) == (1, 1, 0)
    assert result.swap_out_bytes == result.swap_in_bytes == 5 * 1000.0
    # by hand: the iterations' batches, then the clock
    batches = [
        ([PrefillChunk(4, 0), PrefillChunk(4, 0)], []),
        ([], [4, 4]),
        ([], [5]),  # A; B swapped out before it
        ([], [6]),
        ([], [7]),  # A's 5th token: A finishes
        ([], [5]),  # B, copied back before it
        ([], [6]),
        ([], [7]),
    ]
    costs = [fake.iteration_cost(p, d) for p, d in batches]
    t_copy = 5 * 1e-4 + 1e-5
    assert result.swap_time_s == pytest.approx(2 * t_copy)
    lat = [c.latency_s for c in costs]
    a, b = result.requests
    assert a.finished_at_s == pytest.approx(sum(lat[:5]) + t_copy)
    assert b.finished_at_s == pytest.approx(sum(lat) + 2 * t_copy)
    assert result.busy_time_s == pytest.approx(sum(lat) + 2 * t_copy)
    e_swap = 5 * 2e-6 + 5 * 3e-6 + 0.5 * 2 * t_copy  # copies + static power while they run
    assert result.swap_energy_j == pytest.approx(e_swap)
    assert result.energy_j == pytest.approx(sum(c.energy_j for c in costs) + e_swap)
    assert sum(r.energy_j for r in result.requests) == pytest.approx(result.energy_j)
    # recompute on the same KV: the 6-token re-prefill instead of the copies
    rec = run_serve(FakeCostModel(kv_capacity=10), _two_requests(), ServeConfig(block_tokens=1))
    assert rec.prefill_tokens_computed == 8 + 6 and rec.swap_outs == 0


def test_full_swap_space_falls_back_to_recompute():
    small = swap_cost(4_000.0)  # 4 tokens: B's 5 do not fit
    result = run_serve(
        FakeCostModel(kv_capacity=14),
        _two_requests(),
        ServeConfig(block_tokens=1, preemption="swap"),
        swap_cost=small,
    )
    assert (result.preemptions, result.swap_outs, result.swap_fallbacks) == (1, 0, 1)
    assert result.prefill_tokens_computed == 8 + 6  # B re-prefilled as with recompute


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), space_tokens=st.sampled_from([0, 50, 500, 5000]))
def test_every_request_and_joule_accounted_with_swap(seed, space_tokens):
    reqs = make_requests(40, seed, max_prompt=300, max_decode=100, rate_qps=200.0)
    cost = swap_cost(space_tokens * 1000.0)
    result = run_serve(
        FakeCostModel(kv_capacity=800 + space_tokens),
        reqs,
        ServeConfig(block_tokens=16, preemption="swap", max_batch=32),
        swap_cost=cost,
    )
    assert result.num_finished + result.num_rejected == len(reqs)
    assert result.swap_outs + result.swap_fallbacks <= result.preemptions
    assert result.swap_ins == result.swap_outs  # every swapped request came back
    assert result.swap_in_bytes == result.swap_out_bytes
    assert result.swap_peak_used_bytes <= cost.space_bytes
    assert sum(r.energy_j for r in result.requests) == pytest.approx(result.energy_j)
    # event skipping (decode-only stretches at once) changes no number with swap either
    step = run_serve(
        FakeCostModel(kv_capacity=800 + space_tokens),
        reqs,
        ServeConfig(block_tokens=16, preemption="swap", max_batch=32, event_skipping=False),
        swap_cost=cost,
    )
    assert [r.finished_at_s for r in step.requests] == pytest.approx(
        [r.finished_at_s for r in result.requests]
    )
    assert (step.swap_outs, step.preemptions) == (result.swap_outs, result.preemptions)
    for rec, req in zip(result.requests, reqs, strict=True):
        if rec.status == "finished":
            assert req.arrived_at <= rec.scheduled_at_s <= rec.first_token_at_s <= rec.finished_at_s


def test_swap_without_a_swap_cost_is_a_config_error():
    with pytest.raises(ServeConfigError, match="off-package memory"):
        run_serve(FakeCostModel(), _two_requests(), ServeConfig(preemption="swap"))


def test_cli_swap_on_a_spec_without_offpackage_memory_is_one_line(tmp_path: Path):
    spec = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "hw_specs" / "rram-chiplet.yaml").read_text()
    )
    spec["package"]["memory"]["capacity_bytes"] = 0
    path = tmp_path / "no-memory.yaml"
    path.write_text(yaml.safe_dump(spec))
    args = ["serve", "gpt2", "--hw", str(path), "--chiplets", "8", "--rate", "10", "--num-requests", "4"]
    args += ["--prompt-len", "16", "--gen-len", "4", "--preemption", "swap"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert len(lines) == 1 and "off-package memory" in lines[0], r.output
    bad = CliRunner().invoke(app, [*args[:-1], "sometimes"], env={"COLUMNS": "80"})
    assert bad.exit_code == 2 and "--preemption" in bad.output


@pytest.mark.parametrize("stacks", [1, 2])
def test_swap_cost_of_the_hand_package(stacks):
    """support.imc's 2-chiplet hand package: layer 0's KV (256 B/token) on chiplet 0, where the memory
    attaches; HBM 1 TB/s per stack at 4 pJ/bit, global SRAM free of energy at 1e18 B/s; die-to-die
    128 GB/s, 2 ns, 1 pJ/bit per hop. Two stacks (on chiplets 0 and 1): the swap region is interleaved,
    so half of each token's bytes cross link 0 -> 1."""
    from support.imc import HAND_SPEC, hand_graph, make_spec, plan_for

    from llmimc.sim.swap import swap_cost
    from llmimc.sim.system import build_system

    g = hand_graph()
    spec = make_spec(HAND_SPEC)
    spec = spec.with_memory_stacks(stacks) if stacks > 1 else spec
    s = build_system(g, spec, plan_for(g))
    assert s.mapping.kv.chiplets[0].chiplet == 0
    c = swap_cost(s.mapping, s.spec, 1.5, 2**20)
    crossing = 256 / 2 if stacks == 2 else 0.0  # bytes per token over link 0 -> 1
    assert c.bytes_per_token == 256
    assert c.reserved_tokens == 2**20 // 256
    assert c.time_per_token_s == pytest.approx(max(256 / (stacks * 1e12), crossing / 128e9))
    assert c.latency_s == pytest.approx(2e-9 if stacks == 2 else 0.0)
    assert c.energy_out_per_token_j == pytest.approx(256 * 8 * 4e-12 + crossing * 8 * 1e-12)
    assert c.energy_j(10, out=True) == pytest.approx(10 * c.energy_out_per_token_j + 1.5 * c.time_s(10))
