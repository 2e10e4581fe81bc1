"""Per-kernel GPU model on hand-computed cases (round-number spec in support.gpu)."""

from __future__ import annotations

import pytest
from support.gpu import H, hand_spec, layer_graph, plan16, single_linear_graph

from llmimc.cost.iteration import PrefillChunk
from llmimc.gpu import build_gpu_system
from llmimc.gpu.kernels import features


def _cm(graph, spec, plan=None):
    return build_gpu_system(graph, spec, plan or plan16(graph)).cost_model


def test_gemm_compute_bound_time_and_energy():
    # K = N = 64, T = 1000: flops 2*1000*64*64 = 8,192,000 at 0.5 x 1 TFLOP/s = 16.384 us;
    # bytes 64*64*2 + 1000*(64+64)*2 = 264,192 at 1 TB/s = 0.264 us; floor 2 us.
    g = single_linear_graph()
    cm = _cm(g, hand_spec(extra={"memory_bw_bytes_per_s": 1e12}))
    ev = cm.evaluate(features([PrefillChunk(1000, 0)], []))
    assert ev.latency_s == pytest.approx(16.384e-6)
    assert ev.kernels == 1 and ev.bound == "compute"
    # energy: idle 100 W x t + (300 - 100) W x t x utilisation (8.192e6 / (1e12 x t) = 0.5)
    assert ev.energy_j == pytest.approx(100 * 16.384e-6 + 200 * 16.384e-6 * 0.5)


def test_gemm_memory_bound_and_floor():
    g = single_linear_graph()
    cm = _cm(g, hand_spec())  # 1 GB/s: (8192 + 1000 * 256) bytes = 264.192 us
    assert cm.evaluate(features([PrefillChunk(1000, 0)], [])).latency_s == pytest.approx(264.192e-6)
    fast = _cm(g, hand_spec(extra={"memory_bw_bytes_per_s": 1e15}))
    one = fast.evaluate(features([PrefillChunk(1, 0)], []))
    assert one.latency_s == pytest.approx(2e-6) and one.bound == "latency"  # gemm_min_s


def test_split_k_reduction_kernel_only_for_small_m_long_k():
    g = single_linear_graph(k=4096, n=4096)
    cm = _cm(g, hand_spec(extra={"memory_bw_bytes_per_s": 1e12, "peak_flops_per_s.fp16": 1e15}))
    ev = cm.evaluate(features([], [10]))  # M = 1: weights 33,554,432 B + (4096 + 4096) x 2 B
    assert ev.kernels == 2
    assert ev.latency_s == pytest.approx((4096 * 4096 * 2 + 8192 * 2) / 1e12 + 1e-6)
    big = cm.evaluate(features([PrefillChunk(100, 0)], []))
    assert big.kernels == 1


def test_fused_causal_attention_flops():
    # T = L = 100: causal flops = (2H + 2H) x (T L - T^2/2 + T/2) = 256 x 5050 at 0.5 TFLOP/s
    g = layer_graph()
    cm = _cm(g, hand_spec(extra={"memory_bw_bytes_per_s": 1e15}))
    ev = cm.evaluate(features([PrefillChunk(100, 0)], []))
    assert ev.time_by_label["attention"] == pytest.approx(4 * H * 5050 / 5e11)


def test_decode_attention_streams_kv():
    # decode, 999 past tokens: KV 1000 x 2H x 2 B + Q and O 2 x H x 2 B at 1 GB/s
    g = layer_graph()
    cm = _cm(g, hand_spec())
    ev = cm.evaluate(features([], [999]))
    assert ev.time_by_label["attention"] == pytest.approx((1000 * 2 * H * 2 + 2 * H * 2) / 1e9)


def test_allreduce_per_layer_with_two_gpus():
    g = layer_graph()
    link = {
        "interconnect.bw_bytes_per_s": 1e9,
        "interconnect.allreduce_base_latency_s": 1e-6,
        "interconnect.allreduce_hop_latency_s": 0.0,
        "num_gpus": 2,
    }
    cm = _cm(g, hand_spec(extra=link))
    ev = cm.evaluate(features([], [9]))
    # one token of H fp16 activations: 2 (N-1)/N x 128 B = 128 B at 1 GB/s + 1 us, two per layer
    assert ev.time_by_label["allreduce"] == pytest.approx(2 * (1e-6 + 128 / 1e9))
    assert ev.link_bytes == pytest.approx(2 * 128 * 2)


def test_energy_between_idle_and_board_power():
    g = layer_graph()
    cm = _cm(g, hand_spec())
    for f in (features([PrefillChunk(300, 0)], []), features([], [50] * 4)):
        ev = cm.evaluate(f)
        assert 100 * ev.latency_s <= ev.energy_j <= 300 * ev.latency_s + 1e-15
