"""Shared CLI plumbing: one-line errors with a non-zero exit and no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

F = TypeVar("F", bound=Callable)

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2


def fail(msg: str) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    from llmimc.errors import one_line

    err_console.print(f"[bold red]error:[/] {one_line(msg)}", markup=True, highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


def friendly_errors(fn: F) -> F:
    """Turn LlmimcError (and pydantic validation errors) into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from pydantic import ValidationError

        from llmimc.errors import LlmimcError

        try:
            return fn(*args, **kwargs)
        except LlmimcError as e:
            raise fail(str(e)) from None
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            raise fail(f"{loc}: {first.get('msg')}") from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
            raise fail(f"{e.filename}: {e.strerror}") from None

    return wrapper  # type: ignore[return-value]
