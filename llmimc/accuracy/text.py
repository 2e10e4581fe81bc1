"""Evaluation text and its token windows.

Default text: CPython's ``pydoc_data.topics`` (the 79 help topics sorted by key and joined with a blank
line; PSF licence, shipped with every CPython): English technical prose, deterministic for one Python
version. Its SHA-256 is pinned (:data:`PYDOC_SHA256_PREFIX`, CPython 3.11.7, 465,126 characters,
113,108 SmolLM2 tokens); another Python version gives other text, which the result says.

Windows: the first ``tokens`` tokens are cut into non-overlapping windows of ``seq_len`` (the last
may be shorter); each window of L tokens scores L - 1 next-token predictions. The calibration window
(ADC ranges, outlier channels) is the last ``calib_tokens`` tokens of the text, disjoint from them.
"""

from __future__ import annotations

import hashlib
import pathlib
from dataclasses import dataclass

from llmimc.errors import LlmimcError

PYDOC_SHA256_PREFIX = "71f2ff5d99bdc1f9"


@dataclass(frozen=True)
class EvalText:
    text: str
    source: str
    sha256: str
    pinned: bool  # True when it is the pinned pydoc text


def pydoc_text() -> EvalText:
    import pydoc_data.topics as topics

    text = "\n\n".join(topics.topics[k] for k in sorted(topics.topics))
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return EvalText(text, "pydoc_data.topics", sha, sha.startswith(PYDOC_SHA256_PREFIX))


def file_text(path: pathlib.Path) -> EvalText:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmimcError(f"--text {path}: cannot read UTF-8 text ({exc})") from None
    if not text.strip():
        raise LlmimcError(f"--text {path}: the file is empty; give a file of English text")
    return EvalText(text, str(path), hashlib.sha256(text.encode("utf-8")).hexdigest(), False)


def windows(
    ids: list[int], tokens: int, seq_len: int, calib_tokens: int
) -> tuple[list[list[int]], list[int]]:
    """(evaluation windows, calibration window) as the module docstring says."""
    if tokens < 2 or seq_len < 2:
        raise LlmimcError(f"--tokens {tokens} / sequence length {seq_len}: need at least 2 tokens")
    need = tokens + calib_tokens
    if need > len(ids):
        raise LlmimcError(
            f"the text has {len(ids)} tokens but --tokens {tokens} plus {calib_tokens} calibration tokens "
            f"need {need}; use fewer tokens or a longer --text"
        )
    evals = [ids[i : min(i + seq_len, tokens)] for i in range(0, tokens, seq_len)]
    evals = [w for w in evals if len(w) >= 2]
    return evals, ids[len(ids) - calib_tokens :]
