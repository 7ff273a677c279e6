"""Gating for the OpenAI Agents SDK (``pip install 'heso[openai-agents]'``).

``gate_agent(agent)`` gates every function tool of ``agent`` and of every agent it can
hand off to (in place; returns ``agent``). Each call of a tool is gated as a
``tool_call`` named as the SDK names the tool, with the model's arguments as its fields,
before the tool runs:

- allowed: the tool runs;
- blocked: the tool does not run, and the model is told why (the SDK's way of answering a
  tool call with an error message instead of its output);
- require_approval: the SDK's own human-in-the-loop: the run stops with an interruption
  (``result.interruptions``) as for a tool with ``needs_approval``. ``pending_id(item)``
  gives the heso pending id of an interruption; once a person has run ``heso approve ID``,
  approve the item in the SDK (``state.approve(item)``) and run again: the tool runs once
  (claimed in the log, exactly once across processes). Approving in the SDK alone runs
  nothing: the model is told the call is still waiting for ``heso approve``.

Tools of MCP servers (``agent.mcp_servers``) are not function tools of the agent: put
``heso mcp-proxy`` in front of the server. Hosted tools (web search, file search…) run on
OpenAI's side and are not gated here.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from typing import Any, Optional, Sequence, TypeVar

from agents import Agent, FunctionTool

from .._errors import ApprovalError
from . import _common

__all__ = ["gate_agent", "pending_id"]

A = TypeVar("A", bound=Agent[Any])

# The heso gate of each tool call the SDK asked about (by call id), until it runs.
_gates: dict[str, _common.Gate] = {}
_lock = threading.Lock()


def pending_id(item: Any) -> Optional[str]:
    """The heso pending id of an interruption (``result.interruptions``) that heso asked
    for, ``None`` for one it did not."""
    call_id = _call_id(item)
    with _lock:
        gate = _gates.get(call_id) if call_id else None
    return gate.pending_id if gate is not None and gate.status == _common.SUSPENDED else None


def _call_id(item: Any) -> Optional[str]:
    raw = getattr(item, "raw_item", item)
    value = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    return value if isinstance(value, str) else None


def gate_agent(agent: A, *, redact: Optional[Sequence[str]] = None) -> A:
    """Gates every function tool of ``agent`` and of the agents it hands off to, in place,
    and returns ``agent``. ``redact``: field paths committed in every tool call's receipt
    (each must find its value in a call that passes its first argument)."""
    opts = _common.options("heso.integrations.openai_agents.gate_agent", redact)
    seen: set[int] = set()
    stack: list[Any] = [agent]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for tool in getattr(current, "tools", None) or []:
            if isinstance(tool, FunctionTool):
                _gate_tool(tool, opts)
        for handoff in getattr(current, "handoffs", None) or []:
            target = handoff if isinstance(handoff, Agent) else _handoff_agent(handoff)
            if target is not None:
                stack.append(target)
    return agent


def _handoff_agent(handoff: Any) -> Optional[Any]:
    ref = getattr(handoff, "_agent_ref", None)
    target = ref() if callable(ref) else None
    return target if isinstance(target, Agent) else None


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"input": text}
    return _common.arguments_of(value)


def _gate_tool(tool: FunctionTool, opts: Any) -> None:
    if getattr(tool.on_invoke_tool, "__heso_gated__", False):
        return
    invoke = tool.on_invoke_tool
    needs = tool.needs_approval
    name = tool.name

    async def needs_approval(context: Any, params: dict[str, Any], call_id: str) -> bool:
        own = needs if isinstance(needs, bool) else await needs(context, params, call_id)
        with _lock:
            gate = _gates.get(call_id)
        if gate is None:
            gate = await _common.gate_async(opts, name, _common.arguments_of(params))
            with _lock:
                _gates[call_id] = gate
        return bool(own) or gate.status == _common.SUSPENDED

    async def on_invoke_tool(context: Any, arguments: str) -> Any:
        call_id = getattr(context, "tool_call_id", None)
        fields = _arguments(arguments)
        with _lock:
            gate = _gates.pop(call_id, None) if isinstance(call_id, str) else None
        if gate is None:  # the SDK did not ask first: gate now
            gate = await _common.gate_async(opts, name, fields)
        if gate.status == _common.BLOCKED:
            return _common.refusal(gate, name)
        if gate.status == _common.SUSPENDED:
            # Approved in the SDK; the log decides: claim the heso approval (once).
            pending = gate.pending_id or ""
            try:
                claimed = await asyncio.to_thread(_common.claim, pending, fields)
            except ApprovalError as e:
                return f"heso refused the tool {name}: {e}. The tool did not run."
            if not claimed:
                with _lock:  # still waiting: keep it for the next attempt
                    if isinstance(call_id, str):
                        _gates[call_id] = gate
                return _common.refusal(gate, name)
        result = invoke(context, arguments)
        return await result if inspect.isawaitable(result) else result

    setattr(on_invoke_tool, "__heso_gated__", True)
    tool.on_invoke_tool = on_invoke_tool
    tool.needs_approval = needs_approval
