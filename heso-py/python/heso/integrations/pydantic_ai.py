"""Gating for Pydantic AI (``pip install 'heso[pydantic-ai]'``).

``HesoGate()`` is a capability: ``Agent(model, capabilities=[HesoGate()])`` (or
``agent.run(..., capabilities=[HesoGate()])``) gates every tool call of the agent, its
function tools and every toolset's (MCP servers' included), before the tool runs. Each
call is a ``tool_call`` named as the model called the tool, with the model's arguments as
its fields:

- allowed: the tool runs;
- blocked: the tool does not run; the model gets the refusal as the tool's return;
- require_approval: Pydantic AI's own human-in-the-loop: the call is deferred with
  ``ApprovalRequired`` (the agent's ``output_type`` must include ``DeferredToolRequests``)
  and ``DeferredToolRequests.metadata[tool_call_id]["heso_pending_id"]`` names the heso
  pending id. Once a person has run ``heso approve ID``, run the agent again with
  ``DeferredToolResults(approvals={tool_call_id: True})`` (and the message history): the
  approval is claimed in the log, once across processes, and the tool runs. Approved in
  Pydantic AI only, the call is deferred again.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Optional, Sequence

from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import ApprovalRequired

from .._bind import _Options
from .._errors import ApprovalError
from . import _common

__all__ = ["HesoGate"]

# Calls parked in this process, by tool call id: when the run is resumed with an
# approval, the call must not be gated a second time.
_parked: dict[str, tuple[str, dict[str, Any]]] = {}
_lock = threading.Lock()


@dataclass
class HesoGate(AbstractCapability[Any]):
    """Gates every tool call of the agent before the tool runs (see the module's doc)."""

    redact: Optional[Sequence[str]] = None
    """Field paths committed in every tool call's receipt."""
    _: KW_ONLY
    id: Optional[str] = "heso_gate"
    _options: _Options = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._options = _common.options("heso.integrations.pydantic_ai.HesoGate", self.redact)

    @classmethod
    def get_serialization_name(cls) -> Optional[str]:
        return None

    async def wrap_tool_execute(self, ctx: Any, *, call: Any, tool_def: Any, args: Any, handler: Any) -> Any:
        name = str(call.tool_name)
        fields = _common.arguments_of(call.args_as_dict())
        call_id = getattr(call, "tool_call_id", None)
        if getattr(ctx, "tool_call_approved", False):
            pending = self._pending(ctx, call_id, fields)
            if pending is not None:  # approved in Pydantic AI: the log decides
                try:
                    claimed = await asyncio.to_thread(_common.claim, pending, fields)
                except ApprovalError as e:
                    self._forget(call_id)
                    return f"heso refused the tool {name}: {e}. The tool did not run."
                if not claimed:
                    raise ApprovalRequired(metadata=self._metadata(pending, name))
                self._forget(call_id)
                return await handler(args)
        gate = await _common.gate_async(self._options, name, fields)
        if gate.status == _common.ALLOWED:
            return await handler(args)
        if gate.status == _common.SUSPENDED and gate.pending_id:
            if isinstance(call_id, str):
                with _lock:
                    _parked[call_id] = (gate.pending_id, fields)
            raise ApprovalRequired(metadata=self._metadata(gate.pending_id, name))
        return _common.refusal(gate, name)

    @staticmethod
    def _metadata(pending: str, name: str) -> dict[str, Any]:
        return {
            "heso_pending_id": pending,
            "message": (
                f"heso is holding the tool {name} until a person approves it: run "
                f"`heso approve {pending}`, then approve the call and run the agent again"
            ),
        }

    @staticmethod
    def _pending(ctx: Any, call_id: Any, fields: dict[str, Any]) -> Optional[str]:
        """The pending id of an approved call: parked in this process with these very
        arguments, or named in ``DeferredToolResults.metadata`` (another process)."""
        if isinstance(call_id, str):
            with _lock:
                parked = _parked.get(call_id)
            if parked is not None and parked[1] == fields:
                return parked[0]
        metadata = getattr(ctx, "tool_call_metadata", None)
        if isinstance(metadata, dict) and isinstance(metadata.get("heso_pending_id"), str):
            return str(metadata["heso_pending_id"])
        return None

    @staticmethod
    def _forget(call_id: Any) -> None:
        if isinstance(call_id, str):
            with _lock:
                _parked.pop(call_id, None)
