"""``heso.wrap``: a client whose request-sending methods are gated."""

from __future__ import annotations

import functools
import inspect
import urllib.parse
from typing import Any, Callable, Mapping, Optional, TypeVar

from ._bind import _check_verb, _Options
from ._convert import _clean_str
from ._gate import _gate


_DEFAULT_VERBS: dict[str, str] = {"create": "llm_call", "request": "http_request"}
_PLAIN = (str, bytes, int, float, bool, type(None), list, tuple, dict, set, frozenset)


def _host_of(url: Any) -> Optional[str]:
    try:
        host = urllib.parse.urlsplit(str(url)).hostname
    except Exception:  # a URL object whose str() fails, or text urlsplit refuses
        return None
    return _clean_str(host) if host else None


class _Wrapped:
    """A stand-in that gates method calls by name and passes everything else through."""

    __slots__ = ("_heso_target", "_heso_path", "_heso_verbs", "_heso_host")

    def __init__(self, target: Any, path: str, verbs: Mapping[str, str], host: Optional[str]) -> None:
        object.__setattr__(self, "_heso_target", target)
        object.__setattr__(self, "_heso_path", path)
        object.__setattr__(self, "_heso_verbs", dict(verbs))
        object.__setattr__(self, "_heso_host", host)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # so isinstance(wrapped, OriginalClass) holds
        return type(object.__getattribute__(self, "_heso_target"))

    def __getattr__(self, name: str) -> Any:
        target = object.__getattribute__(self, "_heso_target")
        path = object.__getattribute__(self, "_heso_path")
        verbs = object.__getattribute__(self, "_heso_verbs")
        host = object.__getattribute__(self, "_heso_host")
        attr = getattr(target, name)
        full = f"{path}.{name}" if path else name
        if name in verbs and callable(attr):
            return _gated_method(attr, full, verbs[name], host)
        if isinstance(attr, _PLAIN) or callable(attr) or name.startswith("__"):
            return attr
        return _Wrapped(attr, full, verbs, host)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_heso_target"), name, value)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_heso_target"))

    def __repr__(self) -> str:
        return f"heso.wrap({object.__getattribute__(self, '_heso_target')!r})"


def _gated_method(method: Callable[..., Any], path: str, verb: str, host: Optional[str]) -> Callable[..., Any]:
    path = _clean_str(path)
    options = _Options(path, (), "commit_and_reveal", True, verb)

    def fields_and_host(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], Optional[str]]:
        fields: dict[str, Any] = {str(i): a for i, a in enumerate(args)}
        fields.update(kwargs)
        target_host = host
        if target_host is None:
            url = kwargs.get("url", args[1] if len(args) > 1 else None)
            target_host = _host_of(url) if url is not None else None
        return fields, target_host

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_call(*args: Any, **kwargs: Any) -> Any:
            fields, target_host = fields_and_host(args, kwargs)
            _gate(options, path, fields, method, args, kwargs, target_host)._raise_if_refused()
            return await method(*args, **kwargs)

        return async_call

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        fields, target_host = fields_and_host(args, kwargs)
        _gate(options, path, fields, method, args, kwargs, target_host)._raise_if_refused()
        return method(*args, **kwargs)

    return call


T = TypeVar("T")


def wrap(obj: T, verbs: Optional[Mapping[str, str]] = None) -> T:
    """Wraps a client: ``create`` calls are gated as ``llm_call``, ``request`` as
    ``http_request`` (extend with ``verbs={"method": "verb"}``); everything else passes
    through. Keyword arguments (and positional ones, by index) become the fields; the
    tool name is the attribute path; ``target_host`` comes from the client's base URL."""
    mapping = dict(_DEFAULT_VERBS)
    if verbs is not None:
        if not isinstance(verbs, Mapping):
            raise TypeError(
                "heso.wrap: verbs must be a mapping of method name to verb, e.g. "
                f'{{"search": "tool_call"}}, not {type(verbs).__name__}'
            )
        for method, verb in verbs.items():
            if not isinstance(method, str):
                raise TypeError(
                    f"heso.wrap: a method name in verbs must be a str, not {type(method).__name__}"
                )
            _check_verb(f"heso.wrap: verbs[{method!r:.80}]", verb)
        mapping.update(verbs)
    base = getattr(obj, "base_url", None)
    host = _host_of(base) if base is not None else None
    return _Wrapped(obj, "", mapping, host)  # type: ignore[return-value]

