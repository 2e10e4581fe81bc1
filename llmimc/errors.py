"""Error types that the CLI turns into one-line messages (no traceback, non-zero exit).

Every message names the file, field, row or argument at fault and says what would fix it.
"""

from __future__ import annotations


class LlmimcError(Exception):
    """Base class for user-facing errors: bad input, unknown names, impossible mappings."""


class ModelResolutionError(LlmimcError):
    """A model reference could not be resolved to a supported causal-LM config."""


class SpecError(LlmimcError):
    """A hardware spec file is malformed or invalid."""


class PolicyError(LlmimcError):
    """A precision / sparsity policy is malformed or invalid."""


class MappingError(LlmimcError):
    """A model cannot be mapped onto the given hardware (e.g. it does not fit)."""


class TraceError(LlmimcError):
    """A request trace is malformed (names file and line)."""


class OutputError(LlmimcError):
    """An output file cannot be written (names the path and the reason)."""


class BoundsError(LlmimcError):
    """A size or count is outside the documented sane range (llmimc.limits)."""


def one_line(msg: str) -> str:
    """Collapse a message to a single line (CLI errors must be one line)."""
    return " ".join(str(msg).split())
