"""Tables that never break a word at a narrow terminal.

rich shrinks a table's text columns to fit the terminal and folds what no longer fits, mid-word
("configurat ion"), and where it is given least widths it can overrun the terminal instead. Here
the widths are chosen before rich draws: numbers (columns that do not wrap) keep their width, each
text column gets at least its longest word, and what room is left goes to the text columns in
proportion to what their longest lines would take. Only a word longer than LONGEST (a path, a hash)
may still fold, or a table whose words alone are wider than the terminal.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

LONGEST = 20


def _plain(cell: object) -> str:
    """What a cell shows: markup read, not counted."""
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        try:
            return Text.from_markup(cell).plain
        except Exception:  # noqa: BLE001 - text that is not markup is shown as it is
            return cell
    return str(cell)


def _sizes(column: object) -> tuple[int, int]:
    """(longest word, longest line) of a column's header and cells."""
    texts = [_plain(cell) for cell in (column.header, *column.cells)]  # type: ignore[attr-defined]
    word = max((len(w) for text in texts for w in text.split()), default=0)
    line = max((len(ln) for text in texts for ln in text.splitlines()), default=0)
    return min(word, LONGEST), line


class WholeWords:
    """A table that, when printed, is fitted to the console's width first (`fit`)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield fit(self.table, options.max_width)


def whole_words(table: Table) -> WholeWords:
    """`table`, to be drawn with no word broken wherever the console is wide enough for its words."""
    return WholeWords(table)


def fit(table: Table, width: int) -> Table:
    """`table` drawn within `width` columns with no word broken where the words fit at all."""
    sizes = [_sizes(column) for column in table.columns]
    overhead = 3 * len(table.columns) + 1  # a border and a space either side of each cell
    if sum(line for _, line in sizes) + overhead <= width:
        return table  # fits as it is: rich draws it at its natural widths
    fixed = sum(line for (_, line), column in zip(sizes, table.columns) if column.no_wrap)
    wrapping = [(i, word, line) for i, ((word, line), column) in enumerate(zip(sizes, table.columns))
                if not column.no_wrap]
    room = width - overhead - fixed - sum(word for _, word, _ in wrapping)
    wanted = sum(line - word for _, word, line in wrapping)
    for i, word, line in wrapping:
        extra = (line - word) * max(room, 0) // wanted if wanted else 0
        table.columns[i].width = word + extra
    return table
