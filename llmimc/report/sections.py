"""A report as plain data (titled tables and text lines) and its three renderings.

Reports build a list of `Table` and `Line` blocks from a result; `render_rich` prints them with rich
(``plain=True``: ASCII borders, no colour, for pipes and logs), `render_markdown` returns Markdown.
Every rich column folds instead of eliding, so at 80 columns values wrap onto a second line but are
never cut (``prefi…``); headers are kept short for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

Justify = Literal["left", "right"]
GAP = "⋮"  # the row standing for rows left out of a long table


@dataclass(frozen=True)
class Col:
    """One column: header and alignment (numbers right-aligned)."""

    header: str
    justify: Justify = "left"
    no_wrap: bool = False  # keep whole (names, ids): the other columns wrap instead


@dataclass
class Table:
    """A titled table; a row of None marks rows left out (see ``caption``)."""

    title: str
    columns: list[Col]
    rows: list[list[str] | None] = field(default_factory=list)
    caption: str = ""

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))


@dataclass(frozen=True)
class Line:
    """A line of text with an optional bold label ('KV cache: ...') and a style (note, warn)."""

    text: str
    label: str = ""
    style: Literal["", "note", "warn", "spark"] = ""


Block = Table | Line
_LABEL_STYLE = {"": "bold", "note": "yellow", "warn": "yellow", "spark": "bold"}


def _rich_table(t: Table, plain: bool) -> RichTable:
    table = RichTable(
        title=escape(t.title),
        caption=escape(t.caption) if t.caption else None,
        box=box.ASCII if plain else box.HEAVY_HEAD,
    )
    for c in t.columns:
        table.add_column(escape(c.header), justify=c.justify, overflow="fold", no_wrap=c.no_wrap)
    for row in t.rows:
        cells = [GAP] + [""] * (len(t.columns) - 1) if row is None else row
        table.add_row(*(escape(c) for c in cells))
    return table


def render_rich(blocks: list[Block], console: Console, plain: bool = False) -> None:
    """Print the blocks; ``plain`` drops colour and draws ASCII borders."""
    for b in blocks:
        if isinstance(b, Table):
            console.print(_rich_table(b, plain))
            continue
        label = f"{b.label}: " if b.label else ""
        if plain or not label:
            console.print(escape(label + b.text), highlight=False)
        else:
            style = _LABEL_STYLE[b.style]
            body = f"[cyan]{escape(b.text)}[/]" if b.style == "spark" else escape(b.text)
            console.print(f"[{style}]{escape(label)}[/]{body}", highlight=False)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown (one pipe table per Table)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Line):
            out.append((f"**{b.label}:** " if b.label else "") + b.text + "\n")
            continue
        out.append(f"### {b.title}\n")
        out.append("| " + " | ".join(_md_cell(c.header) for c in b.columns) + " |")
        out.append("|" + "|".join("---:" if c.justify == "right" else "---" for c in b.columns) + "|")
        for row in b.rows:
            cells = [GAP] + [""] * (len(b.columns) - 1) if row is None else row
            out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        if b.caption:
            out.append(f"\n_{b.caption}_")
        out.append("")
    return "\n".join(out) + "\n"
