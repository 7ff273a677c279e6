"""Gating for LangChain tools and LangGraph graphs (``pip install 'heso[langchain]'``, or
``'heso[langgraph]'``).

``gate_tool(tool)`` returns a ``BaseTool`` that gates every call of ``tool`` (any
``BaseTool``: ``@tool`` functions, ``StructuredTool``, toolkits' tools) before it runs;
``gate_tools(tools)`` does it for a list, ready for ``ToolNode``, ``bind_tools`` or an
agent. Each call is a ``tool_call`` named as the tool is, with the model's arguments as
its fields (arguments the framework injects, such as a graph's state, are left out):

- allowed: the tool runs;
- blocked: a tool call from a model (``ToolNode``, an agent) gets an error
  ``ToolMessage`` saying why, the framework's way of answering a failed tool call; a
  direct ``tool.invoke({...})`` raises ``heso.BlockedError``;
- require_approval, inside a LangGraph graph (with a checkpointer): the graph stops with
  ``interrupt({"heso_pending_id": ID, "tool": …, "arguments": …, "message": …})``. Once a
  person has run ``heso approve ID``, resume with ``Command(resume=ID)`` (any value
  does in the process that was interrupted): the approval is claimed in the log, once
  across processes, and the tool runs. Resumed before the decision, the graph interrupts
  again; after a rejection or an expiry the model gets an error ``ToolMessage``.
  Outside a graph the call is refused as a block is, naming the pending id
  (``heso.SuspendedError`` for a direct call; ``heso.resume(ID)`` then runs it once).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterable, Optional, Sequence

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from pydantic import PrivateAttr

from .._bind import _Options
from .._errors import ApprovalError
from . import _common

__all__ = ["GatedTool", "gate_tool", "gate_tools"]

# Tool calls parked in this process and waiting inside a graph, by tool call id: when the
# graph resumes, the node runs again and the call must not be gated a second time.
_parked: dict[str, tuple[str, dict[str, Any]]] = {}
_lock = threading.Lock()
_SCRATCHPAD = "__pregel_scratchpad"  # langgraph's key for a running task's interrupts


def gate_tool(tool: BaseTool, *, redact: Optional[Sequence[str]] = None) -> "GatedTool":
    """A tool that gates every call of ``tool`` before it runs (see the module's doc)."""
    if isinstance(tool, GatedTool):
        return tool
    if not isinstance(tool, BaseTool):
        raise TypeError(f"heso.integrations.langchain.gate_tool takes a BaseTool, not {type(tool).__name__}")
    opts = _common.options("heso.integrations.langchain.gate_tool", redact)
    gated = GatedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        response_format=tool.response_format,
        inner=tool,
    )
    gated._heso_options = opts
    return gated


def gate_tools(tools: Iterable[BaseTool], *, redact: Optional[Sequence[str]] = None) -> list["GatedTool"]:
    """``gate_tool`` for each tool."""
    return [gate_tool(t, redact=redact) for t in tools]


def _in_graph() -> bool:
    """Whether this runs inside a LangGraph task, where ``interrupt()`` works."""
    try:
        from langgraph.config import get_config
    except ImportError:
        return False
    try:
        return _SCRATCHPAD in get_config().get("configurable", {})
    except RuntimeError:
        return False


def _named_pending(value: Any) -> Optional[str]:
    """The pending id a resume value names (``ID`` or ``{"heso_pending_id": ID}``)."""
    if isinstance(value, dict):
        value = value.get("heso_pending_id")
    if isinstance(value, str) and 1 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


class GatedTool(BaseTool):
    """A ``BaseTool`` whose every call is gated by heso before ``inner`` runs."""

    inner: BaseTool
    _heso_options: _Options = PrivateAttr()

    def _run(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - run() is overridden
        raise NotImplementedError("GatedTool runs through run()/arun()")

    def _fields(self, tool_input: Any) -> dict[str, Any]:
        """The model's arguments: what the tool's call schema names (injected ones out)."""
        if not isinstance(tool_input, dict):
            return {"input": tool_input}
        try:
            schema = self.inner.tool_call_schema
            if isinstance(schema, dict):
                names = set((schema.get("properties") or {}).keys())
            else:
                names = set(getattr(schema, "model_fields", None) or getattr(schema, "__fields__", {}))
        except Exception:
            return dict(tool_input)
        return {k: v for k, v in tool_input.items() if k in names}

    def _refused(self, message: str, tool_call_id: Optional[str], gate: Optional[_common.Gate]) -> Any:
        if tool_call_id is not None:
            return ToolMessage(content=message, tool_call_id=tool_call_id, name=self.name, status="error")
        if gate is not None:
            gate._raise_if_refused()
        raise ApprovalError(message)

    def _after_gate(self, gate: _common.Gate, fields: dict[str, Any], tool_call_id: Optional[str]) -> tuple[Optional[str], Any]:
        """What to do after gating: ``(None, None)`` runs the tool, ``(pending, None)`` waits in
        the graph for that approval, ``(None, refusal)`` answers with the refusal."""
        if gate.status == _common.ALLOWED:
            return None, None
        if gate.status == _common.SUSPENDED and gate.pending_id and _in_graph():
            if tool_call_id is not None:
                with _lock:
                    _parked[tool_call_id] = (gate.pending_id, fields)
            return gate.pending_id, None
        return None, self._refused(_common.refusal(gate, self.name), tool_call_id, gate)

    def _wait_message(self, pending: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "heso_pending_id": pending,
            "tool": self.name,
            "arguments": fields,
            "message": (
                f"heso is holding the tool {self.name} until a person approves it: run "
                f"`heso approve {pending}`, then resume the graph with Command(resume={pending!r})"
            ),
        }

    def _parked_for(self, tool_call_id: Optional[str], fields: dict[str, Any]) -> Optional[str]:
        if tool_call_id is None:
            return None
        with _lock:
            parked = _parked.get(tool_call_id)
        return parked[0] if parked is not None and parked[1] == fields else None

    def _settle(self, pending: str, fields: dict[str, Any], tool_call_id: Optional[str], claim: Any) -> Optional[Any]:
        """Interrupts the graph until the approval is claimed; ``None`` once it is (run the
        tool), else the refusal to answer with."""
        from langgraph.types import interrupt

        while True:
            resumed = interrupt(self._wait_message(pending, fields))
            target = _named_pending(resumed) or pending
            try:
                claimed = claim(target, fields)
            except ApprovalError as e:
                self._forget(tool_call_id)
                return self._refused(
                    f"heso refused the tool {self.name}: {e}. The tool did not run.", tool_call_id, None
                )
            if claimed:
                self._forget(tool_call_id)
                return None

    def _forget(self, tool_call_id: Optional[str]) -> None:
        if tool_call_id is not None:
            with _lock:
                _parked.pop(tool_call_id, None)

    def run(self, tool_input: Any, *args: Any, tool_call_id: Optional[str] = None, **kwargs: Any) -> Any:
        fields = self._fields(tool_input)
        pending = self._parked_for(tool_call_id, fields)
        if pending is None:
            gate = _common.gate(
                self._heso_options, self.name, fields,
                run=lambda: self.inner.run(tool_input, *args, tool_call_id=tool_call_id, **kwargs),
            )
            pending, refusal = self._after_gate(gate, fields, tool_call_id)
            if refusal is not None:
                return refusal
        if pending is not None:
            refusal = self._settle(pending, fields, tool_call_id, _common.claim)
            if refusal is not None:
                return refusal
        return self.inner.run(tool_input, *args, tool_call_id=tool_call_id, **kwargs)

    async def arun(self, tool_input: Any, *args: Any, tool_call_id: Optional[str] = None, **kwargs: Any) -> Any:
        fields = self._fields(tool_input)
        pending = self._parked_for(tool_call_id, fields)
        if pending is None:
            gate = await _common.gate_async(
                self._heso_options, self.name, fields,
                run=lambda: self.inner.run(tool_input, *args, tool_call_id=tool_call_id, **kwargs),
            )
            pending, refusal = self._after_gate(gate, fields, tool_call_id)
            if refusal is not None:
                return refusal
        if pending is not None:
            # interrupt() is synchronous: it runs, with the claim, on a worker thread that
            # carries this task's context (asyncio.to_thread copies it).
            refusal = await asyncio.to_thread(self._settle, pending, fields, tool_call_id, _common.claim)
            if refusal is not None:
                return refusal
        return await self.inner.arun(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
