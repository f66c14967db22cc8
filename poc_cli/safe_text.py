"""User text on the terminal: what a recipe, a store or a model path says is shown as written,
never read as Rich markup (`[red]`, `[/]`) and never as a terminal escape sequence.

Kept apart from the table renderers so that the command line can print an error without
importing what it would need to compare or train."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text


def plain(value: object) -> Text:
    """User text as plain text: no markup, no control characters (terminal escapes)."""
    return Text("".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in str(value)))


def esc(value: object) -> str:
    """User text for an f-string that also holds Rich markup: control characters out, brackets escaped."""
    return escape(plain(value).plain)
