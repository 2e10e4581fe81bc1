"""Outlier input channels of linear ops, from weight statistics or calibration activation scales.

A linear op y = x W has a K x N weight (K input channels = the reduction dimension). Following
LLM.int8() (Dettmers et al. 2022, arXiv:2208.07339, mixed-precision decomposition along the hidden
*feature* dimension) and AWQ (Lin et al. 2024, arXiv:2306.00978, salient channels picked by
activation magnitude), outliers are whole input channels: the top ``rows`` channels ranked by

- calibration: the per-input-channel activation absmax max_t |x_t,k| (SmoothQuant's ``act_scales``,
  Xiao et al. 2023, arXiv:2211.10438 -- ``get_act_scales`` keeps a dict module name -> 1-D float
  tensor of length K), or, without calibration data,
- weights: per-input-channel max_n |W_k,n| (``max_abs``) or sqrt(sum_n W_k,n^2) (``l2``).

Weights are streamed tensor by tensor, in row chunks (:mod:`llmimc.compress.st_reader`). Weight
names follow Hugging Face: ``<module path>.weight``; ``nn.Linear`` stores (N, K) ("out_in"), GPT-2's
``Conv1D`` stores (K, N) ("in_out"). MoE experts may be one 3-D tensor (E, ., .) or one tensor per
expert (``...experts.<e>.<proj>.weight``); their statistics are combined over experts so that one
channel set serves every expert copy of the op.

Calibration file formats (:func:`load_calibration`):
- JSON: ``{"format": "llmimc-act-absmax/1", "source": "<how it was measured>",
  "act_absmax": {"<op name or module path>": [K floats], ...}}``
- safetensors: one 1-D tensor of length K per op, keyed by op name / module path (SmoothQuant's
  ``act_scales`` dict saved with ``safetensors.torch.save_file``).
"""

from __future__ import annotations

import json
import math
import pathlib
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from llmimc.compress.st_reader import TensorEntry, iter_rows, read_all, read_header
from llmimc.errors import PolicyError
from llmimc.model.opgraph import Op, OpGraph

CALIBRATION_FORMAT = "llmimc-act-absmax/1"
DEFAULT_CHUNK_BYTES = 16 * 2**20  # float32 working set per chunk
CONV1D_MODEL_TYPES = frozenset({"gpt2"})  # transformers' Conv1D (weight stored in x out)
_EMBED_SUFFIXES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "embed_in.weight")

Layout = Literal["out_in", "in_out"]


@dataclass(frozen=True)
class WeightMatrix:
    """One K x N expert copy of an op's weight inside a safetensors tensor."""

    entry: TensorEntry
    layout: Layout  # "out_in": rows are output channels (nn.Linear); "in_out": rows are inputs (Conv1D)
    row_start: int  # first row of this copy in the tensor's 2-D view
    row_stop: int


@dataclass(frozen=True)
class OpWeights:
    op_name: str
    matrices: tuple[WeightMatrix, ...]
    note: str = ""  # e.g. "tied to embedding model.embed_tokens.weight"


def _candidates(path: str) -> list[str]:
    """``a.b.c`` -> names to try: with and without ``.weight``, and without one base-model prefix."""
    parts = path.split(".")
    stems = [path] + ([".".join(parts[1:])] if len(parts) > 1 else [])
    return [c for stem in stems for c in (f"{stem}.weight", stem)]


def _strip_one_index(name: str) -> list[str]:
    """Names obtained by deleting one numeric path segment (``experts.3.w1`` -> ``experts.w1``)."""
    parts = name.split(".")
    return [".".join(parts[:i] + parts[i + 1 :]) for i, p in enumerate(parts) if p.isdigit()]


# Fused expert parameters (transformers 5 modules: ``mlp.experts.gate_up_proj`` (E, 2I, H) and
# ``mlp.experts.down_proj`` (E, H, I)) versus per-expert checkpoint tensors, after transformers'
# conversion_mapping.py: Mixtral ``block_sparse_moe.experts.<e>.w1/w3`` (gate/up) and ``w2`` (down);
# Qwen2-MoE family ``mlp.experts.<e>.gate_proj/up_proj/down_proj``.
_EXPERT_PARTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "gate_up_proj": (("w1", "w3"), ("gate_proj", "up_proj")),
    "down_proj": (("w2",), ("down_proj",)),
}
_MODULE_ALIASES = ((".mlp.", ".block_sparse_moe."),)  # Mixtral checkpoints: experts and router gate


def _aliases(name: str) -> list[str]:
    return [name] + [name.replace(a, b) for a, b in _MODULE_ALIASES if a in name]


def _per_expert_parts(op: Op, index: dict[str, TensorEntry]) -> list[TensorEntry]:
    """Checkpoint tensors of a fused expert op, expert-major then part order; [] if not all present."""
    module, _, leaf = op.name.rpartition(".")
    for mod in _aliases(module):
        for parts in _EXPERT_PARTS.get(leaf, ()):
            names = [f"{mod}.{e}.{part}.weight" for e in range(op.num_experts) for part in parts]
            if all(nm in index for nm in names):
                return [index[nm] for nm in names]
    return []


def _find_tensors(
    op: Op, index: dict[str, TensorEntry], expert_index: dict[str, list[str]]
) -> list[TensorEntry]:
    names = _aliases(op.name) + _aliases(op.module_path)
    for cand in [c for name in names for c in _candidates(name)]:
        if cand in index:
            return [index[cand]]
        if op.num_experts > 1 and cand in expert_index:
            return sorted((index[t] for t in expert_index[cand]), key=lambda e: _natural_key(e.name))
    if op.num_experts > 1:
        parts = _per_expert_parts(op, index)
        if parts:
            return parts
    suffix = f".{op.name}.weight"
    hits = [e for name, e in index.items() if name.endswith(suffix)]
    return hits if len(hits) == 1 else []


def _out_dim(shape: tuple[int, ...], k: int, conv1d: bool) -> tuple[Layout, int] | None:
    """Layout and output width of a 2-D (per-copy) weight shape whose input width is K."""
    a, b = shape
    if b == k and (a != k or not conv1d):
        return "out_in", a
    if a == k:
        return "in_out", b
    return None


def locate_weights(graph: OpGraph, index: dict[str, TensorEntry]) -> tuple[dict[str, OpWeights], list[str]]:
    """Map every linear op to its weight tensor(s); returns (found, problems) -- nothing dropped silently."""
    conv1d = graph.info.model_type in CONV1D_MODEL_TYPES
    expert_index: dict[str, list[str]] = {}
    for name in index:
        for stripped in _strip_one_index(name):
            expert_index.setdefault(stripped, []).append(name)
    found: dict[str, OpWeights] = {}
    problems: list[str] = []
    for op in graph.linear_ops():
        k, n = op.in_features, op.out_features
        tensors = _find_tensors(op, index, expert_index)
        note = ""
        if not tensors and op.layer is None and graph.info.tie_word_embeddings:
            tied = [e for name, e in index.items() if name.endswith(_EMBED_SUFFIXES)]
            if len(tied) == 1:
                tensors, note = tied, f"tied to embedding {tied[0].name}"
        if not tensors:
            problems.append(f"{op.name}: no tensor named {op.name}.weight")
            continue
        mats: list[WeightMatrix] = []
        out_total = 0
        for t in tensors:
            lay = _out_dim(t.shape[-2:], k, conv1d) if len(t.shape) >= 2 and t.is_float else None
            if lay is None:
                problems.append(
                    f"{op.name}: tensor {t.name} {t.dtype}{list(t.shape)} is not a float weight with K={k}"
                )
                mats = []
                break
            copies = math.prod(t.shape[:-2]) if len(t.shape) > 2 else 1
            rows = t.shape[-2]
            mats += [WeightMatrix(t, lay[0], c * rows, (c + 1) * rows) for c in range(copies)]
            out_total += lay[1] * copies
        if not mats:
            continue
        if out_total != n * op.num_experts:
            problems.append(
                f"{op.name}: weights found hold {out_total} output channels, the graph says "
                f"{op.num_experts} x {n}"
            )
            continue
        found[op.name] = OpWeights(op.name, tuple(mats), note)
    return found, problems


def _natural_key(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def channel_stats(
    weights: OpWeights, k: int, metric: Literal["max_abs", "l2"], chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> np.ndarray:
    """Per-input-channel statistic (length K) over every expert copy, streamed in row chunks."""
    max_abs = np.zeros(k, dtype=np.float64)
    sum_sq = np.zeros(k, dtype=np.float64)
    for mat in weights.matrices:
        r = mat.row_start
        for chunk in iter_rows(mat.entry, chunk_bytes, mat.row_start, mat.row_stop):
            if mat.layout == "out_in":  # chunk: (rows of N, K)
                np.maximum(max_abs, np.abs(chunk).max(axis=0), out=max_abs)
                sum_sq += np.einsum("ij,ij->j", chunk, chunk, dtype=np.float64)
            else:  # chunk: (rows of K, N)
                sl = slice(r - mat.row_start, r - mat.row_start + chunk.shape[0])
                np.maximum(max_abs[sl], np.abs(chunk).max(axis=1), out=max_abs[sl])
                sum_sq[sl] += np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64)
            r += chunk.shape[0]
    return max_abs if metric == "max_abs" else np.sqrt(sum_sq)


def top_channels(score: np.ndarray, rows: int) -> list[int]:
    """Indices of the ``rows`` largest scores (ties broken by lower index), ascending."""
    if rows <= 0:
        return []
    order = np.argsort(-score, kind="stable")[:rows]
    return sorted(int(i) for i in order)


def load_calibration(path: pathlib.Path, graph: OpGraph) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-op activation absmax vectors keyed by op name; (stats, notes about unmatched keys)."""
    if not path.is_file():
        raise PolicyError(f"calibration file not found: {path}")
    raw: dict[str, np.ndarray] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
        except UnicodeDecodeError:
            raise PolicyError(f"{path}: calibration JSON is not UTF-8 text") from None
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise PolicyError(f"{path}: field 'format' must be \"{CALIBRATION_FORMAT}\"")
        table = data.get("act_absmax")
        if not isinstance(table, dict):
            raise PolicyError(f"{path}: field 'act_absmax' must map op names to lists of per-channel floats")
        for key, vec in table.items():
            try:
                raw[key] = np.asarray(vec, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise PolicyError(f"{path}: field 'act_absmax.{key}' is not a list of numbers") from None
    elif path.suffix.lower() == ".safetensors":
        for key, entry in read_header(path).items():
            raw[key] = read_all(entry).astype(np.float64).reshape(-1)
    else:
        raise PolicyError(f"{path}: calibration file must be .json ({CALIBRATION_FORMAT}) or .safetensors")
    linear = {op.name: op for op in graph.linear_ops()}
    by_path = {op.module_path: op.name for op in linear.values() if op.module_path}
    stats: dict[str, np.ndarray] = {}
    unmatched: list[str] = []
    for key, vec in raw.items():
        name = key if key in linear else by_path.get(key) or _suffix_match(key, linear)
        if name is None:
            unmatched.append(key)
            continue
        k = linear[name].in_features
        if vec.size != k:
            raise PolicyError(f"{path}: '{key}' has {vec.size} channels, op {name} has in_features={k}")
        if not np.all(np.isfinite(vec)) or np.any(vec < 0):
            raise PolicyError(f"{path}: '{key}' must hold finite, non-negative absmax values")
        stats[name] = vec
    notes = []
    if unmatched:
        notes.append(f"calibration keys matching no linear op ({len(unmatched)}): {', '.join(unmatched[:5])}")
    return stats, notes


def _suffix_match(key: str, linear: dict[str, Op]) -> str | None:
    """Match keys that differ by a leading prefix (``model.`` / ``transformer.``) from an op name."""
    hits = [n for n in linear if n.endswith("." + key) or key.endswith("." + n)]
    return hits[0] if len(hits) == 1 else None
