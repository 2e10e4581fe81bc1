"""The console script builds only the command it is asked for; every command still answers --help."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from llmimc_cli import main


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["profile", "gpt2", "--chiplets", "8"], "profile"),
        (["accuracy-search", "m"], "accuracy-search"),
        (["model", "show", "gpt2"], "model"),
        (["--help"], None),
        (["--version"], None),
        ([], None),
        (["bogus"], None),
    ],
)
def test_requested_command(argv, expected):
    assert main._requested(argv) == expected


def _names(app: typer.Typer) -> set[str]:
    group = typer.main.get_group(app)
    return set(group.commands)


def test_full_app_has_every_command():
    assert _names(main.app) == set(main._REGISTRARS)


@pytest.mark.parametrize("name", sorted(main._REGISTRARS))
def test_single_command_app_answers_help(name):
    app = main.build_app(name)
    assert name in _names(app)
    assert _names(app) <= set(main._REGISTRARS)
    res = CliRunner().invoke(app, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_single_command_app_leaves_other_commands_out():
    assert _names(main.build_app("profile")) == {"profile"}
    assert _names(main.build_app("accuracy")) == {"accuracy", "accuracy-search"}  # one module registers both
