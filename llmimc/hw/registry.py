"""Registry of built-in hardware specs shipped as package data (``llmimc.hw_specs``, repo ``hw_specs/``).

A built-in spec is the file ``<name>.yaml``; its ``name`` field equals the file stem. ``load_spec``
takes either such a name or a path to a YAML/JSON file.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from llmimc._base import Frozen
from llmimc.errors import SpecError
from llmimc.hw.loader import SpecT, load_spec_file

DEFAULT_IMC_SPEC = "rram-chiplet"
DEFAULT_BASELINE = "h100"

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


class BuiltinSpec(Frozen):
    """One built-in spec: its name (file stem), kind, description and file path."""

    name: str
    kind: str
    description: str
    path: Path


def builtin_specs_dir() -> Path:
    """Folder holding the built-in spec files (installed package data, else the repo's hw_specs/)."""
    try:
        folder = Path(str(importlib.resources.files("llmimc.hw_specs")))
        if folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "hw_specs"


def _builtin_files() -> dict[str, Path]:
    folder = builtin_specs_dir()
    files = sorted(p for p in folder.iterdir() if p.suffix in _SPEC_SUFFIXES) if folder.is_dir() else []
    return {p.stem: p for p in files}


def builtin_spec_names() -> list[str]:
    return sorted(_builtin_files())


def list_builtin_specs() -> list[BuiltinSpec]:
    """Every built-in spec, loaded and validated (a broken built-in raises SpecError)."""
    out = []
    for name, path in sorted(_builtin_files().items()):
        spec = load_spec_file(path)
        out.append(BuiltinSpec(name=name, kind=spec.kind, description=spec.description, path=path))
    return out


def _looks_like_path(ref: str) -> bool:
    return ref.lower().endswith(_SPEC_SUFFIXES) or "/" in ref or "\\" in ref or Path(ref).exists()


def load_spec(ref: str | Path) -> SpecT:
    """A built-in spec by name (``"rram-chiplet"``, ``"h100"``, ...) or a spec file by path."""
    if isinstance(ref, Path):
        return load_spec_file(ref)
    files = _builtin_files()
    if ref in files and not Path(ref).exists():
        return load_spec_file(files[ref])
    if _looks_like_path(ref):
        return load_spec_file(ref)
    raise SpecError(
        f"unknown hardware spec {ref!r}: not a file and not a built-in ({', '.join(sorted(files))}); "
        "give a path to a .yaml/.json spec or run `llmimc hw list`"
    )
