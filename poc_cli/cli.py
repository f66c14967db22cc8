"""The `poc` command line: the commands, each with its one-line help. What a command does is its own
module under commands/ (parse with typer, call one library function, render with Rich).

Only the commands (and the report layer) print. Errors a user can act on are one line on stderr with
exit code 2 for usage and recipe errors, 1 otherwise; never a traceback.
"""

from __future__ import annotations

import typer

from poc_cli import __version__
from poc_cli.commands import compare, doctor, export, plan, profile, report, run
from poc_cli.commands.common import console

app = typer.Typer(
    help="Measure whether RandLoRA pays off against LoRA and full fine-tuning, on your model and data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as CLIs print it: flags as flags, paragraphs wrapped to the terminal
)
export_app = typer.Typer(help="Send the stored records to other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")


def _version(value: bool) -> None:
    if value:
        console.print(f"poc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """poc: matched-budget PoCs of LoRA, RandLoRA and full fine-tuning."""


app.command(short_help="Show the jobs, their budget and the estimated duration and memory.")(plan.plan)
app.command(short_help="Run every job of the recipe and store the results.")(run.run)
app.command(name="profile", short_help="Measure step time and memory of each method at several batch sizes.")(
    profile.profile_command)
app.command(name="compare", short_help="Compare the stored runs: scores, differences, memory, time, cost.")(
    compare.compare_command)
app.command(short_help="Write the management report (HTML, PDF or Markdown; en or ja).")(report.report)
export_app.command("mlflow", short_help="Log the stored records as MLflow runs.")(export.export_mlflow)
app.command(short_help="Check this machine, its GPUs (--gpu) and a recipe.")(doctor.doctor)


def main() -> None:
    """Console-script entry point."""
    app()
