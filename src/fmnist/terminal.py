"""Tables for the terminal, drawn by rich: aligned columns, numbers to the right.

    >>> print(render_table(["model", "params"], [["mlp", "101,770"]], numeric={1}))
    model    params
    ───────────────
    mlp     101,770

Plain text (no colour, no markup: a `[` in a run name stays a `[`), so the output reads
the same in a terminal, a log file or a test.
"""

from __future__ import annotations

from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def render_table(header, rows, numeric=frozenset(), title: str | None = None) -> str:
    """`rows` under `header` as aligned text; columns whose index is in `numeric` align right."""
    table = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for k, name in enumerate(header):
        table.add_column(Text(name), justify="right" if k in numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(str(value)) for value in row))
    buffer = StringIO()
    Console(file=buffer, width=240, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")
