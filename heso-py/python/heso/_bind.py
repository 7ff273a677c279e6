"""Turning a call into an action: options checked once, arguments bound to fields, tool
names, and the check that every ``redact=`` path a caller named finds its value."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from . import _core
from ._convert import _clean_str, to_json_value
from ._errors import GateError
from ._state import _label


# A decorator's options, checked once when it is applied, frozen in the core:
# ``_Options(name, redact, redact_mode, blocking, verb)``.
_Options = _core.Options


def _signature(fn: Callable[..., Any]) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _short_qualname(fn: Callable[..., Any]) -> Optional[str]:
    """``__qualname__`` without the enclosing functions (``outer.<locals>.CRM.m`` ->
    ``CRM.m``), or ``None`` when there is none."""
    try:
        qualname = getattr(fn, "__qualname__", None)
    except Exception:
        return None
    if not isinstance(qualname, str) or not qualname:
        return None
    return qualname.rpartition("<locals>.")[2] or None


_SELF_NAMES = ("self", "cls")


def _self_parameter(fn: Callable[..., Any], signature: Optional[inspect.Signature]) -> Optional[str]:
    """The name of ``fn``'s ``self``/``cls`` parameter when ``fn`` is a method defined in
    a class body (its qualified name says so) whose first parameter is named so; else
    ``None``. That argument is never a field: it is the object, not the action's data."""
    if signature is None:
        return None
    qualname = _short_qualname(fn)
    if qualname is None or "." not in qualname:
        return None
    first = next(iter(signature.parameters.values()), None)
    if first is None or first.name not in _SELF_NAMES:
        return None
    if first.kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return None
    return first.name


def _field_parameters(fn: Callable[..., Any], signature: inspect.Signature) -> tuple[list[str], Optional[str]]:
    """The parameters that become fields, by name, and the ``**kwargs`` parameter's name
    (whose entries become top-level fields themselves), if any."""
    skip = _self_parameter(fn, signature)
    names: list[str] = []
    var_keyword = None
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = name
        elif name != skip:
            names.append(name)
    return names, var_keyword


def _bind(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    signature: Optional[inspect.Signature] = None,
    redact: Sequence[str] = (),
) -> dict[str, Any]:
    """The call's arguments by name (see ``_bind_fields``). With ``redact``, every path
    must find a value (see ``_check_redactions``)."""
    signature = signature or _signature(fn)
    fields = _bind_fields(fn, args, kwargs, signature)
    if redact:
        _check_redactions(_name_of(fn), redact, fields, _defaults(signature))
    return fields


def _defaults(signature: Optional[inspect.Signature]) -> dict[str, Any]:
    """The parameters' default values by name."""
    if signature is None:
        return {}
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


class _Binder:
    """Binds the calls of one decorated function: made once, when it is decorated.

    For a signature of plain parameters (positional-or-keyword and keyword-only, no
    ``*args``, ``**kwargs`` or positional-only ones) it binds with dict operations, with
    the same result as ``inspect.Signature.bind`` (fields in parameter order, defaults
    applied, ``self``/``cls`` of a method left out); any other signature, and any call
    that does not fit (a missing or unknown argument, one given twice, too many), goes
    through ``_bind_fields``, which raises what ``Signature.bind`` raises."""

    __slots__ = ("fn", "signature", "defaults", "_names", "_known", "_positional", "_skip", "_fast")

    def __init__(self, fn: Callable[..., Any], signature: Optional[inspect.Signature]) -> None:
        self.fn = fn
        self.signature = signature
        self.defaults = _defaults(signature)
        self._skip = _self_parameter(fn, signature)
        kinds = [p.kind for p in signature.parameters.values()] if signature is not None else []
        plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self._fast = signature is not None and all(kind in plain for kind in kinds)
        self._names: tuple[str, ...] = tuple(signature.parameters) if signature is not None else ()
        self._known = frozenset(self._names)
        self._positional = sum(kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for kind in kinds)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's fields (see ``_bind_fields``)."""
        if not self._fast or len(args) > self._positional:
            return _bind_fields(self.fn, args, kwargs, self.signature)
        names = self._names
        fields = dict(zip(names, args))
        if kwargs or len(fields) < len(names):
            for key in kwargs:
                if key in fields or key not in self._known:
                    return _bind_fields(self.fn, args, kwargs, self.signature)
            given = {**fields, **kwargs}
            fields = {}
            for name in names:
                if name in given:
                    fields[name] = given[name]
                elif name in self.defaults:
                    fields[name] = self.defaults[name]
                else:  # a required argument is missing: Signature.bind says which
                    return _bind_fields(self.fn, args, kwargs, self.signature)
        if self._skip is not None:
            del fields[self._skip]
        return fields


def _bind_fields(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    signature: Optional[inspect.Signature],
) -> dict[str, Any]:
    """The call's arguments by name, defaults applied (by index when there is no signature).

    ``self``/``cls`` of a method is left out; keyword arguments collected by ``**kwargs``
    are top-level fields. A keyword there that is also a parameter's name (possible for a
    positional-only parameter, ``*args`` or the ``**kwargs`` name itself) raises
    ``GateError``: one of the two values would be lost."""
    if signature is None:
        fields: dict[str, Any] = {str(i): a for i, a in enumerate(args)}
        fields.update(kwargs)
        return fields
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    skip = _self_parameter(fn, signature)
    parameters = signature.parameters
    fields = {}
    for name, value in bound.arguments.items():
        parameter = parameters[name]
        if name == skip:
            continue
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD:
            fields[name] = value
            continue
        for key, item in value.items():
            if key in parameters:
                raise GateError(
                    f"heso refused {_name_of(fn)}: the keyword argument {key!r:.80} collected "
                    f"by **{name} has the name of a parameter, so the receipt could not tell "
                    "them apart; rename one (nothing was recorded and the call did not run)"
                )
            fields[key] = item
    return fields


def _name_of(fn: Callable[..., Any]) -> str:
    name = _short_qualname(fn) or getattr(fn, "__name__", None)
    return _clean_str(name) if isinstance(name, str) and name else "call"


def _tool_name(options: _Options, fn: Callable[..., Any]) -> str:
    """``name=``, else the function's qualified name without its enclosing functions
    (``CRM.lookup_customer`` for a method), else its ``__name__`` (cleaned: it may be any
    object), else ``call``."""
    if options.name:
        return options.name
    return _name_of(fn)


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
        return _Options(name, paths, redact_mode, bool(blocking), verb)
    except ValueError as e:  # the core's check, which every call then relies on
        raise ValueError(f"{where}: {e}") from None


# --- field paths (the grammar of DESIGN.md section 4, checked by _core.check_field_path) ---

_WILDCARD = None  # a parsed `*` segment


def _segments(path: str) -> list[Optional[str]]:
    """The segments of a valid field path: keys unescaped, ``None`` for ``*``."""
    out: list[Optional[str]] = []
    current: list[str] = []
    star = False
    escaped = False
    for ch in path:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ".":
            out.append(_WILDCARD if star else "".join(current))
            current, star = [], False
        elif ch == "*":
            star = True
        else:
            current.append(ch)
    out.append(_WILDCARD if star else "".join(current))
    return out


def _escape(key: str) -> str:
    """One key as a path segment: ``.``, ``*`` and ``\\`` escaped."""
    return "".join("\\" + ch if ch in ".*\\" else ch for ch in key)


def _index(key: str) -> Optional[int]:
    """A segment as an array index: canonical decimal digits only (``0``, ``12``, not
    ``01``), as the engine reads them."""
    if key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0")):
        return int(key)
    return None


def _walk(segments: Sequence[Optional[str]], value: Any) -> tuple[bool, bool]:
    """Follows a parsed path through converted JSON values, as the engine resolves it:
    (a value was found, some branch stopped short). A ``*`` over an empty array or object
    has no branch, so it finds nothing without stopping short."""
    if not segments:
        return True, False
    first, rest = segments[0], segments[1:]
    if first is _WILDCARD:
        if isinstance(value, list):
            children: Iterable[Any] = value
        elif isinstance(value, dict):
            children = value.values()
        else:
            return False, True
        missed = False
        for child in children:
            found, short = _walk(rest, child)
            if found:
                return True, False
            missed = missed or short
        return False, missed
    if isinstance(value, list):
        index = _index(first)
        if index is None or index >= len(value):
            return False, True
        return _walk(rest, value[index])
    if isinstance(value, dict) and first in value:
        return _walk(rest, value[first])
    return False, True


_NO_DEFAULT = object()


def _check_redactions(
    tool: str,
    paths: Sequence[str],
    fields: Mapping[str, Any],
    defaults: Mapping[str, Any],
    converted_of: Optional[Callable[[], dict[str, Any]]] = None,
) -> None:
    """Raises ``GateError`` (before anything is recorded) when a ``redact`` path the caller
    named finds no value in ``fields``: a typo or a wrong shape would otherwise leave the
    value it meant to hide in the clear.

    A path may find nothing when the value is absent because an optional argument was left
    out: its first segment names a keyword argument that was not passed, or an argument
    that is ``None`` where its default is ``None``. A ``*`` over an empty array or object
    finds nothing and is not refused either (there is nothing to hide). A left-out argument
    whose default is not ``None`` is a value like any other: the path must find its value
    there.

    ``converted_of`` gives the fields as the core converted them for the call it will
    record (``_core.Call.fields``), so the paths are checked on exactly what is recorded;
    without it the fields are converted here."""
    converted: Optional[dict[str, Any]] = None
    for path in paths:
        segments = _segments(path)
        first = segments[0]
        if first is not _WILDCARD:
            if first not in fields:
                continue  # a keyword argument for **kwargs that was not passed
            if fields[first] is None and defaults.get(first, _NO_DEFAULT) is None:
                continue  # an optional argument left out (or given as its None default)
        if converted is None:
            converted = converted_of() if converted_of is not None else to_json_value(dict(fields))
        found, short = _walk(segments, converted)
        if found or not short:
            continue
        names = ", ".join(repr(_clean_str(name)) for name in fields) or "none"
        raise GateError(
            f"heso refused {tool}: redact path {path!r:.200} matches no value in this call's "
            f"arguments (fields: {names:.400}), so what it should hide would be written in "
            "the clear; fix the path or the argument (nothing was recorded and the call did "
            "not run)"
        )


def _check_redact_paths(options: _Options, fn: Callable[..., Any], signature: Optional[inspect.Signature]) -> None:
    """Raises ``ValueError`` when the decorator is applied if a ``redact`` path cannot
    match any call of ``fn``: its first segment must be a parameter that becomes a field
    (anything goes when ``fn`` takes ``**kwargs`` or has no readable signature)."""
    if not options.redact or signature is None:
        return
    names, var_keyword = _field_parameters(fn, signature)
    where = "heso.destructive" if options.verb == "delete" else "heso.tool"
    skip = _self_parameter(fn, signature)
    for path in options.redact:
        first = _segments(path)[0]
        if first is _WILDCARD or first in names:
            continue
        hint = ""
        if first == skip:
            hint = f"; {first!r} is the object the method is called on, never a field"
        elif first == var_keyword:
            rest = path.partition(".")[2]
            hint = (
                f"; keyword arguments collected by **{first} are top-level fields"
                + (f": write {rest!r:.200}" if rest else "")
            )
        elif var_keyword is not None:
            continue  # any other name may come as a keyword argument
        listed = ", ".join(repr(n) for n in names) or "none"
        raise ValueError(
            f"{where}: redact path {path!r:.200} cannot match: {_name_of(fn)} has no "
            f"parameter {first!r:.80} (its parameters: {listed}){hint}"
        )
