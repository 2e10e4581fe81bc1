"""Rendering of accuracy results and mapping-search fronts (rich tables); no computation here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # pragma: no cover
    from llmimc.accuracy.result import AccuracyResult
    from llmimc.accuracy.search import SearchResult

DEFAULT_MAX_OP_ROWS = 12


def _pm(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def render_accuracy(r: AccuracyResult, console: Console, max_rows: int | None = DEFAULT_MAX_OP_ROWS) -> None:
    """Metrics vs float, PPA of the same plan, the least accurate ops, notes and timing."""
    console.print(
        f"[bold]{r.model_id}[/] on [bold]{r.hw_name}[/] ({r.cell_technology}), policy {r.policy_name}"
        + (f", N:M {r.sparsity}" if r.sparsity else "")
        + f"; {r.encoding} weights, {r.input_encoding or 'n/a'} inputs; noise {r.noise_model}, drift {r.drift_s:g} s, ADC {r.adc}, GDC {'on' if r.gdc else 'off'}"
        + (f", {r.compensation.upper()} rounding" if r.compensation != "none" else "")
    )
    console.print(
        f"text {r.text_source} (sha256 {r.text_sha256[:16]}{'' if r.text_pinned else ', not pinned'}): "
        f"{r.windows} windows x {r.seq_len}, {r.tokens_scored} scored tokens; calibration {r.calib_tokens} tokens"
    )
    t = Table(title="accuracy vs the float model")
    for col in ("config", "PPL", "KL (nats/token)", "top-1 agreement"):
        t.add_column(col, justify="right")
    t.add_row("float", f"{r.fp_ppl:.3f}", "0", "1")
    for s in r.seeds:
        t.add_row(f"seed {s.seed}", f"{s.ppl:.3f}", f"{s.kl:.4f}", f"{s.top1:.4f}")
    t.add_row(
        "[bold]mean ± std[/]",
        _pm(r.ppl.mean, r.ppl.std, 3),
        _pm(r.kl.mean, r.kl.std, 4),
        _pm(r.top1.mean, r.top1.std, 4),
    )
    console.print(t)
    if r.ppa is not None:
        p = r.ppa
        console.print(
            f"PPA (same plan, batch 1, {p.prompt_len}+{p.gen_len} tokens): TTFT {p.ttft_s * 1e3:.3f} ms, "
            f"TPOT {p.mean_tpot_s * 1e3:.3f} ms, {p.energy_per_output_token_j * 1e3:.3f} mJ/token, "
            f"analog-MAC ratio {p.analog_mac_ratio:.4f}, {p.arrays_used} arrays on {p.chiplets_used} chiplet(s)"
        )
    elif r.ppa_error:
        console.print(f"PPA: {r.ppa_error}")
    ops = sorted(r.ops, key=lambda o: o.out_sqnr_db if o.out_sqnr_db is not None else 1e9)
    shown = ops if max_rows is None else ops[:max_rows]
    ot = Table(title=f"per-op output SQNR, least accurate first ({len(shown)} of {len(ops)})")
    for col in ("op", "place", "w/a", "outl.", "slices", "row blk", "in cyc", "ADC", "SQNR dB"):
        ot.add_column(col, justify="right")
    for o in shown:
        ot.add_row(
            o.op_name, o.placement, f"{o.weight_bits}/{o.act_bits}", str(o.outlier_rows), str(o.slices),
            str(o.row_blocks), str(o.input_cycles), "ideal" if o.adc_bits is None else str(o.adc_bits),
            "-" if o.out_sqnr_db is None else f"{o.out_sqnr_db:.1f}",
        )  # fmt: skip
    console.print(ot)
    for n in r.notes:
        console.print(f"note: {n}")
    tm = r.timing
    console.print(
        f"time: load {tm.load_s:.1f} s, float {tm.fp_s:.1f} s, program {tm.program_s:.1f} s, "
        f"ADC calibration {tm.calibrate_s:.1f} s, evaluation {tm.eval_s:.1f} s; {tm.cpu_s:.1f} CPU-s, {tm.wall_s:.1f} s wall"
    )


def render_search(s: SearchResult, console: Console, max_rows: int = DEFAULT_MAX_OP_ROWS) -> None:
    """The per-op sensitivities, the accuracy / analog-MAC-ratio front and the chosen placement."""
    st = Table(title=f"per-op sensitivity: KL increase when alone analog (all-digital KL {s.digital_kl:.4f})")
    for col in ("op", "MACs/token", "dKL"):
        st.add_column(col, justify="right")
    for o in sorted(s.sensitivities, key=lambda o: -o.delta_kl)[:max_rows]:
        st.add_row(o.op_name, f"{o.macs_per_token:.3g}", f"{o.delta_kl:.5f}")
    console.print(st)
    t = Table(title=f"accuracy / analog-MAC-ratio front ({s.metric} budget {s.budget:g})")
    for col in (
        "digital ops",
        "analog-MAC ratio",
        "predicted KL",
        "measured KL",
        "measured PPL",
        "within budget",
    ):
        t.add_column(col, justify="right")
    for p in s.front:
        t.add_row(
            str(p.digital_ops), f"{p.analog_mac_ratio:.4f}", f"{p.predicted_kl:.4f}",
            "-" if p.measured_kl is None else f"{p.measured_kl:.4f}",
            "-" if p.measured_ppl is None else f"{p.measured_ppl:.3f}",
            "-" if p.within_budget is None else ("yes" if p.within_budget else "no"),
        )  # fmt: skip
    console.print(t)
    console.print(
        f"chosen: {len(s.digital_ops)} op(s) digital, analog-MAC ratio {s.analog_mac_ratio:.4f}, "
        f"measured KL {s.kl:.4f}, PPL {s.ppl:.3f} (float {s.fp_ppl:.3f})"
    )
    for n in s.notes:
        console.print(f"note: {n}")
