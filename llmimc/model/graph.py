"""Build an OpGraph from a transformers config by tracing the real model on the meta device.

Steps (DESIGN.md §2):
1. check that the config is a decoder-only causal LM that transformers can build (no remote code);
2. build the full model on ``torch.device("meta")`` (no weights) to read HF's parameter count and
   the structure of every decoder layer;
3. if all decoder layers are structurally identical, build a 2-layer copy of the config and trace
   that (both traced layers must give identical ops, then layer 0 is replicated to every layer);
   otherwise trace the full model;
4. trace one shared-KV-cache sequence of forward steps (a prefill, chunked steps and decode steps;
   eager attention; MoE experts through the ``batched_mm`` path, which processes exactly T*top_k
   token-expert pairs, so the per-expert load is the expectation top_k / num_experts);
5. fit every op's FLOPs and bytes to an exact Poly in (T, L) (`llmimc.model.fit`).

Logits are computed for the last token of a step only (``logits_to_keep=1``), as inference servers
do; lm_head therefore costs a constant per step (Poly c0), not one vector per prompt token.
For tied embeddings (GPT-2) the lm_head op shares the embedding matrix: `OpGraph.weight_params()`
counts it twice, `num_params` (HF's count) once; `ModelInfo.tie_word_embeddings` says so.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmimc import __version__
from llmimc.errors import ModelResolutionError
from llmimc.model.fit import FitError, check_points, fit_poly
from llmimc.model.opgraph import ModelInfo, Op, OpGraph, OpKind, Poly
from llmimc.model.trace import ModelStatic, OpEvent, TraceRecord, layer_of, model_static, trace_steps

if TYPE_CHECKING:  # pragma: no cover
    import transformers

# New tokens per consecutive traced step (one shared KV cache): L = 3, 5, 6, 10, 11, 13.
TRACE_TOKEN_STEPS: tuple[int, ...] = (3, 2, 1, 4, 1, 2)
TRACE_LAYERS = 2  # decoder layers traced when all layers are structurally identical

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "float8_e4m3fn": 1, "int8": 1}

# transformers cache-layer types (cache_utils.DYNAMIC_LAYER_TYPE_MAPPING) that hold a fixed-size
# recurrent state (Mamba / linear attention / short convolution) instead of a per-token KV cache.
_RECURRENT_CACHE_TYPES = frozenset({"linear_attention", "conv", "hybrid", "hybrid_sliding"})
# Recurrent LMs whose configs declare no cache-layer types.
_RECURRENT_MODEL_TYPES = frozenset({"rwkv", "xlstm", "mamba", "mamba2", "falcon_mamba"})
# Cache-layer types whose attention and KV are bounded by a window (kwarg "sliding_window").
_WINDOWED_CACHE_TYPES = frozenset(
    {"sliding_attention", "chunked_attention", "hybrid_sliding", "reference_sliding_attention"}
)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' config warnings and weight-loading progress bars while building,
    restoring both afterwards."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def text_decoder_config(config: transformers.PretrainedConfig) -> transformers.PretrainedConfig:
    """The text decoder's config of a composite (vision-language) config, else `config` itself.

    Gemma 3, Llama 4, Qwen3.5 checkpoints publish a composite config whose text part is a causal LM
    of its own (``gemma3_text``...): llmimc traces that part only (the vision tower is not modelled).
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        text = config.get_text_config(decoder=True)
    except (ValueError, AttributeError):
        return config
    if text is config or getattr(text, "model_type", None) not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return config
    return text


def cache_layer_types(config: transformers.PretrainedConfig) -> list[tuple[str, int | None]]:
    """Per decoder layer: transformers' cache-layer type and its attention window (None = full)."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    try:
        types, kwargs = get_layer_types_and_kwargs(config)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        return []
    out: list[tuple[str, int | None]] = []
    for layer_type, kw in zip(types, kwargs, strict=False):
        window = kw.get("sliding_window") if layer_type in _WINDOWED_CACHE_TYPES else None
        out.append((str(layer_type), int(window) if window else None))
    return out


def check_kv_attention(config: transformers.PretrainedConfig, model_id: str) -> None:
    """Raise ModelResolutionError for recurrent / state-space layers (no per-token KV cache)."""
    model_type = str(getattr(config, "model_type", "") or "")
    recurrent = sorted({t for t, _ in cache_layer_types(config) if t in _RECURRENT_CACHE_TYPES})
    if recurrent or model_type in _RECURRENT_MODEL_TYPES:
        what = f"layer types {recurrent}" if recurrent else f"model_type={model_type!r}"
        raise ModelResolutionError(
            f"{model_id}: unsupported architecture ({what}): recurrent / state-space (Mamba, linear "
            f"attention, convolution) layers keep a fixed-size state, not a per-token KV cache; "
            f"llmimc models softmax-attention decoders only"
        )


def check_causal_lm(config: transformers.PretrainedConfig, model_id: str) -> None:
    """Raise ModelResolutionError unless `config` describes a decoder-only causal LM."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", "") or ""
    archs = list(getattr(config, "architectures", None) or [])
    what = f"{model_id} (model_type={model_type!r}, architectures={archs})"
    if getattr(config, "is_encoder_decoder", False):
        raise ModelResolutionError(
            f"{what} is an encoder-decoder model; llmimc supports decoder-only causal LMs"
        )
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelResolutionError(
            f"{what} is not a causal-LM architecture known to transformers "
            f"(encoder-only or unsupported); use a decoder-only model such as gpt2 or llama-2-7b"
        )
    causal_names = ("ForCausalLM", "LMHeadModel")
    if archs and not any(a.endswith(causal_names) for a in archs):
        raise ModelResolutionError(
            f"{what} is not a causal LM (architectures do not end in ForCausalLM/LMHeadModel; "
            f"encoder-only models are not supported)"
        )
    if (
        not archs
        and model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_decoder", False)
    ):
        raise ModelResolutionError(
            f"{what} is an encoder-only model; llmimc supports decoder-only causal LMs"
        )


def _dtype_name(config: Any) -> str:
    dt = getattr(config, "dtype", None)
    if dt is None:
        return "float32"
    name = str(dt).replace("torch.", "")
    return name if name in _DTYPE_BYTES else "float32"


def _build_meta(config: Any, dtype_name: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(
            config,
            attn_implementation="eager",
            experts_implementation="batched_mm",
            dtype=getattr(torch, dtype_name),
        )
    model.eval()
    return model


def _per_layer_config(config: Any, num_layers: int) -> tuple[list[str], list[str]]:
    """Per-layer config entries (lists of length num_layers, e.g. layer_types) and their names."""
    names = sorted(
        k
        for k, v in vars(config).items()
        if isinstance(v, (list, tuple)) and len(v) == num_layers and num_layers > 1
    )
    per_layer = [",".join(f"{k}={getattr(config, k)[i]}" for k in names) for i in range(num_layers)]
    return per_layer, names


def _truncated_config(config: Any, layers: int, list_names: list[str]) -> Any:
    small = copy.deepcopy(config)
    small.num_hidden_layers = layers
    for k in list_names:
        setattr(small, k, list(getattr(config, k))[:layers])
    return small


def _supports_logits_to_keep(model: Any) -> bool:
    import inspect

    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _ops_from_records(
    records: list[TraceRecord], static: ModelStatic, layers_prefix: str, model_id: str
) -> list[Op]:
    """Fit each attributed op group over the trace points into an Op (layer indices as traced)."""
    points = [(r.tokens, r.kv_len) for r in records]
    check_points(points)
    order: list[str] = []
    first: dict[str, OpEvent] = {}
    for r in records:
        for key, ev in r.events.items():
            if key not in first:
                first[key] = ev
                order.append(key)
    routing = {m for r in records for m in r.routing_modules}
    ops: list[Op] = []
    for key in order:
        ev = first[key]
        kinds = {r.events[key].kind for r in records if key in r.events}
        if len(kinds) != 1:
            raise ModelResolutionError(
                f"{model_id}: op {key} changes kind between trace steps ({sorted(kinds)})"
            )

        def series(attr: str, key: str = key) -> list[float]:
            return [getattr(r.events[key], attr) if key in r.events else 0.0 for r in records]

        flops = fit_poly(points, series("flops"), f"{model_id} {key} FLOPs")
        b_read = fit_poly(points, series("bytes_read"), f"{model_id} {key} bytes read")
        b_written = fit_poly(points, series("bytes_written"), f"{model_id} {key} bytes written")
        kind = ev.kind
        if ev.module_path in routing and kind not in (OpKind.LINEAR, OpKind.EMBEDDING):
            kind = OpKind.MOE_ROUTER
        fields: dict[str, Any] = {}
        if kind == OpKind.LINEAR:
            fields = _linear_fields(ev, flops, static)
        elif kind == OpKind.EMBEDDING:
            fields = {
                "in_features": ev.in_features,
                "out_features": ev.out_features,
                "weight_params": ev.weight_params,
            }
        aten = sorted({a for r in records if key in r.events for a in r.events[key].aten})
        ops.append(
            Op(
                name=key,
                module_path=ev.module_path,
                layer=layer_of(ev.module_path, layers_prefix),
                kind=kind,
                aten=",".join(aten),
                flops=flops,
                act_bytes_read=b_read,
                act_bytes_written=b_written,
                in_features=fields.get("in_features", 0),
                out_features=fields.get("out_features", 0),
                weight_params=fields.get("weight_params", 0),
                bias_params=fields.get("bias_params", 0),
                num_experts=fields.get("num_experts", 1),
                expert_load=fields.get("expert_load", 1.0),
            )
        )
    return ops


def _linear_fields(ev: OpEvent, flops: Poly, static: ModelStatic) -> dict[str, Any]:
    shape = static.param_shape[ev.weight_name]
    numel = static.param_numel[ev.weight_name]
    experts = int(shape[0]) if len(shape) == 3 else 1
    k = ev.in_features
    n = numel // (experts * k) if k else 0
    module, leaf = ev.weight_name.rsplit(".", 1) if "." in ev.weight_name else ("", ev.weight_name)
    bias_name = f"{module}.bias" if leaf == "weight" else f"{module}.{leaf}_bias"
    load = 1.0
    if experts > 1:
        # rows processed per token / experts: top_k / num_experts under the batched_mm routing
        if flops.c0 or flops.c_l or flops.c_tl or not (k and n):
            raise ModelResolutionError(f"{ev.key}: expert FLOPs are not proportional to tokens ({flops})")
        load = flops.c_t / (2.0 * k * n * experts)
    return {
        "in_features": k,
        "out_features": n,
        "weight_params": numel,
        "bias_params": static.param_numel.get(bias_name, 0),
        "num_experts": experts,
        "expert_load": load,
    }


def _relayer(path: str, prefix: str, old: str, new: str) -> str:
    """Replace the layer index `old` by `new` in a module path / op name under `prefix`."""
    head = f"{prefix}.{old}"
    if path == head or path.startswith(head + "."):
        return f"{prefix}.{new}" + path[len(head) :]
    return path


def _replicate_layers(ops: list[Op], prefix: str, num_layers: int, model_id: str) -> list[Op]:
    """Check traced layers 0 and 1 agree, then emit layer 0's ops for every real layer."""

    def with_layer(op: Op, old: str, new: str, layer: int | None) -> Op:
        return op.model_copy(
            update={
                "name": _relayer(op.name, prefix, old, new),
                "module_path": _relayer(op.module_path, prefix, old, new),
                "layer": layer,
            }
        )

    layer0 = [with_layer(op, "0", "{i}", None) for op in ops if op.layer == 0]
    layer1 = [with_layer(op, "1", "{i}", None) for op in ops if op.layer == 1]
    if layer0 != layer1:
        raise ModelResolutionError(
            f"{model_id}: traced decoder layers 0 and 1 differ although their parameters match; "
            f"cannot replicate layers"
        )
    first_layer_op = next(i for i, op in enumerate(ops) if op.layer is not None)
    out = list(ops[:first_layer_op])
    for i in range(num_layers):
        out.extend(with_layer(op, "{i}", str(i), i) for op in layer0)
    out.extend(op for op in ops[first_layer_op:] if op.layer is None)
    return out


def _model_info(config: Any, model_id: str, source: str, dtype_name: str) -> ModelInfo:
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    inter = (
        getattr(config, "intermediate_size", None)
        or getattr(config, "n_inner", None)
        or getattr(config, "ffn_dim", None)
        or 4 * hidden
    )
    window = getattr(config, "sliding_window", None)
    if getattr(config, "use_sliding_window", True) is False:
        window = None
    experts = int(getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None) or 1)
    windows = [w for _, w in cache_layer_types(config)]
    return ModelInfo(
        model_id=model_id,
        source=source,
        architecture="",  # set from the built model (`_architecture`)
        model_type=str(config.model_type),
        num_layers=int(config.num_hidden_layers),
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=int(inter),
        vocab_size=int(config.vocab_size),
        max_position_embeddings=int(getattr(config, "max_position_embeddings", 0) or 0),
        sliding_window=int(window) if window else None,
        attention_window_per_layer=windows if any(w is not None for w in windows) else [],
        num_experts=experts,
        experts_per_token=int(getattr(config, "num_experts_per_tok", None) or 1) if experts > 1 else 1,
        tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
        dtype=dtype_name,
        dtype_bytes=_DTYPE_BYTES[dtype_name],
    )


def _architecture(outer: Any, composite: bool, built_class: str) -> str:
    """The HF class name: published `architectures[0]`, else the class transformers built."""
    archs = list(getattr(outer, "architectures", None) or [])
    if not composite:
        return str(archs[0]) if archs else built_class
    return f"{built_class} (text decoder of {archs[0] if archs else type(outer).__name__})"


def _widen_windows_for_trace(config: Any, max_kv: int) -> None:
    """Let windowed attention see every traced position (the Polys are full-attention costs; the real
    windows are recorded in ModelInfo.attention_window_per_layer). Only toy windows are affected."""
    for key in ("sliding_window", "attention_chunk_size"):
        window = getattr(config, key, None)
        if isinstance(window, int) and 0 < window <= max_kv:
            setattr(config, key, max_kv + 1)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def build_opgraph(
    config: transformers.PretrainedConfig, model_id: str, source: str, cfg_hash: str
) -> OpGraph:
    """Trace `config` (see module docstring) and return its OpGraph."""
    outer = config
    config = text_decoder_config(config)
    composite = config is not outer
    check_causal_lm(config, model_id)
    check_kv_attention(config, model_id)
    dtype_name = _dtype_name(config if getattr(config, "dtype", None) is not None else outer)
    try:
        info = _model_info(config, model_id, source, dtype_name)
    except (AttributeError, TypeError, ValueError) as e:
        raise ModelResolutionError(
            f"{model_id}: config lacks a decoder field llmimc needs: {_first_line(e)}"
        ) from None
    config = copy.deepcopy(config)
    num_layers = info.num_layers
    per_layer, list_names = _per_layer_config(config, num_layers)
    max_kv = sum(TRACE_TOKEN_STEPS)
    max_pos = info.max_position_embeddings
    if 0 < max_pos < max_kv:
        raise ModelResolutionError(
            f"{model_id}: max_position_embeddings={max_pos} is below the {max_kv} positions llmimc traces"
        )
    _widen_windows_for_trace(config, max_kv)
    with quiet_transformers():
        try:
            full = _build_meta(config, dtype_name)
        except (
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            NotImplementedError,
            AssertionError,
            RuntimeError,
            IndexError,
            ImportError,
            ZeroDivisionError,
            OverflowError,
        ) as e:
            raise ModelResolutionError(
                f"{model_id}: transformers cannot build this model: {_first_line(e)}"
            ) from None
        static = model_static(full, num_layers, per_layer)
        info = info.model_copy(update={"architecture": _architecture(outer, composite, type(full).__name__)})
        if not static.layers_prefix:
            raise ModelResolutionError(
                f"{model_id}: cannot find the {num_layers} decoder layers in the model"
            )
        replicate = num_layers > TRACE_LAYERS and len(set(static.layer_signatures)) == 1
        if replicate:
            del full
            traced_config = _truncated_config(config, TRACE_LAYERS, list_names)
            model = _build_meta(traced_config, dtype_name)
        else:
            traced_config, model = config, full
        keep = 1 if _supports_logits_to_keep(model) else None
        try:
            records = trace_steps(model, traced_config, list(TRACE_TOKEN_STEPS), keep)
        except (
            RuntimeError,
            NotImplementedError,
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            AttributeError,
            AssertionError,
        ) as e:
            raise ModelResolutionError(
                f"{model_id}: tracing on the meta device failed: {_first_line(e)}"
            ) from None
    kv = records[-1].kv_elements_per_token_per_layer
    if not any(kv):
        raise ModelResolutionError(
            f"{model_id}: unsupported architecture: its transformers implementation keeps no KV cache "
            f"(past_key_values stays empty), so decode steps cannot be modelled"
        )
    try:
        ops = _ops_from_records(records, static, static.layers_prefix, model_id)
    except FitError as e:
        raise ModelResolutionError(
            f"unsupported architecture: {e} (e.g. a recurrent state or a convolution over past tokens)"
        ) from None
    if replicate:
        ops = _replicate_layers(ops, static.layers_prefix, num_layers, model_id)
        kv = [kv[0]] * num_layers if kv else []
    return OpGraph(
        llmimc_version=__version__,
        config_hash=cfg_hash,
        info=info,
        num_params=static.num_params,
        kv_elements_per_token_per_layer=kv,
        ops=ops,
    )
