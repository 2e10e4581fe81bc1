"""Report of a ProfileResult: summary, phases, stages, chiplets, links, energy, KV, precision.

Rendering only: every number comes from the ProfileResult (``llmimc.sim.profile``); nothing is
recomputed here except formatting, shares of totals and the ratio of two reported figures. Each table
is built by its own function into plain `sections` blocks, which print as rich tables (``table``),
ASCII tables (``plain``) or Markdown (``markdown``); ``json`` is the result itself.
Headers are short so that every table fits 80 columns without eliding a value.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from rich.console import Console

from llmimc.cost.breakdown import ChipletRow
from llmimc.report.sections import Block, Col, Line, Table, render_markdown, render_rich
from llmimc.report.units import count, pct, ratio_pct, si, sparkline
from llmimc.sim.profile import ProfileResult

ReportFormat = Literal["table", "plain", "json", "markdown"]
DEFAULT_MAX_ROWS = 24  # per long table (stages, chiplets, links); the JSON output always has every row
T = TypeVar("T")


def _elided(rows: list[T], max_rows: int | None) -> tuple[list[T | None], int]:
    """The first and last rows of a long table with None where rows were left out, and how many."""
    if max_rows is None or len(rows) <= max_rows:
        return list(rows), 0
    head = max_rows // 2
    return [*rows[:head], None, *rows[len(rows) - (max_rows - head) :]], len(rows) - max_rows


def _caption(hidden: int, what: str) -> str:
    return f"{hidden} more {what} not shown: --all-rows prints them, --json has every row" if hidden else ""


def _arrays(used: int, capacity: int) -> str:
    """'used / capacity (share)', or how many arrays stream through the capacity when weights do not fit."""
    if used > capacity:
        return f"{count(used)} streamed through {count(capacity)} ({used / capacity:.1f} loads/iteration)"
    return f"{count(used)} / {count(capacity)} ({pct(used, capacity)})"


def summary_table(r: ProfileResult) -> Table:
    s = r.summary
    t = Table(
        f"llmimc profile: {r.model_id} on {r.num_chiplets} x {r.spec_name} ({r.policy_name})",
        [Col("metric"), Col("value", "right")],
    )
    streamed = s.arrays_used > s.arrays_capacity
    for k, v in (
        ("batch x prompt / generated", f"{r.batch} x {r.prompt_len} / {r.gen_len}"),
        ("TTFT", si(s.ttft_s, "s")),
        ("time per output token (mean)", si(s.mean_tpot_s, "s")),
        ("time per output token (p99)", si(s.p99_tpot_s, "s")),
        ("output tokens/s", f"{s.tokens_per_s:,.1f}"),
        ("energy per output token", si(s.energy_per_output_token_j, "J")),
        ("prefill energy per prompt token", si(s.prefill_energy_per_prompt_token_j, "J")),
        ("total energy", si(s.energy_j, "J")),
        ("analog MAC ratio", ratio_pct(s.analog_mac_ratio, 2)),
        (
            "crossbar arrays " + ("streamed" if streamed else "used"),
            _arrays(s.arrays_used, s.arrays_capacity),
        ),
        ("chiplets holding weights", f"{s.chiplets_used} / {r.num_chiplets}"),
        ("static (leakage) share of energy", pct(s.static_energy_j, s.energy_j)),
        ("d2d bytes per decode token", si(s.d2d_bytes_per_decode_token, "B")),
        ("d2d bytes per output token (with prefill)", si(s.d2d_bytes_per_output_token, "B")),
    ):
        t.add(k, v)
    return t


def phases_table(r: ProfileResult) -> Table:
    """One column per phase, one row per figure (stacked, so it fits 80 columns)."""
    t = Table("phases", [Col("")] + [Col(p.phase, "right") for p in r.phases])
    for label, cell in (
        ("iterations", lambda p: count(p.iterations)),
        ("tokens", lambda p: count(p.tokens)),
        ("latency", lambda p: si(p.latency_s, "s")),
        ("energy", lambda p: si(p.energy_j, "J")),
        ("energy per token", lambda p: si(p.energy_per_token_j, "J")),
        ("die-to-die bytes", lambda p: si(p.d2d_bytes, "B")),
        ("off-package bytes", lambda p: si(p.offpkg_bytes, "B")),
        ("bound", lambda p: p.bound),
    ):
        t.add(label, *(cell(p) for p in r.phases))
    return t


def latency_line(r: ProfileResult) -> Line | None:
    lat = r.per_token_latency_s
    if not lat:
        return None
    text = f"{si(min(lat), 's')} {sparkline(lat, 32)} {si(max(lat), 's')}"
    return Line(text, label=f"decode latency, steps 1..{len(lat)}", style="spark")


def stages_table(r: ProfileResult, max_rows: int | None) -> Table:
    heads = ("stage", "layers", "chiplets", "prefill", "decode step 1")
    t = Table(
        "pipeline stages (time per stage)", [Col(h, "right" if h in heads[3:] else "left") for h in heads]
    )
    shown, hidden = _elided(r.stages, max_rows)
    for row in shown:
        t.rows.append(
            None
            if row is None
            else [
                str(row.index),
                row.label,
                ",".join(map(str, row.chiplets)),
                si(row.prefill_time_s, "s"),
                si(row.first_decode_time_s, "s"),
            ]
        )
    t.caption = _caption(hidden, "stages")
    return t


def _chiplet_row(c: ChipletRow) -> list[str]:
    streamed = c.arrays_used > c.arrays_capacity
    return [
        str(c.chiplet),
        ", ".join(c.stages) or "-",
        f"{count(c.arrays_used)} "
        + ("streamed" if streamed else f"({pct(c.arrays_used, c.arrays_capacity)})"),
        f"{min(c.kv_layers)}-{max(c.kv_layers)}" if c.kv_layers else "-",
        count(c.kv_tokens_on_package),
        f"{ratio_pct(c.prefill_utilisation)} / {ratio_pct(c.decode_utilisation)}",
        si(c.energy_j, "J"),
    ]


def chiplets_table(r: ProfileResult, max_rows: int | None) -> Table:
    caps = {c.arrays_capacity for c in r.chiplets}
    title = f"chiplets ({count(caps.pop())} arrays each)" if len(caps) == 1 else "chiplets"
    heads = ("chiplet", "stages", "arrays", "KV layers", "KV tok SRAM", "util p/d", "energy")
    t = Table(title, [Col(h, "left" if h in ("stages", "KV layers") else "right") for h in heads])
    shown, hidden = _elided(r.chiplets, max_rows)
    t.rows.extend(None if c is None else _chiplet_row(c) for c in shown)
    t.caption = _caption(hidden, "chiplets")
    return t


def links_table(r: ProfileResult, max_rows: int | None) -> Table:
    used = [ln for ln in r.links if ln.prefill_bytes + ln.decode_bytes > 0]
    busiest = sorted(used, key=lambda ln: -(ln.prefill_bytes + ln.decode_bytes))
    hidden = 0
    title = f"die-to-die links carrying traffic ({len(used)} of {len(r.links)} directed)"
    if max_rows is not None and len(busiest) > max_rows:
        hidden = len(busiest) - max_rows
        used = sorted(busiest[:max_rows], key=lambda ln: (ln.src, ln.dst))
        title = f"die-to-die links: the {max_rows} busiest of {len(busiest)} with traffic ({len(r.links)} directed)"
    heads = ("link", "prefill B", "decode B", "B/out token", "busy", "util", "energy")
    t = Table(title, [Col(h, "left" if h == "link" else "right") for h in heads])
    for ln in used:
        t.add(
            f"{ln.src}->{ln.dst}",
            si(ln.prefill_bytes, "B"),
            si(ln.decode_bytes, "B"),
            si(ln.bytes_per_output_token, "B"),
            si(ln.busy_s, "s"),
            ratio_pct(ln.utilisation, 2),
            si(ln.energy_j, "J"),
        )
    if hidden:
        t.rows.append(None)
    t.caption = _caption(hidden, "links with less traffic")
    return t


def energy_tables(r: ProfileResult) -> list[Table]:
    total = r.summary.energy_j
    heads = ("component", "action", "count", "J/action", "energy", "share")
    en = Table(
        "energy by component (count x energy per action)",
        [Col(h, "left" if h in ("component", "action") else "right") for h in heads],
    )
    for row in sorted(r.energy_table, key=lambda x: -x.energy_j):
        if row.count == 0:
            continue
        en.add(
            row.component,
            row.action,
            f"{row.count:.4g}",
            si(row.energy_per_action_j, "J"),
            si(row.energy_j, "J"),
            pct(row.energy_j, total),
        )
    ok = Table(
        "energy by op kind",
        [Col("op kind")] + [Col(h, "right") for h in ("prefill", "decode", "total", "share")],
    )
    for g in sorted(r.op_kinds, key=lambda x: -x.energy_j):
        ok.add(
            g.name,
            si(g.prefill_energy_j, "J"),
            si(g.decode_energy_j, "J"),
            si(g.energy_j, "J"),
            pct(g.energy_j, total),
        )
    return [en, ok]


def kv_line(r: ProfileResult) -> Line:
    kv = r.kv
    return Line(
        f"{si(kv.bytes_per_token, 'B')}/token at {kv.kv_bits} bits; {count(kv.on_package_tokens)} tokens fit in "
        f"chiplet SRAM, {count(kv.offpkg_tokens)} more off-package (capacity {count(kv.capacity_tokens)}); "
        f"peak {count(r.kv_peak_tokens)} tokens, {count(r.kv_spilled_tokens_at_end)} spilled at the last step",
        label="KV cache",
    )


def precision_table(r: ProfileResult) -> Table:
    heads = ("role", "ops", "w bits", "a bits", "outliers", "N:M", "arrays", "weights")
    t = Table(
        "precision schedule (linear ops by role)", [Col(h, "left" if h == "role" else "right") for h in heads]
    )
    for p in r.precision:
        t.add(
            p.role,
            str(p.ops),
            p.weight_bits,
            p.act_bits,
            ratio_pct(p.outlier_fraction, 2),
            p.sparsity,
            count(p.arrays),
            si(p.weight_params, ""),
        )
    return t


def comparison_line(r: ProfileResult) -> Line | None:
    c = r.comparison
    if c is None:
        return None
    if c.reference_error is not None or c.arrays_saving is None:
        return Line(
            f"reference not profiled: {c.reference_error}", label=f"savings vs {c.reference}", style="warn"
        )
    text = (
        f"(dense, no outliers) arrays {100 * c.arrays_saving:+.1f}%, energy/token "
        f"{100 * (c.energy_saving or 0.0):+.1f}%, TPOT {100 * (c.tpot_saving or 0.0):+.1f}%"
    )
    return Line(text + (f" ({c.note})" if c.note else ""), label=f"savings vs {c.reference}")


def baseline_blocks(r: ProfileResult) -> list[Block]:
    b, s = r.baseline, r.summary
    if b is None:
        return []
    t = Table(
        f"baseline: {b.name} roofline ({b.format})",
        [Col("metric"), Col("IMC", "right"), Col(b.name, "right"), Col(f"{b.name}/IMC", "right")],
    )
    t.add("TTFT", si(s.ttft_s, "s"), si(b.ttft_s, "s"), f"{b.ttft_s / s.ttft_s:.3g}x" if s.ttft_s else "-")
    t.add("TPOT (mean)", si(s.mean_tpot_s, "s"), si(b.mean_tpot_s, "s"), f"{b.speedup_tpot:.3g}x")
    t.add(
        "tokens/s",
        f"{s.tokens_per_s:,.1f}",
        f"{b.tokens_per_s:,.1f}",
        f"{b.tokens_per_s / s.tokens_per_s:.3g}x" if s.tokens_per_s else "-",
    )
    t.add(
        "energy/output token",
        si(s.energy_per_output_token_j, "J"),
        si(b.energy_per_output_token_j, "J"),
        f"{b.energy_ratio:.3g}x",
    )
    bound = f"prefill {b.prefill_bound}, decode {b.decode_bound}"
    if not b.fits_in_memory:
        return [t, Line(bound + " (weights + KV exceed its memory)", label="baseline bound", style="warn")]
    return [t, Line(bound, label="baseline bound")]


def profile_blocks(r: ProfileResult, max_rows: int | None = DEFAULT_MAX_ROWS) -> list[Block]:
    """The whole report as blocks; long tables keep ``max_rows`` rows (None: every row)."""
    blocks: list[Block | None] = [
        summary_table(r),
        phases_table(r),
        latency_line(r),
        stages_table(r, max_rows),
        chiplets_table(r, max_rows),
        links_table(r, max_rows),
        *energy_tables(r),
        kv_line(r),
        precision_table(r),
        comparison_line(r),
        *baseline_blocks(r),
        *(Line(note, label="note", style="note") for note in r.notes),
    ]
    return [b for b in blocks if b is not None]


def render_profile(
    r: ProfileResult,
    console: Console,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    fmt: ReportFormat = "table",
) -> None:
    """Print the profile report in ``fmt`` (JSON: the whole result, every row)."""
    if fmt == "json":
        console.out(r.model_dump_json(indent=2), highlight=False)
    elif r.gpu is not None:  # a GPU system: its own layout (llmimc.report.gpu_report)
        from llmimc.report.gpu_report import render_gpu_profile

        render_gpu_profile(r, console)
    elif fmt == "markdown":
        console.out(render_markdown(profile_blocks(r, max_rows)), highlight=False, end="")
    else:
        render_rich(profile_blocks(r, max_rows), console, plain=fmt == "plain")
