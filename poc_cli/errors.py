"""Errors a user can act on: the CLI prints them as one line and exits with their code."""


class PocError(Exception):
    """A failure with a one-line, user-facing message; the CLI exits with `exit_code`."""

    exit_code = 1


class RecipeError(PocError):
    """The recipe (or a file it names) is unusable: a usage error, exit code 2."""

    exit_code = 2
