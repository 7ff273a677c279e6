"""`import heso` and the `heso` console script load only what they need (issue 19, 20):
the public names are imported on first use."""

from __future__ import annotations

import subprocess
import sys

from conftest import heso_cli


def loaded_after(code: str) -> list[str]:
    probe = code + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('heso', 'typing', 'asyncio', 'inspect')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(eval(done.stdout.strip().splitlines()[-1]))


def test_import_heso_loads_only_the_core_and_the_errors() -> None:
    assert loaded_after("import heso") == ["heso", "heso._core", "heso._errors"]


def test_public_names_load_on_first_use() -> None:
    loaded = loaded_after("import heso\nheso.tool")
    assert "heso._gate" in loaded and "heso._wrap" not in loaded and "asyncio" not in loaded


def test_the_console_script_answers_version_and_help_without_the_sdk() -> None:
    for flag in ("--version", "--help"):
        done = subprocess.run([heso_cli(), flag], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "heso" in done.stdout
    script = (
        "import runpy, sys\n"
        "sys.argv = ['heso', '--version']\n"
        "try:\n    runpy.run_module('heso._cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    )
    loaded = loaded_after(script)
    assert set(loaded) <= {"heso", "heso._cli", "heso._core", "heso._errors"}, loaded
