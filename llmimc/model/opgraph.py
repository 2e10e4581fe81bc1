"""OpGraph: the plain-data, JSON-serialisable operator graph of a causal LM (DESIGN.md §2).

An OpGraph is produced by tracing the real transformers model (llmimc.model.trace) and holds no torch
objects. Every op's cost is a *per-sequence* polynomial in

    T = new tokens processed in this step for one sequence (prefill: prompt length; decode: 1)
    L = KV length seen by attention after this step = past context + T

so a phase instance is evaluated without re-tracing:  value(T, L) = c0 + c_t*T + c_l*L + c_tl*T*L,
and a batch of B identical sequences costs B × value. Static weights are stored once per model and
are not multiplied by the batch.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from llmimc._base import Frozen


class OpKind(str, Enum):
    LINEAR = "linear"  # matmul with a static weight (incl. lm_head, MoE experts)
    ATTN_SCORE = "attn_score"  # Q·K^T, dynamic operands (reads the K cache)
    ATTN_CONTEXT = "attn_context"  # P·V, dynamic operands (reads the V cache)
    SOFTMAX = "softmax"
    NORM = "norm"
    ACTIVATION = "activation"
    ELEMENTWISE = "elementwise"
    EMBEDDING = "embedding"
    MOE_ROUTER = "moe_router"
    OTHER = "other"


class Poly(Frozen):
    """value(T, L) = c0 + c_t*T + c_l*L + c_tl*T*L for one sequence."""

    c0: float = 0.0
    c_t: float = 0.0
    c_l: float = 0.0
    c_tl: float = 0.0

    def at(self, tokens: float, kv_len: float) -> float:
        return self.c0 + self.c_t * tokens + self.c_l * kv_len + self.c_tl * tokens * kv_len

    def __add__(self, other: Poly) -> Poly:
        return Poly(
            c0=self.c0 + other.c0,
            c_t=self.c_t + other.c_t,
            c_l=self.c_l + other.c_l,
            c_tl=self.c_tl + other.c_tl,
        )


ATTENTION_KINDS = (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT)


def kv_free(p: Poly) -> Poly:
    """Activation bytes without the terms proportional to L alone.

    In a traced OpGraph the c_l terms of activation bytes are KV-cache operands (attention reading K
    and V, the cache update concatenating them); the cost model charges KV traffic once, from the KV
    residency plan, at kv_bits, so those terms are dropped from activation traffic.
    """
    return Poly(c0=p.c0, c_t=p.c_t, c_l=0.0, c_tl=p.c_tl)


def no_kv_growth(p: Poly) -> Poly:
    """Activation bytes without any term that grows with the KV length (c_l, c_tl).

    Used for what an op must hold in SRAM at once, and for the digital baseline's DRAM traffic.

    Besides the KV operands (c_l, see ``kv_free``), attention's score and probability rows grow as
    T x L (c_tl). The DPU computes attention tile by tile with an online softmax (FlashAttention,
    Dao et al., NeurIPS 2022), so those rows stream through a fixed-size tile buffer instead of being
    resident; their bytes are still charged as SRAM traffic by the cost model.
    """
    return Poly(c0=p.c0, c_t=p.c_t)


class Op(Frozen):
    """One operator of one forward pass, attributed to a module and a layer."""

    name: str  # unique within the graph, e.g. "model.layers.3.self_attn.q_proj"
    module_path: str  # owning nn.Module path ("" for the root)
    layer: int | None  # decoder layer index; None for embeddings, final norm, lm_head
    kind: OpKind
    aten: str = ""  # aten op(s) it came from, e.g. "aten.mm.default"
    # Static weights (kind == linear / embedding). For a linear, the weight is K x N
    # (in_features = K is the reduction dimension), stored num_experts times.
    in_features: int = 0
    out_features: int = 0
    weight_params: int = 0  # total weight elements of this op (all experts)
    bias_params: int = 0
    num_experts: int = 1
    # Expected fraction of a sequence's tokens that reach each expert copy (MoE: top_k / num_experts,
    # uniform expected routing); 1.0 for dense ops.
    expert_load: float = 1.0
    # Per-sequence costs.
    flops: Poly = Field(default_factory=Poly)  # 1 MAC = 2 FLOPs
    act_bytes_read: Poly = Field(default_factory=Poly)  # activation / KV bytes read (not weights)
    act_bytes_written: Poly = Field(default_factory=Poly)

    @property
    def macs_per_token(self) -> float:
        """MACs per new token of one sequence for a static-weight linear op (K x N x E x load)."""
        return self.in_features * self.out_features * max(self.num_experts, 1) * self.expert_load

    @property
    def vectors_per_sequence(self) -> Poly:
        """Input vectors of a static-weight linear op per sequence: FLOPs / (2 x macs_per_token).

        One per new token (lm_head: one per sequence and step); one per token when the op has no MACs.
        """
        macs = self.macs_per_token
        if macs <= 0:
            return Poly(c_t=1.0)
        scale = 1.0 / (2.0 * macs)
        f = self.flops
        return Poly(c0=f.c0 * scale, c_t=f.c_t * scale, c_l=f.c_l * scale, c_tl=f.c_tl * scale)

    def vectors_at(self, tokens: float, kv_len: float) -> float:
        """``vectors_per_sequence`` evaluated at (T, L) (1.0 when the op has no MACs)."""
        macs = self.macs_per_token
        return self.flops.at(tokens, kv_len) / (2.0 * macs) if macs > 0 else 1.0


class ModelInfo(Frozen):
    """Architecture facts read from the HF config (after resolution)."""

    model_id: str  # what the user asked for, canonicalised (e.g. "gpt2", "meta-llama/Llama-2-7b-hf")
    source: str  # "bundled", "local:<path>" or "hub-cache:<path>"
    architecture: str  # e.g. "LlamaForCausalLM"
    model_type: str  # e.g. "llama"
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    sliding_window: int | None = None
    # Per decoder layer: tokens a query attends to and the KV cache keeps (transformers' sliding /
    # chunked cache layers), None = all. Empty: every layer is full attention. The op Polys are
    # full-attention costs: for a layer with window W they hold only while L <= W (beyond that, its
    # attention ops and KV entries stay at W tokens).
    attention_window_per_layer: list[int | None] = Field(default_factory=list)
    num_experts: int = 1
    experts_per_token: int = 1
    tie_word_embeddings: bool = False
    dtype: str = "float16"  # the published torch_dtype / dtype
    dtype_bytes: int = 2


class OpGraph(Frozen):
    """Both phases of a model share one op list; phases differ only in (T, L)."""

    llmimc_version: str
    config_hash: str
    info: ModelInfo
    num_params: int  # equals Hugging Face's model.num_parameters()
    # KV-cache elements per token, per decoder layer (2 x kv_heads x head_dim for standard attention)
    kv_elements_per_token_per_layer: list[int]
    ops: list[Op]

    def kv_bytes_per_token(self, kv_bits: int | None = None) -> float:
        bits = kv_bits if kv_bits is not None else 8 * self.info.dtype_bytes
        return sum(self.kv_elements_per_token_per_layer) * bits / 8.0

    def linear_ops(self) -> list[Op]:
        return [op for op in self.ops if op.kind == OpKind.LINEAR]

    def weight_params(self) -> int:
        """Weight elements of static-weight ops (linear + embedding) as traced."""
        return sum(op.weight_params for op in self.ops if op.kind in (OpKind.LINEAR, OpKind.EMBEDDING))
