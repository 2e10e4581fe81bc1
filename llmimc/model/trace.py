"""Record the aten ops of a real transformers forward pass on the meta device (no weights).

A `TorchDispatchMode` sees every aten op that a forward pass executes; forward pre/post hooks on every
module keep a module stack so that each op is attributed to its innermost module. Tensors derived
from parameters (views, casts, weight gathers) are tracked by identity, so a matmul with a
parameter-derived operand is a static-weight ``linear`` and a matmul of two activations is dynamic
(attention score / context, told apart by which dimension equals the KV length L).

Everything returned is plain data (`TraceRecord`), no torch objects: the fitting of costs into Polys
in (T, L) happens in `llmimc.model.fit`. FLOPs of matmuls follow
`torch.utils.flop_counter` (2 FLOPs per MAC); other ops count one FLOP per output element
(reductions: per input element) and no FLOPs for pure data movement.

References: PyTorch `torch.utils._python_dispatch.TorchDispatchMode`; `torch.utils.flop_counter`.
torch is imported by the functions that need it, never at module import.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmimc.model.opgraph import OpKind

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    import torch

# aten overload packet names (func.overloadpacket.__name__ with a trailing "_" stripped for in-place).
_MATMUL_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "_grouped_mm", "mv", "dot", "addmv"})
# Views, and copies that only change memory layout (clone / contiguous after a transpose or expand):
# a dataflow accelerator writes results in the layout their consumer needs, so these are not ops.
_ZERO_COST_OPS = frozenset(
    {"_unsafe_view", "lift_fresh", "detach", "alias", "_reshape_alias", "view", "clone", "contiguous"}
)
_SOFTMAX_OPS = frozenset({"_softmax", "_safe_softmax", "softmax", "_log_softmax", "log_softmax"})
_NORM_OPS = frozenset({"native_layer_norm", "layer_norm", "rms_norm", "_fused_rms_norm", "native_group_norm"})
_ACTIVATION_OPS = frozenset(
    {
        "gelu",
        "silu",
        "relu",
        "sigmoid",
        "tanh",
        "erf",
        "hardswish",
        "hardsigmoid",
        "mish",
        "softplus",
        "elu",
        "leaky_relu",
        "relu6",
        "hardtanh",
        "gelu_tanh",
    }
)
# Data-dependent expert choice: a module that runs one of these is a MoE router. Generic index
# arithmetic (cumsum of a mask for OPT's positions, sort) is not routing, so it is not listed here.
_ROUTING_OPS = frozenset({"topk", "histc", "one_hot", "bincount"})
_INDEX_OPS = frozenset({"sort", "argsort", "cumsum"})
_MOVE_OPS = frozenset(
    {
        "cat",
        "stack",
        "clone",
        "copy",
        "_to_copy",
        "contiguous",
        "index",
        "index_select",
        "gather",
        "scatter",
        "index_put",
        "index_copy",
        "repeat",
        "repeat_interleave",
        "constant_pad_nd",
        "masked_scatter",
        "expand_copy",
        "roll",
        "flip",
    }
)
_CREATE_OPS = frozenset(
    {
        "arange",
        "ones",
        "zeros",
        "full",
        "empty",
        "empty_like",
        "zeros_like",
        "ones_like",
        "full_like",
        "scalar_tensor",
        "new_ones",
        "new_zeros",
        "new_full",
        "new_empty",
        "empty_strided",
        "tril",
        "triu",
        "fill",
        "zero",
    }
)
_REDUCTION_OPS = frozenset(
    {"mean", "sum", "amax", "amin", "max", "min", "prod", "var", "std", "norm", "logsumexp"}
)
# Ops that move (part of) a parameter without computing with it: their output is still "a weight".
_WEIGHT_ACCESS_OPS = frozenset({"_to_copy", "clone", "contiguous", "index", "index_select", "expand_copy"})


@dataclass
class OpEvent:
    """Costs of one attributed group of aten ops at one trace point (accumulated)."""

    key: str  # unique op name within the graph
    module_path: str
    kind: OpKind
    aten: list[str] = field(default_factory=list)
    flops: float = 0.0
    bytes_read: float = 0.0
    bytes_written: float = 0.0
    # static weight (linear / embedding)
    weight_name: str = ""
    in_features: int = 0
    out_features: int = 0
    weight_params: int = 0
    num_experts: int = 1


@dataclass
class TraceRecord:
    """Ops of one traced forward step with `tokens` new tokens and KV length `kv_len` after it."""

    tokens: int
    kv_len: int
    events: dict[str, OpEvent]
    kv_elements_per_token_per_layer: list[int]
    routing_modules: list[str]


@dataclass(frozen=True)
class ModelStatic:
    """Static facts of a built (meta) model: parameters and decoder-layer structure."""

    num_params: int
    layers_prefix: str  # e.g. "model.layers"
    num_layers: int
    layer_signatures: list[str]  # per decoder layer; equal strings mean structurally identical layers
    param_numel: dict[str, int]
    param_shape: dict[str, tuple[int, ...]]


def _packet_name(func: Any) -> str:
    name = func.overloadpacket.__name__
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def _tensors(obj: Any, out: list) -> list:
    import torch

    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors(o, out)
    return out


def find_layers_prefix(model: torch.nn.Module, num_layers: int) -> str:
    """Path of the ModuleList holding the decoder layers (shortest path with `num_layers` children)."""
    import torch

    candidates = [
        name
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == num_layers
    ]
    if not candidates:
        return ""
    return min(candidates, key=lambda n: (n.count("."), len(n)))


def layer_of(module_path: str, layers_prefix: str) -> int | None:
    """Decoder-layer index of a module path, or None outside the decoder layers."""
    if not layers_prefix or not module_path.startswith(layers_prefix + "."):
        return None
    rest = module_path[len(layers_prefix) + 1 :]
    head = rest.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def model_static(model: torch.nn.Module, num_layers: int, per_layer_config: list[str]) -> ModelStatic:
    """Parameter count (as HF counts it) and per-layer structural signatures of a built model."""
    prefix = find_layers_prefix(model, num_layers)
    param_numel: dict[str, int] = {}
    param_shape: dict[str, tuple[int, ...]] = {}
    for name, p in model.named_parameters():
        param_numel[name] = p.numel()
        param_shape[name] = tuple(p.shape)
    signatures: list[str] = []
    if prefix:
        layers: Iterable[torch.nn.Module] = model.get_submodule(prefix)  # type: ignore[assignment]  # a ModuleList
        for i, layer in enumerate(layers):
            parts = [f"{n}:{tuple(p.shape)}:{p.dtype}" for n, p in layer.named_parameters()]
            parts += [f"{n}:{type(m).__name__}" for n, m in layer.named_modules()]
            parts.append(per_layer_config[i] if i < len(per_layer_config) else "")
            signatures.append("|".join(parts))
    return ModelStatic(
        num_params=int(model.num_parameters()),  # type: ignore[operator]  # PreTrainedModel method
        layers_prefix=prefix,
        num_layers=num_layers,
        layer_signatures=signatures,
        param_numel=param_numel,
        param_shape=param_shape,
    )


def _module_is_activation(mod: torch.nn.Module) -> bool:
    mod_module = type(mod).__module__
    return mod_module.startswith("torch.nn.modules.activation") or mod_module.endswith(".activations")


def _module_is_norm(mod: torch.nn.Module) -> bool:
    return "norm" in type(mod).__name__.lower()


class _Recorder:
    """State of one traced forward pass (created per pass, never shared)."""

    def __init__(self, model: torch.nn.Module, tokens: int, kv_len: int) -> None:
        self.tokens = tokens
        self.kv_len = kv_len
        self.stack: list[str] = [""]
        self.module_kind: dict[str, str] = {}
        self.param_of: dict[int, str] = {}  # id(tensor) -> root parameter name
        self.unique_elems: dict[int, int] = {}  # id(tensor) -> elements of distinct data it views
        self.keepalive: list[Any] = []  # keeps ids unique during the pass
        self.events: dict[str, OpEvent] = {}
        self.routing_modules: set[str] = set()
        for name, p in model.named_parameters():
            self.param_of[id(p)] = name
            self.keepalive.append(p)
        for name, mod in model.named_modules():
            if _module_is_activation(mod):
                self.module_kind[name] = "activation"
            elif _module_is_norm(mod):
                self.module_kind[name] = "norm"

    # -- bookkeeping -------------------------------------------------------------------------------
    def _nbytes(self, t: torch.Tensor) -> int:
        elems = self.unique_elems.get(id(t), t.numel())
        return min(elems, t.numel()) * t.element_size()

    def _mark(self, outs: list, param: str | None, unique: int | None) -> None:
        for o in outs:
            self.keepalive.append(o)
            if param is not None:
                self.param_of[id(o)] = param
            if unique is not None and unique < o.numel():
                self.unique_elems[id(o)] = unique

    def _event(self, key: str, kind: OpKind, aten: str) -> OpEvent:
        ev = self.events.get(key)
        if ev is None:
            ev = OpEvent(key=key, module_path=self.stack[-1], kind=kind)
            self.events[key] = ev
        if aten not in ev.aten:
            ev.aten.append(aten)
        return ev

    # -- one aten op -------------------------------------------------------------------------------
    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = _packet_name(func)
        ins = _tensors(args, []) + _tensors(kwargs, [])
        outs = _tensors(out, [])
        params = [self.param_of.get(id(t)) for t in ins]
        first_param = params[0] if params else None
        unique_in = min((self.unique_elems.get(id(t), t.numel()) for t in ins[:1]), default=None)

        if outs and all(o.dim() == 0 for o in outs) and all(t.dim() == 0 for t in ins):
            self._mark(outs, first_param, None)  # scalar bookkeeping (cache counters), not model compute
            return
        if func.is_view or name in _ZERO_COST_OPS:
            # a materialised broadcast (expand + clone, e.g. GQA's repeat_kv) keeps its distinct data size
            self._mark(outs, first_param, unique_in)
            return
        if name in _WEIGHT_ACCESS_OPS and first_param is not None:
            self._mark(outs, first_param, None)  # a weight copy / gather is still weight access
            return
        module = self.stack[-1]
        aten = str(func)
        if name in _MATMUL_OPS:
            self._record_matmul(name, aten, ins, outs, params)
            self._mark(outs, None, None)
            return
        if name == "embedding" and first_param is not None:
            weight = ins[0]
            ev = self._event(module or "embedding", OpKind.EMBEDDING, aten)
            ev.weight_name = first_param
            ev.in_features, ev.out_features = int(weight.shape[0]), int(weight.shape[-1])
            ev.weight_params = int(weight.numel())
            ev.bytes_read += sum(self._nbytes(t) for t, p in zip(ins, params, strict=True) if p is None)
            ev.bytes_written += sum(o.numel() * o.element_size() for o in outs)
            self._mark(outs, None, None)
            return
        if name in _ROUTING_OPS:
            self.routing_modules.add(module)
        kind, flops = self._classify_other(name, module, ins, outs)
        self._mark(outs, None, None)
        key = f"{module}.{kind.value}" if module else kind.value
        ev = self._event(key, kind, aten)
        ev.flops += flops
        ev.bytes_read += sum(self._nbytes(t) for t, p in zip(ins, params, strict=True) if p is None)
        ev.bytes_written += sum(o.numel() * o.element_size() for o in outs)

    def _classify_other(self, name: str, module: str, ins: list, outs: list) -> tuple[OpKind, float]:
        out_elems = float(sum(o.numel() for o in outs))
        mod_kind = self.module_kind.get(module)
        if name in _SOFTMAX_OPS:
            return OpKind.SOFTMAX, float(ins[0].numel()) if ins else out_elems
        if name in _NORM_OPS or mod_kind == "norm":
            return OpKind.NORM, self._pointwise_flops(name, ins, outs)
        if name in _ROUTING_OPS:
            return OpKind.MOE_ROUTER, 0.0
        if name in _MOVE_OPS or name in _CREATE_OPS or name in _INDEX_OPS:
            return OpKind.OTHER, 0.0
        if name in _ACTIVATION_OPS or mod_kind == "activation":
            return OpKind.ACTIVATION, self._pointwise_flops(name, ins, outs)
        return OpKind.ELEMENTWISE, self._pointwise_flops(name, ins, outs)

    @staticmethod
    def _pointwise_flops(name: str, ins: list, outs: list) -> float:
        if name in _REDUCTION_OPS and ins:
            return float(ins[0].numel())
        if name == "native_layer_norm" and ins:
            return 5.0 * ins[0].numel()  # mean, var, normalise, scale, shift per element
        return float(sum(o.numel() for o in outs[:1]))

    def _record_matmul(self, name: str, aten: str, ins: list, outs: list, params: list) -> None:
        module = self.stack[-1]
        if name in ("addmm", "baddbmm", "addmv"):  # ins[0] is the bias (a parameter for a linear)
            a, b = ins[1], ins[2]
            p_a, p_b = params[1], params[2]
        else:
            a, b = ins[0], ins[1]
            p_a, p_b = params[0], params[1]
        if name in ("mm", "addmm"):
            m, k = a.shape
            n = b.shape[1]
            flops = 2.0 * m * k * n
        elif name in ("bmm", "baddbmm"):
            bt, m, k = a.shape
            n = b.shape[2]
            flops = 2.0 * bt * m * k * n
        elif name == "_grouped_mm":
            k = a.shape[-1]
            n = b.shape[-1]  # weights (K, N) or per-expert (E, K, N)
            m = a.shape[0] if a.dim() == 2 else a.shape[0] * a.shape[1]
            flops = 2.0 * m * k * n
        else:  # mv, dot, addmv
            k = a.shape[-1]
            flops = 2.0 * math.prod(a.shape)
        weight_param = p_b if p_b is not None else p_a
        if weight_param is not None:
            ev = self._event(self._linear_key(module, weight_param), OpKind.LINEAR, aten)
            ev.weight_name = weight_param
            ev.in_features = int(k)
            ev.flops += flops
            act = [t for t, p in ((a, p_a), (b, p_b)) if p is None]
            ev.bytes_read += sum(self._nbytes(t) for t in act)
            ev.bytes_written += sum(o.numel() * o.element_size() for o in outs)
            return
        # dynamic operands: attention score (output's last dim is L) or context (reduction over L)
        out_last = int(outs[0].shape[-1]) if outs else -1
        if int(k) == self.kv_len and out_last != self.kv_len:
            kind = OpKind.ATTN_CONTEXT
        elif out_last == self.kv_len:
            kind = OpKind.ATTN_SCORE
        else:
            kind = OpKind.OTHER
        key = f"{module}.{kind.value}" if module else kind.value
        ev = self._event(key, kind, aten)
        ev.flops += flops
        ev.bytes_read += sum(self._nbytes(t) for t, p in zip(ins, params, strict=True) if p is None)
        ev.bytes_written += sum(o.numel() * o.element_size() for o in outs)

    @staticmethod
    def _linear_key(module: str, weight_param: str) -> str:
        leaf = weight_param.rsplit(".", 1)[-1]
        if not module:
            return weight_param
        return module if leaf == "weight" else f"{module}.{leaf}"


def _make_mode(rec: _Recorder):
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            rec.record(func, args, kwargs, out)
            return out

    return _Mode()


def trace_steps(
    model: torch.nn.Module, config: Any, token_steps: list[int], logits_to_keep: int | None
) -> list[TraceRecord]:
    """Run consecutive forward steps (one shared KV cache) and record each one.

    Step i processes ``token_steps[i]`` new tokens on top of the cache left by the previous steps, so
    the first step is a prefill (empty cache) and steps of one token are decode steps.
    """
    import torch
    from transformers import DynamicCache

    handles = []
    records: list[TraceRecord] = []
    rec_holder: list[_Recorder] = []

    def pre_hook(name: str):
        def hook(_mod, _args):
            if rec_holder:
                rec_holder[0].stack.append(name)

        return hook

    def post_hook(_mod, _args, _out):
        if rec_holder and len(rec_holder[0].stack) > 1:
            rec_holder[0].stack.pop()

    for name, mod in model.named_modules():
        if name:
            handles.append(mod.register_forward_pre_hook(pre_hook(name)))
            handles.append(mod.register_forward_hook(post_hook, always_call=True))
    try:
        cache = DynamicCache(config=config)
        past = 0
        extra: dict[str, Any] = {}
        if logits_to_keep is not None:
            extra["logits_to_keep"] = logits_to_keep
        # transformers renamed ``past_key_values`` to ``cache`` (the old name warns, then goes in 5.40)
        cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        with torch.no_grad():
            for tokens in token_steps:
                kv_len = past + tokens
                ids = torch.zeros((1, tokens), dtype=torch.long, device="meta")
                rec = _Recorder(model, tokens, kv_len)
                rec_holder[:] = [rec]
                with _make_mode(rec):
                    model(input_ids=ids, use_cache=True, **{cache_kw: cache}, **extra)
                rec_holder.clear()
                records.append(
                    TraceRecord(
                        tokens=tokens,
                        kv_len=kv_len,
                        events=rec.events,
                        kv_elements_per_token_per_layer=_kv_elements(cache, kv_len),
                        routing_modules=sorted(rec.routing_modules),
                    )
                )
                past = kv_len
    finally:
        for h in handles:
            h.remove()
    return records


def _kv_elements(cache: Any, kv_len: int) -> list[int]:
    """Elements of K and V stored per token per layer, read from the cache after a step."""
    out: list[int] = []
    for layer in getattr(cache, "layers", []):
        keys = getattr(layer, "keys", None)
        values = getattr(layer, "values", None)
        elems = 0
        for t in (keys, values):
            if t is not None and t.dim() >= 2 and t.shape[-2] > 0:
                elems += t.numel() // t.shape[-2]
        out.append(int(elems))
    return out
