"""The one request record every trace adapter produces (names follow Vidur/vLLM)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    request_id: int = Field(ge=0)
    arrived_at: float = Field(ge=0, allow_inf_nan=False)  # seconds since the first request
    num_prefill_tokens: int = Field(gt=0)
    num_decode_tokens: int = Field(gt=0)
    session_id: str | None = None
    prefix_block_ids: list[int] | None = None  # shareable KV prefix blocks (e.g. Mooncake hash_ids)
    prefix_block_tokens: int | None = None  # tokens per prefix block (Mooncake: 512)
    source_line: int | None = Field(default=None, ge=1)  # 1-based line in the trace file (for errors)
