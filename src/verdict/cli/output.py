"""How commands print: tables as wide as the terminal (or as their rows, when the output
goes to a pipe or a file), cells that wrap instead of ending in "…", one progress bar
style, and times in one format."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from rich.columns import Columns
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

__all__ = ["console", "fold_long_words_in_help", "moment", "progress_bar", "table"]

# Piped output is read by programs and people with wide editors: rows are never cut.
_PIPED_WIDTH = 1000


def console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal; when nothing says how wide (a pipe, a file,
    no ``COLUMNS``), wide enough that no row wraps."""
    probe = Console(stderr=stderr)
    if probe.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return probe
    return Console(stderr=stderr, width=_PIPED_WIDTH)


def table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells fold long words rather than cut them."""
    grid = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        grid.add_column(name, overflow="fold")
    return grid


def moment(value: dt.datetime | None) -> str:
    """A time as the command line shows it (UTC, to the minute), or "—" for none."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return f"{value:%Y-%m-%d %H:%M}"


def progress_bar(out: Console) -> Progress:
    """The bar of long work (export, import): what is being done, done / total, time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    )


class _FoldingTable(Table):
    """A table whose every column folds a word too long for it onto the next line."""

    def add_row(self, *renderables: Any, **options: Any) -> None:
        super().add_row(*renderables, **options)
        for column in self.columns:
            column.overflow = "fold"


def _words(renderable: Any) -> list[str]:
    text = renderable.plain if isinstance(renderable, Text) else getattr(renderable, "markup", "")
    return str(text).split()


class _FoldingColumns(Columns):
    """Typer's help cell (the help text, then ``[env var: …]``, ``[default: …]``): laid
    out side by side as usual, or one under the other, folded, when a word would not
    fit the cell (rich's own layout would cut it)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        longest = max((len(w) for item in self.renderables for w in _words(item)), default=0)
        if longest <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        yield Group(*self.renderables)


def fold_long_words_in_help() -> None:
    """Have ``--help`` fold a word wider than its column (a URL, an environment
    variable's name) instead of cutting it with "…".

    Typer lays help out in rich tables and columns created with rich's default
    overflow, the ellipsis; at 80 columns a command with long option names leaves the
    help text ~20 characters, and ``VERDICT_DATABASE_URL`` would be cut. Typer offers no
    setting for it, so its module's ``Table`` and ``Columns`` are replaced with
    subclasses that differ in that alone (tests/integration/test_cli_commands.py checks
    every command's help at 80 and 200 columns)."""
    from typer import rich_utils

    rich_utils.Table = _FoldingTable  # type: ignore[attr-defined]
    rich_utils.Columns = _FoldingColumns  # type: ignore[attr-defined]
