"""The README's set-up commands are the ones CI runs and the demo uses."""

from __future__ import annotations

from conftest import PROJECT


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci_lines = (PROJECT / ".ci/run").read_text().splitlines()
    command = next(line for line in ci_lines if "pytest" in line)
    assert command in (PROJECT / "README.md").read_text().splitlines()


def test_readme_demo_command_runs_the_demo_recipe() -> None:
    readme = (PROJECT / "README.md").read_text().splitlines()
    demo = [line for line in readme if line.endswith("poc run recipes/demo.yaml")]
    assert demo and "pip install torch==2.13.0" in demo[0] and '.[demo]"' in demo[0]
    assert (PROJECT / "recipes/demo.yaml").is_file()
