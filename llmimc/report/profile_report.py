"""Terminal report of a ProfileResult (rich tables and a block-character sparkline).

Rendering only: every number comes from the ProfileResult (``llmimc.sim.profile``); nothing is
recomputed here except formatting and shares of totals.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmimc.sim.profile import ProfileResult

_BLOCKS = "▁▂▃▄▅▆▇█"


def si(value: float | None, unit: str) -> str:
    """Engineering notation with an SI prefix, 3 significant digits."""
    if value is None:
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    for factor, prefix in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def sparkline(values: list[float], width: int = 64) -> str:
    """Values resampled to ``width`` buckets (bucket means) drawn with 8 block heights (min..max)."""
    if not values:
        return ""
    n = len(values)
    width = max(1, min(width, n))
    buckets = []
    for i in range(width):
        lo, hi = i * n // width, max(i * n // width + 1, (i + 1) * n // width)
        chunk = values[lo:hi]
        buckets.append(sum(chunk) / len(chunk))
    vmin, vmax = min(buckets), max(buckets)
    if vmax - vmin <= 1e-12 * max(abs(vmax), 1e-30):
        return _BLOCKS[3] * width
    return "".join(_BLOCKS[min(7, int((v - vmin) / (vmax - vmin) * 8))] for v in buckets)


def _pct(part: float, total: float) -> str:
    return f"{100.0 * part / total:.1f}%" if total else "-"


DEFAULT_MAX_ROWS = 24  # per long table (stages, chiplets, links); the JSON output always has every row


def _elided(rows: list, max_rows: int | None) -> tuple[list, int]:
    """The first and last rows of a long table with None where rows were left out, and how many."""
    if max_rows is None or len(rows) <= max_rows:
        return rows, 0
    head = max_rows // 2
    return rows[:head] + [None] + rows[len(rows) - (max_rows - head) :], len(rows) - max_rows


def _gap_row(table: Table, hidden: int, what: str) -> None:
    """Mark left-out rows with a '…' row and a caption saying how many and where to find them."""
    if hidden:
        table.add_row("…", *[""] * (len(table.columns) - 1))
        table.caption = f"{hidden} more {what} not shown: --all-rows prints them, --json has every row"


def render_profile(r: ProfileResult, console: Console, max_rows: int | None = DEFAULT_MAX_ROWS) -> None:
    """Print the whole profile report; long tables show ``max_rows`` rows (None: every row)."""
    if r.gpu is not None:  # a GPU system: its own layout (llmimc.report.gpu_report)
        from llmimc.report.gpu_report import render_gpu_profile

        render_gpu_profile(r, console)
        return
    s = r.summary
    head = Table(
        title=escape(f"llmimc profile: {r.model_id} on {r.num_chiplets} x {r.spec_name} ({r.policy_name})")
    )
    head.add_column("metric")
    head.add_column("value", justify="right")
    rows = [
        ("batch x prompt / generated", f"{r.batch} x {r.prompt_len} / {r.gen_len}"),
        ("TTFT", si(s.ttft_s, "s")),
        ("time per output token (mean)", si(s.mean_tpot_s, "s")),
        ("time per output token (p99)", si(s.p99_tpot_s, "s")),
        ("output tokens/s", f"{s.tokens_per_s:,.1f}"),
        ("energy per output token", si(s.energy_per_output_token_j, "J")),
        ("prefill energy per prompt token", si(s.prefill_energy_per_prompt_token_j, "J")),
        ("total energy", si(s.energy_j, "J")),
        ("analog MAC ratio", f"{100 * s.analog_mac_ratio:.2f}%"),
        (
            "crossbar arrays used",
            f"{s.arrays_used:,} / {s.arrays_capacity:,} ({_pct(s.arrays_used, s.arrays_capacity)})",
        ),
        ("chiplets holding weights", f"{s.chiplets_used} / {r.num_chiplets}"),
        ("static (leakage) share of energy", _pct(s.static_energy_j, s.energy_j)),
        ("die-to-die bytes per decode token", si(s.d2d_bytes_per_decode_token, "B")),
        ("die-to-die bytes per output token (incl. prefill)", si(s.d2d_bytes_per_output_token, "B")),
    ]
    for k, v in rows:
        head.add_row(k, v)
    console.print(head)

    ph = Table(title="phases")
    for c in (
        "phase",
        "iterations",
        "tokens",
        "latency",
        "energy",
        "energy/token",
        "d2d bytes",
        "off-pkg bytes",
        "bound",
    ):
        ph.add_column(c, justify="right" if c not in ("phase", "bound") else "left")
    for p in r.phases:
        ph.add_row(
            p.phase,
            str(p.iterations),
            str(p.tokens),
            si(p.latency_s, "s"),
            si(p.energy_j, "J"),
            si(p.energy_per_token_j, "J"),
            si(p.d2d_bytes, "B"),
            si(p.offpkg_bytes, "B"),
            p.bound,
        )
    console.print(ph)

    lat = r.per_token_latency_s
    if lat:
        console.print(
            f"[bold]decode latency per token[/] (step 1..{len(lat)}): "
            f"{si(min(lat), 's')} [cyan]{sparkline(lat)}[/] {si(max(lat), 's')}"
        )

    st = Table(title="pipeline stages")
    for c in ("stage", "layers", "chiplets", "prefill time", "decode step 1 time"):
        st.add_column(c)
    shown, hidden = _elided(r.stages, max_rows)
    for row in shown:
        if row is None:
            _gap_row(st, hidden, "stages")
            continue
        st.add_row(
            str(row.index),
            escape(row.label),
            ",".join(map(str, row.chiplets)),
            si(row.prefill_time_s, "s"),
            si(row.first_decode_time_s, "s"),
        )
    console.print(st)

    ch = Table(title="chiplets")
    for c in (
        "chiplet",
        "stages",
        "arrays used",
        "KV layers",
        "KV tokens in SRAM",
        "util prefill",
        "util decode",
        "energy",
    ):
        ch.add_column(c)
    shown, hidden = _elided(r.chiplets, max_rows)
    for c in shown:
        if c is None:
            _gap_row(ch, hidden, "chiplets")
            continue
        ch.add_row(
            str(c.chiplet),
            escape(", ".join(c.stages)) or "-",
            f"{c.arrays_used:,}/{c.arrays_capacity:,} ({_pct(c.arrays_used, c.arrays_capacity)})",
            f"{min(c.kv_layers)}-{max(c.kv_layers)}" if c.kv_layers else "-",
            f"{c.kv_tokens_on_package:,}" if c.kv_tokens_on_package is not None else "-",
            f"{100 * c.prefill_utilisation:.1f}%",
            f"{100 * c.decode_utilisation:.1f}%",
            si(c.energy_j, "J"),
        )
    console.print(ch)

    used = [ln for ln in r.links if ln.prefill_bytes + ln.decode_bytes > 0]
    busiest = sorted(used, key=lambda ln: -(ln.prefill_bytes + ln.decode_bytes))
    if max_rows is not None and len(busiest) > max_rows:
        hidden = len(busiest) - max_rows
        used = sorted(busiest[:max_rows], key=lambda ln: (ln.src, ln.dst))
        title = f"die-to-die links: the {max_rows} busiest of {len(busiest)} carrying traffic ({len(r.links)} directed)"
    else:
        hidden = 0
        title = f"die-to-die links carrying traffic ({len(used)} of {len(r.links)} directed)"
    lk = Table(title=title)
    for c in ("link", "prefill bytes", "decode bytes", "bytes/output token", "busy", "utilisation", "energy"):
        lk.add_column(c)
    for ln in used:
        lk.add_row(
            f"{ln.src}->{ln.dst}",
            si(ln.prefill_bytes, "B"),
            si(ln.decode_bytes, "B"),
            si(ln.bytes_per_output_token, "B"),
            si(ln.busy_s, "s"),
            f"{100 * ln.utilisation:.2f}%",
            si(ln.energy_j, "J"),
        )
    _gap_row(lk, hidden, "links with less traffic")
    console.print(lk)

    en = Table(title="energy by component (count x energy per action)")
    for c in ("component", "action", "count", "energy/action", "energy", "share"):
        en.add_column(c)
    total = s.energy_j
    for row in sorted(r.energy_table, key=lambda x: -x.energy_j):
        if row.count == 0:
            continue
        en.add_row(
            row.component,
            row.action,
            f"{row.count:.4g}",
            si(row.energy_per_action_j, "J"),
            si(row.energy_j, "J"),
            _pct(row.energy_j, total),
        )
    console.print(en)

    ok = Table(title="energy by op kind")
    for c in ("op kind", "prefill", "decode", "total", "share"):
        ok.add_column(c)
    for g in sorted(r.op_kinds, key=lambda x: -x.energy_j):
        ok.add_row(
            g.name,
            si(g.prefill_energy_j, "J"),
            si(g.decode_energy_j, "J"),
            si(g.energy_j, "J"),
            _pct(g.energy_j, total),
        )
    console.print(ok)

    kv = r.kv
    console.print(
        f"[bold]KV cache[/]: {si(kv.bytes_per_token, 'B')}/token at {kv.kv_bits} bits; "
        f"{kv.on_package_tokens:,} tokens fit in chiplet SRAM, {kv.offpkg_tokens:,} more off-package "
        f"(capacity {kv.capacity_tokens:,}); peak {r.kv_peak_tokens:,} tokens, "
        f"{r.kv_spilled_tokens_at_end:,} spilled at the last step"
    )

    pr = Table(title="precision schedule (linear ops by role)")
    for c in ("role", "ops", "weight bits", "act bits", "outlier rows", "N:M", "arrays", "weights"):
        pr.add_column(c)
    for p in r.precision:
        pr.add_row(
            p.role,
            str(p.ops),
            p.weight_bits,
            p.act_bits,
            f"{100 * p.outlier_fraction:.2f}%",
            p.sparsity,
            f"{p.arrays:,}",
            si(p.weight_params, ""),
        )
    console.print(pr)
    if r.comparison is not None:
        c = r.comparison
        if c.reference_error is not None or c.arrays_saving is None:
            console.print(f"[yellow]savings vs {c.reference}:[/] reference not profiled: {escape(str(c.reference_error))}")
        else:
            console.print(
                f"[bold]savings vs {c.reference}[/] (dense, no outliers): arrays {100 * c.arrays_saving:+.1f}%, "
                f"energy/token {100 * c.energy_saving:+.1f}%, TPOT {100 * c.tpot_saving:+.1f}%"
                + (f" ({escape(c.note)})" if c.note else "")
            )
    if r.baseline is not None:
        b = r.baseline
        bt = Table(title=f"baseline: {b.name} roofline ({b.format})")
        for c in ("metric", "IMC", b.name, f"{b.name}/IMC"):
            bt.add_column(c)
        bt.add_row(
            "TTFT", si(s.ttft_s, "s"), si(b.ttft_s, "s"), f"{b.ttft_s / s.ttft_s:.3g}x" if s.ttft_s else "-"
        )
        bt.add_row("TPOT (mean)", si(s.mean_tpot_s, "s"), si(b.mean_tpot_s, "s"), f"{b.speedup_tpot:.3g}x")
        bt.add_row(
            "tokens/s",
            f"{s.tokens_per_s:,.1f}",
            f"{b.tokens_per_s:,.1f}",
            f"{b.tokens_per_s / s.tokens_per_s:.3g}x" if s.tokens_per_s else "-",
        )
        bt.add_row(
            "energy/output token",
            si(s.energy_per_output_token_j, "J"),
            si(b.energy_per_output_token_j, "J"),
            f"{b.energy_ratio:.3g}x",
        )
        console.print(bt)
        console.print(
            f"baseline bound: prefill {b.prefill_bound}, decode {b.decode_bound}"
            + ("" if b.fits_in_memory else " [yellow](weights + KV exceed its memory)[/]")
        )
    for note in r.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
