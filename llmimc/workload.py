"""Workloads: phases, their (T, L) points, and the request schedules a serving run replays (DESIGN §1).

Every cost in llmimc is a function of an iteration's features, built from (T, L) points per sequence:

- prefill of S prompt tokens with nothing cached: T = S new tokens attending over L = S positions;
- a prefill chunk of T tokens after p already-cached tokens: (T, L = p + T);
- a decode step after c past tokens (prompt plus tokens generated so far, less the one being fed):
  T = 1, L = c + 1 (the new token attends over the c cached positions and itself).

One request of S prompt tokens generating G tokens runs one prefill (which yields the first output
token) and G - 1 decode steps; step k (k = 1..G-1) has c = S + k - 1 past tokens, so L = S + k.
These rules live here once; the profile, the baseline models and the graph summaries read them.

A serving workload is either a trace file (:class:`TraceWorkload`) or synthetic arrivals
(:class:`SyntheticWorkload`); :func:`load_workload` turns either into a ``TraceLoad``.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
from pydantic import Field

from llmimc._base import Frozen
from llmimc.errors import LlmimcError
from llmimc.traces import TraceLoad, load_trace, synthetic_trace

__all__ = [
    "Phase",
    "SyntheticWorkload",
    "TraceWorkload",
    "Workload",
    "decode_past_tokens",
    "decode_point",
    "load_workload",
    "phase_point",
    "prefill_point",
]


class Phase(str, Enum):
    PREFILL = "prefill"
    DECODE = "decode"


def prefill_point(prompt_tokens: int, past_tokens: int = 0) -> tuple[int, int]:
    """(T, L) of a prefill (chunk) of ``prompt_tokens`` after ``past_tokens`` cached ones."""
    return prompt_tokens, past_tokens + prompt_tokens


def decode_point(past_tokens: int) -> tuple[int, int]:
    """(T, L) of one decode step after ``past_tokens`` cached tokens: (1, past + 1)."""
    return 1, past_tokens + 1


def decode_past_tokens(prompt_len: int, gen_len: int) -> range:
    """Past tokens of each decode step of one request: S + k - 1 for k = 1..G-1 (G - 1 steps)."""
    return range(prompt_len, prompt_len + gen_len - 1)


def phase_point(phase: Phase, tokens: int, context: int) -> tuple[int, int]:
    """(T, L) of a phase instance: prefill of ``tokens``, or decode after ``context`` past tokens."""
    if phase == Phase.PREFILL:
        if tokens < 1:
            raise LlmimcError(f"--tokens must be >= 1 for prefill, got {tokens}")
        return prefill_point(tokens)
    if context < 0:
        raise LlmimcError(f"--context must be >= 0 for decode, got {context}")
    return decode_point(context)


class TraceWorkload(Frozen):
    """Requests read from a trace file (format auto-detected unless given)."""

    path: Path
    format: str = "auto"
    skip_bad_rows: bool = False
    max_requests: int | None = Field(default=None, ge=1)


class SyntheticWorkload(Frozen):
    """``num_requests`` synthetic arrivals at ``rate_qps`` with fixed lengths or a length table."""

    rate_qps: float = Field(gt=0, allow_inf_nan=False)
    num_requests: int = Field(ge=1)
    arrival: str = "poisson"
    cv: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    prompt_len: int | None = Field(default=None, ge=1)
    gen_len: int | None = Field(default=None, ge=1)
    lengths_path: Path | None = None
    seed: int = Field(default=0, ge=0)


Workload = TraceWorkload | SyntheticWorkload


def load_workload(workload: Workload) -> TraceLoad:
    """The requests of ``workload`` (a trace file read, or synthetic arrivals drawn with its seed)."""
    if isinstance(workload, TraceWorkload):
        return load_trace(
            workload.path,
            workload.format,
            skip_bad_rows=workload.skip_bad_rows,
            max_requests=workload.max_requests,
        )
    if isinstance(workload, SyntheticWorkload):
        return synthetic_trace(
            workload.num_requests,
            workload.rate_qps,
            rng=np.random.default_rng(workload.seed),
            arrival=workload.arrival,
            cv=workload.cv,
            prefill_tokens=workload.prompt_len,
            decode_tokens=workload.gen_len,
            lengths_path=workload.lengths_path,
        )
    raise LlmimcError(f"workload must be a TraceWorkload or SyntheticWorkload, got {type(workload).__name__}")
