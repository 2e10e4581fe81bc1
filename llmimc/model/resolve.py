"""Resolve a model reference to a config dict, the way transformers looks for config.json.

Order: a local folder (or a config.json path) → the Hugging Face hub cache (``HF_HUB_CACHE`` /
``HF_HOME`` honoured) → a config bundled with llmimc (id or short alias) → a download of
config.json from the hub, only for ``owner/name`` ids and only when ``HF_HUB_OFFLINE`` is not set.
Unknown references raise `ModelResolutionError` with close matches (difflib). No torch import, and
huggingface_hub's download machinery is imported only when the hub cache holds a folder for the id.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmimc.errors import ModelResolutionError
from llmimc.model.bundled import BundledModel, bundled_names, find_bundled, load_bundled_config


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's config came from, and the config itself (plain JSON dict)."""

    model_id: str  # canonical: HF id for bundled/hub models, the folder path for local ones
    source: str  # "bundled", "local:<path>", "hub-cache:<path>" or "hub:<path>"
    config: dict[str, Any]
    bundled: BundledModel | None = None  # the bundled entry when source == "bundled"


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


# Size fields of transformers configs (several names per quantity across architectures): each must
# be a whole number >= 1 where present (None is allowed: "use the default"), below a bound far above
# any published model (hidden 2^20, 10,000 layers, 2^24 vocabulary, 2^27 positions).
_SIZE_FIELDS: dict[str, int] = {
    "hidden_size": 2**20, "n_embd": 2**20, "d_model": 2**20, "dim": 2**20,
    "intermediate_size": 2**22, "n_inner": 2**22, "ffn_dim": 2**22, "moe_intermediate_size": 2**22,
    "num_attention_heads": 2**14, "n_head": 2**14, "num_heads": 2**14, "num_key_value_heads": 2**14,
    "head_dim": 2**16,
    "num_hidden_layers": 10_000, "n_layer": 10_000, "num_layers": 10_000,
    "vocab_size": 2**24,
    "max_position_embeddings": 2**27, "n_positions": 2**27, "n_ctx": 2**27,
    "num_local_experts": 2**16, "num_experts": 2**16, "num_experts_per_tok": 2**16,
}  # fmt: skip


def _non_finite(data: object, path: str) -> str | None:
    """Dotted path of the first NaN in parsed JSON, else None (Infinity is legitimate: time limits)."""
    if isinstance(data, float) and math.isnan(data):
        return path or "(top level)"
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        found = _non_finite(v, f"{path}.{k}" if path else str(k))
        if found is not None:
            return found
    return None


def check_config_numbers(data: dict[str, Any], where: str) -> None:
    """Refuse NaN anywhere, and size fields that are not whole numbers in 1..bound (or lists of them).

    Runs before transformers sees the config, so these errors name the field and the fix instead of
    surfacing as a ZeroDivisionError or a huggingface_hub validation traceback. Nested configs
    (``text_config`` of vision-language models) are checked the same way.
    """
    bad = _non_finite(data, "")
    if bad is not None:
        raise ModelResolutionError(f"{where}: {bad} is NaN; config.json needs numbers there")
    _check_sizes(data, where, "")


def _whole_in(value: object, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high


def _check_sizes(data: dict[str, Any], where: str, prefix: str) -> None:
    for key, high in _SIZE_FIELDS.items():
        value = data.get(key)
        values = value if isinstance(value, list) else [value]  # per-layer lists (Gemma 3n)
        bad = next((v for v in values if v is not None and not _whole_in(v, high)), None)
        if bad is not None or (isinstance(value, list) and not value):
            raise ModelResolutionError(
                f"{where}: {prefix}{key} = {bad!r} must be a whole number in 1..{high:,}; fix config.json"
            )
    for key, sub in data.items():
        if isinstance(sub, dict) and key.endswith("_config"):
            _check_sizes(sub, where, f"{prefix}{key}.")


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a config.json, naming the file and position on error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ModelResolutionError(
            f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); config.json must be UTF-8 JSON"
        ) from None
    except OSError as e:
        raise ModelResolutionError(f"{path}: cannot read config.json ({e.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelResolutionError(
            f"{path}: malformed config.json (line {e.lineno}, column {e.colno}: {e.msg}); fix the JSON"
        ) from None
    except RecursionError:
        raise ModelResolutionError(f"{path}: config.json is nested too deeply to be a model config") from None
    if not isinstance(data, dict):
        raise ModelResolutionError(f"{path}: config.json must hold a JSON object, got {type(data).__name__}")
    if "model_type" not in data:
        raise ModelResolutionError(
            f"{path}: config.json has no 'model_type'; it is not a transformers model config"
        )
    check_config_numbers(data, str(path))
    return data


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or (os.sep in ref and Path(ref).expanduser().exists())


def _from_local(ref: str) -> ResolvedModel | None:
    path = Path(ref).expanduser()
    if path.is_file() and path.name.endswith(".json"):
        return ResolvedModel(model_id=str(path.parent), source=f"local:{path}", config=read_config_file(path))
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise ModelResolutionError(
                f"{path}: folder has no config.json; point to a Hugging Face model folder"
            )
        return ResolvedModel(model_id=str(path), source=f"local:{cfg}", config=read_config_file(cfg))
    if path.is_file():
        raise ModelResolutionError(
            f"{ref}: is a file, not a model folder; give a folder with config.json (or a config .json file)"
        )
    if _looks_like_path(ref):
        raise ModelResolutionError(f"{ref}: no such folder; give a folder with config.json")
    return None


def _from_hub_cache(ref: str) -> ResolvedModel | None:
    if "/" not in ref or ref.count("/") != 1:
        return None
    try:
        from huggingface_hub import constants  # light: no HTTP stack
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return None
    # huggingface_hub's cache layout: <HF_HUB_CACHE>/models--<owner>--<name>; no folder, no cached config
    if not (Path(constants.HF_HUB_CACHE) / ("models--" + ref.replace("/", "--"))).is_dir():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return None
    try:
        found = try_to_load_from_cache(ref, "config.json")
    except (ValueError, OSError):
        return None
    if isinstance(found, str) and Path(found).is_file():
        return ResolvedModel(model_id=ref, source=f"hub-cache:{found}", config=read_config_file(Path(found)))
    return None


def _from_hub(ref: str) -> ResolvedModel | None:
    if _offline() or ref.count("/") != 1:
        return None
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover
        return None
    try:
        path = hf_hub_download(ref, "config.json")
    except Exception:  # noqa: BLE001 - any hub failure means "not found"; reported below on one line
        return None
    return ResolvedModel(model_id=ref, source=f"hub:{path}", config=read_config_file(Path(path)))


def resolve_model(model_ref: str) -> ResolvedModel:
    """Find the config of `model_ref` (see module docstring)."""
    ref = model_ref.strip()
    if not ref:
        raise ModelResolutionError("empty model name; try `llmimc models` for the bundled ones")
    local = _from_local(ref)
    if local is not None:
        return local
    cached = _from_hub_cache(ref)
    if cached is not None:
        return cached
    bundled = find_bundled(ref)
    if bundled is not None:
        return ResolvedModel(
            model_id=bundled.id, source="bundled", config=load_bundled_config(bundled), bundled=bundled
        )
    hub = _from_hub(ref)
    if hub is not None:
        return hub
    names = bundled_names()
    lower = {n.lower(): n for n in names}
    close = [lower[c] for c in difflib.get_close_matches(ref.lower(), list(lower), n=3, cutoff=0.5)]
    hint = f"did you mean {', '.join(close)}? " if close else ""
    where = "offline (HF_HUB_OFFLINE set)" if _offline() else "locally or on the hub"
    raise ModelResolutionError(
        f"unknown model {ref!r}: not a folder with config.json, not in the Hugging Face cache, not bundled, "
        f"not found {where}; {hint}run `llmimc models` to list bundled models"
    )
