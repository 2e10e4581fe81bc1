"""Hardware spec loader: YAML (``yaml.safe_load`` only) or JSON text → validated pydantic spec.

A spec file is a mapping with ``kind: imc`` (``ImcSystemSpec``) or ``kind: digital``
(``DigitalBaselineSpec``). Validation errors become one ``SpecError`` line naming the file, the field
path (``chiplet.array.adc.bits``) and pydantic's reason, plus how many further errors there are.
YAML keys that appear twice in one mapping are rejected (PyYAML would silently keep the last one).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from llmimc.errors import SpecError, one_line
from llmimc.hw.spec import DigitalBaselineSpec, HwSpec, ImcSystemSpec
from llmimc.limits import MAX_CHIPLETS, spec_range_problem

SpecT = ImcSystemSpec | DigitalBaselineSpec

_ADAPTER: TypeAdapter[SpecT] = TypeAdapter(HwSpec)
_KINDS = ("imc", "digital")


# libyaml's parser where PyYAML was built with it (about 5x faster on a sourced spec); the safe
# constructor either way
_SafeLoaderBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeySafeLoader(_SafeLoaderBase):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (line {key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeySafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _format_loc(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _KINDS:  # discriminated-union tag, not a field
        parts = parts[1:]
    return ".".join(parts) if parts else "(top level)"


def validation_message(label: str, err: ValidationError) -> str:
    """One line: '<label>: <field.path>: <reason>[ (and N more errors)]'."""
    errors = err.errors()
    first = errors[0]
    if first.get("type") == "union_tag_not_found":
        msg = "kind: missing; set kind: imc (IMC chiplet system) or kind: digital (GPU-like baseline)"
    elif first.get("type") == "union_tag_invalid":
        msg = f"kind: {first.get('input', {}).get('kind')!r} is not a spec kind; use imc or digital"
    else:
        reason = str(first.get("msg", "invalid"))
        if first.get("type") == "extra_forbidden":
            reason += " (unknown field: check the spelling against `llmimc hw schema`)"
        elif first.get("type") == "missing":
            reason += " (add it to the spec)"
        msg = f"{_format_loc(tuple(first.get('loc', ())))}: {reason}"
    more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return one_line(f"{label}: {msg}{more}")


def parse_spec_data(data: object, label: str) -> SpecT:
    """Validate already-parsed data (a mapping); ``label`` names its origin in error messages."""
    if not isinstance(data, dict):
        raise SpecError(
            f"{label}: a hardware spec must be a mapping with 'kind: imc' or 'kind: digital', got {type(data).__name__}"
        )
    try:
        spec = _ADAPTER.validate_python(data)
    except ValidationError as err:
        raise SpecError(validation_message(label, err)) from None
    problem = spec_range_problem(spec.model_dump(mode="json"))
    if problem is not None:
        raise SpecError(one_line(f"{label}: {problem}"))
    return spec


def with_chiplets(spec: ImcSystemSpec, num_chiplets: int) -> ImcSystemSpec:
    """``spec`` with ``num_chiplets`` chiplets, or a `SpecError` saying why that count cannot work."""
    if not 1 <= num_chiplets <= MAX_CHIPLETS:
        raise SpecError(
            f"{num_chiplets:,} chiplets: must be in 1..{MAX_CHIPLETS:,} (1024 is already wafer scale; "
            "see llmimc.limits)"
        )
    try:
        return spec.with_chiplets(num_chiplets)
    except ValidationError as err:
        first = err.errors()[0]
        reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise SpecError(
            one_line(f"spec '{spec.name}' cannot have {num_chiplets:,} chiplet(s): {reason}")
        ) from None


def parse_spec_text(text: str, label: str, fmt: str) -> SpecT:
    """Parse YAML (``fmt='yaml'``) or JSON (``fmt='json'``) text and validate it."""
    if fmt == "json":
        try:
            data = json.loads(text)  # NaN/Infinity parse here and are rejected with their field path
        except json.JSONDecodeError as err:
            raise SpecError(
                f"{label}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
            ) from None
        except RecursionError:
            raise SpecError(f"{label}: JSON nested too deeply to be a hardware spec") from None
    elif fmt == "yaml":
        try:
            data = yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - SafeLoader subclass
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err)
            raise SpecError(one_line(f"{label}: invalid YAML{where}: {problem}")) from None
        except RecursionError:
            raise SpecError(f"{label}: YAML nested too deeply to be a hardware spec") from None
    else:
        raise SpecError(f"{label}: unknown spec format {fmt!r}; use yaml or json")
    return parse_spec_data(data, label)


def load_spec_file(path: str | Path) -> SpecT:
    """Read and validate one spec file (.yaml/.yml/.json; other suffixes are tried as YAML)."""
    p = Path(path)
    if not p.exists():
        raise SpecError(
            f"{p}: no such hardware spec file; give a path to a .yaml/.json spec or a built-in name (llmimc hw list)"
        )
    if p.is_dir():
        raise SpecError(f"{p}: is a directory; give a .yaml or .json hardware spec file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(one_line(f"{p}: cannot read: {err}")) from None
    fmt = "json" if p.suffix.lower() == ".json" else "yaml"
    return parse_spec_text(text, str(p), fmt)


def spec_json_schema() -> dict:
    """JSON Schema covering both spec kinds (discriminated by ``kind``)."""
    schema = _ADAPTER.json_schema()
    schema.setdefault("title", "llmimc hardware spec")
    return schema


def dump_spec(spec: SpecT, fmt: str = "yaml") -> str:
    """Serialise a spec to YAML or JSON text that ``parse_spec_text`` reads back to an equal spec."""
    data = spec.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    raise SpecError(f"unknown spec format {fmt!r}; use yaml or json")
