"""`llmimc` entry point: registers the sub-commands. Heavy imports stay inside the commands."""

from __future__ import annotations

import warnings

import typer

from llmimc import __version__
from llmimc_cli import accuracy_cmd, hw_cmd, model_cmd, presets_cmd, profile_cmd, serve_cmd, sweep_cmd
from llmimc_cli._common import OneLineErrorsGroup

app = typer.Typer(
    name="llmimc",
    help="LLM-focused, serving-style emulator for in-memory-computing chiplet systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=OneLineErrorsGroup,
)

app.command("models")(model_cmd.models_cmd)
app.add_typer(model_cmd.app, name="model")
app.add_typer(hw_cmd.app, name="hw")
app.command("presets")(presets_cmd.presets_cmd)
app.command("profile")(profile_cmd.profile_cmd)
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
    # transformers >= 5.24 warns on every trace that `past_key_values` becomes `cache` in 5.40
    # (llmimc's tracer passes it; pyproject pins transformers < 6): not the user's concern.
    warnings.filterwarnings("ignore", message=r".*`past_key_values` is deprecated", category=FutureWarning)
    app()


if __name__ == "__main__":
    run()
