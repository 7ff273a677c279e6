"""What the adapters share: gating one framework tool call by its name and arguments,
the words a refused call is answered with, and claiming an approved call once."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

from .. import _state
from .._bind import _check_redactions, _Options, _options
from .._gate import ALLOWED, BLOCKED, SUSPENDED, Gate, _gate, _gate_async

__all__ = ["ALLOWED", "BLOCKED", "SUSPENDED", "Gate", "arguments_of", "claim", "gate", "gate_async", "options", "refusal"]


def options(where: str, redact: Optional[Sequence[str]]) -> _Options:
    """An adapter's options, checked when the adapter is applied (as a decorator's)."""
    return _options(None, redact, "commit_and_reveal", True, "tool_call", where)


def arguments_of(value: Any) -> dict[str, Any]:
    """The fields of a tool call: its arguments when they are an object, else
    ``{"input": value}`` (a tool that takes one string)."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {"input": value}


def _not_held() -> Any:  # a gate's body: adapters run the tool themselves
    raise RuntimeError("heso: this tool call is run by its framework, not by heso.resume")


def _named(opts: _Options, tool_name: str, fields: dict[str, Any]) -> _Options:
    if opts.redact:  # every path must find its value, as a decorator's (GateError)
        _check_redactions(tool_name, opts.redact, fields, {})
    return _Options(tool_name, opts.redact, opts.redact_mode, opts.blocking, opts.verb)


def gate(
    opts: _Options,
    tool_name: str,
    fields: dict[str, Any],
    run: Optional[Callable[[], Any]] = None,
) -> Gate:
    """Gates one tool call (decides, signs and appends its receipt) before it runs.
    ``run`` runs it: what ``heso.resume(pending_id)`` calls in this process once approved."""
    named = _named(opts, tool_name, fields)
    return _gate(named, tool_name, fields, run or _not_held, (), {}, None, fields_of=lambda: fields)


async def gate_async(
    opts: _Options,
    tool_name: str,
    fields: dict[str, Any],
    run: Optional[Callable[[], Any]] = None,
) -> Gate:
    """``gate`` off the event loop (the core's call runs on a worker thread)."""
    named = _named(opts, tool_name, fields)
    return await _gate_async(
        named, tool_name, fields, run or _not_held, (), {}, None, fields_of=lambda: fields
    )


def refusal(g: Gate, tool_name: str) -> str:
    """What a framework tells the model instead of the tool's output."""
    if g.status == BLOCKED:
        return (
            f"heso blocked the tool {tool_name}: rule {g.rule_id} ({g.reason}). The tool did "
            f"not run. Receipt {g.action_hash}."
        )
    return (
        f"heso is holding the tool {tool_name} until a person approves it (pending "
        f"{g.pending_id}; `heso approve {g.pending_id}`). The tool did not run. Receipt "
        f"{g.action_hash}."
    )


def claim(pending_id: str, fields: dict[str, Any]) -> bool:
    """Claims the approved run of a parked call, durably and exactly once across
    processes (``Engine::claim``): ``True`` when this caller may now run it, ``False``
    while nobody has decided. Raises ``ApprovalError`` after a rejection, an expiry, a
    claim already made, or arguments other than the parked ones."""
    outcome = _state._current().claim(pending_id, fields=fields)
    return bool(outcome["state"] == "claimed")


