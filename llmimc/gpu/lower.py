"""Lower a traced OpGraph to GPU kernels under one software stack (llmimc.gpu.stack).

Each kernel template carries per-iteration coefficients over the batch features

    F = [n_seq, ΣT, ΣL, ΣT·L, ΣT², n_decode]     (T new tokens, L KV length after the step, per sequence)

so one scheduler iteration of any composition costs one matrix-vector product (llmimc.gpu.kernels).

Rules, per traced op (activations at the run's precision: traced bytes x act_bytes / traced dtype
bytes; KV at the plan's kv_bits; weights at the plan's stored bits, ``cost.baseline.op_weight_bytes``):
- linear: one GEMM of M = ΣT rows (lm_head: M = n_seq with last-token logits, ΣT without), K = in,
  flops 2·M·K·N (x experts' load), bytes = weights + M·(in + out) activations. A GEMM with M <= 64,
  N <= K and K >= 4096 runs split-K and adds one reduction kernel (cuBLAS; 160 of them in the Llama-2-7B
  decode breakdown, on exactly its N <= K projections; none at GPT-2's K <= 3072, ~235 kernels, issue 10). Serving: sibling linears of one module reading the same input (Q/K/V, gate/up) are one GEMM.
- attention (score, softmax, context and score-sized elementwise ops of a layer): one fused kernel,
  causal flops = 4·d·H·(T·L - T²/2 + T/2) (the traced T·L coefficient on that), bytes = Q, O and the
  K/V cache of L tokens; the T x L score matrix stays on chip.
- KV update (an op writing bytes per KV token, i.e. transformers' DynamicCache torch.cat):
  hf-eager: two concat kernels (K, V), each reading L - T and writing L rows, in iterations that
  decode (an empty cache is assigned, not concatenated: no cache cat in the prefill breakdown); plus the op's per-token
  cats (rotate_half) at one kernel per traced hidden-sized output. Serving: one paged write of the
  T new K/V rows (read + write).
- other memory-bound ops (norm, activation, elementwise, embedding, other): hf-eager launches one kernel
  per aten call; the traced op holds the calls' summed bytes, and its kernel count is its written bytes
  per token over one output tensor (the intermediate width for an MLP op whose bytes are a multiple
  of it, else the hidden width), e.g. Llama RMSNorm 65,548 B / 8,192 B = 8 kernels (to fp32, pow, mean, add, rsqrt,
  mul, to fp16, mul), GPT-2 gelu_new 8, a residual pair 2; bytes split evenly. Serving: a chain of
  such ops between two GEMM / attention / KV kernels is one kernel reading and writing one tensor per op.
- tensor parallel over N GPUs (Megatron-LM, Shoeybi et al. 2019): GEMMs, attention, KV kernels and
  intermediate-width elementwise kernels are split N ways; hidden-width ones are replicated; two
  all-reduces of ΣT x hidden activations per layer (llmimc.gpu.kernels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llmimc.compress import op_roles
from llmimc.compress.plan import CompressionPlan
from llmimc.cost.baseline import op_weight_bytes
from llmimc.gpu.stack import SoftwareStack
from llmimc.model.opgraph import Op, OpGraph, OpKind

N_FEATURES = 6
GEMM, ATTN, STREAM, CONCAT, TINY = 0, 1, 2, 3, 4
CLASS_NAMES = ("gemm", "attention", "stream", "concat", "tiny")
SPLITK_MAX_ROWS = 64  # cuBLAS split-K regime seen in the decode breakdown (M = 1); engines' small-batch GEMMs
SPLITK_MIN_K = 4096  # split-K seen at K = 4096 and 11008 (Llama-2-7B decode), not at GPT-2's K <= 3072
_ATTN_KINDS = (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT, OpKind.SOFTMAX)


def _vec(n_seq: float = 0, t: float = 0, l: float = 0, tl: float = 0, t2: float = 0, dec: float = 0) -> tuple:  # noqa: E741
    return (float(n_seq), float(t), float(l), float(tl), float(t2), float(dec))


@dataclass
class _Kernel:
    cls: int
    label: str
    count: float
    flops: tuple  # per kernel, over F
    bytes: tuple  # per kernel, over F
    static_bytes: float = 0.0  # weights read per kernel
    k_dim: float = 0.0
    n_dim: float = 0.0
    gate_decode: bool = False  # only launched when the iteration has decode sequences


@dataclass(frozen=True)
class KernelTable:
    """Kernel templates of one (graph, plan, stack, tp) with coefficient matrices over F."""

    cls: np.ndarray  # (n,)
    labels: tuple[str, ...]
    count: np.ndarray  # (n,) kernels per iteration
    flops: np.ndarray  # (n, N_FEATURES) per kernel
    bytes: np.ndarray  # (n, N_FEATURES) per kernel
    static_bytes: np.ndarray  # (n,)
    k_dim: np.ndarray  # (n,)
    splitk: np.ndarray  # (n,) bool: adds a reduction kernel when M <= SPLITK_MAX_ROWS
    gate_decode: np.ndarray  # (n,) bool
    allreduce_bytes_per_token: float  # per all-reduce, per new token (0 without tensor parallelism)
    allreduces: int  # per iteration
    weight_bytes_per_gpu: float
    act_bytes: float  # bytes per activation element at the run's precision
    kv_bytes_per_elem: float  # bytes per KV-cache element (plan kv_bits / 8)


@dataclass
class _Builder:
    graph: OpGraph
    plan: CompressionPlan
    stack: SoftwareStack
    tp: int
    scale: float  # run activation bytes / traced dtype bytes
    kv_bytes_per_elem: float
    kernels: list[_Kernel] = field(default_factory=list)
    chain: list[float] = field(default_factory=lambda: [0.0] * N_FEATURES)
    chain_label: str = ""
    last_gemm: _Kernel | None = None
    last_gemm_module: str = ""
    last_gemm_in: int = 0
    attn: _Kernel | None = None

    # -- helpers ---------------------------------------------------------------------------------
    def unit_bytes(self, op: Op) -> tuple[float, bool]:
        """Traced bytes of one output tensor per token, and whether it is intermediate-width (an MLP op)."""
        info = self.graph.info
        w = op.act_bytes_written.c_t
        inter = info.intermediate_size * info.dtype_bytes
        in_mlp = "mlp" in op_roles(op)
        if in_mlp and inter > 0 and w >= inter and abs(w / inter - round(w / inter)) < 1e-6:
            return float(inter), True
        return float(info.hidden_size * info.dtype_bytes), False

    def mem_bytes(self, op: Op) -> tuple:
        """Per-sequence bytes over F of a memory-bound op, no T x L (score-sized) part, run precision."""
        r, w = op.act_bytes_read, op.act_bytes_written
        s = self.scale
        if op.kind == OpKind.EMBEDDING:  # gather: read the rows, write them (the index read is negligible)
            return _vec(t=2.0 * w.c_t * s)
        return _vec(n_seq=(r.c0 + w.c0) * s, t=(r.c_t + w.c_t) * s, l=(r.c_l + w.c_l) * s)

    def flush_chain(self) -> None:
        if any(self.chain):
            self.kernels.append(
                _Kernel(STREAM, self.chain_label or "elementwise", 1.0, _vec(), tuple(self.chain))
            )
        self.chain = [0.0] * N_FEATURES
        self.chain_label = ""

    def split(self, x: tuple) -> tuple:
        return tuple(v / self.tp for v in x)

    # -- op kinds --------------------------------------------------------------------------------
    def linear(self, op: Op, parent: str) -> None:
        s = self.scale
        is_logits = op.layer is None and op.flops.c_t == 0 and op.flops.c0 > 0
        w_bytes = op_weight_bytes(op, self.plan, self.graph.info.dtype_bytes) / self.tp
        if is_logits:
            per_row_flops = op.flops.c0
            per_row_bytes = (op.act_bytes_read.c0 + op.act_bytes_written.c0) * s
            rows = _vec(n_seq=1) if self.stack.last_token_logits else _vec(t=1)
        else:
            per_row_flops = op.flops.c_t
            per_row_bytes = (op.act_bytes_read.c_t + op.act_bytes_written.c_t) * s
            rows = _vec(t=1)
        flops = tuple(v * per_row_flops / self.tp for v in rows)
        nbytes = tuple(v * per_row_bytes / self.tp for v in rows)
        fuse = (
            self.stack.fuse_sibling_gemms
            and self.last_gemm is not None
            and not is_logits
            and parent == self.last_gemm_module
            and op.in_features == self.last_gemm_in
        )
        if (
            fuse and self.last_gemm is not None
        ):  # a pending chain (gate's activation) runs after the fused GEMM
            g = self.last_gemm
            in_bytes = op.act_bytes_read.c_t * s / self.tp  # the shared input is read once
            g.flops = tuple(a + b for a, b in zip(g.flops, flops, strict=True))
            g.bytes = tuple(a + b - in_bytes * r for a, b, r in zip(g.bytes, nbytes, rows, strict=True))
            g.static_bytes += w_bytes
            g.n_dim += op.out_features
            return
        self.flush_chain()
        g = _Kernel(GEMM, "lm_head" if is_logits else "linear", 1.0, flops, nbytes, w_bytes)
        g.k_dim, g.n_dim = float(op.in_features), float(op.out_features)
        self.kernels.append(g)
        self.last_gemm, self.last_gemm_module, self.last_gemm_in = g, parent, op.in_features

    def attention(self, op: Op) -> None:
        s = self.scale
        self.last_gemm = None  # a GEMM after attention reads its output, not the Q/K/V input
        if self.attn is None or self.attn.label != f"attention@{op.layer}":
            self.flush_chain()
            layer = op.layer if op.layer is not None else 0
            kv_layer = self.graph.kv_elements_per_token_per_layer[layer] * self.kv_bytes_per_elem
            self.attn = _Kernel(ATTN, f"attention@{op.layer}", 1.0, _vec(), self.split(_vec(l=kv_layer)))
            self.kernels.append(self.attn)
            if self.stack.attn_extra_decode_kernels:
                self.kernels.append(
                    _Kernel(
                        TINY,
                        "attention",
                        float(self.stack.attn_extra_decode_kernels),
                        _vec(),
                        _vec(),
                        gate_decode=True,
                    )
                )
        a = self.attn
        c = op.flops.c_tl / self.tp
        a.flops = tuple(x + y for x, y in zip(a.flops, _vec(t=0.5 * c, tl=c, t2=-0.5 * c), strict=True))
        if op.kind == OpKind.ATTN_SCORE:  # Q read
            a.bytes = tuple(
                x + y for x, y in zip(a.bytes, self.split(_vec(t=op.act_bytes_read.c_t * s)), strict=True)
            )
        if op.kind == OpKind.ATTN_CONTEXT:  # O written
            a.bytes = tuple(
                x + y for x, y in zip(a.bytes, self.split(_vec(t=op.act_bytes_written.c_t * s)), strict=True)
            )

    def kv_update(self, op: Op) -> None:
        self.flush_chain()
        self.last_gemm = None
        layer = op.layer if op.layer is not None else 0
        half = self.graph.kv_elements_per_token_per_layer[layer] * self.kv_bytes_per_elem / 2.0
        if self.stack.paged_kv:
            self.kernels.append(_Kernel(STREAM, "kv_cache", 1.0, _vec(), self.split(_vec(t=4.0 * half))))
            return
        # torch.cat only once the cache holds tokens (the prefill breakdown has no cache concat)
        cat = _Kernel(
            CONCAT, "kv_cache", 2.0, _vec(), self.split(_vec(t=-half, l=2.0 * half)), gate_decode=True
        )
        self.kernels.append(cat)
        unit = self.graph.info.hidden_size * self.graph.info.dtype_bytes
        n = round(op.act_bytes_written.c_t / unit)
        if n >= 1:  # rotate_half cats of q and k
            per = (op.act_bytes_read.c_t + op.act_bytes_written.c_t) * self.scale / n
            self.kernels.append(_Kernel(CONCAT, "elementwise", float(n), _vec(), self.split(_vec(t=per))))

    def memory_op(self, op: Op) -> None:
        nbytes = self.mem_bytes(op)
        if not any(nbytes):
            return
        unit, inter = self.unit_bytes(op)
        n = max(1, round(op.act_bytes_written.c_t / unit)) if op.kind != OpKind.EMBEDDING else 1
        if inter:
            nbytes = self.split(nbytes)
        label = op.kind.value
        if self.stack.fuse_elementwise:
            self.chain = [a + b / n for a, b in zip(self.chain, nbytes, strict=True)]
            self.chain_label = self.chain_label or label
            return
        self.kernels.append(_Kernel(STREAM, label, float(n), _vec(), tuple(b / n for b in nbytes)))


def _is_kv_update(op: Op) -> bool:
    return op.kind == OpKind.OTHER and op.layer is not None and op.act_bytes_written.c_l > 0


def _is_score_sized(op: Op) -> bool:
    w = op.act_bytes_written
    return op.kind == OpKind.ELEMENTWISE and op.layer is not None and w.c_t == 0 and w.c_l == 0 and w.c_tl > 0


def _aggregate(kernels: list[_Kernel]) -> list[_Kernel]:
    """Merge templates that differ only in their layer (same shapes): count summed."""
    out: dict[tuple, _Kernel] = {}
    for k in kernels:
        label = "attention" if k.label.startswith("attention@") else k.label
        key = (k.cls, label, k.flops, k.bytes, k.static_bytes, k.k_dim, k.n_dim, k.gate_decode)
        if key in out:
            out[key].count += k.count
        else:
            out[key] = _Kernel(
                k.cls, label, k.count, k.flops, k.bytes, k.static_bytes, k.k_dim, k.n_dim, k.gate_decode
            )
    return list(out.values())


def run_act_bytes(plan: CompressionPlan) -> float:
    """Bytes per activation element at the run's precision (the widest activation format of the plan)."""
    bits = max((c.act_bits for c in plan.ops.values()), default=16)
    return max(bits, 8) / 8.0


def lower(graph: OpGraph, plan: CompressionPlan, stack: SoftwareStack, tp: int = 1) -> KernelTable:
    """Kernel templates of ``graph`` under ``plan`` and ``stack`` on ``tp`` tensor-parallel GPUs."""
    a_bytes = run_act_bytes(plan)
    b = _Builder(
        graph=graph,
        plan=plan,
        stack=stack,
        tp=tp,
        scale=a_bytes / graph.info.dtype_bytes,
        kv_bytes_per_elem=plan.kv_bits / 8.0,
    )
    for op in graph.ops:
        parent = op.module_path.rsplit(".", 1)[0]
        if op.kind == OpKind.LINEAR:
            b.linear(op, parent)
        elif op.kind in _ATTN_KINDS or _is_score_sized(op):
            b.attention(op)
        elif _is_kv_update(op):
            b.kv_update(op)
        else:
            b.memory_op(op)
    b.flush_chain()
    ks = _aggregate(b.kernels)
    splitk = [k.cls == GEMM and 0 < k.n_dim <= k.k_dim and k.k_dim >= SPLITK_MIN_K for k in ks]
    n_layers = graph.info.num_layers
    return KernelTable(
        cls=np.array([k.cls for k in ks], dtype=int),
        labels=tuple(k.label for k in ks),
        count=np.array([k.count for k in ks]),
        flops=np.array([k.flops for k in ks]).reshape(len(ks), N_FEATURES),
        bytes=np.array([k.bytes for k in ks]).reshape(len(ks), N_FEATURES),
        static_bytes=np.array([k.static_bytes for k in ks]),
        k_dim=np.array([k.k_dim for k in ks]),
        splitk=np.array(splitk, dtype=bool),
        gate_decode=np.array([k.gate_decode for k in ks], dtype=bool),
        allreduce_bytes_per_token=graph.info.hidden_size * a_bytes if tp > 1 else 0.0,
        allreduces=2 * n_layers if tp > 1 else 0,
        weight_bytes_per_gpu=float(sum(k.static_bytes * k.count for k in ks)),
        act_bytes=a_bytes,
        kv_bytes_per_elem=plan.kv_bits / 8.0,
    )
