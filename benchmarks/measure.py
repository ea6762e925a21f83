"""Timing what a user runs: each measurement is a fresh command, as typed in a shell.

Wall time is taken around the whole process (interpreter start, imports, the work, exit); peak
memory is the largest resident set of that process, read from its own resource usage
(`os.wait4`), so concurrent work of the caller does not leak into it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SYNTH_SCRIPT = REPO / "synth"
# What the program imports (components/ and __main__.py): the SDK baseline of the report.
SDK_MODULES = (
    "pulumi",
    "pulumi_azure_native.resources",
    "pulumi_azure_native.network",
    "pulumi_azure_native.privatedns",
    "pulumi_azure_native.containerservice",
    "pulumi_azure_native.containerregistry",
    "pulumi_azure_native.authorization",
    "pulumi_azure_native.dbforpostgresql",
    "pulumi_kubernetes",
    "pulumi_docker",
    "pulumi_random",
    "pydantic",
)


class CommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class Command:
    label: str
    argv: tuple[str, ...]
    cwd: Path = REPO

    def __str__(self) -> str:
        return " ".join(self.argv)


def import_command(label: str, modules: Sequence[str]) -> Command:
    return Command(label, (sys.executable, "-c", "import " + ", ".join(modules)))


def synth_command(label: str, project: Path, stack: str, out: Path) -> Command:
    """`./synth` (what `make synth` runs): program, policy pack and build output."""
    argv = (str(SYNTH_SCRIPT), "--stack", stack, "--project-dir", str(project), "--out", str(out))
    return Command(label, argv)


def run(command: Command) -> dict[str, Any]:
    env = {**os.environ, "SYNTH_PYTHON": sys.executable}
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command.argv, cwd=command.cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            tail = output.read().decode(errors="replace")[-3000:]
            raise CommandError(f"`{command}` exited {process.returncode}:\n{tail}")
    return {
        "label": command.label,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def run_all(commands: Sequence[Command], jobs: int = 1) -> list[dict[str, Any]]:
    """In order, one at a time unless `jobs` > 1 (then the times are not comparable)."""
    if jobs <= 1:
        return [run(command) for command in commands]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run, commands))
