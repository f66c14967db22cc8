"""Errors a user can act on: the CLI prints them as one line and exits with their code.

The helpers keep such a line short whatever the user wrote: a value is clipped, a list shows its
first items."""

from __future__ import annotations

from collections.abc import Sequence


class PocError(Exception):
    """A failure with a one-line, user-facing message; the CLI exits with `exit_code`."""

    exit_code = 1


class RecipeError(PocError):
    """The recipe (or a file it names) is unusable: a usage error, exit code 2."""

    exit_code = 2


class UsageError(PocError):
    """A command-line option is unusable (names it): exit code 2."""

    exit_code = 2


def first_line(error: BaseException) -> str:
    """An exception in a few words: the first line of its message, or its type where it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listed(names: Sequence[object], limit: int = 10) -> str:
    """The first `limit` of `names` (in the order given), quoted, with " ..." when there are more."""
    return ", ".join(repr(n) for n in names[:limit]) + (" ..." if len(names) > limit else "")
