"""`llmimc hw` commands: list built-in specs, show derived figures, validate spec files, export JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from llmimc_cli._common import EXIT_BAD_INPUT, console, err_console, friendly_errors

hw_app = typer.Typer(
    help="Hardware specs: list, show derived figures, validate, JSON Schema.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.add_typer(hw_app, name="hw")


def _si(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    for factor, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _bytes(n: float) -> str:
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n:.0f} B"


@hw_app.command("list")
@friendly_errors
def list_cmd() -> None:
    """List the built-in hardware specs."""
    from llmimc.hw import DEFAULT_BASELINE, DEFAULT_IMC_SPEC, list_builtin_specs

    table = Table(title="built-in hardware specs")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("description", overflow="fold")
    for b in list_builtin_specs():
        tag = " (default)" if b.name in (DEFAULT_IMC_SPEC, DEFAULT_BASELINE) else ""
        table.add_row(escape(b.name + tag), b.kind, escape(b.description))
    console.print(table)


@hw_app.command("show")
@friendly_errors
def show_cmd(
    ref: str = typer.Argument(..., help="Built-in spec name or path to a .yaml/.json spec."),
    chiplets: int | None = typer.Option(
        None, "--chiplets", min=1, help="Override the package's chiplet count."
    ),
    weight_bits: int = typer.Option(
        8, "--weight-bits", min=1, max=32, help="Weight precision for peak and capacity."
    ),
    input_bits: int = typer.Option(8, "--input-bits", min=1, max=32, help="Input (activation) precision."),
    as_json: bool = typer.Option(False, "--json", help="Print the derived figures as JSON."),
) -> None:
    """Show derived figures: peak MAC/s, TOPS/W, TOPS/mm2 per level, capacity, SRAM, link bandwidth."""
    from llmimc.hw import DigitalBaselineSpec, derive, derive_baseline, load_spec

    spec = load_spec(ref)
    if isinstance(spec, DigitalBaselineSpec):
        fig = derive_baseline(spec)
        if as_json:
            typer.echo(fig.model_dump_json(indent=2))
            return
        table = Table(title=escape(f"{spec.name} (digital baseline)"))
        for col in ("format", "peak", "achievable", "ridge FLOP/B", "TFLOPS/W @ board power"):
            table.add_column(col)
        for fmt, peak in fig.peak_flops_per_s.items():
            table.add_row(
                fmt,
                _si(peak, "FLOP/s"),
                _si(fig.achievable_flops_per_s[fmt], "FLOP/s"),
                f"{fig.ridge_flops_per_byte[fmt]:.0f}",
                f"{fig.tflops_per_w_at_board_power[fmt]:.2f}",
            )
        console.print(table)
        console.print(
            f"memory {_bytes(fig.memory_capacity_bytes)}, {_si(fig.memory_bw_bytes_per_s, 'B/s')} peak, "
            f"{_si(fig.achievable_bw_bytes_per_s, 'B/s')} achievable; board power {spec.board_power_w:g} W",
            markup=False,
        )
        return
    fig = derive(spec, chiplets, input_bits=input_bits, weight_bits=weight_bits)
    if as_json:
        typer.echo(fig.model_dump_json(indent=2))
        return
    m = fig.mvm
    console.print(
        escape(
            f"{spec.name}: {fig.num_chiplets} chiplets, {fig.arrays_per_chiplet} arrays/chiplet of "
            f"{spec.chiplet.array.rows}x{spec.chiplet.array.cols} {spec.chiplet.array.cell_technology.value} "
            f"cells ({fig.bits_per_cell} b/cell{', differential' if fig.differential else ''})"
        )
    )
    console.print(
        f"precision: {fig.input_bits}-bit inputs x {fig.weight_bits}-bit weights "
        f"({m.slices_per_weight} slice(s), {m.cells_per_weight} cell(s)/weight); MVM {m.input_cycles} input step(s) x "
        f"{m.row_groups} row group(s) of {m.rows_per_cycle} rows x {_si(m.cycle_time_s, 's')} = {_si(m.mvm_time_s, 's')}, {_si(m.energy_j, 'J')} "
        f"(read {_si(m.read_energy_j, 'J')}, ADC {_si(m.adc_energy_j, 'J')}, DAC {_si(m.dac_energy_j, 'J')}, "
        f"accumulate {_si(m.accumulate_energy_j, 'J')})",
        markup=False,
    )
    table = Table(title="peak figures (1 MAC = 2 ops)")
    for col in ("level", "arrays", "peak MAC/s", "TOPS", "power", "TOPS/W", "TOPS/mm2"):
        table.add_column(col, no_wrap=True)
    for lvl in (fig.array, fig.tile, fig.chiplet, fig.package):
        table.add_row(
            lvl.level,
            str(lvl.arrays),
            _si(lvl.peak_macs_per_s, "MAC/s"),
            f"{lvl.peak_tops:.4g}",
            _si(lvl.power_at_peak_w, "W"),
            f"{lvl.tops_per_w:.3g}",
            "n/a" if lvl.tops_per_mm2 is None else f"{lvl.tops_per_mm2:.3g}",
        )
    console.print(table)
    for lvl in (fig.array, fig.tile, fig.chiplet, fig.package):
        console.print(f"  {lvl.level} power: {lvl.power_includes}", markup=False, highlight=False)
    ln = fig.links
    lines = [
        f"weight capacity at {fig.weight_bits}-bit: {fig.weight_capacity_params:,} params "
        f"({fig.weight_capacity_params_per_chiplet:,} per chiplet; upper bound, no fragmentation)",
        f"SRAM: global {_bytes(fig.global_sram_bytes_per_chiplet)}/chiplet ({_bytes(fig.global_sram_bytes_total)} total), "
        f"tile-local {_bytes(fig.local_sram_bytes_per_chiplet)}/chiplet",
        f"off-package memory: {_bytes(fig.off_package_memory_bytes)}, {_si(fig.off_package_bw_bytes_per_s, 'B/s')}",
        f"die-to-die: {ln.topology}, {ln.num_links} links of {_si(ln.per_link_bw_bytes_per_s, 'B/s')} per direction, "
        f"{_si(ln.link_latency_s, 's')}, {ln.energy_per_bit_j * 1e12:.3g} pJ/bit; bisection {ln.bisection_links} links = "
        f"{_si(ln.bisection_bw_bytes_per_s, 'B/s')}; diameter {ln.diameter_hops} hops",
    ]
    pw = spec.chiplet.power
    lines.append(
        f"leakage: {_si(fig.chiplet.power_at_peak_w - fig.chiplet.arrays * m.energy_j / m.mvm_time_s, 'W')} per "
        "chiplet with every component powered; "
        + (
            f"power-gated when empty or idle (wake-up {_si(pw.wakeup_time_s, 's')}), see llmimc/cost/power.py"
            if pw.power_gating
            else "no power gating: every chiplet leaks all the time"
        )
    )
    if m.adc_clipped_bits:
        lines.append(
            f"note: {m.rows_per_cycle} rows per cycle give column sums {m.adc_clipped_bits} bit(s) wider than the "
            f"{spec.chiplet.array.adc.bits}-bit ADC resolves: conversion is lossy (range-clipped)"
        )
    for line in lines:
        console.print(line, markup=False, highlight=False)


@hw_app.command("validate")
def validate_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files to check (.yaml/.yml/.json)."),
) -> None:
    """Validate spec files: one line per file; exit code 2 if any is invalid."""
    from llmimc.errors import LlmimcError, one_line
    from llmimc.hw import load_spec_file

    bad = 0
    for path in paths:
        try:
            spec = load_spec_file(path)
        except LlmimcError as err:
            bad += 1
            err_console.print(f"[bold red]invalid:[/] {escape(one_line(str(err)))}", highlight=False)
        else:
            console.print(escape(f"ok: {path} ({spec.kind} spec '{spec.name}')"), highlight=False)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@hw_app.command("schema")
@friendly_errors
def schema_cmd(
    out: Path | None = typer.Option(None, "--out", help="Write the JSON Schema here instead of stdout."),
) -> None:
    """Export the JSON Schema of both spec kinds (imc and digital) for editor completion."""
    from llmimc.hw import spec_json_schema

    text = json.dumps(spec_json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(escape(f"wrote {out}"), highlight=False)
