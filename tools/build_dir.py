"""The build folder: one writer per stack, checked before the long run, swapped atomically.

`build/<stack>` is a symlink to a versioned folder `build/.<stack>.<id>/`. A run writes a new
version next to it and then replaces the link with one `rename(2)`, which is atomic: a reader
sees the old build or the new one, never neither and never a mix. `build/.<stack>.lock` is the
per-stack lock (kept between runs; the lock is the open file, not its existence).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# A build is a few MB; refuse early rather than die halfway through writing one.
MIN_FREE_BYTES = 64 * 2**20


class BuildDirError(Exception):
    """The build folder cannot be used; the message is one line for a person."""


@contextmanager
def stack_lock(out: Path, stack: str) -> Iterator[None]:
    """Hold the stack's lock, or fail at once naming the other run."""
    _ensure_dir(out)
    path = out / f".{stack}.lock"
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as error:
        raise BuildDirError(f"{out}: cannot create the lock file ({error.strerror})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise BuildDirError(
                f"{out / stack}: another synth of stack '{stack}' is running (pid {owner}); "
                "run again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_writable(out: Path) -> None:
    """Fail before the long run when the build cannot be written at all."""
    _ensure_dir(out)
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".probe-", dir=out)
    except OSError as error:
        raise BuildDirError(f"{out}: cannot write the build ({error.strerror})") from None
    os.close(descriptor)
    os.unlink(probe)
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise BuildDirError(
            f"{out}: only {free // 2**20} MiB free, a build needs {MIN_FREE_BYTES // 2**20} MiB"
        )


def publish(target: Path, write: Callable[[Path], None]) -> None:
    """Write a new version with `write(folder)`, then point `target` at it in one rename."""
    parent = target.parent
    _ensure_dir(parent)
    version = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    # mkdtemp makes it private (0700); a build is read by CI's artifact upload and by people.
    version.chmod(0o755)
    link = parent / f".{target.name}.link"
    try:
        write(version)
        link.unlink(missing_ok=True)
        os.symlink(version.name, link)
        if target.is_dir() and not target.is_symlink():
            # Builds before the symlink layout: move the folder aside once (`replace` cannot
            # put a link over a non-empty folder); from then on every swap is one rename.
            target.rename(Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent)) / "old")
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        shutil.rmtree(version, ignore_errors=True)
        raise
    _remove_old_versions(parent, target.name, keep=version.name)


def _remove_old_versions(parent: Path, name: str, keep: str) -> None:
    for path in parent.glob(f".{name}.*"):
        if path.name != keep and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildDirError(f"{path}: cannot create the build folder ({error.strerror})") from None
    if not path.is_dir():
        raise BuildDirError(f"{path}: exists but is not a folder")
