"""Stream per-request serving records to a file as the simulator produces them (bounded memory).

``RequestRecordWriter`` is the ``on_record`` sink of ``llmimc.sim.serve.run_serve``: one JSON object a
line (JSONL, the fields of ``llmimc.sim.serve_models.RequestRecord``), or Apache Parquet when the path
ends in ``.parquet`` and pyarrow is installed (the ``parquet`` extra), written in row groups of
``PARQUET_ROWS`` records. Rejected requests come first, then finished ones in the order they finish.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from llmimc.errors import LlmimcError

PARQUET_ROWS = 65_536


class RecordsOutError(LlmimcError):
    """The per-request records file cannot be written."""


def _parquet_schema() -> Any:
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

    f64, i64 = pa.float64(), pa.int64()
    return pa.schema(
        [
            ("request_id", i64),
            ("status", pa.string()),
            ("reason", pa.string()),
            ("num_prefill_tokens", i64),
            ("num_decode_tokens", i64),
            ("arrived_at_s", f64),
            ("scheduled_at_s", f64),
            ("first_token_at_s", f64),
            ("finished_at_s", f64),
            ("ttft_s", f64),
            ("tpot_s", f64),
            ("e2e_s", f64),
            ("energy_j", f64),
            ("preemptions", i64),
            ("prefix_cache_hit_tokens", i64),
            ("prefix_cache_readmit_hit_tokens", i64),
            ("queue_delay_s", f64),
            ("kv_transfer_s", f64),
        ]
    )


class RequestRecordWriter:
    """Callable sink writing one record per call; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._text: IO[str] | None = None
        self._parquet: Any = None
        self._rows: list[dict[str, Any]] = []
        # json.dumps(fields, separators=...) builds an encoder per call; one encoder writes the same text
        self._encode = json.JSONEncoder(separators=(",", ":")).encode
        if not self.path.parent.is_dir():
            raise RecordsOutError(
                f"--requests-out {self.path}: folder {self.path.parent} does not exist; create it or pick another path"
            )
        if self.path.suffix == ".parquet":
            try:
                import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                raise RecordsOutError(
                    f"--requests-out {self.path}: Parquet needs pyarrow (pip install 'llmimc[parquet]'); "
                    "or give a .jsonl path"
                ) from None
            self._schema = _parquet_schema()
            self._parquet = pq.ParquetWriter(str(self.path), self._schema)
        else:
            try:
                self._text = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise RecordsOutError(
                    f"--requests-out {self.path}: cannot write ({exc.strerror or exc})"
                ) from None

    def __call__(self, fields: dict[str, Any]) -> None:
        self.count += 1
        if self._text is not None:
            self._text.write(self._encode(fields) + "\n")
            return
        self._rows.append(fields)
        if len(self._rows) >= PARQUET_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._rows and self._parquet is not None:
            import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

            self._parquet.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
            self._text = None
        if self._parquet is not None:
            self._flush()
            self._parquet.close()
            self._parquet = None

    def __enter__(self) -> RequestRecordWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
