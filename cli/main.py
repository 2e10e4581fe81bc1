"""`llmimc` entry point: registers the sub-commands. Heavy imports stay inside the commands."""

from __future__ import annotations

import typer

from llmimc import __version__
from llmimc_cli import accuracy_cmd, hw_cmd, model_cmd, profile_cmd, serve_cmd, sweep_cmd

app = typer.Typer(
    name="llmimc",
    help="LLM-focused, serving-style emulator for in-memory-computing chiplet systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

model_cmd.register(app)
hw_cmd.register(app)
profile_cmd.register(app)
serve_cmd.register(app)
sweep_cmd.register(app)
accuracy_cmd.register(app)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
