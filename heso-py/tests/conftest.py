"""Fixtures: a fresh heso project in a temporary folder, made with the installed `heso`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

HESO_VARS = (
    "HESO_PROJECT_ROOT",
    "HESO_KEY_PASSPHRASE",
    "HESO_OLD_KEY_PASSPHRASE",
    "HESO_APPROVER_PASSPHRASE",
    "HESO_ENV",
)


def heso_cli() -> str:
    """The installed console script beside this interpreter."""
    candidate = Path(sys.executable).with_name("heso")
    found = str(candidate) if candidate.exists() else shutil.which("heso")
    assert found, "the heso console script is not installed"
    return found


def run_heso(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in HESO_VARS}
    full_env.update(env or {})
    return subprocess.run(
        [heso_cli(), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in HESO_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "project"
    root.mkdir()
    result = run_heso("init", cwd=root)
    assert result.returncode == 0, result.stderr
    monkeypatch.chdir(root)
    yield root


def add_approver(root: Path, name: str = "alice", passphrase: str = "approver pass") -> Path:
    """Creates an approver key with `heso keys new-approver --default`, which adds it to
    heso.toml as a default approver (the starter delete rule names none, so it uses them)."""
    key = root.parent / f"{name}.key"
    made = run_heso(
        "keys", "new-approver", name, "--out", str(key), "--default",
        cwd=root, env={"HESO_APPROVER_PASSPHRASE": passphrase},
    )
    assert made.returncode == 0, made.stderr
    return key
