"""``heso.verify`` says whether signers were pinned, and to which keys (``Verdict.pinned``,
``Verdict.pinned_keys``), inside a project, outside one, with ``signers=``, and after the
operator key was rotated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import heso
from heso import _state
from conftest import run_heso

STRANGER = "did:key:z6MkvRXNYcE7MMduynWTgeKbDaT1iijDSC8pZqXZc8rHPrf2"


def log(root: Path) -> list[dict[str, Any]]:
    text = (root / "heso-local-data" / "receipts.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def operator(root: Path) -> str:
    return (root / "heso-local-data" / "identity.pub").read_text().strip()


def test_a_verdict_says_whether_and_to_which_keys_signers_were_pinned(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = run_heso("demo", cwd=project)
    assert demo.returncode == 0, demo.stderr
    receipt = log(project)[0]

    # Before heso.init(): nothing is pinned, and the verdict says so.
    monkeypatch.setattr(_state, "_project", None)
    loose = heso.verify(receipt)
    assert loose.ok
    assert loose.pinned is False
    assert loose.pinned_keys == ()

    # Inside the project: its operator key.
    heso.init()
    pinned = heso.verify(receipt)
    assert pinned.ok and pinned.pinned is True
    assert pinned.pinned_keys == (operator(project),)

    # signers=: exactly those keys, whatever else is open.
    stranger = heso.verify(receipt, signers=STRANGER)
    assert stranger.kind == "UntrustedSigner"
    assert stranger.pinned is True and stranger.pinned_keys == (STRANGER,)
    nobody = heso.verify(receipt, signers=[])
    assert nobody.kind == "UntrustedSigner"
    assert nobody.pinned is True and nobody.pinned_keys == ()


def test_after_a_rotation_both_operator_keys_are_pinned_and_old_receipts_verify(
    project: Path,
) -> None:
    assert run_heso("demo", cwd=project).returncode == 0
    before = log(project)
    old = operator(project)
    rotated = run_heso("keys", "rotate", cwd=project)
    assert rotated.returncode == 0, rotated.stderr
    new = operator(project)
    assert new != old

    heso.init()
    for receipt in before:
        verdict = heso.verify(receipt)
        assert verdict.ok, verdict
        assert verdict.operator == old
        assert verdict.pinned
        assert set(verdict.pinned_keys) == {old, new}

    @heso.tool
    def search(query: str) -> str:
        return query

    search("after the rotation")
    latest = heso.verify(log(project)[-1])
    assert latest.ok and latest.operator == new
