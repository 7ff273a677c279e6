"""``heso.wrap``: a client whose request-sending methods are gated."""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import urllib.parse
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

from ._bind import _check_redactions, _check_verb, _escape, _options, _Options, _signature
from ._convert import _clean_str, to_json_value
from ._errors import GateError
from ._gate import _gate, _gate_async

_DEFAULT_VERBS: dict[str, str] = {"create": "llm_call", "request": "http_request"}
_PLAIN = (str, bytes, int, float, bool, type(None), list, tuple, dict, set, frozenset)

# Names whose values are credentials wherever they appear in a wrapped call's fields (as a
# key, or as the name of a [name, value] header pair), compared in lower case.
CREDENTIAL_NAMES = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "api_key"}
)


def _credential_paths(fields: Mapping[str, Any]) -> list[str]:
    """The concrete field path of every credential in ``fields`` (converted JSON values),
    in document order: values under a key in ``CREDENTIAL_NAMES`` (any case), and the value
    of a ``[name, value]`` pair in a list (headers as pairs) whose name is one. A credential under an empty key (which no
    path can name) is covered by its nearest nameable container."""
    found: list[str] = []

    def add(steps: list[str]) -> None:
        if "" in steps:
            steps = steps[: steps.index("")]
            if not steps:
                raise GateError(
                    "heso refused the call: a credential sits under an empty top-level key, "
                    "which no field path can name, so it cannot be hidden (nothing was "
                    "recorded and the call did not run)"
                )
        path = ".".join(_escape(step) for step in steps)
        if not any(path == p or path.startswith(p + ".") for p in found):
            found.append(path)

    def visit(value: Any, steps: list[str], depth: int) -> None:
        if depth > 70:  # converted values are cut at 64 levels
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if key.lower() in CREDENTIAL_NAMES:
                    add(steps + [key])
                else:
                    visit(item, steps + [key], depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if (
                    isinstance(item, list)
                    and len(item) == 2
                    and _header_name(item[0]) in CREDENTIAL_NAMES
                ):  # a (name, value) pair in a list of headers
                    add(steps + [str(index), "1"])
                else:
                    visit(item, steps + [str(index)], depth + 1)

    visit(dict(fields), [], 0)
    return found


def _header_name(value: Any) -> Optional[str]:
    """A header pair's name in lower case: a str, or bytes recorded as ``$bytes_b64``."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$bytes_b64"), str):
        try:
            return base64.b64decode(value["$bytes_b64"]).decode("utf-8").lower()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _is_request(value: Any) -> bool:
    """An HTTP request object (httpx's ``Request``, requests' ``PreparedRequest``): it has
    a method, a URL and headers, and is not a plain value."""
    if isinstance(value, _PLAIN):
        return False
    try:
        return all(hasattr(value, name) for name in ("method", "url", "headers"))
    except Exception:
        return False


def _request_fields(request: Any) -> dict[str, Any]:
    """What a request object is recorded as: its method, URL and headers."""
    fields: dict[str, Any] = {}
    for name in ("method", "url", "headers"):
        try:
            value = getattr(request, name)
        except Exception:
            continue
        if name == "headers":
            try:
                fields[name] = {_text(k): _text(v) for k, v in value.items()}
            except Exception:
                fields[name] = value
        else:
            fields[name] = _text(value)
    return fields


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return _clean_str(str(value))
    except Exception:
        return f"<{type(value).__name__}>"


def _wrapped_fields(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional arguments by index, keyword arguments by name; a request object as its
    method, URL and headers."""
    fields: dict[str, Any] = {str(i): a for i, a in enumerate(args)}
    fields.update(kwargs)
    return {k: _request_fields(v) if _is_request(v) else v for k, v in fields.items()}


def _host_of(url: Any) -> Optional[str]:
    """The host of an absolute or scheme-relative URL (RFC 3986), ``None`` for a relative
    one. Raises ``GateError`` when the URL cannot be read: its host is unknown."""
    try:
        if isinstance(url, (bytes, bytearray)):
            url = bytes(url).decode("utf-8")
        parts = urllib.parse.urlsplit(url if isinstance(url, str) else str(url))
        if not parts.netloc:
            return None
        host = parts.hostname
    except Exception:
        host = None
    if not host:
        raise GateError(
            "heso refused the call: cannot tell which host the request goes to from its URL, "
            "so no rule on hosts could apply (nothing was recorded and the call did not run)"
        )
    return _clean_str(host)


def _client_host(client: Any, url: Any) -> Optional[str]:
    """Where a request for ``url`` goes from ``client``: an absolute URL's host; a relative
    one resolved against the client's ``base_url`` (by the client's own rule when it has
    one, as httpx's ``_merge_url``); ``None`` when neither says."""
    try:
        base = getattr(client, "base_url", None)
    except Exception:
        base = None
    if url is not None and base is not None:
        merge = getattr(client, "_merge_url", None)
        if callable(merge):
            try:
                merged = merge(url)
            except Exception:
                merged = None
            host = getattr(merged, "host", None)
            if isinstance(host, str) and host:
                return _clean_str(host)
    if url is not None:
        host = _host_of(url)
        if host is not None:
            return host
    if base is None or (isinstance(base, str) and not base):
        return None
    return _host_of(base)


def _url_argument(signature: Optional[inspect.Signature], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """The URL a call sends to and whether it came from a request object (which a client
    sends as it is, without its base URL): a request among the arguments, else the ``url``
    parameter (or, for ``request(method, url)``, the second argument)."""
    for value in (*args, *kwargs.values()):
        if _is_request(value):
            try:
                return value.url, True
            except Exception:
                return None, True
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            bound = None
        if bound is not None and "url" in bound.arguments:
            return bound.arguments["url"], False
    if "url" in kwargs:
        return kwargs["url"], False
    if name == "request" and len(args) > 1:
        return args[1], False
    return None, False


def _defaults(signature: Optional[inspect.Signature]) -> dict[str, Any]:
    if signature is None:
        return {}
    return {
        n: p.default for n, p in signature.parameters.items() if p.default is not inspect.Parameter.empty
    }


class _Wrap:
    """What every level of one ``heso.wrap`` shares: the client, the verbs and redaction."""

    __slots__ = ("client", "verbs", "redact", "redact_mode")

    def __init__(self, client: Any, verbs: Mapping[str, str], redact: tuple[str, ...], redact_mode: str) -> None:
        self.client = client
        self.verbs = dict(verbs)
        self.redact = redact
        self.redact_mode = redact_mode


class _Wrapped:
    """A stand-in that gates method calls by name and passes everything else through."""

    __slots__ = ("_heso_target", "_heso_path", "_heso_wrap")

    def __init__(self, target: Any, path: str, wrap: _Wrap) -> None:
        object.__setattr__(self, "_heso_target", target)
        object.__setattr__(self, "_heso_path", path)
        object.__setattr__(self, "_heso_wrap", wrap)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # so isinstance(wrapped, OriginalClass) holds
        return type(object.__getattribute__(self, "_heso_target"))

    def __getattr__(self, name: str) -> Any:
        target = object.__getattribute__(self, "_heso_target")
        path = object.__getattribute__(self, "_heso_path")
        wrap: _Wrap = object.__getattribute__(self, "_heso_wrap")
        attr = getattr(target, name)
        full = f"{path}.{name}" if path else name
        if name in wrap.verbs and callable(attr):
            return _gated_method(attr, name, full, wrap)
        if isinstance(attr, _PLAIN) or callable(attr) or name.startswith("__"):
            return attr
        return _Wrapped(attr, full, wrap)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_heso_target"), name, value)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_heso_target"))

    def __repr__(self) -> str:
        return f"heso.wrap({object.__getattribute__(self, '_heso_target')!r})"


def _gated_method(method: Callable[..., Any], name: str, path: str, wrap: _Wrap) -> Callable[..., Any]:
    path = _clean_str(path)
    verb = wrap.verbs[name]
    signature = _signature(method)
    defaults = _defaults(signature)

    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[_Options, dict[str, Any], Optional[str]]:
        fields = _wrapped_fields(args, kwargs)
        converted = to_json_value(fields)
        if wrap.redact:
            _check_redactions(path, wrap.redact, converted, defaults)
        paths = wrap.redact + tuple(p for p in _credential_paths(converted) if p not in wrap.redact)
        url, from_request = _url_argument(signature, name, args, kwargs)
        if from_request:
            host = _host_of(url) if url is not None else None
            if host is None:
                host = _client_host(wrap.client, None)
        else:
            host = _client_host(wrap.client, url)
        options = _Options(path, paths, wrap.redact_mode, True, verb)
        return options, fields, host

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_call(*args: Any, **kwargs: Any) -> Any:
            options, fields, host = prepare(args, kwargs)
            gate = await _gate_async(
                options, path, fields, method, args, kwargs, host,
                fields_of=lambda: _wrapped_fields(args, kwargs),
            )
            gate._raise_if_refused()
            return await method(*args, **kwargs)

        return async_call

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        options, fields, host = prepare(args, kwargs)
        _gate(
            options, path, fields, method, args, kwargs, host,
            fields_of=lambda: _wrapped_fields(args, kwargs),
        )._raise_if_refused()
        return method(*args, **kwargs)

    return call


T = TypeVar("T")


def wrap(
    obj: T,
    verbs: Optional[Mapping[str, str]] = None,
    redact: Optional[Sequence[str]] = None,
    redact_mode: str = "commit_and_reveal",
) -> T:
    """Wraps a client: ``create`` calls are gated as ``llm_call``, ``request`` as
    ``http_request`` (extend with ``verbs={"method": "verb"}``); everything else passes
    through. Keyword arguments (and positional ones, by index) become the fields; the
    tool name is the attribute path; ``target_host`` is the host the request goes to (an
    absolute URL argument's, else the client's ``base_url``'s, read at each call).

    Credentials are committed wherever they appear in the fields: values named
    ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``, ``Api-Key`` (any
    case) and ``api_key``. ``redact`` adds field paths (each must find its value in every
    call that passes the argument it starts with, else ``GateError``)."""
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
    checked = _options(None, redact, redact_mode, True, "tool_call", "heso.wrap")
    return _Wrapped(obj, "", _Wrap(obj, mapping, checked.redact, checked.redact_mode))  # type: ignore[return-value]
