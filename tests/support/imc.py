"""Hand-built OpGraphs, specs and plans for the mapping / cost / profile tests (no tracing)."""

from __future__ import annotations

from typing import Any

from llmimc.compress.plan import CompressionPlan, OpCompression, SparsityPattern
from llmimc.hw import load_spec
from llmimc.hw.spec import ImcSystemSpec
from llmimc.model.opgraph import ModelInfo, Op, OpGraph, OpKind, Poly


def _set(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d[p]
    d[parts[-1]] = value


def make_spec(overrides: dict[str, Any], base: str = "rram-chiplet") -> ImcSystemSpec:
    """A built-in spec with dotted-path overrides (every overridden number keeps the base's source)."""
    spec = load_spec(base)
    assert isinstance(spec, ImcSystemSpec)
    data = spec.model_dump(mode="json")
    for k, v in overrides.items():
        _set(data, k, v)
    return ImcSystemSpec.model_validate(data)


HUGE_BW = 1e18

# A 2-chiplet ring with simple numbers: 128x128 1-bit cells, 100 ns read, 8 columns per ADC at 10 ns,
# 1-bit DAC, 16 arrays per chiplet, bandwidths so large that they never bind, no SRAM/NoC energy.
HAND_SPEC = {
    "chiplet.array.rows": 128,
    "chiplet.array.cols": 128,
    "chiplet.array.bits_per_cell": 1,
    "chiplet.array.differential": False,
    "chiplet.array.read_time_per_cycle_s": 100e-9,
    "chiplet.array.read_energy_per_cell_j": 1e-15,
    "chiplet.array.adc.columns_per_adc": 8,
    "chiplet.array.adc.conversion_time_s": 10e-9,
    "chiplet.array.adc.energy_per_conversion_j": 1e-12,
    "chiplet.array.dac.bits_per_cycle": 1,
    "chiplet.array.dac.energy_per_row_drive_j": 2e-15,
    "chiplet.tiles": 1,
    "chiplet.tile.arrays_per_tile": 16,
    "chiplet.tile.accumulate_energy_j": 5e-14,
    "chiplet.tile.vector_unit.macs_per_cycle": 128,
    "chiplet.tile.vector_unit.frequency_hz": 1e9,
    "chiplet.tile.vector_unit.energy_per_op_j": 1e-13,
    "chiplet.tile.local_sram.bw_bytes_per_s": HUGE_BW,
    "chiplet.tile.local_sram.read_energy_per_bit_j": 0.0,
    "chiplet.tile.local_sram.write_energy_per_bit_j": 0.0,
    "chiplet.global_sram.bw_bytes_per_s": HUGE_BW,
    "chiplet.global_sram.read_energy_per_bit_j": 0.0,
    "chiplet.global_sram.write_energy_per_bit_j": 0.0,
    "chiplet.global_sram.capacity_bytes": 1 << 20,
    "chiplet.noc.link_bw_bytes_per_s": HUGE_BW,
    "chiplet.noc.energy_per_bit_per_hop_j": 0.0,
    "chiplet.noc.hop_latency_s": 0.0,
    "chiplet.noc.topology": "bus",
    "chiplet.dpu.macs_per_cycle": 64,
    "chiplet.dpu.frequency_hz": 1e9,
    "chiplet.dpu.energy_per_mac_j": 1e-12,
    "chiplet.dpu.energy_per_op_j": 1e-13,
    # leakage: no gating, 1 W per chiplet always on (all of it put on the DPU), every other part 0
    "chiplet.power.power_gating": False,
    "chiplet.power.adc_leakage_w": 0.0,
    "chiplet.power.dac_leakage_w": 0.0,
    "chiplet.power.array_leakage_w": 0.0,
    "chiplet.power.tile_buffer_leakage_w": 0.0,
    "chiplet.power.vector_unit_leakage_w": 0.0,
    "chiplet.power.router_leakage_w": 0.0,
    "chiplet.power.global_sram_leakage_w": 0.0,
    "chiplet.power.dpu_leakage_w": 1.0,
    "chiplet.power.phy_idle_w": 0.0,
    "package.num_chiplets": 2,
    "package.topology": "ring",
    "package.d2d.bw_bytes_per_s": 128e9,
    "package.d2d.latency_s": 2e-9,
    "package.d2d.energy_per_bit_j": 1e-12,
    "package.memory.bw_bytes_per_s": 1e12,
    "package.memory.energy_per_bit_j": 4e-12,
    "package.memory.latency_s": 0.0,
    "package.memory.capacity_bytes": 1 << 30,
    "package.memory.attached_chiplets": [0],
}


def info(
    num_layers: int,
    hidden: int,
    heads: int = 1,
    head_dim: int = 64,
    vocab: int = 256,
    ctx: int = 4096,
    dtype_bytes: int = 2,
) -> ModelInfo:
    return ModelInfo(
        model_id="hand",
        source="test",
        architecture="HandForCausalLM",
        model_type="hand",
        num_layers=num_layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=heads,
        head_dim=head_dim,
        intermediate_size=hidden,
        vocab_size=vocab,
        max_position_embeddings=ctx,
        dtype="float16" if dtype_bytes == 2 else "float32",
        dtype_bytes=dtype_bytes,
    )


def linear(
    name: str,
    layer: int | None,
    k: int,
    n: int,
    per_token: bool = True,
    experts: int = 1,
    load: float = 1.0,
    dtype_bytes: int = 2,
) -> Op:
    macs = k * n * experts * load
    flops = Poly(c_t=2 * macs) if per_token else Poly(c0=2 * macs)
    rd = Poly(c_t=k * dtype_bytes) if per_token else Poly(c0=k * dtype_bytes)
    wr = Poly(c_t=n * dtype_bytes) if per_token else Poly(c0=n * dtype_bytes)
    return Op(
        name=name,
        module_path=name,
        layer=layer,
        kind=OpKind.LINEAR,
        in_features=k,
        out_features=n,
        weight_params=k * n * experts,
        num_experts=experts,
        expert_load=load,
        flops=flops,
        act_bytes_read=rd,
        act_bytes_written=wr,
    )


def hand_graph() -> OpGraph:
    """Embedding -> layer 0 (fc 256x128, attention score over one 64-dim head) -> lm_head 128x256."""
    ops = [
        Op(
            name="embed",
            module_path="embed",
            layer=None,
            kind=OpKind.EMBEDDING,
            in_features=256,
            out_features=128,
            weight_params=256 * 128,
            act_bytes_read=Poly(c_t=8),
            act_bytes_written=Poly(c_t=256),
        ),
        linear("layers.0.fc", 0, 256, 128),
        Op(
            name="layers.0.attn.attn_score",
            module_path="layers.0.attn",
            layer=0,
            kind=OpKind.ATTN_SCORE,
            flops=Poly(c_tl=128.0),
            act_bytes_read=Poly(c_t=128, c_l=128),
            act_bytes_written=Poly(c_tl=2),
        ),
        linear("lm_head", None, 128, 256, per_token=False),
    ]
    return OpGraph(
        llmimc_version="test",
        config_hash="hand",
        info=info(1, 128),
        num_params=256 * 128 * 3,
        kv_elements_per_token_per_layer=[128],
        ops=ops,
    )


def plan_for(
    graph: OpGraph,
    weight_bits: int = 8,
    act_bits: int = 8,
    kv_bits: int = 16,
    n: int = 1,
    m: int = 1,
    outlier_fraction: float = 0.0,
    pattern: SparsityPattern = "channel",
) -> CompressionPlan:
    ops = {}
    for op in graph.linear_ops():
        rows = min(op.in_features, int(outlier_fraction * op.in_features + 0.5))
        ops[op.name] = OpCompression(
            op_name=op.name,
            weight_bits=weight_bits,
            act_bits=act_bits,
            outlier_fraction=outlier_fraction,
            outlier_rows=rows,
            outlier_bits=16,
            sparsity_n=n,
            sparsity_m=m,
            sparsity_pattern=pattern,
        )
    return CompressionPlan(
        policy_name=f"w{weight_bits}a{act_bits}", kv_bits=kv_bits, ops=ops, outlier_source="default:test"
    )


def traced_tiny_llama_graph(
    layers: int = 2, hidden: int = 64, experts: int = 1, vocab: int = 128, context: int = 512
):
    """A traced tiny Llama (or Mixtral-like MoE when experts > 1) OpGraph."""
    from transformers import LlamaConfig, MixtralConfig

    from llmimc.model import opgraph_from_config

    common = dict(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab,
        max_position_embeddings=context,
    )
    if experts > 1:
        cfg = MixtralConfig(**common, num_local_experts=experts, num_experts_per_tok=2)
        return opgraph_from_config(cfg, "tiny-mixtral", "test")
    return opgraph_from_config(LlamaConfig(**common), "tiny-llama", "test")


def random_graph(layers: int, hidden: int, experts: int) -> OpGraph:
    """Llama-like ops per layer, built by hand (no tracing): norm, qkv, score, softmax, context, o, mlp."""
    h = hidden
    ops = [
        Op(
            name="embed",
            module_path="embed",
            layer=None,
            kind=OpKind.EMBEDDING,
            in_features=256,
            out_features=h,
            weight_params=256 * h,
            act_bytes_read=Poly(c_t=8),
            act_bytes_written=Poly(c_t=2 * h),
        )
    ]
    for i in range(layers):
        p = f"layers.{i}"
        ops += [
            Op(
                name=f"{p}.norm",
                module_path=p,
                layer=i,
                kind=OpKind.NORM,
                flops=Poly(c_t=4 * h),
                act_bytes_read=Poly(c_t=2 * h),
                act_bytes_written=Poly(c_t=2 * h),
            ),
            linear(f"{p}.attn.qkv", i, h, 3 * h),
            Op(
                name=f"{p}.attn.score",
                module_path=f"{p}.attn",
                layer=i,
                kind=OpKind.ATTN_SCORE,
                flops=Poly(c_tl=2.0 * h),
                act_bytes_read=Poly(c_t=2 * h, c_l=2 * h),
                act_bytes_written=Poly(c_tl=8),
            ),
            Op(
                name=f"{p}.attn.softmax",
                module_path=f"{p}.attn",
                layer=i,
                kind=OpKind.SOFTMAX,
                flops=Poly(c_tl=20.0),
                act_bytes_read=Poly(c_tl=8),
                act_bytes_written=Poly(c_tl=8),
            ),
            Op(
                name=f"{p}.attn.context",
                module_path=f"{p}.attn",
                layer=i,
                kind=OpKind.ATTN_CONTEXT,
                flops=Poly(c_tl=2.0 * h),
                act_bytes_read=Poly(c_l=2 * h, c_tl=8),
                act_bytes_written=Poly(c_t=2 * h),
            ),
            linear(f"{p}.attn.o", i, h, h),
            linear(f"{p}.mlp.up", i, h, 2 * h, experts=experts, load=(2 / experts if experts > 1 else 1.0)),
            linear(f"{p}.mlp.down", i, 2 * h, h, experts=experts, load=(2 / experts if experts > 1 else 1.0)),
        ]
    ops += [linear("lm_head", None, h, 256, per_token=False)]
    return OpGraph(
        llmimc_version="test",
        config_hash="rand",
        info=info(layers, h, heads=h // 32, head_dim=32),
        num_params=1,
        kv_elements_per_token_per_layer=[2 * h] * layers,
        ops=ops,
    )


def random_spec(
    chiplets: int, topology: str, rows: int, bits_per_cell: int, differential: bool, sram_kib: int
):
    ov = dict(HAND_SPEC)
    ov.update(
        {
            "package.num_chiplets": chiplets,
            "package.topology": topology,
            "chiplet.array.rows": rows,
            "chiplet.array.cols": rows,
            "chiplet.array.bits_per_cell": bits_per_cell,
            "chiplet.array.differential": differential,
            "chiplet.tile.arrays_per_tile": 64,
            "chiplet.tiles": 2,
            "chiplet.global_sram.capacity_bytes": sram_kib * 1024,
            "chiplet.global_sram.bw_bytes_per_s": 1e11,
            "chiplet.global_sram.read_energy_per_bit_j": 5e-14,
            "chiplet.noc.energy_per_bit_per_hop_j": 8e-14,
            "chiplet.noc.topology": "mesh2d",
            "chiplet.noc.hop_latency_s": 1e-9,
            "chiplet.noc.link_bw_bytes_per_s": 3e10,
        }
    )
    return make_spec(ov)
