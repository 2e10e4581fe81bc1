"""Synthetic request traces: Poisson or Gamma arrivals with fixed or trace-sampled lengths.

Arrivals follow Vidur's request interval generators (microsoft/vidur
``vidur/request_generator/{poisson,gamma}_request_interval_generator.py``): inter-arrival times are
exponential with mean 1/rate (Poisson process), or Gamma with shape k = 1/cv² and scale
1/(rate·k), so the mean is still 1/rate and the coefficient of variation is cv (cv > 1 is burstier
than Poisson; BurstGPT, arXiv:2401.17644, fits Gamma arrivals). The first request arrives at 0 s.

Lengths are fixed, or drawn uniformly with replacement from the rows of a length file: a
length-statistics CSV with ``num_prefill_tokens,num_decode_tokens`` columns (Vidur/Sarathi-Serve
``data/processed_traces/*_stats_*.csv``, like Vidur's ``TraceRequestLengthGenerator``) or any trace
``load_trace`` reads. A fixed value overrides the sampled one for that side only.
All randomness comes from the caller's ``numpy.random.Generator``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from llmimc.errors import TraceError
from llmimc.traces._rows import BadRow, parse_count
from llmimc.traces.csv_adapters import read_header
from llmimc.traces.formats import LENGTH_COLUMNS, TraceLoad
from llmimc.traces.loader import load_trace, open_trace_text
from llmimc.traces.request import Request

ARRIVAL_PROCESSES: tuple[str, ...] = ("poisson", "gamma")


def read_length_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(prompt tokens, output tokens) arrays from a length-statistics CSV or any trace file."""
    path = Path(path)
    source = str(path)
    with open_trace_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = read_header(reader, source)
        except csv.Error as exc:
            raise TraceError(f"{source}:1: not valid CSV ({exc}); give a CSV or JSONL file") from None
        if all(c in header for c in LENGTH_COLUMNS):
            i_p, i_d = header.index(LENGTH_COLUMNS[0]), header.index(LENGTH_COLUMNS[1])
            prefill: list[int] = []
            decode: list[int] = []
            try:
                for row in reader:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue
                    try:
                        if len(row) != len(header):
                            raise BadRow("", f"row has {len(row)} fields but the header has {len(header)}")
                        p = parse_count(row[i_p], LENGTH_COLUMNS[0])
                        d = parse_count(row[i_d], LENGTH_COLUMNS[1])
                        if p < 1 or d < 1:
                            raise BadRow("", f"lengths {p},{d} must both be >= 1")
                    except BadRow as bad:
                        raise TraceError(
                            f"{source}:{reader.line_num}: {bad.message}; fix or delete that row"
                        ) from None
                    prefill.append(p)
                    decode.append(d)
            except csv.Error as exc:
                raise TraceError(
                    f"{source}:{reader.line_num}: not valid CSV ({exc}); fix the quoting"
                ) from None
            if not prefill:
                raise TraceError(f"{source}: length file has no rows; give at least one length pair")
            return np.asarray(prefill, dtype=np.int64), np.asarray(decode, dtype=np.int64)
    load = load_trace(path)  # not a stats file: any trace format gives its lengths
    return (
        np.asarray([r.num_prefill_tokens for r in load.requests], dtype=np.int64),
        np.asarray([r.num_decode_tokens for r in load.requests], dtype=np.int64),
    )


def _interarrival_s(n: int, rate_qps: float, arrival: str, cv: float, rng: np.random.Generator) -> np.ndarray:
    mean_s = 1.0 / rate_qps
    if arrival == "poisson":
        return rng.exponential(mean_s, size=n)
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, mean_s / shape, size=n)


def synthetic_trace(
    num_requests: int,
    rate_qps: float,
    *,
    rng: np.random.Generator,
    arrival: str = "poisson",
    cv: float = 1.0,
    prefill_tokens: int | None = None,
    decode_tokens: int | None = None,
    lengths_path: Path | None = None,
) -> TraceLoad:
    """A synthetic trace of ``num_requests`` requests at ``rate_qps`` mean arrivals per second."""
    where = "synthetic trace"
    if isinstance(num_requests, bool) or not isinstance(num_requests, int) or num_requests < 1:
        raise TraceError(f"{where}: num_requests is {num_requests!r}; give a whole number >= 1")
    if not (isinstance(rate_qps, int | float) and math.isfinite(rate_qps) and rate_qps > 0):
        raise TraceError(f"{where}: rate_qps is {rate_qps!r}; give a finite rate > 0 requests/s")
    if arrival not in ARRIVAL_PROCESSES:
        raise TraceError(f"{where}: arrival is {arrival!r}; use one of: {', '.join(ARRIVAL_PROCESSES)}")
    if not (isinstance(cv, int | float) and math.isfinite(cv) and cv > 0):
        raise TraceError(f"{where}: cv is {cv!r}; give a finite coefficient of variation > 0")
    if arrival == "poisson" and cv != 1.0:
        raise TraceError(f"{where}: cv={cv} needs arrival='gamma' (Poisson arrivals have cv 1)")
    for name, value in (("prefill_tokens", prefill_tokens), ("decode_tokens", decode_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise TraceError(f"{where}: {name} is {value!r}; give a whole number of tokens >= 1")
    if lengths_path is None and (prefill_tokens is None or decode_tokens is None):
        raise TraceError(
            f"{where}: lengths are unknown; give both prefill_tokens and decode_tokens, or a lengths file"
        )
    if not isinstance(rng, np.random.Generator):
        raise TraceError(f"{where}: rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0))")

    gaps_s = _interarrival_s(num_requests - 1, float(rate_qps), arrival, float(cv), rng)
    arrived_s = np.concatenate(([0.0], np.cumsum(gaps_s)))
    prefill = np.full(num_requests, prefill_tokens or 0, dtype=np.int64)
    decode = np.full(num_requests, decode_tokens or 0, dtype=np.int64)
    length_note = f"fixed {prefill_tokens}/{decode_tokens} tokens"
    if lengths_path is not None:
        table_prefill, table_decode = read_length_table(Path(lengths_path))
        pick = rng.integers(0, table_prefill.shape[0], size=num_requests)
        if prefill_tokens is None:
            prefill = table_prefill[pick]
        if decode_tokens is None:
            decode = table_decode[pick]
        length_note = f"lengths from {lengths_path}"
    shape_note = f", cv={cv:g}" if arrival == "gamma" else ""
    source = f"synthetic {arrival} arrivals at {rate_qps:g} req/s{shape_note}, {length_note}"
    if prefill.min() < 1 or decode.min() < 1 or not np.all(np.isfinite(arrived_s)) or arrived_s.min() < 0:
        raise TraceError(f"{where}: every request needs >= 1 prompt and output token and a finite arrival")
    trusted = Request.trusted
    requests = [
        trusted(i, t, p, d)
        for i, (t, p, d) in enumerate(zip(arrived_s.tolist(), prefill.tolist(), decode.tolist(), strict=True))
    ]
    return TraceLoad(requests=requests, skipped={}, source=source, fmt=None)
