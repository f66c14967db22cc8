"""CLI surface: help for every command, the plan as a table and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poc_cli.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["plan"], ["run"], ["doctor"], ["compare"], ["report"]])
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_help_reads_as_cli_help_does_at_80_columns() -> None:
    """Flags as flags (no "<bool>"), and each command's summary whole on one line."""
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert top.exit_code == 0 and "<bool>" not in top.output
    commands = top.output.split("Commands:", 1)[1].strip().splitlines()
    assert [line.split()[0] for line in commands] == ["plan", "run", "profile", "compare", "report", "doctor",
                                                      "export"]
    assert all(len(line) <= 80 and line.rstrip().endswith(".") and "..." not in line for line in commands)
    run = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert "<bool>" not in run.output and "  --wait  " in run.output
    assert "One run of a recipe at a time writes to a store" in " ".join(run.output.split())  # one paragraph


def test_console_script_and_module_agree() -> None:
    proc = subprocess.run([sys.executable, "-m", "poc_cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("poc ")


def test_plan_table_and_json(tiny_recipe: Path) -> None:
    table = runner.invoke(app, ["plan", str(tiny_recipe)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    for fragment in ("lora", "randlora", "full", "reference", "+ head (classifier)", "3 jobs", "majority-class",
                     "estimated duration on cpu", "Sizing: cpu at fp32", "host RSS of the warm-up process",
                     "training: fp32 on auto, batch 16, gradient checkpointing off, quantization none"):
        assert fragment in table.output
    result = runner.invoke(app, ["plan", str(tiny_recipe), "--json"])
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    methods = {m["name"]: m for m in plan["methods"]}
    assert methods["lora"]["deviation"] == 0 and methods["full"]["deviation"] is None
    assert abs(methods["randlora"]["deviation"]) <= 0.05
    assert methods["lora"]["trainable_parameters"] == methods["lora"]["adapter_parameters"] + plan["head"]["parameters"]
    assert len(plan["runs"]) == 3 and len({j["id"] for j in plan["runs"]}) == 3
    assert plan["trials"] == [] and plan["search"] is None
    assert plan["trivial"] == "majority-class"  # computed from the test labels by compare: no job
    estimate = plan["estimate"]
    assert set(estimate["methods"]) == {"lora", "randlora", "full"}
    assert all(m["step_s"] > 0 and m["setup_s"] > 0 for m in estimate["methods"].values())
    # Each method's peak: at least the interpreter with torch loaded, at most the machine.
    assert all(200 < m["peak_memory_mib"] < estimate["capacity_mib"] for m in estimate["methods"].values())
    assert estimate["precision"] == plan["training"]["precision"] == "fp32" and estimate["too_large"] == []
    assert estimate["trials_s"] == 0 and estimate["total_s"] == estimate["runs_s"] > estimate["startup_s"]
    # Jobs are forked from a server that imported torch once: starting one costs far less than that.
    assert 0 < estimate["job_start_s"] < estimate["startup_s"] / 3


def test_new_training_settings_keep_old_job_ids_at_their_old_values(tiny_recipe: Path, tmp_path: Path) -> None:
    """Stores from before precision and the memory savers existed keep their results: the settings at
    the values every job ran with then leave the id unchanged; any other value changes it."""
    import yaml

    def run_ids(training: dict) -> list[str]:
        recipe = yaml.safe_load(tiny_recipe.read_text())
        recipe["training"].update(training)
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump(recipe))
        result = runner.invoke(app, ["plan", str(path), "--json", "--no-estimate"])
        assert result.exit_code == 0, result.output
        return [j["id"] for j in json.loads(result.stdout)["runs"]]

    old = run_ids({})  # precision auto is fp32 on this CPU
    assert run_ids({"precision": "fp32", "gradient_checkpointing": False, "gradient_accumulation_steps": 1,
                    "quantization": "none", "gpus_per_job": 1}) == old
    assert run_ids({"gpus_per_job": "auto"}) == old  # one process on a CPU: the job that ran before
    for changed in ({"precision": "bf16-mixed"}, {"gradient_accumulation_steps": 2}, {"gradient_checkpointing": True}):
        assert set(run_ids(changed)).isdisjoint(old), changed
    assert set(run_ids({"gpus_per_job": 2})).isdisjoint(old)  # a job across processes is another job


def test_plan_and_its_seeds_at_80_columns_break_no_word(tiny_recipe: Path, tmp_path: Path) -> None:
    import yaml

    recipe = yaml.safe_load(tiny_recipe.read_text())
    recipe["seeds"] = [0, 1, 2]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    narrow = runner.invoke(app, ["plan", str(path), "--no-estimate"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = " ".join(part.strip() for line in lines if line.startswith(("│", "┃"))
                     for part in line.strip("│┃").replace("┃", "│").split("│"))
    for word in ("configuration", "(classifier)", "majority-class", "(reference)", "parameters", "alpha=8"):
        assert word in cells.split(), word
    assert "seed ids: 0, 1, 2 for every method" in narrow.output
    wide = runner.invoke(app, ["plan", str(path), "--no-estimate"], env={"COLUMNS": "200"})
    header = next(line for line in wide.output.splitlines() if "method" in line and "configuration" in line)
    assert header.split("┃")[-2].strip() == "seed ids" and "│ 0, 1, 2 " in wide.output


def test_job_ids_are_stable_and_independent_of_other_methods(tiny_recipe: Path, tmp_path: Path) -> None:
    import yaml

    first = json.loads(runner.invoke(app, ["plan", str(tiny_recipe), "--json", "--no-estimate"]).stdout)["runs"]
    recipe = yaml.safe_load(tiny_recipe.read_text())
    recipe["methods"] = recipe["methods"][:1]
    recipe["seeds"] = [0, 1]
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(yaml.safe_dump(recipe))
    second = json.loads(runner.invoke(app, ["plan", str(smaller), "--json", "--no-estimate"]).stdout)["runs"]
    assert second[0]["id"] == first[0]["id"]  # same lora seed 0: same job, reused on rerun
    assert second[1]["id"] not in {j["id"] for j in first}


def test_names_with_markup_or_terminal_escapes_print_as_written(tmp_path: Path, tiny_model_dir: Path,
                                                                tiny_data: dict[str, Path]) -> None:
    """A `[/]` once crashed plan, run and compare (rich.errors.MarkupError); `[red]` restyled the text
    and escape sequences reached the terminal raw."""
    from conftest import recipe_dict, write_recipe

    name = "exp [v2] [red] [/] \x1b[31mred"
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name=name, methods=[{"method": "lora", "name": "lora [/]"}],
        training={"epochs": 1, "batch_size": 16, "max_length": 16}))
    env = {"COLUMNS": "250"}
    store = tmp_path / "store"
    for args in (["run", str(recipe), "--store", str(store)],  # run prints the plan's tables first
                 ["compare", "--store", str(store), "--wide"]):
        result = subprocess.run([sys.executable, "-m", "poc_cli", *args], capture_output=True, text=True,
                                env={**__import__("os").environ, **env}, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "\x1b" not in result.stdout
        assert "exp [v2] [red] [/] ?[31mred" in result.stdout, args  # the control character shown as "?"
        assert "lora [/]" in result.stdout


def test_a_method_that_will_not_fit_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    """The sizing table marks a warm-up peak above the device's memory, and the plan says what to change."""
    from poc_cli.commands.plan import print_estimate
    from poc_cli.estimate import Estimate, MethodTiming

    def timing(peak: float) -> MethodTiming:
        return MethodTiming(setup_s=1.0, step_s=0.5, eval_batch_s=0.1, model_metrics_s=0.0, peak_memory_mib=peak)

    found = Estimate(device="cuda:0", precision="bf16-mixed", memory_scope="GPU: torch's reserved peak + 500 MiB",
                     capacity_mib=24_000.0, startup_s=5.0, job_start_s=0.05, encode_s=1.0,
                     methods={"lora": timing(9_000.0), "full": timing(30_000.0),
                              "randlora": MethodTiming(setup_s=1.0, step_s=0.0, eval_batch_s=0.0, model_metrics_s=0.0,
                                                       peak_memory_mib=None,
                                                       out_of_memory="CUBLAS_STATUS_ALLOC_FAILED")},
                     trials_s=0.0, runs_s=60.0)
    assert found.too_large == ["full", "randlora"]
    print_estimate(found)
    out, err = capsys.readouterr()
    assert "Sizing: cuda:0 at bf16-mixed" in out and "30,000 MiB" in out and "the device has 24,000 MiB" in out
    assert "warning: full peaked at 30,000 MiB" in err and "gradient_checkpointing" in err
    assert "warning: randlora ran out of memory in the warm-up (CUBLAS_STATUS_ALLOC_FAILED)" in err
    assert "out of memory" in out
    assert "lora " not in err.replace("randlora", "")


def test_the_command_line_starts_without_torch() -> None:
    """`poc --help`, `--version` and a recipe with a typo answer at once: the command table imports no
    torch, transformers, peft or pandas (seconds); each command imports what it needs when it runs."""
    probe = "import sys, poc_cli.cli; print(sorted(m for m in ('torch', 'transformers', 'peft', 'pandas') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
