"""micromart_runtime.secret: how the apps read their mounted secrets (in-process, no server)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .apprunner import SERVICES_DIR


def _runtime() -> ModuleType:
    # Loaded from its file under its own name, as the images import it from /srv.
    spec = importlib.util.spec_from_file_location(
        "micromart_runtime", SERVICES_DIR / "micromart_runtime" / "__init__.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("micromart_runtime", module)
    spec.loader.exec_module(module)
    return module


runtime = _runtime()


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    return tmp_path


def test_secret_reads_the_file_and_strips_one_trailing_newline(secrets_dir: Path) -> None:
    (secrets_dir / "postgres-password").write_text("pa ss\n\n", encoding="utf-8")
    assert runtime.secret("postgres-password") == "pa ss\n"
    (secrets_dir / "API_KEY").write_text(" k ", encoding="utf-8")
    assert runtime.secret("API_KEY") == " k "


def test_secret_is_read_again_on_every_call(secrets_dir: Path) -> None:
    # The CSI driver rewrites a rotated secret in place; a cached value would go stale.
    file = secrets_dir / "rabbitmq-password"
    file.write_text("old\n", encoding="utf-8")
    assert runtime.secret("rabbitmq-password") == "old"
    file.write_text("new\n", encoding="utf-8")
    assert runtime.secret("rabbitmq-password") == "new"


def test_secret_refuses_paths_and_reports_a_missing_file(secrets_dir: Path) -> None:
    (secrets_dir.parent / "outside").write_text("x", encoding="utf-8")
    for bad in ("../outside", "a/b", "", ".", ".."):
        with pytest.raises(ValueError):
            runtime.secret(bad)
    with pytest.raises(FileNotFoundError):
        runtime.secret("never-mounted")


def test_default_secrets_dir_is_the_mount_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRETS_DIR", raising=False)
    assert runtime._secret_path("x") == Path("/mnt/secrets/x")
