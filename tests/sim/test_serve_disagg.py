"""Prefill/decode disaggregation: KV bytes and energy by hand, TTFT includes the transfer, accounting."""

from __future__ import annotations

import pytest
from support.serve_fakes import FakeCostModel, make_requests

from llmimc.cost.iteration import PrefillChunk
from llmimc.hw.package_links import PACKAGE_LINKS
from llmimc.hw.spec import PackageLink
from llmimc.sim.serve import ServeConfig, ServeConfigError, run_serve
from llmimc.traces.request import Request

LINK = PackageLink(
    name="test link",
    bw_bytes_per_s=1e6,
    latency_s=1e-3,
    energy_per_bit_j=1e-12,
    sources={"bw_bytes_per_s": "test", "latency_s": "test", "energy_per_bit_j": "test"},
)
BPT = 1000.0  # KV bytes per token, all layers


def test_transfer_bytes_energy_and_ttft_by_hand():
    model = FakeCostModel()
    prompts, decodes = [100, 200, 300], [3, 4, 5]
    reqs = [
        Request(request_id=i, arrived_at=10.0 * i, num_prefill_tokens=p, num_decode_tokens=d)
        for i, (p, d) in enumerate(zip(prompts, decodes, strict=True))
    ]
    config = ServeConfig(disaggregate=(2, 2), record_timeline=True)
    result = run_serve(model, reqs, config, package_link=LINK, kv_bytes_per_token=BPT)
    assert result.num_finished == 3
    assert result.kv_transfer_bytes == sum(prompts) * BPT
    assert result.kv_transfer_energy_j == pytest.approx(sum(prompts) * BPT * 8 * 1e-12)
    for rec, p, d in zip(result.requests, prompts, decodes, strict=True):
        prefill_s = model.iteration_cost([PrefillChunk(p, 0)], []).latency_s
        transfer_s = 1e-3 + p * BPT / 1e6
        assert rec.ttft_s == pytest.approx(prefill_s + transfer_s)
        assert rec.kv_transfer_s == pytest.approx(transfer_s)
        decode_s = sum(model.iteration_cost([], [p + k]).latency_s for k in range(d - 1))
        assert rec.e2e_s == pytest.approx(prefill_s + transfer_s + decode_s)
    # energy: iterations plus the link, all attributed to requests
    assert sum(r.energy_j for r in result.requests) == pytest.approx(result.energy_j)
    assert [rid for _, _, rid in result.timeline.kv_transfers] == [0, 1, 2]
    assert result.package_link == "test link"
    assert [r.num_requests for r in result.replicas] == [2, 1, 2, 1]  # round-robin in each tier


def test_two_by_two_on_a_synthetic_trace_ships_every_prompt():
    reqs = make_requests(80, seed=21, max_prompt=800, max_decode=40, rate_qps=40.0)
    link = PACKAGE_LINKS["pcie5"]
    result = run_serve(
        FakeCostModel(),
        reqs,
        ServeConfig(disaggregate=(2, 2), router="least-loaded"),
        package_link=link,
        kv_bytes_per_token=BPT,
    )
    assert result.num_finished + result.num_rejected == 80
    shipped = [q for q in reqs if q.num_decode_tokens > 1]
    assert result.kv_transfer_bytes == sum(q.num_prefill_tokens for q in shipped) * BPT
    assert result.kv_transfer_s.count == len(shipped)
    assert sum(r.num_finished for r in result.replicas) == 80
    for rec in result.requests:
        if rec.num_decode_tokens > 1:
            assert rec.kv_transfer_s >= link.latency_s
            assert rec.ttft_s >= rec.kv_transfer_s
        else:
            assert rec.kv_transfer_s is None
    assert sum(r.energy_j for r in result.requests) == pytest.approx(result.energy_j, rel=1e-9)


def test_disaggregation_needs_a_link_and_sane_counts():
    reqs = make_requests(3, seed=1)
    with pytest.raises(ServeConfigError, match="package link"):
        run_serve(FakeCostModel(), reqs, ServeConfig(disaggregate=(1, 1)))
    with pytest.raises(ValueError, match="prefill"):
        ServeConfig(disaggregate=(0, 2))
    with pytest.raises(ValueError, match="not both"):
        ServeConfig(disaggregate=(1, 1), replicas=2)
    with pytest.raises(ValueError, match="greater than 0"):
        PackageLink(name="x", bw_bytes_per_s=0, latency_s=0, energy_per_bit_j=0, sources={})
