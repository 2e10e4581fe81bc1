"""Precision policies and N:M sparsity specs: what the compression stage is asked to do (DESIGN.md §4).

A :class:`PrecisionPolicy` says, for the crossbar (analog) path, how many bits weights, activations
and the KV cache get; what fraction of each linear op's input channels are *outliers* kept at
``outlier_bits`` on digital units (LLM.int8()-style mixed-precision decomposition); which ops get
N:M structured sparsity; and per-op-kind / per-layer overrides. Named presets live in
``llmimc/compress/presets/*.yaml``, each with a ``sources`` entry for every number. Preset defaults
come from:

- LLM.int8() -- Dettmers et al., NeurIPS 2022, arXiv:2208.07339: Int8 vector-wise quantization with
  outlier feature dimensions (|x| >= 6.0) in a 16-bit matmul, "more than 99.9% of values are
  multiplied in 8-bit" (abstract).
- SmoothQuant -- Xiao et al., ICML 2023, arXiv:2211.10438: W8A8 with INT8 BMM inputs; its
  per-input-channel activation absmax ("act_scales") is our calibration format.
- AWQ -- Lin et al., MLSys 2024, arXiv:2306.00978: 4-bit weights, protecting ~1% salient input
  channels chosen by activation magnitude.
- Atom -- Zhao et al., MLSys 2024, arXiv:2310.19102: W4A4 with 128 outlier channels at INT8
  (``--keeper 128`` in the authors' scripts) and a 4-bit KV cache.
- QuaRot -- Ashkboos et al., 2024, arXiv:2404.00456: W4A4KV4 after Hadamard rotations.
- KIVI -- Liu et al., ICML 2024, arXiv:2402.02750: 2-bit KV cache.

Roles used by overrides and sparsity targets are derived from the op's module path
(:func:`op_roles`): ``lm_head``, ``attn``, ``mlp``, ``expert``, ``router``, ``decoder`` (any op
inside a decoder layer) and ``other``.
"""

from __future__ import annotations

import fnmatch
import json
import pathlib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from llmimc._base import Frozen
from llmimc.compress.plan import DEFAULT_COLUMNS_PER_MASK, SparsityPattern, nm_index_bits
from llmimc.errors import PolicyError, one_line
from llmimc.model.opgraph import Op

DEFAULT_POLICY = "w8a8"
MAX_BITS = 16
MAX_SPARSITY_M = 64  # C(64, n) index metadata is already > 60 bits per group; larger M is not useful

ROLES = ("lm_head", "attn", "mlp", "expert", "router", "decoder", "other")
_ATTN_PARTS = ("attn", "attention")
_MLP_PARTS = ("mlp", "feed_forward", "ffn", "block_sparse_moe", "moe", "experts", "shared_expert")
_MLP_LEAVES = {
    "fc1", "fc2", "fc_in", "fc_out", "c_fc", "gate_proj", "up_proj", "down_proj", "gate_up_proj",
    "dense_h_to_4h", "dense_4h_to_h", "w1", "w2", "w3",
}  # fmt: skip
_ROUTER_LEAVES = {"gate", "router"}
_LM_HEAD_LEAVES = {"lm_head", "embed_out", "output"}


class SparsitySpec(Frozen):
    """N:M structured sparsity: keep ``n`` of every ``m`` consecutive weights along K.

    ``pattern`` (``llmimc.compress.plan``): ``channel`` = the standard per-output-channel pattern
    (text ``2:4``), ``array`` = one pattern shared by the columns of a crossbar array (``2:4:array``),
    evaluated by the SQNR proxy with one mask per ``columns_per_mask`` output channels.
    """

    n: int = Field(ge=1)
    m: int = Field(ge=1, le=MAX_SPARSITY_M)
    pattern: SparsityPattern = "channel"
    columns_per_mask: int = Field(default=DEFAULT_COLUMNS_PER_MASK, ge=1)

    @model_validator(mode="after")
    def _n_le_m(self) -> SparsitySpec:
        if self.n > self.m:
            raise ValueError(f"N:M sparsity needs N <= M, got {self.n}:{self.m}")
        return self

    @property
    def text(self) -> str:
        return f"{self.n}:{self.m}" + (":array" if self.pattern == "array" else "")

    @property
    def density(self) -> float:
        return self.n / self.m

    @property
    def metadata_bits_per_group(self) -> int:
        """ceil(log2(C(m, n))) index bits name which n of the m positions are kept."""
        return nm_index_bits(self.n, self.m)


class OpOverride(Frozen):
    """Settings for the linear ops that ``match`` (a role or an op-name glob) in ``layers``."""

    match: str = Field(min_length=1)  # a role from ROLES, or an fnmatch glob on Op.name
    layers: list[int] | None = None  # decoder layer indices; None = every layer (and non-layer ops)
    weight_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)
    act_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)
    outlier_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    outlier_bits: int | None = Field(default=None, ge=1, le=MAX_BITS)
    sparsity: bool | None = None  # force N:M on (True) or off (False) for the matched ops
    # "digital": the whole op runs on the digital units at its weight/activation bits (every input
    # channel on the outlier path, outlier_bits = weight_bits); written by `llmimc accuracy-search`
    placement: Literal["analog", "digital"] | None = None
    source: str = ""

    @model_validator(mode="after")
    def _sets_something(self) -> OpOverride:
        fields = (
            self.weight_bits, self.act_bits, self.outlier_fraction, self.outlier_bits, self.sparsity, self.placement
        )  # fmt: skip
        if all(v is None for v in fields):
            raise ValueError(f"override '{self.match}' sets nothing (give weight_bits, act_bits, ...)")
        return self

    def applies_to(self, op: Op) -> bool:
        if self.layers is not None and op.layer not in self.layers:
            return False
        return name_or_role_matches(self.match, op)


class PrecisionPolicy(Frozen):
    """Bits for the crossbar path, the digital outlier path and the KV cache, plus overrides."""

    schema_version: int = 1
    name: str = Field(min_length=1)
    description: str = ""
    accuracy: str = ""  # the measured accuracy cost of this policy, with its source
    weight_bits: int = Field(ge=1, le=MAX_BITS)
    act_bits: int = Field(ge=1, le=MAX_BITS)
    kv_bits: int = Field(ge=1, le=MAX_BITS)
    outlier_fraction: float = Field(default=0.0, ge=0.0, le=1.0)  # of each linear op's K input channels
    outlier_bits: int = Field(default=16, ge=1, le=MAX_BITS)  # digital path; 16 = fp16
    outlier_metric: Literal["max_abs", "l2"] = "max_abs"  # per-input-channel weight statistic
    sparsity: SparsitySpec | None = None  # default N:M (the caller's spec wins)
    sparsity_targets: list[str] = Field(default_factory=lambda: ["decoder", "!router"])
    overrides: list[OpOverride] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)  # field name -> citation

    @model_validator(mode="before")
    @classmethod
    def _parse_sparsity_text(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("sparsity"), str):
            data = dict(data)
            data["sparsity"] = _sparsity_dict(data["sparsity"])
        return data

    def unsourced_fields(self) -> list[str]:
        """Numeric fields set in this policy without a ``sources`` entry."""
        numeric = ["weight_bits", "act_bits", "kv_bits", "outlier_fraction", "outlier_bits"]
        return [f for f in numeric if not self.sources.get(f)]


@dataclass(frozen=True)
class OpSettings:
    """The policy resolved for one linear op (overrides applied in order, later ones win)."""

    weight_bits: int
    act_bits: int
    outlier_fraction: float
    outlier_bits: int
    sparse: bool  # N:M applies to this op (when a sparsity spec is in force)


def op_roles(op: Op) -> frozenset[str]:
    """Roles of an op derived from its module path (see module docstring)."""
    path = (op.module_path or op.name).lower()
    parts = path.split(".")
    leaf = parts[-1] if parts else ""
    roles: set[str] = set()
    if op.layer is not None:
        roles.add("decoder")
    if op.layer is None and (leaf in _LM_HEAD_LEAVES or "lm_head" in parts):
        roles.add("lm_head")
    if any(tok in p for p in parts for tok in _ATTN_PARTS):
        roles.add("attn")
    if any(p in _MLP_PARTS for p in parts) or leaf in _MLP_LEAVES:
        roles.add("mlp")
    if "experts" in parts or op.num_experts > 1:
        roles.add("expert")
    if leaf in _ROUTER_LEAVES and "mlp" in roles and "expert" not in roles:
        roles.add("router")
    if not roles - {"decoder"}:
        roles.add("other")
    return frozenset(roles)


def name_or_role_matches(pattern: str, op: Op) -> bool:
    """A role name matches by role; anything else is an fnmatch glob on ``op.name``."""
    if pattern in ROLES:
        return pattern in op_roles(op)
    return fnmatch.fnmatchcase(op.name, pattern)


def targets_match(targets: list[str], op: Op) -> bool:
    """True if some target matches and no ``!``-prefixed target excludes the op."""
    included = any(name_or_role_matches(t, op) for t in targets if not t.startswith("!"))
    excluded = any(name_or_role_matches(t[1:], op) for t in targets if t.startswith("!"))
    return included and not excluded


def resolve_op_settings(policy: PrecisionPolicy, op: Op) -> OpSettings:
    """Apply the policy defaults then every matching override, in file order."""
    w, a = policy.weight_bits, policy.act_bits
    frac, obits = policy.outlier_fraction, policy.outlier_bits
    sparse = targets_match(policy.sparsity_targets, op)
    placement = "analog"
    for ov in policy.overrides:
        if not ov.applies_to(op):
            continue
        w = ov.weight_bits if ov.weight_bits is not None else w
        a = ov.act_bits if ov.act_bits is not None else a
        frac = ov.outlier_fraction if ov.outlier_fraction is not None else frac
        obits = ov.outlier_bits if ov.outlier_bits is not None else obits
        sparse = ov.sparsity if ov.sparsity is not None else sparse
        placement = ov.placement if ov.placement is not None else placement
    if placement == "digital":  # all K input channels on the digital (outlier) path at the op's bits
        frac, obits = 1.0, w
    return OpSettings(weight_bits=w, act_bits=a, outlier_fraction=frac, outlier_bits=obits, sparse=sparse)


# ----------------------------------------------------------------------------------------- parsing


def _sparsity_dict(text: str) -> dict[str, int | str]:
    parts = text.strip().split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"sparsity '{text}' is not N:M or N:M:array (e.g. 2:4)")
    try:
        n, m = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"sparsity '{text}' needs integers N:M (e.g. 2:4)") from None
    pattern = parts[2].strip().lower() if len(parts) == 3 else "channel"
    if pattern not in ("channel", "array"):
        raise ValueError(f"sparsity '{text}': pattern '{parts[2]}' is neither 'channel' nor 'array'")
    return {"n": n, "m": m, "pattern": pattern}


def parse_sparsity(text: str | None) -> SparsitySpec | None:
    """Parse ``"2:4"`` (per-channel) or ``"2:4:array"`` N:M text; ``None``, ``""``, ``"none"`` or
    ``"dense"`` mean no sparsity."""
    if text is None or text.strip().lower() in ("", "none", "dense"):
        return None
    try:
        spec = SparsitySpec.model_validate(_sparsity_dict(text))
    except (ValueError, ValidationError) as exc:
        raise PolicyError(
            one_line(
                f"--sparsity '{text}': {_first_error(exc)}; use N:M with 1 <= N <= M, e.g. 2:4 "
                "(per output channel) or 2:4:array (shared by a crossbar array's columns)"
            )
        ) from None
    return spec


def preset_names() -> list[str]:
    """Names of the presets bundled in llmimc/compress/presets/."""
    folder = resources.files("llmimc.compress") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_policy(ref: str | pathlib.Path) -> PrecisionPolicy:
    """Load a named preset (see :func:`preset_names`) or a YAML/JSON policy file."""
    path = pathlib.Path(ref)
    looks_like_file = isinstance(ref, pathlib.Path) or path.suffix.lower() in (".yaml", ".yml", ".json")
    if looks_like_file or path.is_file():
        if not path.is_file():
            raise PolicyError(f"policy file not found: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the policy as UTF-8 YAML or JSON"
            ) from None
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read ({exc.strerror}); check the path") from None
        return _policy_from_text(text, str(path), path.suffix.lower() == ".json")
    name = str(ref).strip().lower()
    known = preset_names()
    if name not in known:
        raise PolicyError(
            f"unknown precision policy '{ref}'; known presets: {', '.join(known)} (or give a .yaml/.json file)"
        )
    text = (resources.files("llmimc.compress") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")
    return _policy_from_text(text, f"preset '{name}'", False)


def _policy_from_text(text: str, where: str, is_json: bool) -> PrecisionPolicy:
    try:
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(one_line(f"{where}: malformed {'JSON' if is_json else 'YAML'}: {exc}")) from None
    except RecursionError:
        raise PolicyError(f"{where}: nested too deeply to be a precision policy") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: expected a mapping of policy fields at the top level")
    try:
        return PrecisionPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(one_line(f"{where}: {_first_error(exc)}")) from None


def _first_error(exc: Exception) -> str:
    """One readable line for a pydantic error (field path + message) or any other exception."""
    if isinstance(exc, ValidationError):
        msgs = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            msgs.append(f"field '{loc}': {msg}" if loc else msg)
        return "; ".join(msgs)
    return str(exc)
