"""Ctrl-C in a real `./synth`: the interrupt must end the run, never wait on the mock runtime."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tools import cli, synth


def test_ctrl_c_in_the_program_does_not_wait_for_its_pending_registrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A registration cut in half by SIGINT never completes: draining it hung the old harness.
    async def never_drained() -> None:
        raise AssertionError("waited for the RPCs of an interrupted program")

    monkeypatch.setattr(synth, "wait_for_rpcs", never_drained)
    (tmp_path / "__main__.py").write_text("raise KeyboardInterrupt\n", encoding="utf-8")
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            synth._evaluate(tmp_path, loop)
    finally:
        loop.close()


def test_a_failing_program_still_drains_what_it_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drained: list[bool] = []

    async def drain() -> None:
        drained.append(True)

    monkeypatch.setattr(synth, "wait_for_rpcs", drain)
    (tmp_path / "__main__.py").write_text("raise ValueError('bad')\n", encoding="utf-8")
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(synth.ProgramError, match="ValueError: bad"):
            synth._evaluate(tmp_path, loop)
    finally:
        loop.close()
    assert drained == [True]


def test_the_command_turns_a_late_interrupt_into_130_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(cli, "main", interrupted)
    try:
        assert cli._run_as_command() == cli.EXIT_INTERRUPTED == 130
        # Once the build is settled a further Ctrl-C cannot kill the exit code.
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().err.splitlines() == ["synth: interrupted; no build was changed"]
