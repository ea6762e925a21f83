"""The quick benchmark as its own process, started when collection ends and read at the end.

Its commands are processes anyway: started first, it runs on the second core while the rest of
the suite runs on the first, and its tests are moved to the end of the run to read its output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.synthesis import PROJECT_DIR

FIXTURE = "quick_run"
# A quick run takes ~15 s on an idle 2-core machine; a hung one must not hang the suite.
WAIT_SECONDS = 600


@dataclass
class QuickRun:
    out: Path
    process: subprocess.Popen[bytes]

    def wait(self) -> tuple[Path, str]:
        code = self.process.wait(timeout=WAIT_SECONDS)
        printed = (self.out / "stdout.txt").read_text(encoding="utf-8", errors="replace")
        errors = (self.out / "stderr.txt").read_text(encoding="utf-8", errors="replace")
        assert code == 0, f"python -m benchmarks --quick exited {code}:\n{errors[-3000:]}"
        return self.out, printed

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.out, ignore_errors=True)


_RUNS = pytest.StashKey[QuickRun]()


def start_if_selected(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = [item for item in items if FIXTURE in getattr(item, "fixturenames", ())]
    if not selected:
        return
    items[:] = [item for item in items if item not in selected] + selected
    out = Path(tempfile.mkdtemp(prefix="micromart-quick-bench-"))
    with (out / "stdout.txt").open("wb") as stdout, (out / "stderr.txt").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    config.stash[_RUNS] = QuickRun(out, process)


def started(config: pytest.Config) -> QuickRun:
    return config.stash[_RUNS]


def stop(config: pytest.Config) -> None:
    run = config.stash.get(_RUNS, None)
    if run is not None:
        run.stop()
