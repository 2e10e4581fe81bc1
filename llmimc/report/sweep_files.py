"""Sweep output folder: results.csv, results.parquet, pareto.csv and the resume journal.

- ``points.jsonl``: one JSON line per evaluated point (its ``PointOutcome``), appended and flushed as
  each point finishes, so an interrupted sweep resumes where it stopped; a torn last line (killed
  mid-write) is ignored on reading.
- ``results.csv`` / ``results.parquet``: one row per point; ``pareto.csv``: the rows on the front.
  Each is written to a temporary file in the same folder and moved into place with ``os.replace``
  (atomic on POSIX and Windows), so a reader never sees a half-written file. Columns with mixed
  types (numbers and text) are written as text in parquet; missing values are empty / null.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmimc.report.output import write_bytes_atomic
from llmimc.sweep import PointOutcome, SweepError, SweepResult

JOURNAL = "points.jsonl"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
PARETO_CSV = "pareto.csv"


def prepare_out_dir(out_dir: Path) -> None:
    """Create the folder (parents included) and check it is writable; SweepError names it if not."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SweepError(f"--out {out_dir}: is a file; give a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as err:
        raise SweepError(
            f"--out {out_dir}: folder is not writable ({err.strerror or err}); pick another --out"
        ) from None


def read_journal(out_dir: Path) -> dict[str, PointOutcome]:
    """Outcomes recorded by an earlier run (the last one wins per key; a torn line is skipped)."""
    path = out_dir / JOURNAL
    if not path.is_file():
        return {}
    found: dict[str, PointOutcome] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out = PointOutcome.model_validate_json(line)
        except ValidationError:
            continue
        found[out.key] = out
    return found


class Journal:
    """Append-only outcome log; use as a context manager."""

    def __init__(self, out_dir: Path) -> None:
        self._path = out_dir / JOURNAL
        self._fh: io.TextIOWrapper | None = None

    def __enter__(self) -> Journal:
        self._fh = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()

    def append(self, outcome: PointOutcome) -> None:
        assert self._fh is not None
        self._fh.write(outcome.model_dump_json() + "\n")
        self._fh.flush()


def _columns(result: SweepResult) -> list[str]:
    first = [
        "point",
        *result.input_columns,
        "chiplet_area_mm2",
        "package_area_mm2",
        "status",
        "reason",
        "pareto",
    ]
    rest: list[str] = []
    for row in result.rows:
        rest += [k for k in row if k not in first and k not in rest]
    return first + rest


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def parquet_bytes(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for c in columns:
        values = [row.get(c) for row in rows]
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[c] = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue().to_pybytes()


def parquet_available() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def write_results(result: SweepResult, out_dir: Path) -> list[Path]:
    """Write results.csv, pareto.csv and (with pyarrow) results.parquet; each atomically. Returns the paths."""
    columns = _columns(result)
    payloads: list[tuple[Path, bytes]] = [
        (out_dir / RESULTS_CSV, csv_text(result.rows, columns).encode()),
        (out_dir / PARETO_CSV, csv_text(result.pareto_rows(), columns).encode()),
    ]
    if parquet_available():
        payloads.append((out_dir / RESULTS_PARQUET, parquet_bytes(result.rows, columns)))
    for path, data in payloads:
        write_bytes_atomic(path, data, "--out")
    return [p for p, _ in payloads]
