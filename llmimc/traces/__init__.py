"""Request traces: adapters for Vidur, Azure LLM, Mooncake, BurstGPT and SplitwiseSim files,
synthetic Poisson/Gamma arrivals, and a Vidur CSV writer. See ``formats.py`` for the formats."""

from llmimc.traces._rows import SKIP_REASONS
from llmimc.traces.formats import TraceFormat, TraceLoad
from llmimc.traces.loader import load_trace, validate_against_context
from llmimc.traces.request import Request
from llmimc.traces.synthetic import ARRIVAL_PROCESSES, read_length_table, synthetic_trace
from llmimc.traces.writer import save_vidur_csv, write_vidur_csv

__all__ = [
    "ARRIVAL_PROCESSES",
    "Request",
    "SKIP_REASONS",
    "TraceFormat",
    "TraceLoad",
    "load_trace",
    "read_length_table",
    "save_vidur_csv",
    "synthetic_trace",
    "validate_against_context",
    "write_vidur_csv",
]
