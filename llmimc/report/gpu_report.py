"""Terminal report of a GPU ProfileResult (``ProfileResult.gpu`` set): summary, phases, kernels, memory.

Rendering only: every number comes from the ProfileResult (``llmimc.gpu.profile``).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmimc.report.units import si, sparkline
from llmimc.sim.profile import ProfileResult


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def render_gpu_profile(r: ProfileResult, console: Console) -> None:
    """Print a GPU profile: the same headline metrics as an IMC run plus the kernel breakdown."""
    g = r.gpu
    assert g is not None
    s = r.summary
    head = Table(
        title=escape(
            f"llmimc profile: {r.model_id} on {g.num_gpus} x {r.spec_name} ({g.software_stack} stack, {r.policy_name})"
        )
    )
    head.add_column("metric")
    head.add_column("value", justify="right")
    for k, v in (
        ("batch x prompt / generated", f"{r.batch} x {r.prompt_len} / {r.gen_len}"),
        ("TTFT", si(s.ttft_s, "s")),
        ("time per output token (mean)", si(s.mean_tpot_s, "s")),
        ("time per output token (p99)", si(s.p99_tpot_s, "s")),
        ("output tokens/s", f"{s.tokens_per_s:,.1f}"),
        ("energy per output token", si(s.energy_per_output_token_j, "J")),
        ("prefill energy per prompt token", si(s.prefill_energy_per_prompt_token_j, "J")),
        ("total energy", si(s.energy_j, "J")),
        ("idle share of energy", _pct(s.static_energy_j, s.energy_j)),
        ("tensor-core format", g.compute_format),
        ("weights (whole model)", si(g.weight_bytes, "B")),
        ("usable memory per GPU", si(g.memory_usable_bytes_per_gpu, "B")),
        ("KV cache capacity", f"{g.kv_capacity_tokens:,} tokens ({si(g.kv_bytes_per_token, 'B')}/token)"),
        ("NVLink bytes per decode token", si(s.d2d_bytes_per_decode_token, "B")),
    ):
        head.add_row(k, v)
    console.print(head)

    ph = Table(title="phases (per GPU kernel time)")
    for c in (
        "phase",
        "iterations",
        "kernels/iter",
        "latency",
        "energy",
        "energy/token",
        "HBM bytes",
        "bound",
    ):
        ph.add_column(c, justify="left" if c in ("phase", "bound") else "right")
    for p, gp in zip(r.phases, g.phases, strict=True):
        ph.add_row(
            p.phase,
            str(p.iterations),
            f"{gp.kernels_per_iteration:,.0f}",
            si(p.latency_s, "s"),
            si(p.energy_j, "J"),
            si(p.energy_per_token_j, "J"),
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

    kt = Table(title="kernel time by kind (share of phase)")
    for c in ("kernel", "prefill", "share", "decode", "share"):
        kt.add_column(c, justify="left" if c == "kernel" else "right")
    pre, dec = g.phases[0].time_by_kernel_s, g.phases[1].time_by_kernel_s
    tp, td = sum(pre.values()), sum(dec.values())
    for lab in sorted(set(pre) | set(dec), key=lambda k: -(pre.get(k, 0.0) + dec.get(k, 0.0))):
        a, b = pre.get(lab, 0.0), dec.get(lab, 0.0)
        kt.add_row(lab, si(a, "s"), _pct(a, tp), si(b, "s"), _pct(b, td))
    console.print(kt)
    bt = Table(title="time by bound")
    for c in ("phase", "compute", "memory", "latency (kernel floor)", "link"):
        bt.add_column(c, justify="left" if c == "phase" else "right")
    for gp in g.phases:
        tot = sum(gp.time_by_bound_s.values())
        bt.add_row(
            gp.phase,
            *[_pct(gp.time_by_bound_s.get(b, 0.0), tot) for b in ("compute", "memory", "latency", "link")],
        )
    console.print(bt)
    if r.baseline is not None:
        base = r.baseline
        console.print(
            f"[bold]baseline {base.name} ({base.format})[/]: TTFT {si(base.ttft_s, 's')}, TPOT {si(base.mean_tpot_s, 's')}, "
            f"{base.tokens_per_s:,.1f} tokens/s, {si(base.energy_per_output_token_j, 'J')}/token"
        )
    for note in r.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
