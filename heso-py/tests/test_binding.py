"""The binding's typed path (issue 19): a decorator's options checked once into a frozen
core object, the gate's typed outcome, and refusals raised by the core as heso's own
exception classes with their attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import heso
from heso import _core


def test_options_are_checked_once_and_frozen() -> None:
    options = _core.Options("lookup", ["card.number", "a\\.b"], "destructive", False, "http_request")
    assert (options.name, options.redact, options.redact_mode, options.blocking, options.verb) == (
        "lookup",
        ("card.number", "a\\.b"),
        "destructive",
        False,
        "http_request",
    )
    with pytest.raises(AttributeError):
        options.verb = "delete"  # type: ignore[misc]
    for bad, fragment in [
        ({"verb": "nope"}, 'unknown verb "nope"'),
        ({"redact_mode": "shred"}, 'not "shred"'),
        ({"redact": ["a..b"]}, 'redact: field path "a..b" has an empty segment'),
        ({"name": ""}, "name must not be empty"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            _core.Options(**bad)

    @heso.tool(redact=["q"], verb="llm_call")
    def ask(q: str) -> str:
        return q

    _, applied = ask.__heso_gated__  # type: ignore[attr-defined]
    assert isinstance(applied, _core.Options)
    assert (applied.verb, applied.redact) == ("llm_call", ("q",))


def _gate(project: _core.Project, verb: str, tool: str) -> Any:
    return project.gate(_core.Options(verb=verb), tool, "default", "default", "api.example", "{}")


def test_the_outcome_is_typed_and_refusals_come_from_the_core(project: Path) -> None:
    with open(project / "heso.toml", "a") as f:
        f.write('\n[[rule]]\nid = "no.wire"\norder = 5\nverb = "tool_call"\ntool = "wire_*"\ndecision = "block"\n')
    core = _core.Project(str(project))
    try:
        allowed = _gate(core, "tool_call", "search")
        assert isinstance(allowed, _core.Outcome)
        assert (allowed.status, allowed.observed, allowed.pending_id, allowed.approvers) == (
            "allowed",
            False,
            None,
            [],
        )
        allowed.raise_if_refused("search")  # nothing to raise

        blocked = _gate(core, "tool_call", "wire_money")
        assert (blocked.status, blocked.rule_id) == ("blocked", "no.wire")
        with pytest.raises(heso.BlockedError) as refused:
            blocked.raise_if_refused("wire_money")
        assert str(refused.value).startswith("heso blocked wire_money: rule no.wire")
        assert (refused.value.action_hash, refused.value.rule_id, refused.value.reason) == (
            blocked.action_hash,
            "no.wire",
            blocked.rule_display,
        )

        parked = _gate(core, "http_request", "fetch")  # the starter policy asks a person
        assert parked.status == "suspended" and parked.pending_id
        with pytest.raises(heso.SuspendedError) as suspended:
            parked.raise_if_refused("fetch")
        error = suspended.value
        assert (error.pending_id, error.approvers, error.expires_at, error.action_hash, error.rule_id) == (
            parked.pending_id,
            parked.approvers,
            parked.expires_at,
            parked.action_hash,
            parked.rule_id,
        )
        assert f"heso approve {parked.pending_id}" in str(error)
        assert seq_order(allowed, blocked, parked)
    finally:
        core.close()


def seq_order(*outcomes: Any) -> bool:
    seqs = [o.seq for o in outcomes]
    return seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
