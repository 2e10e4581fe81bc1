"""The decode clock (llmimc.sim.decode_clock) gives the results of per-request updates.

``Scheduler.decode_clock = False`` makes every iteration update each decoding request's fields one by
one (the scheduler's own fallback path, the loop as it was before the clock); every figure of the run,
per request and in total, must be equal bit for bit, with event skipping on or off, under KV pressure
(preemptions), token budgets smaller than the batch, prefix caching, swap preemption, replicas and
prefill/decode disaggregation (decode packages admit requests whose KV arrives ready, mid-step), except
per-request energies, which the clock reads from a compensated running sum instead of adding one
iteration at a time: those agree within 1e-12 relative.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.serve_fakes import FakeCostModel, prefixed_requests, swap_cost

from llmimc.hw.package_links import PACKAGE_LINKS
from llmimc.sim import decode_clock
from llmimc.sim.decode_clock import DecodeClock
from llmimc.sim.scheduler import ReqState, Scheduler
from llmimc.sim.serve import ServeConfig, run_serve

SWAP = swap_cost(200_000.0)


def _dump(result) -> dict:
    return result.model_dump(exclude={"config"})


def _split_energy(tree, path: str = "") -> tuple[object, list[tuple[str, float]]]:
    """(the tree with every request record's energy taken out, those energies by path)."""
    energies: list[tuple[str, float]] = []

    def walk(x, p: str):
        if isinstance(x, dict):
            return {k: walk(v, f"{p}/{k}") for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v, f"{p}[{i}]") for i, v in enumerate(x)]
        if p.startswith("/requests[") and p.endswith("/energy_j"):  # totals come from iterations: exact
            energies.append((p, x))
            return "energy"
        return x

    return walk(tree, path), energies


def _assert_same(clocked: dict, reference: dict) -> None:
    rest_c, energy_c = _split_energy(clocked)
    rest_r, energy_r = _split_energy(reference)
    assert rest_c == rest_r  # exact: every other float equal
    assert [p for p, _ in energy_c] == [p for p, _ in energy_r]
    for (p, a), (_, b) in zip(energy_c, energy_r, strict=True):
        assert a == pytest.approx(b, rel=1e-12, abs=0.0), p


def _run_both(requests, config: ServeConfig, **kw) -> tuple[dict, dict]:
    kv = kw.pop("kv_capacity")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decode_clock, "TRIM_AFTER", 8)  # the energy log is cut often
        clocked = run_serve(FakeCostModel(kv_capacity=kv), requests, config, **kw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Scheduler, "decode_clock", False)
        reference = run_serve(FakeCostModel(kv_capacity=kv), requests, config, **kw)
    return _dump(clocked), _dump(reference)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    skipping=st.booleans(),
    kv_capacity=st.integers(300, 6000),
    budget=st.sampled_from([3, 40, 2048]),
    block=st.sampled_from([1, 4, 16]),
    caching=st.booleans(),
    mode=st.sampled_from(["plain", "swap", "replicas", "disagg"]),
)
def test_clock_equals_per_request_updates(seed, skipping, kv_capacity, budget, block, caching, mode):
    requests = prefixed_requests(40, seed, 0.004, 400, 90, 32 if caching else None)
    kw: dict = {"kv_capacity": kv_capacity}
    extra: dict = {}
    if mode == "swap":
        extra["preemption"] = "swap"
        kw["swap_cost"] = SWAP
    elif mode == "replicas":
        extra.update(replicas=2, router="least-loaded")
    elif mode == "disagg":
        extra.update(disaggregate=(1, 2))
        kw.update(package_link=PACKAGE_LINKS["pcie5"], kv_bytes_per_token=1000.0)
    config = ServeConfig(
        event_skipping=skipping,
        record_timeline=True,
        max_batch=12,
        max_tokens_per_iter=budget,
        chunk_size=budget,
        block_tokens=block,
        enable_prefix_caching=caching,
        max_context_tokens=600,
        **extra,
    )
    clocked, reference = _run_both(requests, config, **kw)
    _assert_same(clocked, reference)


def test_a_synced_request_holds_what_per_request_updates_give():
    """Hand case: block 4, a request joins at 6 past tokens with 5 left and 1.0 J; three clocked
    iterations of 0.5, 0.25, 0.125 J per token end at 1, 2, 3 s."""
    clock = DecodeClock(4)
    r = ReqState(
        index=0, arrived_at_s=0.0, prompt_tokens=6, decode_tokens=6, prefix_ids=None, left=5, prefill_target=6
    )
    r.computed, r.energy_j, r.private_blocks = 6, 1.0, 2
    clock.join(r)
    assert clock.residue[(0 - 6) % 4] == 1 and clock.offset_sum == 6 and list(clock.finish) == [5]
    for e, end in ((0.5, 1.0), (0.25, 2.0), (0.125, 3.0)):
        clock.tick(e, end, [r])
    assert clock.offset_sum + 1 * clock.k == 9  # Sum of past tokens at the 4th iteration
    clock.sync(r)
    # past tokens 6, 7, 8 took a token each; the one at 8 (a block boundary) took a third block
    assert (r.computed, r.left, r.private_blocks, r.last_token_at_s) == (9, 2, 3, 3.0)
    assert r.energy_j == ((1.0 + 0.5) + 0.25) + 0.125


def test_clock_energy_is_the_compensated_sum_in_any_grouping():
    """A synced request's energy is its per-token energies' sum within an ulp of the exact sum (math.fsum,
    where left-to-right additions are further off), the same bits whether the iterations were clocked one
    at a time or as stretches."""
    values = [1.0] + [3e-17, 1e-3, 7e-17] * 40  # each tiny energy alone is lost next to 1 J
    energies = []
    for chunk in (1, 5, len(values)):
        clock = DecodeClock(16)
        r = ReqState(
            index=0,
            arrived_at_s=0.0,
            prompt_tokens=1,
            decode_tokens=len(values) + 1,
            prefix_ids=None,
            left=len(values),
            prefill_target=1,
        )
        r.computed = 1
        clock.join(r)
        for at in range(0, len(values), chunk):
            part = values[at : at + chunk]
            if chunk == 1:
                clock.tick(part[0], float(at), [r])
            else:
                clock.advance(part, float(at), [r])
        clock.sync(r)
        energies.append(r.energy_j)
    assert energies[0] == energies[1] == energies[2]
    exact = math.fsum(values)
    assert abs(energies[0] - exact) <= math.ulp(exact)
    assert abs(sum(values) - exact) > 10 * math.ulp(exact)  # left to right: one rounding per addition


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 1e3, allow_subnormal=False), min_size=1, max_size=40),
    st.lists(st.floats(0.0, 1e3, allow_subnormal=False), min_size=1, max_size=40),
)
def test_a_stretch_keeps_the_running_sum_bits_of_single_ticks(first, then):
    """``advance`` leaves exactly the (hi, lo) entries that ticking each energy leaves."""
    ticked, stretched = DecodeClock(4), DecodeClock(4)
    for e in first + then:
        ticked.tick(e, 0.0, [])
    stretched.advance(first, 0.0, [])
    stretched.advance(then, 0.0, [])
    assert stretched.sum_hi == ticked.sum_hi and stretched.sum_lo == ticked.sum_lo
