"""Run many `poc` command lines, each in a process of its own forked from one that has imported poc.

`python -m poc_cli` spends seconds importing torch, transformers and peft before it reads a byte of a
recipe; the bad-input corpus is some seventy command lines, which made it the slowest fixture of the
suite. Here that import is paid once: this script imports what `poc` imports, then forks one child per
command line, which runs poc's own entry point (`poc_cli.cli.main`, as `python -m poc_cli` does) in its
working folder with its output in files, and exits with the command's exit code. Each command is still
a real process of its own; only the interpreter's start and the imports are shared.

Reads a JSON list of {"argv": [...], "cwd": "..."} on stdin; writes a JSON list of {"returncode", "stdout",
"stderr"} on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def poc_many(commands: list[dict[str, Any]], env: dict[str, str], *, at_once: int = 1) -> list[subprocess.CompletedProcess]:
    """Each {"argv", "cwd"} run as `poc` in a process of its own, `at_once` batches side by side."""
    def batch(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run([sys.executable, __file__], input=json.dumps(part), capture_output=True, text=True,
                              env=env, timeout=900, check=True)
        return json.loads(done.stdout)

    size = -(-len(commands) // at_once)
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        results = [r for part in pool.map(batch, [commands[i:i + size] for i in range(0, len(commands), size)])
                   for r in part]
    return [subprocess.CompletedProcess(["poc", *c["argv"]], r["returncode"], r["stdout"], r["stderr"])
            for c, r in zip(commands, results)]


def _child(argv: list[str], cwd: str, out: Path, err: Path) -> None:
    """The forked command: its own folder and output files, poc's entry point, its exit code."""
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    sys.argv = ["poc", *argv]
    code: Any = 0
    try:
        from poc_cli.cli import main

        main()
    except SystemExit as done:
        code = done.code
    except BaseException:  # noqa: BLE001 - a traceback is what the tests look for
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


def run(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each case in a forked process, one after the other."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, case in enumerate(cases):
            out, err = Path(tmp) / f"{index}.out", Path(tmp) / f"{index}.err"
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(case["argv"], case["cwd"], out, err)
            _, status = os.waitpid(pid, 0)
            results.append({"returncode": os.waitstatus_to_exitcode(status),
                            "stdout": out.read_text(encoding="utf-8", errors="replace"),
                            "stderr": err.read_text(encoding="utf-8", errors="replace")})
    return results


if __name__ == "__main__":
    import poc_cli.cli
    import poc_cli.compare
    import poc_cli.launcher
    import poc_cli.plan
    import poc_cli.report.build  # noqa: F401  (imported once here: what the commands import when they run)

    sys.stdout.write(json.dumps(run(json.loads(sys.stdin.read()))))
