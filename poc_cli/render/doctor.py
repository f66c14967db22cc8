"""What `poc doctor` prints: each check with PASS or the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from poc_cli.safe_text import plain

if TYPE_CHECKING:
    from poc_cli.doctor import Check


def checks_table(title: str, checks: list[Check]) -> Table:
    """One row per check: yes or no, what was checked, and what was found."""
    table = Table(title=plain(title), title_justify="left")
    table.add_column("")
    table.add_column("check")
    table.add_column("detail")
    for check in checks:
        table.add_row("[green]yes[/]" if check.ok else "[red]no[/]", plain(check.name), plain(check.detail))
    return table
