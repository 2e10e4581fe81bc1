"""Registry of the published config.json files bundled with llmimc (offline use).

`llmimc/model/configs/index.json` lists, per model: the Hugging Face id, short aliases, the config
file, the URL it was published at, and HF's parameter count (``model.num_parameters()``) with the
source of that number. The config files themselves are the models' published ``config.json`` facts.
No torch import here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from llmimc.errors import ModelResolutionError

_PACKAGE = "llmimc.model.configs"
_INDEX = "index.json"


@dataclass(frozen=True)
class BundledModel:
    """One bundled model: its HF id, aliases and published facts."""

    id: str  # Hugging Face id, e.g. "meta-llama/Llama-2-7b-hf"
    aliases: tuple[str, ...]  # short names, e.g. ("llama-2-7b", "llama2-7b")
    architecture: str  # e.g. "LlamaForCausalLM"
    model_type: str
    num_params: int | None  # HF model.num_parameters() (tied weights once), from the index
    config_file: str  # file name inside llmimc/model/configs
    config_source: str  # URL of the published config.json
    num_params_source: str


def _read_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _index() -> list[dict[str, Any]]:
    data = json.loads(_read_text(_INDEX))
    return list(data["models"])


def list_bundled_models() -> list[BundledModel]:
    """All bundled models, in index order."""
    out: list[BundledModel] = []
    for entry in _index():
        cfg = json.loads(_read_text(entry["file"]))
        archs = cfg.get("architectures") or [""]
        out.append(
            BundledModel(
                id=entry["id"],
                aliases=tuple(entry.get("aliases", [])),
                architecture=archs[0],
                model_type=str(cfg.get("model_type", "")),
                num_params=entry.get("hf_num_params"),
                config_file=entry["file"],
                config_source=entry["config_source"],
                num_params_source=entry.get("num_params_source", ""),
            )
        )
    return out


def find_bundled(model_ref: str) -> BundledModel | None:
    """The bundled model whose id or alias equals `model_ref` (case-insensitive), if any."""
    key = model_ref.strip().lower()
    for m in list_bundled_models():
        names = {m.id.lower(), m.id.split("/")[-1].lower(), *(a.lower() for a in m.aliases)}
        if key in names:
            return m
    return None


def bundled_names() -> list[str]:
    """Every id and alias a user may type (for close-match suggestions)."""
    names: list[str] = []
    for m in list_bundled_models():
        names.append(m.id)
        names.extend(m.aliases)
    return names


def load_bundled_config(model: BundledModel) -> dict[str, Any]:
    """The bundled config.json of `model` as a dict."""
    try:
        return json.loads(_read_text(model.config_file))
    except (OSError, json.JSONDecodeError) as e:  # a packaging defect, still reported on one line
        raise ModelResolutionError(
            f"bundled config {model.config_file} for {model.id} is unreadable: {e}"
        ) from None
