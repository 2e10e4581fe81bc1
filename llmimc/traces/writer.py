"""Write Requests as a Vidur trace CSV (``arrived_at,num_prefill_tokens,num_decode_tokens``).

The text matches Vidur's processed traces (microsoft/vidur ``data/processed_traces/*.csv``, written
by pandas): Python's shortest round-trip float repr for ``arrived_at`` (``0.0``, ``4.314579``,
``5.8926549999999995``), ``\\n`` line ends, a trailing newline. Session and prefix-block ids have no
column in this format and are not written.
"""

from __future__ import annotations

from pathlib import Path

from llmimc.errors import TraceError
from llmimc.traces.request import Request

VIDUR_HEADER = "arrived_at,num_prefill_tokens,num_decode_tokens"


def write_vidur_csv(requests: list[Request]) -> str:
    """The text of a Vidur CSV holding ``requests`` in the given order."""
    rows = [VIDUR_HEADER]
    rows.extend(
        f"{float(r.arrived_at)!r},{int(r.num_prefill_tokens)},{int(r.num_decode_tokens)}" for r in requests
    )
    return "\n".join(rows) + "\n"


def save_vidur_csv(requests: list[Request], path: Path) -> None:
    """Write ``write_vidur_csv(requests)`` to ``path`` (the one I/O edge of this package)."""
    path = Path(path)
    try:
        path.write_text(write_vidur_csv(requests), encoding="utf-8", newline="")
    except OSError as exc:
        raise TraceError(f"{path}: cannot write the trace ({exc.strerror or exc}); check the path") from None
