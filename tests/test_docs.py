"""The README and docs/ stay true: every `poc` command they show parses against the real command line
and names files that exist, every link resolves, and the README stays a first hour's read.

What the commands then do is run by their own tests (the demo recipe, the shipped recipes, each
command's tests); this catches a renamed option, a removed recipe or a broken link the day it happens.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from conftest import PROJECT
from poc_cli.cli import app

DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
README_MAX_LINES = 250


def _shell_blocks(path: Path) -> list[str]:
    """The commands of every ```bash block, continuation lines joined."""
    commands: list[str] = []
    block: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = [] if block is None and line[3:].strip() in {"bash", "sh", "shell"} else None
            continue
        if block is not None:
            if commands and commands[-1].endswith("\\"):
                commands[-1] = commands[-1][:-1] + " " + line.strip()
            else:
                commands.append(line.strip())
    return [c for c in commands if c and not c.startswith("#")]


def _poc_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after `poc`) of every `poc` invocation in a shell block, `&&` chains split."""
    found = []
    for path in DOCS:
        for command in _shell_blocks(path):
            for part in command.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0] == "poc":
                    found.append((f"{path.name}: {part.strip()}", words[1:]))
    return found


COMMANDS = _poc_commands()


def test_the_docs_show_commands_at_all() -> None:
    shown = {argv[0] for _, argv in COMMANDS}
    assert {"run", "plan", "doctor", "compare", "report", "profile", "export"} <= shown


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_every_documented_command_parses_and_its_files_exist(where: str, argv: list[str]) -> None:
    command = get_command(app)  # typer's own click: its classes are not the `click` package's
    args = list(argv)
    while hasattr(command, "commands"):  # a group (`poc`, `poc export`): down to the command itself
        name, args = args[0], args[1:]
        assert name in command.commands, f"{where}: no command {name!r}"
        command = command.commands[name]
    try:
        command.make_context(command.name or "poc", args)  # parses options and arguments, runs nothing
    except Exception as error:  # typer's NoSuchOption, BadParameter, MissingParameter ...
        pytest.fail(f"{where}: {type(error).__name__}: {error}")
    for word in args:
        if word.startswith("recipes/") or word.startswith("benchmarks/"):
            assert (PROJECT / word).is_file(), f"{where}: {word} does not exist"


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+://", target)]


def _anchors(path: Path) -> set[str]:
    """GitHub's slugs of a Markdown file's headings."""
    slugs = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_every_link_resolves(path: Path) -> None:
    for target in _links(path):
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.is_file(), f"{path.name}: the link {target} names no file"
        if anchor:
            assert anchor in _anchors(linked), f"{path.name}: {linked.name} has no heading #{anchor}"


def test_the_readme_is_a_first_hours_read_and_links_every_doc() -> None:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < README_MAX_LINES
    linked = {Path(target.partition("#")[0]).name for target in _links(PROJECT / "README.md")}
    assert {p.name for p in DOCS[1:]} <= linked


def test_every_script_and_recipe_a_shell_block_names_exists() -> None:
    named = {(path.name, word) for path in DOCS for command in _shell_blocks(path)
             for word in shlex.split(command, comments=True) if re.fullmatch(r"(recipes|benchmarks)/\S+\.(yaml|py|sh)", word)}
    assert named, "no script or recipe found: the blocks were not read"
    missing = sorted(f"{where}: {word}" for where, word in named if not (PROJECT / word).is_file())
    assert missing == []


def test_the_readme_shows_the_whole_of_a_method_module_as_it_is() -> None:
    """"Adding a method" shows rsLoRA's module: the very file, so the example cannot drift from the code."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    module = (PROJECT / "poc_cli/methods/rslora.py").read_text(encoding="utf-8")
    assert module in blocks
