"""The one request record every trace adapter produces (names follow Vidur/vLLM).

A frozen, slotted pydantic dataclass: constructing one validates its fields, and a million of them
take about 160 B each (a pydantic model instance takes about 860 B), so million-request traces fit
in memory. ``Request.trusted`` builds one from values already validated (e.g. numpy columns of a
synthetic trace) without re-validating each field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class Request:
    request_id: Annotated[int, Field(ge=0)]
    arrived_at: Annotated[float, Field(ge=0, allow_inf_nan=False)]  # seconds since the first request
    num_prefill_tokens: Annotated[int, Field(gt=0)]
    num_decode_tokens: Annotated[int, Field(gt=0)]
    session_id: str | None = None
    prefix_block_ids: list[int] | None = None  # shareable KV prefix blocks (e.g. Mooncake hash_ids)
    prefix_block_tokens: int | None = None  # tokens per prefix block (Mooncake: 512)
    source_line: Annotated[int | None, Field(ge=1)] = None  # 1-based line in the trace file (for errors)

    @classmethod
    def trusted(
        cls, request_id: int, arrived_at: float, num_prefill_tokens: int, num_decode_tokens: int
    ) -> Request:
        """A request from values the caller has already checked (no per-field validation)."""
        obj = object.__new__(cls)
        for name, value in (
            ("request_id", request_id),
            ("arrived_at", arrived_at),
            ("num_prefill_tokens", num_prefill_tokens),
            ("num_decode_tokens", num_decode_tokens),
            ("session_id", None),
            ("prefix_block_ids", None),
            ("prefix_block_tokens", None),
            ("source_line", None),
        ):
            object.__setattr__(obj, name, value)
        return obj
