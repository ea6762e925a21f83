"""Faults around the synth CLI: Ctrl-C, a second run, an unwritable build, another directory.

The program itself is not what these test, so the synth and the policy run are replaced by the
session's staging result; the build folder handling is real.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools import build_dir, cli
from tools.synth import SynthResult

PREVIOUS = "previous build\n"


@pytest.fixture
def fake_synth(monkeypatch: pytest.MonkeyPatch, staging: SynthResult) -> list[Path]:
    """cli.synthesize returns the staging result; the list records each project it was given."""
    calls: list[Path] = []

    def synthesize(project_dir: Path, stack: str) -> SynthResult:
        calls.append(project_dir)
        return staging

    monkeypatch.setattr(cli, "synthesize", synthesize)
    monkeypatch.setattr(cli, "check_stack", lambda result, project_dir: [])
    return calls


def _previous(out: Path, stack: str = "staging") -> None:
    (out / stack).mkdir(parents=True)
    (out / stack / "plan.json").write_text(PREVIOUS)


def _run(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = cli.main(["--stack", "staging", "--out", str(out), *extra])
    return code, capsys.readouterr().err.splitlines()


def _assert_untouched(out: Path) -> None:
    assert (out / "staging" / "plan.json").read_text() == PREVIOUS
    assert sorted(p.name for p in out.iterdir()) == [".staging.lock", "staging"]


def _raise(error: BaseException) -> Callable[..., Any]:
    def fail(*_: Any, **__: Any) -> Any:
        raise error

    return fail


def test_ctrl_c_during_the_program_exits_130_and_keeps_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "build"
    _previous(out)
    monkeypatch.setattr(cli, "synthesize", _raise(KeyboardInterrupt()))
    code, lines = _run(out, capsys)
    assert code == cli.EXIT_INTERRUPTED == 130
    assert lines == [f"synth: interrupted; {out / 'staging'} is unchanged"]
    _assert_untouched(out)


def test_ctrl_c_while_writing_leaves_no_half_build(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_synth: list[Path],
) -> None:
    out = tmp_path / "build"
    _previous(out)
    monkeypatch.setattr(cli, "manifest_documents", _raise(KeyboardInterrupt()))
    code, lines = _run(out, capsys)
    assert (code, len(lines)) == (130, 1)
    _assert_untouched(out)


def test_a_full_disk_while_writing_is_one_line_and_keeps_the_build(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_synth: list[Path],
) -> None:
    out = tmp_path / "build"
    _previous(out)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(cli, "_write_json", _raise(full))
    code, lines = _run(out, capsys)
    assert code == cli.EXIT_ERROR
    assert lines == [f"synth: {out / 'staging'}: cannot write (No space left on device); unchanged"]
    _assert_untouched(out)


def test_a_second_synth_of_the_stack_fails_at_once_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_synth: list[Path]
) -> None:
    out = tmp_path / "build"
    _previous(out)
    with build_dir.stack_lock(out, "staging"):
        code, lines = _run(out, capsys)
    assert code == cli.EXIT_ERROR
    assert lines == [
        f"synth: {out / 'staging'}: another synth of stack 'staging' is running "
        f"(pid {os.getpid()}); run again when it has finished"
    ]
    assert fake_synth == []
    _assert_untouched(out)


def test_another_stack_is_not_blocked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_synth: list[Path]
) -> None:
    out = tmp_path / "build"
    with build_dir.stack_lock(out, "production"):
        code, _ = _run(out, capsys)
    assert code == cli.EXIT_OK


def test_a_read_only_build_folder_fails_before_the_long_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_synth: list[Path],
) -> None:
    out = tmp_path / "build"
    _previous(out)
    read_only = OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(tempfile, "mkstemp", _raise(read_only))
    code, lines = _run(out, capsys)
    assert code == cli.EXIT_ERROR
    assert lines == [f"synth: {out}: cannot write the build (Read-only file system)"]
    assert fake_synth == [], "checked before the program runs"
    _assert_untouched(out)


def test_too_little_free_space_fails_before_the_long_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_synth: list[Path],
) -> None:
    out = tmp_path / "build"
    _previous(out)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=2**20))
    code, lines = _run(out, capsys)
    assert code == cli.EXIT_ERROR
    assert lines == [f"synth: {out}: only 1 MiB free, a build needs 64 MiB"]
    assert fake_synth == []
    _assert_untouched(out)


def test_a_file_where_the_build_folder_should_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_synth: list[Path]
) -> None:
    out = tmp_path / "build"
    out.write_text("not a folder")
    code, lines = _run(out, capsys)
    assert code == cli.EXIT_ERROR
    assert lines == [f"synth: {out}: cannot create the build folder (File exists)"]


def test_project_dir_from_another_directory_writes_under_the_projects_build(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_synth: list[Path],
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code = cli.main(["--stack", "staging", "--project-dir", "../project"])
    capsys.readouterr()
    assert code == cli.EXIT_OK
    assert fake_synth == [project]
    assert (project / "build" / "staging" / "plan.json").is_file()
    assert list(elsewhere.iterdir()) == []


def test_the_build_is_swapped_with_one_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, staging: SynthResult
) -> None:
    target = tmp_path / "build" / "staging"
    cli.write_build(staging, [], target)
    first = target.resolve()
    seen_during_write: list[bool] = []
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def write(folder: Path) -> None:
        seen_during_write.append((target / "plan.json").is_file())
        (folder / "plan.json").write_text("{}")

    def replace(source: Any, destination: Any) -> None:
        renames.append((Path(source).name, Path(destination).name))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    build_dir.publish(target, write)
    assert seen_during_write == [True], "the old build stays readable while the new is written"
    assert renames == [(".staging.link", "staging")]
    assert target.is_symlink() and target.resolve() != first
    assert target.resolve().stat().st_mode & 0o777 == 0o755
    assert not first.exists(), "the old version is removed after the swap"
    assert sorted(p.name for p in target.parent.iterdir()) == [
        target.resolve().name,
        "staging",
    ]


def test_a_build_from_before_the_symlink_layout_is_replaced(
    tmp_path: Path, staging: SynthResult
) -> None:
    target = tmp_path / "build" / "staging"
    _previous(tmp_path / "build")
    cli.write_build(staging, [], target)
    assert target.is_symlink()
    assert (target / "plan.json").read_text() != PREVIOUS
    assert sorted(p.name for p in target.parent.iterdir()) == [target.resolve().name, "staging"]
