"""Observe-only for a whole project (issue 17): `[enforcement] mode = "observe"` in heso.toml
and `heso.init(blocking=False)`. Every refusal is recorded as observed and nothing raises,
except the delete floor, which still suspends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import heso

from conftest import run_heso

BLOCK_WIRE = """
[[rule]]
id = "no.wire"
order = 5
verb = "tool_call"
tool = "wire_*"
decision = "block"

[[rule]]
id = "export.needs.a.person"
order = 6
verb = "tool_call"
tool = "export_*"
decision = "require_approval"
"""

OBSERVE = '\n[enforcement]\nmode = "observe"\n'


def read_log(root: Path) -> list[dict[str, Any]]:
    path = root / "heso-local-data" / "receipts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def pending_items(root: Path) -> list[Path]:
    folder = root / "heso-local-data" / "pending"
    return sorted(folder.glob("*.json")) if folder.exists() else []


def add(root: Path, text: str) -> None:
    with open(root / "heso.toml", "a") as f:
        f.write("\n" + text)


def tools(ran: list[str]) -> tuple[Any, Any, Any]:
    @heso.tool
    def wire_money(amount: int) -> str:
        ran.append("wire")
        return "sent"

    @heso.tool
    def export_users(table: str) -> str:
        ran.append("export")
        return "exported"

    @heso.destructive
    def drop_table(name: str) -> None:
        ran.append("drop")

    return wire_money, export_users, drop_table


def assert_observes(root: Path) -> None:
    """The three cases: a block and a require_approval are observed (the body runs, the
    receipt keeps the policy's decision and says it was observed, no pending item); a
    delete suspends."""
    ran: list[str] = []
    wire_money, export_users, drop_table = tools(ran)
    assert wire_money(5000) == "sent"
    last = read_log(root)[-1]["content"]
    assert last["policy"]["rule_id"] == "no.wire"
    assert last["policy"]["decision_path"] == "block"
    assert last["policy"]["rule_display"].endswith("(observed, not enforced)")
    assert export_users("users") == "exported"
    last = read_log(root)[-1]["content"]
    assert last["policy"]["decision_path"] == "require_approval"
    assert last["policy"]["rule_display"].endswith("(observed, not enforced)")
    assert pending_items(root) == []
    with pytest.raises(heso.SuspendedError):
        drop_table("users")
    last = read_log(root)[-1]["content"]
    assert last["action"]["verb"] == "delete"
    assert not last["policy"]["rule_display"].endswith("(observed, not enforced)")
    assert ran == ["wire", "export"]
    assert len(pending_items(root)) == 1

    async def later() -> str:
        @heso.tool
        async def wire_async(amount: int) -> str:
            return "sent async"

        return await wire_async(1)

    assert asyncio.run(later()) == "sent async"
    assert read_log(root)[-1]["content"]["policy"]["rule_display"].endswith("(observed, not enforced)")


def test_project_mode_observe_records_refusals_and_raises_nothing_but_the_delete_floor(
    project: Path,
) -> None:
    add(project, BLOCK_WIRE + OBSERVE)
    heso.init()
    assert_observes(project)


def test_project_mode_is_read_when_the_policy_changes_while_the_process_runs(project: Path) -> None:
    add(project, BLOCK_WIRE)
    heso.init()
    ran: list[str] = []
    wire_money, _, _ = tools(ran)
    with pytest.raises(heso.BlockedError):
        wire_money(1)
    add(project, OBSERVE)
    assert wire_money(2) == "sent"
    text = (project / "heso.toml").read_text().replace('mode = "observe"', 'mode = "enforce"')
    (project / "heso.toml").write_text(text)
    with pytest.raises(heso.BlockedError):
        wire_money(3)
    assert ran == ["wire"]


def test_project_mode_observe_covers_wrapped_clients(project: Path) -> None:
    add(project, OBSERVE)  # http_request has no rule: [defaults] require_approval, observed
    heso.init()

    class Client:
        base_url = "https://api.example.com"

        def request(self, method: str, url: str) -> str:
            return f"{method} {url}"

    assert heso.wrap(Client()).request("GET", "/x") == "GET /x"
    last = read_log(project)[-1]["content"]
    assert last["policy"]["decision_path"] == "require_approval"
    assert last["policy"]["rule_display"].endswith("(observed, not enforced)")


def test_enforcement_table_is_strict(project: Path) -> None:
    add(project, '[enforcement]\nmode = "watch"\n')
    with pytest.raises(heso.ConfigError, match=r"heso\.toml:\d+:\d+"):
        heso.init()
    checked = run_heso("policy", "check", cwd=project)
    assert checked.returncode != 0
    text = (project / "heso.toml").read_text().replace('mode = "watch"', 'moed = "observe"')
    (project / "heso.toml").write_text(text)
    with pytest.raises(heso.ConfigError, match="moed"):
        heso.init()
    text = (project / "heso.toml").read_text().replace('moed = "observe"', 'mode = "enforce"')
    (project / "heso.toml").write_text(text)
    heso.init()
    assert run_heso("policy", "check", cwd=project).returncode == 0


def test_init_blocking_false_is_observe_only_for_the_process(project: Path) -> None:
    add(project, BLOCK_WIRE)
    heso.init(blocking=False)
    try:
        assert_observes(project)
        # A decorator's blocking=True cannot take the process default back: observe-only
        # for the process means every gated call.
        @heso.tool(blocking=True)
        def wire_strict(amount: int) -> str:
            return "sent"

        assert wire_strict(1) == "sent"
    finally:
        heso.init()
    ran: list[str] = []
    wire_money, _, _ = tools(ran)
    with pytest.raises(heso.BlockedError):  # init() again: enforcing
        wire_money(1)
    assert ran == []


def test_init_blocking_must_be_a_bool(project: Path) -> None:
    with pytest.raises(TypeError, match="blocking"):
        heso.init(blocking="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        heso.init(str(project), False)  # type: ignore[misc]  # keyword only
