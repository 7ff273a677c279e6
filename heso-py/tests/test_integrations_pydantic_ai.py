"""heso.integrations.pydantic_ai with the real `pydantic-ai-slim` and its FunctionModel as
the stub model (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults  # noqa: E402
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402

import heso  # noqa: E402
from heso.integrations.pydantic_ai import HesoGate  # noqa: E402

from conftest import add_approver, run_heso  # noqa: E402

RULES = """
[[rule]]
id = "no.wire"
order = 1
verb = "tool_call"
tool = "wire_money"
decision = "block"

[[rule]]
id = "export.needs.a.person"
order = 2
verb = "tool_call"
tool = "export_users"
decision = "require_approval"
"""


def read_log(root: Path) -> list[dict[str, Any]]:
    path = root / "heso-local-data" / "receipts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["content"] for line in path.read_text().splitlines()]


@pytest.fixture
def ran(project: Path) -> list[tuple[str, Any]]:
    with open(project / "heso.toml", "a") as f:
        f.write(RULES)
    heso.init()
    return []


def scripted(*calls: tuple[str, dict[str, Any], str]) -> FunctionModel:
    """Calls the tools once, then answers with what the tools returned."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [
            part for m in messages for part in getattr(m, "parts", []) if isinstance(part, ToolReturnPart)
        ]
        if not returns:
            return ModelResponse(parts=[ToolCallPart(n, a, tool_call_id=i) for n, a, i in calls])
        return ModelResponse(parts=[TextPart(" | ".join(str(r.content) for r in returns))])

    return FunctionModel(respond)


def make_agent(ran: list[tuple[str, Any]], model: FunctionModel) -> Agent[None, Any]:
    agent: Agent[None, Any] = Agent(
        model, output_type=[str, DeferredToolRequests], capabilities=[HesoGate()]
    )

    @agent.tool_plain
    def lookup(query: str) -> str:
        ran.append(("lookup", query))
        return f"found {query}"

    @agent.tool_plain
    def wire_money(amount: int, to: str) -> str:
        ran.append(("wire_money", amount))
        return "sent"

    @agent.tool_plain
    def export_users(table: str) -> str:
        ran.append(("export_users", table))
        return "exported"

    return agent


def test_allowed_and_blocked_tools(project: Path, ran: list[tuple[str, Any]]) -> None:
    agent = make_agent(ran, scripted(("lookup", {"query": "acme"}, "c1"), ("wire_money", {"amount": 9, "to": "m"}, "c2")))
    result = agent.run_sync("go")
    assert ran == [("lookup", "acme")]
    assert "found acme" in result.output and "heso blocked the tool wire_money" in result.output
    by_tool = {r["action"]["tool_name"]: r for r in read_log(project)}
    assert by_tool["lookup"]["action"]["fields"] == {"query": "acme"}
    assert by_tool["lookup"]["policy"]["decision_path"] == "allow"
    assert by_tool["wire_money"]["policy"]["rule_id"] == "no.wire"
    assert by_tool["wire_money"]["action"]["fields"] == {"amount": 9, "to": "m"}


def test_require_approval_defers_the_call_and_runs_it_once_after_heso_approve(
    project: Path, ran: list[tuple[str, Any]]
) -> None:
    key = add_approver(project)
    heso.init()
    agent = make_agent(ran, scripted(("export_users", {"table": "users"}, "c1")))
    first = agent.run_sync("export")
    assert isinstance(first.output, DeferredToolRequests)
    assert [c.tool_call_id for c in first.output.approvals] == ["c1"]
    pending = first.output.metadata["c1"]["heso_pending_id"]
    assert ran == []
    receipts = len(read_log(project))

    # Approved in Pydantic AI only: deferred again, not gated again.
    again = agent.run_sync(
        message_history=first.all_messages(), deferred_tool_results=DeferredToolResults(approvals={"c1": True})
    )
    assert isinstance(again.output, DeferredToolRequests) and ran == []
    assert len(read_log(project)) == receipts

    approved = run_heso("approve", pending, "--key", str(key), "--yes", cwd=project,
                        env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
    assert approved.returncode == 0, approved.stderr
    done = agent.run_sync(
        message_history=first.all_messages(), deferred_tool_results=DeferredToolResults(approvals={"c1": True})
    )
    assert ran == [("export_users", "users")]
    assert done.output == "exported"
    assert "resumed" in read_log(project)[-1]["policy"]["rule_display"]


def test_options_are_checked_when_the_capability_is_made(project: Path) -> None:
    with pytest.raises(ValueError):
        HesoGate(redact=["a..b"])
