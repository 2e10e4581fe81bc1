"""Shared CLI plumbing: one-line errors (exit 2, no traceback), output files, the tracing spinner.

Every command is a module-level function wrapped in `friendly_errors`, with options declared as
``Annotated[T, typer.Option(min=.., max=..)]`` (typer's own range checks, exit 2), calling one
library function and rendering through ``llmimc.report``. Output files are checked with
`output_path` before any work starts and written with `write_output` (atomically).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2


class OutputFormat(str, Enum):
    """How a report prints: rich tables, ASCII tables without colour, JSON, or Markdown."""

    table = "table"
    plain = "plain"
    json = "json"
    markdown = "markdown"


def fail(msg: str) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    from llmimc.errors import one_line

    err_console.print(f"[bold red]error:[/] {escape(one_line(msg))}", markup=True, highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


def _validation_line(err: Any) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def friendly_errors(fn: F) -> F:
    """Turn LlmimcError, pydantic validation errors and OS errors into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from llmimc.errors import LlmimcError

        try:
            return fn(*args, **kwargs)
        except LlmimcError as e:
            raise fail(str(e)) from None
        except ValidationError as e:
            raise fail(_validation_line(e)) from None
        except OSError as e:
            if e.errno == errno.EPIPE:  # `llmimc ... | head`: typer exits quietly
                raise
            where = f"{e.filename}: " if e.filename else ""
            raise fail(f"{where}{e.strerror or e}") from None
        except RecursionError:
            raise fail(
                "an input file is nested too deeply (thousands of levels) to be read; check the files given"
            ) from None
        except MemoryError:
            raise fail("out of memory: lower the sizes given (chiplets, batch, lengths)") from None

    return wrapper  # type: ignore[return-value]


def output_path(path: Path | None, flag: str) -> Path | None:
    """Check an output path before any work starts (None passes through)."""
    if path is None:
        return None
    from llmimc.report.output import check_output_path

    return check_output_path(path, flag)


def write_output(path: Path, text: str, flag: str, what: str = "") -> None:
    """Write ``text`` atomically and say so on stderr (stdout stays clean for pipes)."""
    from llmimc.report.output import write_text_atomic

    write_text_atomic(path, text, flag)
    err_console.print(escape(f"wrote {path}{what}"), highlight=False)


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr while a slow step runs (tracing a new model); nothing when not a terminal."""
    if not err_console.is_terminal:
        yield
        return
    with err_console.status(escape(message), spinner="dots"):
        yield


# typer >= 0.22 vendors click (typer._click); older typer uses click itself: find the base class either way
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class OneLineErrorsGroup(TyperGroup):
    """The root command group: usage errors (bad flag values, out-of-range numbers, unknown options)
    print as one ``error:`` line naming the flag and its help, exit 2, instead of a multi-line box."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except _ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `llmimc hw`: the help was asked for
                e.show()  # type: ignore[attr-defined]
                sys.exit(EXIT_BAD_INPUT)
            sys.exit(_usage_error(e))
        except typer.Abort:
            err_console.print("aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _usage_error(e: Any) -> int:
    """Print one line for a click usage error and return its exit code."""
    msg = e.format_message().replace("Value error, ", "")
    param = getattr(e, "param", None)
    if isinstance(e, typer.BadParameter) and param is not None and getattr(param, "help", None):
        msg = f"{msg.rstrip('.')}; {param.help}"
    ctx = getattr(e, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    err_console.print(f"[bold red]error:[/] {escape(' '.join((msg + hint).split()))}", highlight=False)
    return e.exit_code
