"""``heso.wrap``: a client whose request-sending methods are gated."""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

from ._bind import _check_redactions, _check_verb, _escape, _options, _Options, _signature
from ._convert import _clean_str, to_json_value
from ._errors import GateError
from . import _state
from ._gate import Gate, _gate, _gate_call, _run_off_loop, _run_then_gate

# For objects of no known kind: the method names gated by default (``verbs=`` adds more).
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


def _url_argument(
    signature: Optional[inspect.Signature],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    url_names: tuple[str, ...] = ("url",),
) -> tuple[Any, bool]:
    """The URL a call sends to and whether it came from a request object (which a client
    sends as it is, without its base URL): a request among the arguments, else the ``url``
    parameter (``path`` too on an LLM client's ``get``/``post``…, or, for ``request(method,
    url)``, the second argument)."""
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
        for url_name in url_names:
            if bound is not None and url_name in bound.arguments:
                return bound.arguments[url_name], False
    for url_name in url_names:
        if url_name in kwargs:
            return kwargs[url_name], False
    if name == "request" and len(args) > 1:
        return args[1], False
    return None, False


def _defaults(signature: Optional[inspect.Signature]) -> dict[str, Any]:
    if signature is None:
        return {}
    return {
        n: p.default for n, p in signature.parameters.items() if p.default is not inspect.Parameter.empty
    }


# --- what a wrapped object is, and which of its methods reach the network -----------------
#
# heso.wrap knows these kinds of objects by their classes (looked up by name, so none of
# these packages is imported): an LLM client generated as openai's and anthropic's are
# (``SyncAPIClient``/``AsyncAPIClient`` from a ``_base_client`` module, groq's and other
# such SDKs' too), its resources (``SyncAPIResource``/``AsyncAPIResource`` from a
# ``_resource`` module), their ``with_raw_response``/``with_streaming_response`` variants,
# ``httpx.Client``/``AsyncClient`` and ``requests.Session``. On these, every method is
# gated unless it is listed below as one that cannot reach the network: new endpoints
# are gated the day an SDK adds them. Objects of any other kind gate only the method
# names in ``verbs`` (``create`` and ``request`` by default).

_OTHER = "other"
_LLM_CLIENT = "llm_client"
_LLM_RESOURCE = "llm_resource"
_LLM_VARIANT = "llm_variant"
_HTTPX = "httpx"
_REQUESTS = "requests"

# Methods that cannot reach the network, per kind (everything else on these kinds is
# gated). Those in _RETURNS_CLIENT return another client, which is wrapped in turn.
_LOCAL: dict[str, frozenset[str]] = {
    _LLM_CLIENT: frozenset(
        {"copy", "with_options", "with_middleware", "close", "is_closed", "platform_headers"}
    ),
    _LLM_RESOURCE: frozenset(),
    _LLM_VARIANT: frozenset(),
    _HTTPX: frozenset({"build_request", "close", "aclose"}),
    _REQUESTS: frozenset(
        {
            "close",
            "mount",
            "prepare_request",
            "merge_environment_settings",
            "rebuild_auth",
            "rebuild_proxies",
            "rebuild_method",
            "should_strip_auth",
            "get_redirect_target",
        }
    ),
}
_RETURNS_CLIENT = frozenset({"copy", "with_options", "with_middleware"})
_VARIANTS = ("with_raw_response", "with_streaming_response")

# Calls that run a model (``llm_call``), by resource path (a leading ``beta.`` and the
# variants left out) and method; every other method of an LLM client is ``http_request``.
_MODEL_CALLS: dict[str, frozenset[str]] = {
    "chat.completions": frozenset({"create", "stream", "parse"}),
    "completions": frozenset({"create"}),
    "responses": frozenset({"create", "stream", "parse"}),
    "embeddings": frozenset({"create"}),
    "images": frozenset({"generate", "edit", "create_variation"}),
    "audio.speech": frozenset({"create"}),
    "audio.transcriptions": frozenset({"create"}),
    "audio.translations": frozenset({"create"}),
    "moderations": frozenset({"create"}),
    "messages": frozenset({"create", "stream", "parse", "count_tokens"}),
    "batches": frozenset({"create"}),
    "messages.batches": frozenset({"create"}),
}


def _kind(obj: Any) -> tuple[str, bool]:
    """The kind of ``obj`` and whether it is asynchronous."""
    try:
        mro = type(obj).__mro__
    except Exception:
        return _OTHER, False
    for cls in mro:
        module = getattr(cls, "__module__", "") or ""
        name = cls.__name__
        if name in ("SyncAPIClient", "AsyncAPIClient") and module.endswith("._base_client"):
            return _LLM_CLIENT, name == "AsyncAPIClient"
        if name in ("SyncAPIResource", "AsyncAPIResource") and module.endswith("._resource"):
            return _LLM_RESOURCE, name == "AsyncAPIResource"
        if module.split(".")[0] in ("httpx", "httpx2") and name in ("Client", "AsyncClient"):
            return _HTTPX, name == "AsyncClient"
        if module.split(".")[0] == "requests" and name == "Session":
            return _REQUESTS, False
    return _OTHER, False


def _tool_path(path: str) -> str:
    """The tool name of an attribute path: the variants are the same call, so a rule on
    ``chat.completions.create`` also holds for ``chat.completions.with_raw_response.create``."""
    return ".".join(p for p in path.split(".") if p not in _VARIANTS)


def _is_model_call(tool: str) -> bool:
    resource, _, method = tool.rpartition(".")
    if resource.startswith("beta."):
        resource = resource[len("beta.") :]
    return method in _MODEL_CALLS.get(resource, ())


class _Wrap:
    """What every level of one ``heso.wrap`` shares: the verbs asked for and redaction."""

    __slots__ = ("verbs", "redact", "redact_mode")

    def __init__(self, verbs: Mapping[str, str], redact: tuple[str, ...], redact_mode: str) -> None:
        self.verbs = dict(verbs)  # given by the caller; win over every kind's table
        self.redact = redact
        self.redact_mode = redact_mode


@dataclass(frozen=True)
class _Level:
    """One wrapped object: where it is (the attribute path), what it is, and the client
    whose ``base_url`` its relative URLs go to."""

    path: str
    kind: str
    asynchronous: bool
    client: Any
    wrap: _Wrap

    def child(self, name: str, value: Any) -> Optional["_Level"]:
        """The level of the attribute ``name`` holding ``value`` (not a plain value, not
        callable), or ``None`` when it is returned as it is."""
        path = f"{self.path}.{name}" if self.path else name
        if name in _VARIANTS and self.kind in (_LLM_CLIENT, _LLM_RESOURCE, _LLM_VARIANT):
            return _Level(path, _LLM_VARIANT, self.asynchronous, self.client, self.wrap)
        kind, asynchronous = _kind(value)
        if kind in (_LLM_CLIENT, _HTTPX, _REQUESTS):
            return _Level(path, kind, asynchronous, value, self.wrap)
        if kind == _LLM_RESOURCE:
            return _Level(path, kind, asynchronous, self.client, self.wrap)
        if self.kind == _LLM_VARIANT:  # client.with_raw_response.chat.completions
            return _Level(path, _LLM_VARIANT, self.asynchronous, self.client, self.wrap)
        if self.kind == _OTHER:  # an object heso does not know: followed, as before
            return _Level(path, _OTHER, False, self.client, self.wrap)
        return None  # a URL, headers, a timeout… of a known client

    def verb(self, name: str) -> Optional[str]:
        """The verb a call of method ``name`` is gated with, ``None`` when it is not."""
        given = self.wrap.verbs.get(name)
        if given is not None:
            return given
        if self.kind == _OTHER:
            return _DEFAULT_VERBS.get(name)
        if name in _LOCAL[self.kind]:
            return None
        if self.kind in (_LLM_RESOURCE, _LLM_VARIANT):
            path = f"{self.path}.{name}" if self.path else name
            return "llm_call" if _is_model_call(_tool_path(path)) else "http_request"
        return "http_request"


def _root(obj: Any, wrap: _Wrap) -> "_Wrapped":
    kind, asynchronous = _kind(obj)
    return _Wrapped(obj, _Level("", kind, asynchronous, obj, wrap))


class _Wrapped:
    """A stand-in that gates the methods that send requests and passes the rest through."""

    __slots__ = ("_heso_target", "_heso_level")

    def __init__(self, target: Any, level: _Level) -> None:
        object.__setattr__(self, "_heso_target", target)
        object.__setattr__(self, "_heso_level", level)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # so isinstance(wrapped, OriginalClass) holds
        return type(object.__getattribute__(self, "_heso_target"))

    def __getattr__(self, name: str) -> Any:
        target = object.__getattribute__(self, "_heso_target")
        level: _Level = object.__getattribute__(self, "_heso_level")
        attr = getattr(target, name)
        if name.startswith("__") and name.endswith("__"):
            return attr
        if callable(attr) and not isinstance(attr, type):
            verb = level.verb(name)
            if verb is not None:
                path = f"{level.path}.{name}" if level.path else name
                return _gated_method(attr, name, _tool_path(path), verb, level)
            if name in _RETURNS_CLIENT and level.kind != _OTHER:
                return _returning_client(attr, level.wrap)
            return attr
        if isinstance(attr, _PLAIN) or isinstance(attr, type):
            return attr
        child = level.child(name, attr)
        return attr if child is None else _Wrapped(attr, child)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_heso_target"), name, value)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_heso_target"))

    def __repr__(self) -> str:
        return f"heso.wrap({object.__getattribute__(self, '_heso_target')!r})"

    # `with heso.wrap(httpx.Client()) as client:` keeps the wrapped client.
    def __enter__(self) -> Any:
        target = object.__getattribute__(self, "_heso_target")
        entered = target.__enter__()
        return self if entered is target else entered

    def __exit__(self, *exc: Any) -> Any:
        return object.__getattribute__(self, "_heso_target").__exit__(*exc)

    async def __aenter__(self) -> Any:
        target = object.__getattribute__(self, "_heso_target")
        entered = await target.__aenter__()
        return self if entered is target else entered

    async def __aexit__(self, *exc: Any) -> Any:
        return await object.__getattribute__(self, "_heso_target").__aexit__(*exc)


def _returning_client(method: Callable[..., Any], wrap: _Wrap) -> Callable[..., Any]:
    """``with_options``, ``copy``…: the client they return is wrapped too."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        return _root(result, wrap) if _kind(result)[0] != _OTHER else result

    return call


def _is_lazy(value: Any) -> bool:
    """Whether ``value`` sends its request only when awaited, entered or iterated (what
    an async client's plain methods return: ``stream(...)``, a paginator)."""
    if inspect.isawaitable(value):
        return True
    cls = type(value)
    return hasattr(cls, "__aenter__") or hasattr(cls, "__aiter__")


class _GatedLater:
    """What an async client's plain method returned (a stream's context manager, a
    paginator, an awaitable), held back until the call is gated: the first ``await``,
    ``async with`` or ``async for`` gates it off the event loop, then lets it run. The
    call's fields and step were read when it was made."""

    __slots__ = ("_result", "_gate_call", "_gate_args", "_gate")

    def __init__(self, result: Any, gate_call: Callable[[], Any], gate_args: tuple[Any, ...]) -> None:
        self._result = result
        self._gate_call = gate_call
        self._gate_args = gate_args
        self._gate: Optional[Gate] = None

    async def _ensure(self) -> None:
        if self._gate is None:
            self._gate = await _run_off_loop(_run_then_gate, self._gate_call, self._gate_args)
        try:
            self._gate._raise_if_refused()
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        """Closes the coroutines the refused call made and that will never be awaited
        (the result itself, or the request a stream manager holds), so Python does not
        warn about them."""
        held = [self._result]
        try:
            held.extend(vars(self._result).values())
        except TypeError:
            pass
        for value in held:
            if inspect.iscoroutine(value):
                value.close()

    def __await__(self) -> Any:
        return self._awaited().__await__()

    async def _awaited(self) -> Any:
        await self._ensure()
        return await self._result

    async def __aenter__(self) -> Any:
        await self._ensure()
        return await self._result.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._result.__aexit__(*exc)

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        await self._ensure()
        async for item in self._result:
            yield item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def __repr__(self) -> str:
        return f"heso.wrap(…)({self._result!r})"


def _gated_method(
    method: Callable[..., Any], name: str, tool: str, verb: str, level: _Level
) -> Callable[..., Any]:
    tool = _clean_str(tool)
    wrap = level.wrap
    client = level.client
    signature = _signature(method)
    defaults = _defaults(signature)
    url_names = ("url", "path") if level.kind == _LLM_CLIENT else ("url",)

    def prepare(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[_Options, dict[str, Any], Optional[str], dict[str, Any]]:
        """The call's options (its redact paths: the caller's and every credential found),
        fields, target host, and the fields as converted (what the paths were found in)."""
        fields = _wrapped_fields(args, kwargs)
        converted = to_json_value(fields)
        if wrap.redact:
            _check_redactions(tool, wrap.redact, converted, defaults)
        paths = wrap.redact + tuple(p for p in _credential_paths(converted) if p not in wrap.redact)
        url, from_request = _url_argument(signature, name, args, kwargs, url_names)
        if from_request:
            host = _host_of(url) if url is not None else None
            if host is None:
                host = _client_host(client, None)
        else:
            host = _client_host(client, url)
        options = _Options(tool, paths, wrap.redact_mode, True, verb)
        return options, fields, host, converted

    def gate_on_worker(
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        project: Any,
        workflow: str,
        account: str,
    ) -> Gate:
        """An async method's whole gate, on a heso worker thread (see ``_gate._Dispatcher``).
        The caller's other tasks run meanwhile: the core reads the fields twice, and they
        must also be what the credential and ``redact`` paths were found in, or the call is
        refused rather than record a credential in the clear."""
        options, fields, host, converted = prepare(args, kwargs)
        call = (project or _state._current()).prepare(
            options, tool, workflow, account, host, fields=fields, read_twice=True, enforce=_state._blocking
        )
        if call.fields() != converted:
            raise GateError(
                f"heso refused {tool!r:.80}: its arguments changed while they were being "
                "recorded (another task or thread modified one of them during the call), so "
                "the receipt could not say what the call ran with; pass a copy, or leave the "
                "arguments alone until the call returns (nothing was recorded and the call "
                "did not run)"
            )
        return Gate(call.run(), method, args, kwargs, lambda: _wrapped_fields(args, kwargs))

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_call(*args: Any, **kwargs: Any) -> Any:
            # Only the step (task-local) is read on the loop; the gate runs on a worker.
            gate: Gate = await _run_off_loop(
                gate_on_worker, args, kwargs, _state._project, _state._workflow.get(), _state._account.get()
            )
            gate._raise_if_refused()
            return await method(*args, **kwargs)

        return async_call

    if level.asynchronous:
        # An async client's plain method (``stream(...)``, ``list()``, a streaming
        # variant) only builds what will send the request: call it, and gate at the first
        # await / async with / async for, off the event loop.
        @functools.wraps(method)
        def lazy_call(*args: Any, **kwargs: Any) -> Any:
            options, fields, host, _ = prepare(args, kwargs)
            gate_call = _gate_call(options, tool, fields, host).run
            fields_of = lambda: _wrapped_fields(args, kwargs)  # noqa: E731
            result = method(*args, **kwargs)
            if _is_lazy(result):
                return _GatedLater(result, gate_call, (method, args, kwargs, fields_of))
            # Not something that sends later: gated before it is handed back.
            Gate(gate_call(), method, args, kwargs, fields_of)._raise_if_refused()
            return result

        return lazy_call

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        options, fields, host, _ = prepare(args, kwargs)
        _gate(
            options, tool, fields, method, args, kwargs, host,
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
    """Wraps a client so every call that sends a request is gated first.

    For the clients heso knows (openai, anthropic and SDKs generated like them, httpx,
    requests), every method that can reach the network is gated, with ``llm_call`` for
    calls that run a model and ``http_request`` for the rest; streams (``stream(...)``,
    ``with_streaming_response``, async paginators) are gated before their first byte.
    On any other object, ``create`` calls are gated as ``llm_call`` and ``request`` as
    ``http_request``. ``verbs={"method": "verb"}`` adds or overrides names. Keyword
    arguments (and positional ones, by index) become the fields; the tool name is the
    attribute path; ``target_host`` is the host the request goes to (an absolute URL
    argument's, else the client's ``base_url``'s, read at each call).

    Credentials are committed wherever they appear in the fields: values named
    ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``, ``Api-Key`` (any
    case) and ``api_key``. ``redact`` adds field paths (each must find its value in every
    call that passes the argument it starts with, else ``GateError``)."""
    given: dict[str, str] = {}
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
        given.update(verbs)
    checked = _options(None, redact, redact_mode, True, "tool_call", "heso.wrap")
    return _root(obj, _Wrap(given, checked.redact, checked.redact_mode))  # type: ignore[return-value]
