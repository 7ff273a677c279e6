"""Turning a call into an action: options checked once, arguments bound to fields, tool names."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from . import _core
from ._convert import _clean_str
from ._state import _label


@dataclass(frozen=True)
class _Options:
    name: Optional[str]
    redact: tuple[str, ...]
    redact_mode: str
    blocking: bool
    verb: str



def _signature(fn: Callable[..., Any]) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _bind(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    signature: Optional[inspect.Signature] = None,
) -> dict[str, Any]:
    """The call's arguments by name, defaults applied (by index when there is no signature)."""
    signature = signature or _signature(fn)
    if signature is None:
        fields: dict[str, Any] = {str(i): a for i, a in enumerate(args)}
        fields.update(kwargs)
        return fields
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _tool_name(options: _Options, fn: Callable[..., Any]) -> str:
    """``name=``, else the function's ``__name__`` (cleaned: it may be any object)."""
    if options.name:
        return options.name
    name = getattr(fn, "__name__", None)
    return _clean_str(name) if isinstance(name, str) and name else "call"



_REDACT_MODES = ("commit_and_reveal", "destructive")


def _check_verb(where: str, verb: Any) -> str:
    if not isinstance(verb, str):
        raise TypeError(f"{where}: verb must be a str, not {type(verb).__name__}")
    if verb not in _core.VERBS:
        raise ValueError(f"{where}: unknown verb {verb!r:.80} (one of {', '.join(_core.VERBS)})")
    return verb


def _options(
    name: Optional[str],
    redact: Optional[Sequence[str]],
    redact_mode: str,
    blocking: bool,
    verb: str,
    where: str = "heso.tool",
) -> _Options:
    """Checks a decorator's options once, when it is applied: a mistake here is raised
    then (``TypeError``/``ValueError``), not on every call."""
    if redact_mode not in _REDACT_MODES:
        raise ValueError(
            f"{where}: redact_mode must be one of {_REDACT_MODES}, not {redact_mode!r:.80}"
        )
    if name is not None:
        name = _label(where, "name", name)
    _check_verb(where, verb)
    if isinstance(redact, str):
        redact = [redact]
    if redact is None:
        paths: tuple[str, ...] = ()
    else:
        try:
            paths = tuple(redact)
        except TypeError:
            raise TypeError(
                f"{where}: redact must be a list of field paths, not {type(redact).__name__}"
            ) from None
    for path in paths:
        if not isinstance(path, str):
            raise TypeError(f"{where}: a redact path must be a str, not {type(path).__name__}")
        try:
            _core.check_field_path(path)
        except ValueError as e:
            raise ValueError(f"{where}: redact: {e}") from None
    return _Options(name, paths, redact_mode, bool(blocking), verb)

