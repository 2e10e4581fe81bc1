"""The one pydantic base of llmimc's data: frozen (results and specs are never mutated) and strict
about unknown fields (a typo in a spec or a result field is an error, not a silent extra)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
