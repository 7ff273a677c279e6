"""Gating for Anthropic tool use (``pip install 'heso[anthropic]'``; the helper itself needs
nothing but a response).

The Messages API leaves running tools to the caller: ``gate_tool_uses(response)`` gates
every ``tool_use`` block of a ``messages.create`` response (a ``Message`` or its dict) as a
``tool_call`` named as the block's tool, with its ``input`` as the fields, before the
caller runs any of them, and returns one ``ToolUse`` per block, in order::

    response = client.messages.create(model=…, tools=…, messages=messages)
    results = [use.run(TOOLS[use.name]) for use in gate_tool_uses(response)]
    messages += [{"role": "assistant", "content": response.content},
                 {"role": "user", "content": results}]

``use.run(fn)`` calls ``fn(**use.input)`` when the call is allowed and returns its
``tool_result`` block; a refused call is not run and gets a ``tool_result`` with
``is_error: true`` saying why (blocked: the rule; require_approval: the pending id), the
Messages API's way to tell the model a tool failed. A call that waits for approval can be
run later, once, after ``heso approve ID``: ``use.run_approved(fn)`` claims the approval
in the log (exactly once across processes) and runs it, ``heso.SuspendedError`` while
nobody decided, ``heso.ApprovalError`` after a rejection, an expiry or a second run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from .._errors import ApprovalError
from . import _common

__all__ = ["ToolUse", "gate_tool_uses", "gate_tool_uses_async"]


@dataclass
class ToolUse:
    """One ``tool_use`` block of a response, gated."""

    id: str
    name: str
    input: dict[str, Any]
    gate: _common.Gate

    @property
    def allowed(self) -> bool:
        return self.gate.status == _common.ALLOWED

    @property
    def pending_id(self) -> Optional[str]:
        return self.gate.pending_id if self.gate.status == _common.SUSPENDED else None

    def result(self, content: Any) -> dict[str, Any]:
        """The ``tool_result`` block answering this call with ``content``."""
        if not isinstance(content, (str, list)):
            content = json.dumps(content, default=str)
        return {"type": "tool_result", "tool_use_id": self.id, "content": content}

    def refusal(self) -> dict[str, Any]:
        """The ``tool_result`` block (``is_error: true``) answering a refused call."""
        return {
            "type": "tool_result",
            "tool_use_id": self.id,
            "content": _common.refusal(self.gate, self.name),
            "is_error": True,
        }

    def run(self, fn: Callable[..., Any]) -> dict[str, Any]:
        """Runs ``fn(**input)`` when allowed and returns its ``tool_result``; else the
        refusal, without running anything."""
        if not self.allowed:
            return self.refusal()
        return self.result(fn(**self.input))

    def run_approved(self, fn: Callable[..., Any]) -> dict[str, Any]:
        """Runs a call that waited for approval, once, after ``heso approve``."""
        if self.allowed:
            raise ApprovalError(f"tool_use {self.id} was allowed, not parked: use run()")
        pending = self.pending_id
        if pending is None:
            raise ApprovalError(f"tool_use {self.id} was blocked ({self.gate.rule_id}); it never runs")
        if not _common.claim(pending, self.input):
            self.gate._raise_if_refused()  # SuspendedError: nobody decided yet
        return self.result(fn(**self.input))


def _blocks(response: Any) -> list[tuple[str, str, dict[str, Any]]]:
    content = response.get("content") if isinstance(response, Mapping) else getattr(response, "content", None)
    if content is None:
        raise TypeError(
            "gate_tool_uses takes a messages.create response (a Message or its dict), not "
            f"{type(response).__name__}"
        )
    uses = []
    for block in content:
        get = block.get if isinstance(block, Mapping) else (lambda k, b=block: getattr(b, k, None))
        if get("type") != "tool_use":
            continue
        raw = get("input")
        uses.append((str(get("id")), str(get("name")), _common.arguments_of(raw if raw is not None else {})))
    return uses


def gate_tool_uses(response: Any, *, redact: Optional[Sequence[str]] = None) -> list[ToolUse]:
    """Gates every ``tool_use`` block of ``response`` before any runs (see the module)."""
    opts = _common.options("heso.integrations.anthropic.gate_tool_uses", redact)
    return [ToolUse(i, n, f, _common.gate(opts, n, f)) for i, n, f in _blocks(response)]


async def gate_tool_uses_async(response: Any, *, redact: Optional[Sequence[str]] = None) -> list[ToolUse]:
    """``gate_tool_uses`` off the event loop."""
    opts = _common.options("heso.integrations.anthropic.gate_tool_uses_async", redact)
    return [ToolUse(i, n, f, await _common.gate_async(opts, n, f)) for i, n, f in _blocks(response)]


