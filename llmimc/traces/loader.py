"""Load a request trace file of any supported format, and check it against a model's context.

``load_trace`` opens the file the user named (plain or ``.gz``), detects the format when asked
(``.jsonl``/``.json`` or a first line that is a JSON object → Mooncake; otherwise the CSV header
names the format, see ``formats.detect_csv_format``) and hands the lines to the adapter. Reading
streams the file, so ``max_requests`` stops early on multi-million-row traces (BurstGPT).
"""

from __future__ import annotations

import csv
import gzip
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from llmimc.errors import TraceError
from llmimc.traces.csv_adapters import read_csv_trace
from llmimc.traces.formats import TraceFormat, TraceLoad, detect_csv_format, parse_format
from llmimc.traces.mooncake import read_mooncake_trace
from llmimc.traces.request import Request

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@contextmanager
def open_trace_text(path: Path) -> Iterator[TextIO]:
    """Open a trace file the user named as UTF-8 text (transparently gunzipping ``*.gz``)."""
    source = str(path)
    if not path.exists():
        raise TraceError(f"{source}: no such file; check the trace path")
    if not path.is_file():
        raise TraceError(f"{source}: not a file; give the path of a trace file")
    try:
        if path.suffix == ".gz":
            handle: TextIO = gzip.open(path, "rt", encoding="utf-8", newline="")
        else:
            handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise TraceError(f"{source}: cannot open ({exc.strerror or exc}); check the file") from None
    try:
        yield handle
    except UnicodeDecodeError:
        raise TraceError(f"{source}: not UTF-8 text; give a CSV or JSONL trace file") from None
    except (OSError, EOFError) as exc:  # e.g. gzip.BadGzipFile, truncated archive
        raise TraceError(f"{source}: cannot read ({exc}); check the file") from None
    finally:
        handle.close()


def _logical_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _detect(path: Path, first_line: str, source: str) -> TraceFormat:
    if _logical_suffix(path) in _JSON_SUFFIXES or first_line.lstrip().startswith("{"):
        return TraceFormat.MOONCAKE
    header = next(csv.reader([first_line]), [])
    return detect_csv_format([c.strip().lstrip("\ufeff").strip() for c in header], source)


def load_trace(
    path: Path,
    fmt: TraceFormat | str = "auto",
    *,
    skip_bad_rows: bool = False,
    max_requests: int | None = None,
) -> TraceLoad:
    """Read a request trace into Requests (sorted by arrival, ids 0..n-1, seconds since first).

    Raises a one-line ``TraceError`` "FILE:LINE: what is wrong; how to fix" for a malformed row,
    a non-positive length, decreasing timestamps, a missing column, an unknown format or an empty
    trace. With ``skip_bad_rows`` bad rows are skipped and counted by reason in ``skipped``
    instead (an empty result is still an error). ``max_requests`` keeps the first n requests.
    """
    path = Path(path)
    source = str(path)
    resolved = parse_format(fmt, source)
    if max_requests is not None and max_requests < 1:
        raise TraceError(f"{source}: max_requests is {max_requests}; give at least 1 (or none for all)")
    with open_trace_text(path) as handle:
        head: list[str] = []
        for text in handle:
            head.append(text)
            if text.strip():
                break
        if not head or not head[-1].strip():
            raise TraceError(f"{source}: trace is empty: the file has no lines; give a non-empty trace")
        if resolved is TraceFormat.AUTO:
            resolved = _detect(path, head[-1], source)
        lines = itertools.chain(head, handle)
        if resolved is TraceFormat.MOONCAKE:
            return read_mooncake_trace(lines, source, skip_bad_rows=skip_bad_rows, max_requests=max_requests)
        return read_csv_trace(lines, resolved, source, skip_bad_rows=skip_bad_rows, max_requests=max_requests)


def validate_against_context(
    requests: list[Request], max_context_tokens: int, source: str, *, include_decode: bool = True
) -> None:
    """TraceError naming the line of the first request longer than the model's context.

    A request needs ``num_prefill_tokens + num_decode_tokens`` positions of context (its KV cache
    holds both by the last token), or only its prompt when ``include_decode`` is False.
    """
    if max_context_tokens < 1:
        raise TraceError(f"{source}: max_context_tokens is {max_context_tokens}; it must be >= 1")
    for r in requests:
        needed = r.num_prefill_tokens + (r.num_decode_tokens if include_decode else 0)
        if needed <= max_context_tokens:
            continue
        where = f"{source}:{r.source_line}" if r.source_line is not None else source
        what = (
            f"{r.num_prefill_tokens} prompt + {r.num_decode_tokens} output = {needed} tokens"
            if include_decode
            else f"a {needed}-token prompt"
        )
        raise TraceError(
            f"{where}: request {r.request_id} needs {what}, more than the model's context of "
            f"{max_context_tokens} tokens; use a model with a longer context or remove such requests"
        )
