"""What an image build really reads from its folder, so tags and rebuilds follow only that."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Each service's .dockerignore admits only these; service.yaml is deliberately not among them,
# so a sizing change in the spec does not rebuild and re-push the image.
BUILD_INPUTS = ("Dockerfile", ".dockerignore", "app")


def build_files(context: Path) -> list[Path]:
    files: list[Path] = []
    for name in BUILD_INPUTS:
        path = context / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted(files)


def content_digest(context: Path) -> str:
    hasher = hashlib.sha256()
    for path in build_files(context):
        hasher.update(path.relative_to(context).as_posix().encode())
        hasher.update(b"\0")
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def content_tag(context: Path) -> str:
    """An immutable tag per build input, so each source change gets its own tag."""
    return f"src-{content_digest(context)[:12]}"
