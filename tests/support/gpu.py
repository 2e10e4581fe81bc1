"""Hand-built OpGraph, plans and GPU specs with round numbers for the per-kernel model tests."""

from __future__ import annotations

from typing import Any

from llmimc.compress.plan import CompressionPlan, OpCompression
from llmimc.hw import load_spec
from llmimc.hw.spec import DigitalBaselineSpec
from llmimc.model.opgraph import ModelInfo, Op, OpGraph, OpKind, Poly

H, FF, V = 64, 128, 100  # hidden, intermediate, vocab; fp16 traced (2 bytes), one layer, 2 heads x 32
B2 = 2  # traced dtype bytes


def _set(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d[p]
    d[parts[-1]] = value


def gpu_spec(overrides: dict[str, Any] | None = None, base: str = "h100") -> DigitalBaselineSpec:
    spec = load_spec(base)
    assert isinstance(spec, DigitalBaselineSpec)
    data = spec.model_dump(mode="json")
    for k, v in (overrides or {}).items():
        _set(data, k, v)
    return DigitalBaselineSpec.model_validate(data)


# Round numbers: 1 TFLOP/s, 1 GB/s HBM (every class at the full HBM rate), 1 us kernel floor,
# GEMM efficiency 0.5 with no K dependence, attention efficiency 0.5 with no keys dependence.
HAND = {
    "peak_flops_per_s.fp16": 1e12,
    "memory_bw_bytes_per_s": 1e9,
    "kernels.gemm_efficiency_max": 0.5,
    "kernels.gemm_k_half": 0.0,
    "kernels.weight_stream_bw_fraction": 1.0,
    "kernels.stream_bw_fraction": 1.0,
    "kernels.concat_bw_fraction": 0.5,
    "kernels.attn_efficiency_max": 0.5,
    "kernels.attn_keys_half": 0.0,
    "kernels.attn_kv_bw_fraction": 1.0,
    "kernels.kernel_min_s": 1e-6,
    "kernels.gemm_min_s": 2e-6,
    "board_power_w": 300.0,
    "idle_power_w": 100.0,
}


def hand_spec(stack: str = "serving", extra: dict[str, Any] | None = None) -> DigitalBaselineSpec:
    return gpu_spec({**HAND, "software_stack": stack, **(extra or {})})


def _lin(name: str, k: int, n: int, layer: int | None = 0) -> Op:
    return Op(
        name=name,
        module_path=name,
        layer=layer,
        kind=OpKind.LINEAR,
        in_features=k,
        out_features=n,
        weight_params=k * n,
        flops=Poly(c_t=2.0 * k * n),
        act_bytes_read=Poly(c_t=k * B2),
        act_bytes_written=Poly(c_t=n * B2),
    )


def _mem(name: str, kind: OpKind, written_t: float, read_t: float | None = None, **extra: float) -> Op:
    return Op(
        name=name,
        module_path=name.rsplit(".", 1)[0],
        layer=0,
        kind=kind,
        act_bytes_read=Poly(c_t=written_t if read_t is None else read_t, **extra),
        act_bytes_written=Poly(c_t=written_t),
    )


def single_linear_graph(k: int = 64, n: int = 64) -> OpGraph:
    return _graph([_lin("l0.fc", k, n)], layers=1)


def layer_graph() -> OpGraph:
    """A Llama-shaped layer: RMSNorm (8 aten calls), q/k/v, RoPE (7), KV cat, attention, o, MLP."""
    p = "model.layers.0"
    ops = [
        _mem(f"{p}.input_layernorm.norm", OpKind.NORM, 8 * H * B2),
        _lin(f"{p}.self_attn.q_proj", H, H),
        _lin(f"{p}.self_attn.k_proj", H, H),
        _lin(f"{p}.self_attn.v_proj", H, H),
        _mem(f"{p}.self_attn.elementwise", OpKind.ELEMENTWISE, 7 * H * B2),
        Op(
            name=f"{p}.self_attn.other",
            module_path=f"{p}.self_attn",
            layer=0,
            kind=OpKind.OTHER,
            act_bytes_read=Poly(c_t=2 * H * B2, c_l=2 * H * B2),
            act_bytes_written=Poly(c_t=2 * H * B2, c_l=2 * H * B2),
        ),
        Op(
            name=f"{p}.self_attn.attn_score",
            module_path=f"{p}.self_attn",
            layer=0,
            kind=OpKind.ATTN_SCORE,
            flops=Poly(c_tl=2.0 * H),
            act_bytes_read=Poly(c_t=H * B2, c_l=H * B2),
        ),
        Op(
            name=f"{p}.self_attn.attn_context",
            module_path=f"{p}.self_attn",
            layer=0,
            kind=OpKind.ATTN_CONTEXT,
            flops=Poly(c_tl=2.0 * H),
            act_bytes_read=Poly(c_l=H * B2),
            act_bytes_written=Poly(c_t=H * B2),
        ),
        _lin(f"{p}.self_attn.o_proj", H, H),
        _mem(f"{p}.elementwise", OpKind.ELEMENTWISE, 2 * H * B2),
        _mem(f"{p}.post_attention_layernorm.norm", OpKind.NORM, 8 * H * B2),
        _lin(f"{p}.mlp.gate_proj", H, FF),
        _mem(f"{p}.mlp.act_fn.activation", OpKind.ACTIVATION, FF * B2),
        _lin(f"{p}.mlp.up_proj", H, FF),
        _mem(f"{p}.mlp.elementwise", OpKind.ELEMENTWISE, FF * B2),
        _lin(f"{p}.mlp.down_proj", FF, H),
    ]
    head = Op(
        name="lm_head",
        module_path="lm_head",
        layer=None,
        kind=OpKind.LINEAR,
        in_features=H,
        out_features=V,
        weight_params=H * V,
        flops=Poly(c0=2.0 * H * V),
        act_bytes_read=Poly(c0=H * B2),
        act_bytes_written=Poly(c0=V * B2),
    )
    return _graph([*ops, head], layers=1)


def _graph(ops: list[Op], layers: int) -> OpGraph:
    info = ModelInfo(
        model_id="hand-gpu",
        source="bundled",
        architecture="LlamaForCausalLM",
        model_type="llama",
        num_layers=layers,
        hidden_size=H,
        num_attention_heads=2,
        num_kv_heads=2,
        head_dim=32,
        intermediate_size=FF,
        vocab_size=V,
        max_position_embeddings=4096,
        dtype="float16",
        dtype_bytes=B2,
    )
    params = sum(op.weight_params for op in ops)
    return OpGraph(
        llmimc_version="test",
        config_hash="hand",
        info=info,
        num_params=params,
        kv_elements_per_token_per_layer=[2 * H] * layers,
        ops=ops,
    )


def plan16(graph: OpGraph, weight_bits: int = 16, act_bits: int = 16) -> CompressionPlan:
    ops = {
        op.name: OpCompression(op_name=op.name, weight_bits=weight_bits, act_bits=act_bits, outlier_bits=16)
        for op in graph.linear_ops()
    }
    return CompressionPlan(
        policy_name=f"w{weight_bits}a{act_bits}", kv_bits=16, ops=ops, outlier_source="none"
    )
