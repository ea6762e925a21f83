"""The images' locked packages: tests run the apps at the versions the images carry."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from tests.synthesis import PROJECT_DIR

LOCKED = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", re.MULTILINE)


def image_pins() -> dict[str, str]:
    text = (PROJECT_DIR / "services" / "requirements.txt").read_text(encoding="utf-8")
    return {name.lower(): version for name, version in LOCKED.findall(text)}


def dev_pins() -> dict[str, str]:
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for line in config["dependency-groups"]["dev"]:
        requirement = Requirement(line)
        pins[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    return pins


def test_every_top_level_image_package_is_pinned_at_the_same_version_for_the_tests() -> None:
    wanted = (PROJECT_DIR / "services" / "requirements.in").read_text(encoding="utf-8")
    top_level = {
        Requirement(line).name.lower()
        for line in wanted.splitlines()
        if line.strip() and not line.startswith("#")
    }
    images, tests = image_pins(), dev_pins()
    assert top_level, "services/requirements.in names no package"
    assert {name: images.get(name) for name in top_level} == {
        name: tests.get(name) for name in top_level
    }


def test_every_image_package_is_hash_locked() -> None:
    text = (PROJECT_DIR / "services" / "requirements.txt").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text.split("\n", 2)[2])
    assert len(blocks) == len(image_pins()) >= 4
    assert all("--hash=sha256:" in block for block in blocks)
