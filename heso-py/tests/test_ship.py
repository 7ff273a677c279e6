"""The fleet shipper of heso.init(ship=True): gated calls' receipts reach the store from a
background thread; a store that cannot be reached is reported, never raised into a gated
call. Needs the throwaway PostgreSQL of scripts/postgres.sh (scripts/test.sh starts it and
sets HESO_TEST_PG_URL); each test has a database of its own."""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

import heso
from heso import _ship
from conftest import run_heso

SERVER = os.environ.get("HESO_TEST_PG_URL", "")
pytestmark = pytest.mark.skipif(
    not SERVER, reason="needs PostgreSQL: run through scripts/test.sh (scripts/postgres.sh)"
)


def psql(url: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", url, "-qtA", "-c", sql], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


@pytest.fixture
def store(project: Path) -> Iterator[str]:
    name = "heso_py_" + uuid.uuid4().hex[:12]
    psql(SERVER, f"CREATE DATABASE {name}")
    url = SERVER.rsplit("/", 1)[0] + "/" + name
    migrated = run_heso("fleet", "migrate", url, cwd=project)
    assert migrated.returncode == 0, migrated.stderr
    yield url
    psql(SERVER, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_for(seconds: float, what: str, check: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def gated_calls(n: int) -> None:
    @heso.tool
    def search(query: str) -> str:
        return query

    for i in range(n):
        try:
            search(f"q{i}")
        except (heso.BlockedError, heso.SuspendedError):
            pass  # refused calls leave receipts too


def test_the_shipper_ships_gated_calls_from_a_background_thread(project: Path, store: str) -> None:
    heso.init()
    shipper = _ship.start(str(project), store)
    try:
        gated_calls(25)
        wait_for(20, "25 receipts in the store", lambda: psql(store, "SELECT count(*) FROM heso.receipts") == "25")
        gated_calls(5)
        wait_for(10, "30 receipts in the store", lambda: psql(store, "SELECT count(*) FROM heso.receipts") == "30")
        assert shipper.last_error is None
    finally:
        shipper.stop()
    verify = run_heso("fleet", "verify", store, cwd=project)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "30 receipts in 1 logs, all valid" in verify.stdout


def test_an_unreachable_store_is_reported_and_never_fails_a_gated_call(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heso.init()
    caplog.set_level(logging.ERROR, logger="heso.ship")
    shipper = _ship.start(str(project), "postgresql://nobody@127.0.0.1:1/none")
    try:
        gated_calls(3)
        wait_for(20, "the error to be reported", lambda: shipper.last_error is not None)
    finally:
        shipper.stop()
    assert "cannot connect" in (shipper.last_error or "")
    assert not shipper.refused
    assert any(r.name == "heso.ship" and "cannot connect" in r.getMessage() for r in caplog.records)
