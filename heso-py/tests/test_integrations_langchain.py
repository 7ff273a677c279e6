"""heso.integrations.langchain with the real `langchain-core` and `langgraph`: tools called
directly, and from a LangGraph graph (ToolNode, an in-memory checkpointer) whose model is
langchain-core's scripted fake chat model (no network)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langgraph")
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import InjectedState, ToolNode  # noqa: E402
from langgraph.types import Command  # noqa: E402

import heso  # noqa: E402
from heso.integrations.langchain import gate_tool, gate_tools  # noqa: E402

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


def make_tools(ran: list[tuple[str, Any]]) -> list[Any]:
    @tool
    def lookup(query: str, state: Annotated[dict, InjectedState]) -> str:
        """Looks a customer up."""
        ran.append(("lookup", query))
        return f"found {query}"

    @tool
    def wire_money(amount: int, to: str) -> str:
        """Sends money."""
        ran.append(("wire_money", amount))
        return "sent"

    @tool
    def export_users(table: str) -> str:
        """Exports a table."""
        ran.append(("export_users", table))
        return "exported"

    return [lookup, wire_money, export_users]


def graph(tools: list[Any], calls: list[tuple[str, dict[str, Any], str]]) -> Any:
    """model -> tools -> model -> END, the model scripted: one message with the tool calls,
    then a final answer."""
    model = FakeMessagesListChatModel(
        responses=[
            AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i} for n, a, i in calls]),
            AIMessage(content="done"),
        ]
    )

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if getattr(last, "tool_calls", None) else END

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(gate_tools(tools)))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


def tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def test_a_tool_called_directly(project: Path, ran: list[tuple[str, Any]]) -> None:
    lookup, wire, _ = gate_tools(make_tools(ran))
    assert wire.name == "wire_money" and wire.args == make_tools([])[1].args
    with pytest.raises(heso.BlockedError):
        wire.invoke({"amount": 10, "to": "x"})
    assert ran == []
    assert read_log(project)[-1]["action"]["fields"] == {"amount": 10, "to": "x"}
    call = {"name": "wire_money", "args": {"amount": 10, "to": "x"}, "id": "t1", "type": "tool_call"}
    refused = wire.invoke(call)
    assert isinstance(refused, ToolMessage) and refused.status == "error"
    assert "no.wire" in str(refused.content) and refused.tool_call_id == "t1"
    assert ran == []
    ok = gate_tool(make_tools(ran)[0])
    assert gate_tool(ok) is ok
    with pytest.raises(TypeError):
        gate_tool(lambda: 1)  # type: ignore[arg-type]


def test_a_graph_runs_allowed_tools_and_refuses_blocked_ones(project: Path, ran: list[tuple[str, Any]]) -> None:
    g = graph(make_tools(ran), [("lookup", {"query": "acme"}, "t1"), ("wire_money", {"amount": 5, "to": "m"}, "t2")])
    result = g.invoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "1"}})
    assert ran == [("lookup", "acme")]
    messages = {m.tool_call_id: m for m in tool_messages(result)}
    assert messages["t1"].content == "found acme"
    assert messages["t2"].status == "error" and "no.wire" in str(messages["t2"].content)
    log = read_log(project)
    by_tool = {r["action"]["tool_name"]: r for r in log}
    assert by_tool["lookup"]["action"]["fields"] == {"query": "acme"}  # injected state left out
    assert by_tool["wire_money"]["policy"]["rule_id"] == "no.wire"
    assert result["messages"][-1].content == "done"


def _approval_flow(project: Path, ran: list[tuple[str, Any]], run: Any) -> None:
    key = add_approver(project)
    heso.init()
    g = graph(make_tools(ran), [("export_users", {"table": "users"}, "t1")])
    config = {"configurable": {"thread_id": "approve"}}
    result = run(g, {"messages": [HumanMessage("export")]}, config)
    interrupts = result["__interrupt__"]
    pending = interrupts[0].value["heso_pending_id"]
    assert interrupts[0].value["arguments"] == {"table": "users"}
    assert ran == []
    receipts = len(read_log(project))

    # Resumed before anyone decided: interrupts again, nothing is gated twice.
    again = run(g, Command(resume=pending), config)
    assert again["__interrupt__"][0].value["heso_pending_id"] == pending
    assert ran == [] and len(read_log(project)) == receipts

    approved = run_heso("approve", pending, "--key", str(key), "--yes", cwd=project,
                        env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
    assert approved.returncode == 0, approved.stderr
    done = run(g, Command(resume=pending), config)
    assert ran == [("export_users", "users")]
    assert tool_messages(done)[-1].content == "exported"
    log = read_log(project)
    assert "resumed" in log[-1]["policy"]["rule_display"]  # the claim, once
    parked = [r for r in log if r["policy"]["decision_path"] == "require_approval"
              and "approver_decision" not in r]
    assert len(parked) == 1  # gated once, however often the graph resumed


def test_require_approval_interrupts_the_graph_and_runs_once_after_heso_approve(
    project: Path, ran: list[tuple[str, Any]]
) -> None:
    _approval_flow(project, ran, lambda g, value, config: g.invoke(value, config))


def test_the_same_flow_in_an_async_graph(project: Path, ran: list[tuple[str, Any]]) -> None:
    _approval_flow(project, ran, lambda g, value, config: asyncio.run(g.ainvoke(value, config)))


def test_a_rejected_call_is_answered_with_an_error_message(project: Path, ran: list[tuple[str, Any]]) -> None:
    key = add_approver(project)
    heso.init()
    g = graph(make_tools(ran), [("export_users", {"table": "users"}, "t1")])
    config = {"configurable": {"thread_id": "reject"}}
    pending = g.invoke({"messages": [HumanMessage("x")]}, config)["__interrupt__"][0].value["heso_pending_id"]
    rejected = run_heso("reject", pending, "--key", str(key), "--yes", cwd=project,
                        env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
    assert rejected.returncode == 0, rejected.stderr
    result = g.invoke(Command(resume=pending), config)
    assert ran == []
    message = tool_messages(result)[-1]
    assert message.status == "error" and "heso refused" in str(message.content)
