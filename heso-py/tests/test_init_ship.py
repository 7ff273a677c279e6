"""heso.init(ship=…) starts the fleet shipper beside the gate, never on a gated call's path."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import heso
from heso import _ship


def test_init_ship_reports_store_errors_and_never_fails_a_gated_call(project: Path) -> None:
    # A store nobody listens on: shipping fails, gated calls do not.
    heso.init(ship="postgresql://heso@127.0.0.1:1/none")
    try:
        shipper = _ship.current()
        assert shipper is not None

        @heso.tool
        def search(query: str) -> str:
            return query

        assert search("x") == "x"
        deadline = time.monotonic() + 30
        while shipper.last_error is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert shipper.last_error, "the shipper's failure is reported"
        assert search("y") == "y"
    finally:
        current = _ship.current()
        if current is not None:
            current.stop()


def test_init_ship_refuses_a_wrong_type(project: Path) -> None:
    with pytest.raises(TypeError, match="ship"):
        heso.init(ship=3)  # type: ignore[arg-type]
