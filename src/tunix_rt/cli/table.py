"""Plain-text tables that fit the console width (80 columns in a pipe) without cutting values.

Rich's Table shrinks every column to fit, which turns ids into "…" and empties whole columns
at 80 columns. Here a value is never cut: while the columns do not fit on one line, the
least important foldable column moves to an indented detail line under each row
("dataset dsx-v1 · model tiny"); when even the columns that never fold do not fit, each row
becomes a small block of "header: value" lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.text import Text

GAP = "  "
DETAIL_INDENT = "    "
DETAIL_SEPARATOR = " · "
EMPTY = "-"


@dataclass(frozen=True)
class Column:
    header: str
    # 0: always on the row's line; otherwise the column with the highest number folds first.
    fold: int = 0
    justify: Literal["left", "right"] = "left"


def print_table(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    """Print ROWS (cells may hold Rich markup) within console.width."""
    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    shown = list(range(len(columns)))
    folded: list[int] = []
    foldable = sorted((i for i, c in enumerate(columns) if c.fold), key=lambda i: -columns[i].fold)
    while _line_width(columns, cells, shown) > console.width:
        if not foldable:
            _print_records(console, columns, cells)
            return
        index = foldable.pop(0)
        shown.remove(index)
        folded.append(index)
    _print_lines(console, columns, cells, shown, sorted(folded))


def _column_width(columns: Sequence[Column], cells: list[list[Text]], index: int) -> int:
    return max([len(columns[index].header), *(row[index].cell_len for row in cells)])


def _line_width(
    columns: Sequence[Column], cells: list[list[Text]], shown: range | list[int]
) -> int:
    widths = [_column_width(columns, cells, i) for i in shown]
    return sum(widths) + len(GAP) * max(len(widths) - 1, 0)


def _pad(text: Text, width: int, justify: str) -> Text:
    space = " " * (width - text.cell_len)
    return Text.assemble(space, text) if justify == "right" else Text.assemble(text, space)


def _print_lines(
    console: Console,
    columns: Sequence[Column],
    cells: list[list[Text]],
    shown: list[int],
    folded: list[int],
) -> None:
    widths = {i: _column_width(columns, cells, i) for i in shown}
    last = shown[-1]

    def line(parts: list[Text]) -> Text:
        joined = Text(GAP).join(parts)
        joined.rstrip()
        return joined

    header = [
        _pad(Text(columns[i].header, style="bold"), widths[i], columns[i].justify) for i in shown
    ]
    console.print(line(header), no_wrap=True, crop=False)
    for row in cells:
        parts = [
            row[i]
            if i == last and columns[i].justify == "left"
            else _pad(row[i], widths[i], columns[i].justify)
            for i in shown
        ]
        console.print(line(parts), no_wrap=True, crop=False)
        details = [
            Text.assemble((columns[i].header.lower(), "dim"), " ", row[i])
            for i in folded
            if row[i].plain not in ("", EMPTY)
        ]
        for detail in _pack(details, console.width):
            console.print(detail, overflow="fold")


def _pack(parts: list[Text], width: int) -> list[Text]:
    """Indented detail lines holding whole parts, as many per line as fit."""
    lines: list[list[Text]] = []
    used = 0
    for part in parts:
        extra = len(DETAIL_SEPARATOR) + part.cell_len
        if lines and used + extra <= width:
            lines[-1].append(part)
            used += extra
        else:
            lines.append([part])
            used = len(DETAIL_INDENT) + part.cell_len
    return [Text.assemble(DETAIL_INDENT, Text(DETAIL_SEPARATOR).join(line)) for line in lines]


def _print_records(console: Console, columns: Sequence[Column], cells: list[list[Text]]) -> None:
    label_width = max(len(c.header) for c in columns) + 1
    for number, row in enumerate(cells):
        if number:
            console.print()
        for column, value in zip(columns, row, strict=True):
            label = Text(f"{column.header.lower()}:".ljust(label_width), style="bold")
            console.print(Text.assemble(label, " ", value), overflow="fold")
