"""Rich terminal report of a serving run (``llmimc serve``): latency percentiles, throughput, goodput,
energy, die-to-die traffic, KV occupancy over time and rejections. Metric definitions are in
``llmimc.sim.serve_models``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from llmimc.report.units import si
from llmimc.sim.serve_models import Percentiles, ServeResult

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 60, top: float = 1.0) -> str:
    """One character per bucket of ``values`` (bucket maximum), scaled to [0, top]."""
    if not values:
        return ""
    n = len(values)
    width = min(width, n)
    out = []
    for b in range(width):
        chunk = values[b * n // width : max((b + 1) * n // width, b * n // width + 1)]
        level = max(chunk) / top if top > 0 else 0.0
        out.append(_BARS[min(len(_BARS) - 1, max(0, int(round(level * (len(_BARS) - 1)))))])
    return "".join(out)


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1e3:,.2f}"


def _si(v: float | None, unit: str) -> str:
    return "–" if v is None else si(v, unit)


def _latency_table(result: ServeResult) -> Table:
    table = Table(title="Latency (ms)", title_justify="left")
    labels = [f"p{q:g}" for q in result.config.percentiles]
    for col in ("metric", "count", "mean", *labels):
        table.add_column(col, justify="left" if col == "metric" else "right")

    def row(name: str, p: Percentiles) -> None:
        table.add_row(name, f"{p.count:,}", _ms(p.mean), *(_ms(p.values.get(lb)) for lb in labels))

    if result.queue_delay_s is not None:
        row("queueing delay (arrival to admission)", result.queue_delay_s)
    row("time to first token", result.ttft_s)
    row("time between tokens", result.tbt_s)
    row("time per output token (per request)", result.tpot_s)
    row("end-to-end latency", result.e2e_s)
    return table


def _summary_table(result: ServeResult) -> Table:
    table = Table(title="Serving summary", title_justify="left", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    cfg = result.config
    add = table.add_row
    add(
        "requests finished / rejected / all",
        f"{result.num_finished:,} / {result.num_rejected:,} / {result.num_requests:,}",
    )
    add("simulated time", f"{result.simulated_time_s:,.2f} s ({result.iterations:,} iterations)")
    add("busy time", f"{result.busy_time_s:,.2f} s")
    add(
        "throughput",
        f"{result.throughput_output_tokens_per_s:,.1f} output tok/s, {result.throughput_requests_per_s:,.3f} req/s",
    )
    add("total-token throughput (prompt + output)", f"{result.throughput_total_tokens_per_s:,.1f} tok/s")
    if result.goodput_requests_per_s is None:
        add("goodput", "– (give --slo-ttft-s, --slo-tpot-s and/or --slo-e2e-s)")
    else:
        slos = []
        if cfg.slo_ttft_s is not None:
            slos.append(f"TTFT ≤ {cfg.slo_ttft_s:g} s")
        if cfg.slo_tpot_s is not None:
            slos.append(f"TPOT ≤ {cfg.slo_tpot_s:g} s")
        if cfg.slo_e2e_s is not None:
            slos.append(f"E2E ≤ {cfg.slo_e2e_s:g} s")
        add(
            f"goodput ({', '.join(slos)})",
            f"{result.goodput_requests_per_s:,.3f} req/s ({result.slo_attainment:.1%} of requests)",
        )
    add(
        "energy: iterations + idle static = total",
        f"{_si(result.energy_j, 'J')} + {_si(result.idle_energy_j, 'J')} = {_si(result.total_energy_j, 'J')}",
    )
    add(
        "energy per request / output token (excl. idle static)",
        f"{_si(result.energy_per_request_j, 'J')} / {_si(result.energy_per_output_token_j, 'J')}",
    )
    per_tok = result.d2d_bytes / result.output_tokens if result.output_tokens else None
    add("die-to-die traffic", f"{_si(result.d2d_bytes, 'B')} ({_si(per_tok, 'B')} per output token)")
    add("off-package traffic", _si(result.offpkg_bytes, "B"))
    add(
        "prompt tokens computed / cached",
        f"{result.prefill_tokens_computed:,} / {result.prefix_cache_hit_tokens:,}",
    )
    if result.prefix_block_tokens:
        ideal = result.prefix_cache_ideal_hit_tokens / result.prompt_tokens if result.prompt_tokens else 0.0
        add(
            "prefix-cache hit rate (first admissions) / unbounded-cache ideal",
            f"{result.prefix_cache_hit_rate:.1%} / {ideal:.1%} "
            f"(+{result.prefix_cache_readmit_hit_tokens:,} tokens hit at re-admissions)",
        )
    if cfg.preemption == "swap":
        add(
            "preemptions (swap to off-package memory)",
            f"{result.preemptions:,}: {result.swap_outs:,} swapped out, {result.swap_ins:,} back in, "
            f"{result.swap_fallbacks:,} recomputed (swap space full)",
        )
        add(
            "swap traffic out / in, time, energy",
            f"{_si(result.swap_out_bytes, 'B')} / {_si(result.swap_in_bytes, 'B')}, "
            f"{result.swap_time_s:,.3f} s, {_si(result.swap_energy_j, 'J')} (peak "
            f"{_si(result.swap_peak_used_bytes, 'B')} of {_si(cfg.swap_space_bytes, 'B')} swap space)",
        )
    else:
        add("preemptions (recompute)", f"{result.preemptions:,}")
    if result.package_link is not None:
        mean = result.kv_transfer_s.mean if result.kv_transfer_s is not None else None
        add(
            f"KV transfers over {result.package_link}",
            f"{_si(result.kv_transfer_bytes, 'B')}, {_si(result.kv_transfer_energy_j, 'J')}, "
            f"mean {_ms(mean)} ms per request (link queue + transfer)",
        )
    add(
        "KV capacity",
        f"{result.kv_capacity_tokens:,} tokens ({result.kv_on_package_tokens:,} on package), "
        f"{result.kv_total_blocks:,} blocks of {cfg.block_tokens}",
    )
    add(
        "scheduler",
        f"max batch {cfg.max_batch}, token budget {cfg.max_tokens_per_iter}, chunk {cfg.chunk_size}, "
        f"watermark {cfg.watermark_fraction:g}",
    )
    return table


def _replica_table(result: ServeResult) -> Table:
    table = Table(
        title=f"{'Packages (prefill first)' if result.package_link else 'Replicas'} "
        f"({result.num_replicas} packages, router {result.router}; load imbalance max/mean: "
        f"requests {result.load_imbalance_requests or 0:.2f}, busy time {result.load_imbalance_busy or 0:.2f})",
        title_justify="left",
    )
    for col in ("replica", "requests", "finished", "busy s", "output tok/s", "TTFT p50 ms", "TTFT p99 ms"):
        table.add_column(col, justify="right")
    table.add_column("preempt", justify="right")
    table.add_column("KV peak", justify="right")
    for r in result.replicas:
        table.add_row(
            str(r.replica),
            f"{r.num_requests:,}",
            f"{r.num_finished:,}",
            f"{r.busy_time_s:,.1f}",
            f"{r.throughput_output_tokens_per_s:,.1f}",
            _ms(r.ttft_s.p50),
            _ms(r.ttft_s.p99),
            f"{r.preemptions:,}",
            f"{r.kv_peak_used_fraction:.0%}",
        )
    return table


def cfg_caching_unused(result: ServeResult) -> bool:
    """True when prefix caching was asked for but no request had prefix-block ids to share."""
    return result.config.enable_prefix_caching and result.prefix_block_tokens == 0


def render_serve_report(result: ServeResult, console: Console, title: str) -> None:
    """Print the serving report for ``result`` under ``title``."""
    console.rule(f"[bold]{title}")
    console.print(_summary_table(result))
    console.print(_latency_table(result))
    if result.replicas:
        console.print(_replica_table(result))
    kv = result.kv_occupancy
    console.print(
        f"[bold]KV occupancy[/] over {result.simulated_time_s:,.1f} s "
        f"(peak {kv.peak_used_fraction:.1%}, mean {kv.mean_used_fraction:.1%}):"
    )
    top = kv.peak_used_fraction if kv.peak_used_fraction > 0 else 1.0
    console.print(f"  {sparkline(kv.used_fraction, top=top)}  (█ = peak)", highlight=False)
    if result.rejected_by_reason:
        table = Table(title="Rejected requests", title_justify="left")
        table.add_column("reason")
        table.add_column("requests", justify="right")
        for reason, count in result.rejected_by_reason.items():
            table.add_row(reason, f"{count:,}")
        console.print(table)
    if cfg_caching_unused(result):
        console.print(
            "[yellow]prefix caching had no effect[/]: no request carries prefix-block ids "
            "(only Mooncake-style traces with hash_ids have them)"
        )
    if result.skipped_rows:
        skipped = ", ".join(f"{k}: {v:,}" for k, v in result.skipped_rows.items())
        console.print(f"[yellow]trace rows skipped[/] {skipped}")
