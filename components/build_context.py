"""What an image build really takes from its context, so tags and rebuilds follow only that.

An image's inputs are its Dockerfile plus every file its COPY/ADD instructions take from the
build context (not `--from` another stage), minus what the context's .dockerignore drops for
Python sources (`__pycache__`, `*.pyc`). Service images share one context (services/) but copy
only the shared runtime and their own app/, so a change to one service never retags another,
and a change to the shared runtime retags every image that contains it.

`python3 -m components.build_context <context> <dockerfile>` prints the tag (CI's image-tag);
only the standard library is used, so it runs before any install.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

# What the contexts' .dockerignore files exclude below the copied folders.
_IGNORED_PARTS = frozenset({"__pycache__"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")
_COPY = re.compile(r"^\s*(COPY|ADD)\s+(.*)$", re.IGNORECASE)


class BuildContextError(ValueError):
    pass


def copy_sources(dockerfile: Path) -> list[str]:
    """Context paths the Dockerfile's COPY/ADD instructions read (their last word is the target)."""
    logical = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    sources: list[str] = []
    for line in logical.splitlines():
        match = _COPY.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        arguments = match.group(2).strip()
        words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def build_files(context: Path, dockerfile: Path | None = None) -> list[Path]:
    dockerfile = dockerfile or context / "Dockerfile"
    files = {dockerfile}
    if (context / ".dockerignore").is_file():
        files.add(context / ".dockerignore")
    for source in copy_sources(dockerfile):
        matches = sorted(context.glob(source.rstrip("/"))) if source.strip("/") else [context]
        if not matches:
            raise BuildContextError(f"{dockerfile}: COPY source {source!r} not in {context}")
        for match in matches:
            found = match.rglob("*") if match.is_dir() else [match]
            files.update(path for path in found if path.is_file() and not _ignored(path))
    return sorted(files)


def _ignored(path: Path) -> bool:
    return bool(_IGNORED_PARTS & set(path.parts)) or path.suffix in _IGNORED_SUFFIXES


def content_digest(context: Path, dockerfile: Path | None = None) -> str:
    hasher = hashlib.sha256()
    for path in build_files(context, dockerfile):
        name = path.relative_to(context) if path.is_relative_to(context) else Path(path.name)
        hasher.update(name.as_posix().encode())
        hasher.update(b"\0")
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def content_tag(context: Path, dockerfile: Path | None = None) -> str:
    """An immutable tag per set of build inputs, so each source change gets its own tag."""
    return f"src-{content_digest(context, dockerfile)[:12]}"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 -m components.build_context <context> <dockerfile>")
    print(content_tag(Path(sys.argv[1]), Path(sys.argv[2])))
