"""`llmimc` entry point: registers the sub-commands. Heavy imports stay inside the commands.

``app`` has every command. The console script (``run``) builds a root app with only the command
named on the command line, when there is one: the other commands' modules are not imported and
typer does not build their parameters (click's "lazily loading subcommands" pattern, done at
registration). ``llmimc``, ``llmimc --help`` and an unknown name get every command, as ``app`` does.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable

import typer

from llmimc import __version__
from llmimc_cli._common import OneLineErrorsGroup


def _register_models(app: typer.Typer) -> None:
    from llmimc_cli import model_cmd

    app.command("models")(model_cmd.models_cmd)


def _register_model(app: typer.Typer) -> None:
    from llmimc_cli import model_cmd

    app.add_typer(model_cmd.app, name="model")


def _register_hw(app: typer.Typer) -> None:
    from llmimc_cli import hw_cmd

    app.add_typer(hw_cmd.app, name="hw")


def _register_presets(app: typer.Typer) -> None:
    from llmimc_cli import presets_cmd

    app.command("presets")(presets_cmd.presets_cmd)


def _register_profile(app: typer.Typer) -> None:
    from llmimc_cli import profile_cmd

    app.command("profile")(profile_cmd.profile_cmd)


Registrar = Callable[[typer.Typer], None]


def _module_register(module: str) -> Registrar:
    def register(app: typer.Typer) -> None:
        importlib.import_module(f"llmimc_cli.{module}").register(app)

    return register


# command name -> what registers it, in `llmimc --help` order (a module's register() may add several)
_REGISTRARS: dict[str, Registrar] = {
    "models": _register_models,
    "model": _register_model,
    "hw": _register_hw,
    "presets": _register_presets,
    "profile": _register_profile,
    "serve": _module_register("serve_cmd"),
    "sweep": _module_register("sweep_cmd"),
    "accuracy": _module_register("accuracy_cmd"),
    "accuracy-search": _module_register("accuracy_cmd"),
}


def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


def build_app(only: str | None = None) -> typer.Typer:
    """The root app with every command, or only command ``only`` (a name from the registry)."""
    root = typer.Typer(
        name="llmimc",
        help="LLM-focused, serving-style emulator for in-memory-computing chiplet systems.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        cls=OneLineErrorsGroup,
    )
    done: set[Registrar] = set()
    for name, register in _REGISTRARS.items():
        if (only is None or name == only) and register not in done:
            register(root)
            done.add(register)
    root.callback(invoke_without_command=True)(_root)
    return root


app = build_app()


def _requested(argv: list[str]) -> str | None:
    """The command named first on the command line, if it is one llmimc has."""
    for arg in argv:
        if arg.startswith("-"):
            return None  # a root option (--help, --version) comes first: the full app answers
        return arg if arg in _REGISTRARS else None
    return None


def run() -> None:
    # transformers >= 5.24 warns on every trace that `past_key_values` becomes `cache` in 5.40
    # (llmimc's tracer passes it; pyproject pins transformers < 6): not the user's concern.
    warnings.filterwarnings("ignore", message=r".*`past_key_values` is deprecated", category=FutureWarning)
    build_app(_requested(sys.argv[1:]))()


if __name__ == "__main__":
    run()
