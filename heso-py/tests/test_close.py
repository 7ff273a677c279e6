"""Closing the project (issue 15): a process that used ``heso.init(...)`` keeps a signed
checkpoint of the whole log in ``heso-local-data/checkpoints/`` when it exits normally,
and ``heso.shutdown()`` keeps it at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import heso
from conftest import run_heso


def receipts(root: Path) -> int:
    log = root / "heso-local-data" / "receipts.jsonl"
    return len(log.read_bytes().splitlines()) if log.exists() else 0


def checkpoint_sizes(root: Path) -> list[int]:
    folder = root / "heso-local-data" / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(p.name.split("-")[0]) for p in folder.glob("*.checkpoint"))


def covering_checkpoint(root: Path) -> Path:
    """The kept checkpoint of the whole log, checked by `heso log verify --checkpoint`."""
    size = receipts(root)
    found = sorted((root / "heso-local-data" / "checkpoints").glob(f"{size:020}-*.checkpoint"))
    assert len(found) == 1, (size, checkpoint_sizes(root))
    verified = run_heso("log", "verify", "--checkpoint", str(found[0]), cwd=root)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return found[0]


def run_script(root: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = "import heso\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr, done.stderr
    return done


# Each script exits normally with the project still open; the last two keep it alive
# past the interpreter's own cleanup (a daemon thread's frame; a reference cycle held by
# a module), where only the exit hook closes it.
EXITS = {
    "plain": """
        heso.init()

        @heso.tool
        def search(query: str) -> str:
            return query

        for i in range(3):
            search(f"q{i}")
    """,
    "async": """
        import asyncio
        heso.init()

        @heso.tool
        async def search(query: str) -> str:
            return query

        async def main():
            await asyncio.gather(*(search(f"q{i}") for i in range(5)))

        asyncio.run(main())
    """,
    "held by a daemon thread": """
        import threading, time
        heso.init()
        from heso import _state

        @heso.tool
        def search(query: str) -> str:
            return query

        search("one")
        search("two")

        def hold(project):
            while True:
                time.sleep(60)

        threading.Thread(target=hold, args=(_state._project,), daemon=True).start()
    """,
    "held by a cycle": """
        import sys
        heso.init()
        from heso import _state

        @heso.tool
        def search(query: str) -> str:
            return query

        search("one")
        cycle = {"project": _state._project}
        cycle["self"] = cycle
        sys.heso_test_cycle = cycle
    """,
}


@pytest.mark.parametrize("body", list(EXITS.values()), ids=list(EXITS))
def test_a_process_that_exits_normally_keeps_a_checkpoint_of_every_receipt(
    project: Path, body: str
) -> None:
    assert checkpoint_sizes(project) == []
    run_script(project, body)
    assert receipts(project) > 0
    checkpoint = covering_checkpoint(project)
    assert checkpoint.read_text().splitlines()[1] == str(receipts(project))


def test_a_second_process_keeps_the_checkpoint_of_the_grown_log(project: Path) -> None:
    body = """
        heso.init()
        heso.tool(lambda query: query)("x")
    """
    run_script(project, body)
    run_script(project, body)
    assert checkpoint_sizes(project) == [1, 2]
    covering_checkpoint(project)


def test_shutdown_keeps_the_checkpoint_at_once_and_closes_the_project(project: Path) -> None:
    heso.init()

    @heso.tool
    def search(query: str) -> str:
        return query

    search("one")
    search("two")
    heso.shutdown()
    assert checkpoint_sizes(project) == [2]
    covering_checkpoint(project)
    with pytest.raises(heso.ConfigError, match=r"heso\.init\(\) has not been called"):
        search("three")
    assert receipts(project) == 2
    heso.shutdown()  # a second time: nothing to close, no error
    heso.init()
    assert search("three") == "three"
    heso.shutdown()
    assert checkpoint_sizes(project) == [2, 3]


def test_a_closed_core_project_refuses_calls_and_closing_is_idempotent(project: Path) -> None:
    core = heso._core.Project(str(project))
    options = heso._core.Options(None, [], "destructive", True, "tool_call")
    core.gate(options, "search", "default", "default", None, "{}")
    core.close()
    core.close()
    assert checkpoint_sizes(project) == [1]
    with pytest.raises(heso.ConfigError, match="closed"):
        core.gate(options, "search", "default", "default", None, "{}")
    with pytest.raises(heso.ConfigError, match="closed"):
        core.pending_info("p")
    assert receipts(project) == 1


def test_an_empty_log_gets_no_checkpoint(project: Path) -> None:
    run_script(project, "heso.init()\n")
    assert checkpoint_sizes(project) == []
