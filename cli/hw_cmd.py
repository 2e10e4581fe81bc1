"""`llmimc hw` commands: list built-in specs, show derived figures, validate, export a spec, JSON Schema."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from llmimc.limits import MAX_CHIPLETS
from llmimc_cli._common import (
    EXIT_BAD_INPUT,
    console,
    err_console,
    friendly_errors,
    output_path,
    write_output,
)

app = typer.Typer(
    help="Hardware specs: list, show derived figures, validate, export, JSON Schema.", no_args_is_help=True
)


class SpecFormat(str, Enum):
    yaml = "yaml"
    json = "json"


@app.command("list")
@friendly_errors
def list_cmd() -> None:
    """List the built-in hardware specs."""
    from llmimc.hw import DEFAULT_BASELINE, DEFAULT_IMC_SPEC, list_builtin_specs
    from llmimc.report.hw_report import builtin_specs_table
    from llmimc.report.sections import render_rich

    render_rich([builtin_specs_table(list_builtin_specs(), (DEFAULT_IMC_SPEC, DEFAULT_BASELINE))], console)


@app.command("show")
@friendly_errors
def show_cmd(
    ref: Annotated[
        str, typer.Argument(help="Built-in spec name (llmimc hw list) or path to a .yaml/.json spec.")
    ],
    chiplets: Annotated[
        int | None,
        typer.Option(
            "--chiplets",
            min=1,
            max=MAX_CHIPLETS,
            help="Override the package's chiplet count, 1..1024 (1024 is already wafer scale).",
        ),
    ] = None,
    weight_bits: Annotated[
        int, typer.Option("--weight-bits", min=1, max=32, help="Weight precision for peak and capacity.")
    ] = 8,
    input_bits: Annotated[
        int, typer.Option("--input-bits", min=1, max=32, help="Input (activation) precision.")
    ] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the derived figures as JSON.")] = False,
) -> None:
    """Show derived figures: peak MAC/s, TOPS/W, TOPS/mm2 per level, capacity, SRAM, link bandwidth."""
    from llmimc.hw import DigitalBaselineSpec, derive, derive_baseline, load_spec
    from llmimc.hw.loader import with_chiplets
    from llmimc.report.hw_report import baseline_blocks, imc_blocks
    from llmimc.report.sections import render_rich

    spec = load_spec(ref)
    if isinstance(spec, DigitalBaselineSpec):
        base = derive_baseline(spec)
        if as_json:
            typer.echo(base.model_dump_json(indent=2))
        else:
            render_rich(baseline_blocks(spec, base), console)
        return
    if chiplets is not None:
        spec = with_chiplets(spec, chiplets)
    fig = derive(spec, None, input_bits=input_bits, weight_bits=weight_bits)
    if as_json:
        typer.echo(fig.model_dump_json(indent=2))
    else:
        render_rich(imc_blocks(spec, fig), console)


@app.command("validate")
def validate_cmd(
    refs: Annotated[
        list[str], typer.Argument(help="Spec files (.yaml/.yml/.json) or built-in names to check.")
    ],
) -> None:
    """Validate spec files (or built-in specs): one line each; exit code 2 if any is invalid."""
    from llmimc.errors import LlmimcError, one_line
    from llmimc.hw import load_spec

    bad = 0
    for ref in refs:
        try:
            spec = load_spec(ref)
        except LlmimcError as err:
            bad += 1
            err_console.print(f"[bold red]invalid:[/] {escape(one_line(str(err)))}", highlight=False)
        else:
            console.print(escape(f"ok: {ref} ({spec.kind} spec '{spec.name}')"), highlight=False)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("export")
@friendly_errors
def export_cmd(
    ref: Annotated[str, typer.Argument(help="Built-in spec name (llmimc hw list) or a spec file.")],
    fmt: Annotated[SpecFormat, typer.Option("--format", "-f", help="yaml or json.")] = SpecFormat.yaml,
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Print a spec (with its sources) as a starting point for your own: llmimc hw export NAME > my.yaml."""
    from llmimc.hw import dump_spec, load_spec

    out_path = output_path(out, "--out")
    spec = load_spec(ref)
    text = dump_spec(spec, fmt.value)
    if fmt == SpecFormat.yaml:
        text = (
            f"# exported by `llmimc hw export {ref}`; edit the numbers (and their sources), then use\n"
            "# `llmimc hw validate FILE` and `--hw FILE`. Field reference: `llmimc hw schema`.\n" + text
        )
    if out_path is None:
        typer.echo(text, nl=False)
    else:
        write_output(out_path, text, "--out")


@app.command("schema")
@friendly_errors
def schema_cmd(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON Schema here instead of stdout.")
    ] = None,
) -> None:
    """Export the JSON Schema of both spec kinds (imc and digital) for editor completion."""
    from llmimc.hw import spec_json_schema

    out_path = output_path(out, "--out")
    text = json.dumps(spec_json_schema(), indent=2) + "\n"
    if out_path is None:
        typer.echo(text, nl=False)
    else:
        write_output(out_path, text, "--out")
