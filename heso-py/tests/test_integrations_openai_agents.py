"""heso.integrations.openai_agents with the real OpenAI Agents SDK (`openai-agents`) and its
scripted stub model (`agents.testing.ScriptedModel`; no network, tracing off)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
agents = pytest.importorskip("agents")
from agents import Agent, Runner, function_tool, set_tracing_disabled  # noqa: E402
from agents.testing import ScriptedModel, assistant_message, function_call  # noqa: E402

import heso  # noqa: E402
from heso.integrations.openai_agents import gate_agent, pending_id  # noqa: E402

from conftest import add_approver, run_heso  # noqa: E402

set_tracing_disabled(True)

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
    return [json.loads(line)["content"] for line in path.read_text().splitlines()]


@pytest.fixture
def ran(project: Path) -> list[tuple[str, Any]]:
    with open(project / "heso.toml", "a") as f:
        f.write(RULES)
    heso.init()
    return []


def tools(ran: list[tuple[str, Any]]) -> list[Any]:
    @function_tool
    def lookup(query: str) -> str:
        """Looks a customer up."""
        ran.append(("lookup", query))
        return f"found {query}"

    @function_tool
    def wire_money(amount: int, to: str) -> str:
        """Sends money."""
        ran.append(("wire_money", amount))
        return "sent"

    @function_tool
    def export_users(table: str) -> str:
        """Exports a table."""
        ran.append(("export_users", table))
        return "exported"

    return [lookup, wire_money, export_users]


def model(*calls: tuple[str, dict[str, Any], str]) -> ScriptedModel:
    steps: list[Any] = [[function_call(name, args, call_id=call_id)] for name, args, call_id in calls]
    steps.extend([assistant_message("done")] for _ in range(3))
    return ScriptedModel(steps)


def test_allowed_tools_run_after_their_receipt(project: Path, ran: list[tuple[str, Any]]) -> None:
    agent = gate_agent(Agent(name="a", tools=tools(ran), model=model(("lookup", {"query": "acme"}, "c1"))))
    result = Runner.run_sync(agent, "find acme")
    assert result.final_output == "done"
    assert ran == [("lookup", "acme")]
    last = read_log(project)[-1]
    assert last["action"]["verb"] == "tool_call"
    assert last["action"]["tool_name"] == "lookup"
    assert last["action"]["fields"] == {"query": "acme"}
    assert last["policy"]["decision_path"] == "allow"


def test_a_blocked_tool_never_runs_and_the_model_is_told(project: Path, ran: list[tuple[str, Any]]) -> None:
    scripted = model(("wire_money", {"amount": 5000, "to": "mallory"}, "c1"))
    agent = gate_agent(Agent(name="a", tools=tools(ran), model=scripted))
    before = len(read_log(project)) if (project / "heso-local-data" / "receipts.jsonl").exists() else 0
    result = Runner.run_sync(agent, "pay")
    assert result.final_output == "done"
    assert ran == []
    log = read_log(project)
    assert len(log) == before + 1
    assert log[-1]["action"]["tool_name"] == "wire_money"
    assert log[-1]["action"]["fields"] == {"amount": 5000, "to": "mallory"}
    assert log[-1]["policy"]["rule_id"] == "no.wire"
    told = json.dumps([str(i) for i in scripted.calls[-1].input])
    assert "heso blocked the tool wire_money" in told and "no.wire" in told


def test_handoff_agents_tools_are_gated(project: Path, ran: list[tuple[str, Any]]) -> None:
    billing = Agent(name="billing", tools=tools(ran), model=model(("wire_money", {"amount": 1, "to": "x"}, "c2")))
    front = Agent(
        name="front",
        handoffs=[agents.handoff(billing)],
        model=ScriptedModel([[function_call("transfer_to_billing", {}, call_id="c1")]]),
    )
    gate_agent(front)
    Runner.run_sync(front, "pay x")
    assert ran == []
    assert read_log(project)[-1]["action"]["tool_name"] == "wire_money"
    assert read_log(project)[-1]["policy"]["rule_id"] == "no.wire"
    direct = Agent(name="d", handoffs=[Agent(name="inner", tools=tools(ran))])
    gate_agent(direct)
    inner_tools = direct.handoffs[0].tools  # type: ignore[union-attr]
    assert all(getattr(t.on_invoke_tool, "__heso_gated__", False) for t in inner_tools)


def test_require_approval_interrupts_the_run_and_runs_once_after_heso_approve(
    project: Path, ran: list[tuple[str, Any]]
) -> None:
    key = add_approver(project)
    heso.init()
    scripted = model(("export_users", {"table": "users"}, "c1"))
    agent = gate_agent(Agent(name="a", tools=tools(ran), model=scripted))
    result = Runner.run_sync(agent, "export")
    assert ran == []
    assert len(result.interruptions) == 1
    item = result.interruptions[0]
    pid = pending_id(item)
    assert pid and read_log(project)[-1]["policy"]["decision_path"] == "require_approval"

    # Approved in the SDK only: nothing runs, the model is told it still waits.
    state = result.to_state()
    state.approve(item)
    waiting = Runner.run_sync(agent, state)
    assert ran == []
    assert "heso approve" in json.dumps([str(i) for i in scripted.calls[-1].input])
    assert waiting.final_output == "done"

    # Approved in heso, then in the SDK: the tool runs once.
    approved = run_heso("approve", pid, "--key", str(key), "--yes", cwd=project,
                        env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
    assert approved.returncode == 0, approved.stderr
    scripted2 = model(("export_users", {"table": "users"}, "c9"))
    agent2 = gate_agent(Agent(name="a", tools=tools(ran), model=scripted2))
    result2 = Runner.run_sync(agent2, "export")
    assert ran == []  # a new call (c9) is a new action: it waits for its own approval
    assert pending_id(result2.interruptions[0]) not in (None, pid)

    # The first call, resumed: claimed once, then it runs.
    state = result.to_state()
    state.approve(item)
    Runner.run_sync(agent, state)
    assert ran == [("export_users", "users")]
    assert read_log(project)[-1]["policy"]["rule_display"].endswith(")")
    assert "resumed" in read_log(project)[-1]["policy"]["rule_display"]


def test_gate_agent_is_idempotent_and_checks_its_options(project: Path, ran: list[tuple[str, Any]]) -> None:
    agent = Agent(name="a", tools=tools(ran), model=model(("lookup", {"query": "q"}, "c1")))
    gate_agent(gate_agent(agent))
    before = len(read_log(project)) if (project / "heso-local-data" / "receipts.jsonl").exists() else 0
    Runner.run_sync(agent, "q")
    assert len(read_log(project)) == before + 1  # one receipt, not two
    with pytest.raises(ValueError):
        gate_agent(agent, redact=["a..b"])
