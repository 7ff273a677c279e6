"""heso: every action your agent takes, checked against policy, signed and logged first.

Quickstart::

    import heso
    heso.init()

    @heso.tool
    def search(query: str) -> str: ...

Every gated call is decided by the project's policy (``heso.toml``), redacted, signed into
an Action Receipt and appended to the audit log before the function body runs. A refused
call raises ``BlockedError`` (or ``SuspendedError`` when a person must approve it) and its
body never runs. Policy, hashing and signing all happen in the Rust core, ``heso._core``.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import urllib.parse
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar, Union, overload

from . import _core
from ._convert import _clean_str, fields_json, to_json_value
from ._errors import (
    ApprovalError,
    BlockedError,
    ConfigError,
    GateError,
    HesoError,
    SuspendedError,
)

__all__ = [
    "ALLOWED",
    "BLOCKED",
    "SUSPENDED",
    "ApprovalError",
    "BlockedError",
    "ConfigError",
    "Gate",
    "GateError",
    "HesoError",
    "SuspendedError",
    "Verdict",
    "destructive",
    "gated",
    "init",
    "resume",
    "step",
    "tool",
    "verify",
    "wrap",
    "to_json_value",
]

__version__ = _core.__version__

ALLOWED = "allowed"
BLOCKED = "blocked"
SUSPENDED = "suspended"

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_project: Optional[_core.Project] = None
# Calls waiting for approval, held by this process so `resume` can run them once.
_held: dict[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = {}

_workflow: ContextVar[str] = ContextVar("heso_workflow", default="default")
_account: ContextVar[str] = ContextVar("heso_account", default="default")


def init(path: Union[str, "os.PathLike[str]", None] = None) -> None:
    """Opens the project: finds heso.toml (``path``, ``HESO_PROJECT_ROOT``, or the nearest
    folder above the working directory), unlocks the operator key and opens the log.
    Calling it again rebinds to the project found then.

    Raises ``ConfigError`` when there is no project (run ``heso init``), the passphrase is
    wrong or refused (production needs ``HESO_KEY_PASSPHRASE``), or the policy is broken.
    """
    global _project
    project = _core.Project(os.fsdecode(path) if path is not None else None)
    with _lock:
        _project = project


def _label(where: str, what: str, value: Any) -> str:
    """A workflow, account or tool name: a non-empty str of valid Unicode."""
    if not isinstance(value, str):
        raise TypeError(f"{where}: {what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{where}: {what} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"{where}: {what} is not valid Unicode (a lone surrogate at index {e.start})"
        ) from None
    return value


def _current() -> _core.Project:
    project = _project
    if project is None:
        raise ConfigError(
            "heso.init() has not been called: call it (or import heso_bootstrap) before a "
            "gated call; run `heso init` to create a project"
        )
    return project


class step:
    """Every action inside carries this workflow (and account, when given).

    Works as ``with`` and ``async with``; built on contextvars, so threads and asyncio
    tasks keep their own; a nested step restores the outer values on exit.
    """

    def __init__(self, workflow: str, account: Optional[str] = None) -> None:
        self.workflow = _label("heso.step", "workflow", workflow)
        self.account = None if account is None else _label("heso.step", "account", account)
        self._tokens: list[tuple[Token[str], Optional[Token[str]]]] = []

    def __enter__(self) -> "step":
        workflow_token = _workflow.set(self.workflow)
        account_token = _account.set(self.account) if self.account is not None else None
        self._tokens.append((workflow_token, account_token))
        return self

    def __exit__(self, *exc: object) -> None:
        workflow_token, account_token = self._tokens.pop()
        if account_token is not None:
            _account.reset(account_token)
        _workflow.reset(workflow_token)

    async def __aenter__(self) -> "step":
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


@dataclass(frozen=True)
class _Options:
    name: Optional[str]
    redact: tuple[str, ...]
    redact_mode: str
    blocking: bool
    verb: str


class Gate:
    """The outcome of gating one call (from ``heso.gated``), before its body runs."""

    def __init__(
        self,
        result: Mapping[str, Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.status: str = str(result["status"])
        self.action_hash: str = str(result["action_hash"])
        self.rule_id: str = str(result["rule_id"])
        self.reason: str = str(result["rule_display"])
        self.decision: str = str(result["decision"])
        self.observed: bool = bool(result["observed"])
        self.pending_id: Optional[str] = result.get("pending_id")
        self.approvers: list[str] = list(result.get("approvers") or [])
        self.expires_at: Optional[str] = result.get("expires_at")
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._ran = False
        if self.status == SUSPENDED and self.pending_id:
            with _lock:
                _held[self.pending_id] = (fn, args, kwargs)

    def __repr__(self) -> str:
        return f"<heso.Gate {self.status} {self.tool_label} action {self.action_hash[:12]}>"

    @property
    def tool_label(self) -> str:
        return getattr(self._fn, "__name__", "call")

    def _raise_if_refused(self) -> None:
        if self.status == BLOCKED:
            raise BlockedError(
                f"heso blocked {self.tool_label}: rule {self.rule_id} ({self.reason}); "
                f"receipt {self.action_hash}",
                action_hash=self.action_hash,
                rule_id=self.rule_id,
                reason=self.reason,
            )
        if self.status == SUSPENDED:
            raise SuspendedError(
                f"heso suspended {self.tool_label} until a person approves it: "
                f"`heso approve {self.pending_id} --key APPROVER.key`, then "
                f"heso.resume({self.pending_id!r}) (expires {self.expires_at})",
                action_hash=self.action_hash,
                pending_id=self.pending_id or "",
                approvers=self.approvers,
                expires_at=self.expires_at or "",
                rule_id=self.rule_id,
            )

    def run(self) -> Any:
        """Runs the body once when allowed, or once approved; otherwise raises
        ``BlockedError`` or ``SuspendedError``."""
        if self.status == SUSPENDED and self.pending_id:
            return resume(self.pending_id)
        self._raise_if_refused()
        if self._ran:
            raise ApprovalError(f"this gate already ran its call (receipt {self.action_hash})")
        self._ran = True
        return self._fn(*self._args, **self._kwargs)


def _gate(
    options: _Options,
    tool_name: str,
    fields: dict[str, Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    target_host: Optional[str] = None,
) -> Gate:
    project = _current()
    result = project.gate(
        options.verb,
        tool_name,
        _workflow.get(),
        _account.get(),
        target_host,
        fields_json(fields),
        list(options.redact),
        options.redact_mode,
        options.blocking,
    )
    return Gate(result, fn, args, kwargs)


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


def _decorate(fn: F, options: _Options) -> F:
    if not callable(fn):
        raise TypeError(
            f"heso.{'destructive' if options.verb == 'delete' else 'tool'} decorates a "
            f"function, not {type(fn).__name__}"
        )
    tool_name = _tool_name(options, fn)
    signature = _signature(fn)  # computed once: binding is on every call's path
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            gate = _gate(options, tool_name, _bind(fn, args, kwargs, signature), fn, args, kwargs)
            gate._raise_if_refused()
            return await fn(*args, **kwargs)

        setattr(async_wrapper, "__heso_gated__", (fn, options))
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gate = _gate(options, tool_name, _bind(fn, args, kwargs, signature), fn, args, kwargs)
        gate._raise_if_refused()
        return fn(*args, **kwargs)

    setattr(wrapper, "__heso_gated__", (fn, options))
    return wrapper  # type: ignore[return-value]


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


@overload
def tool(fn: F) -> F: ...
@overload
def tool(
    fn: None = None,
    *,
    name: Optional[str] = None,
    redact: Optional[Sequence[str]] = None,
    redact_mode: str = "commit_and_reveal",
    blocking: bool = True,
    verb: str = "tool_call",
) -> Callable[[F], F]: ...
def tool(
    fn: Optional[F] = None,
    *,
    name: Optional[str] = None,
    redact: Optional[Sequence[str]] = None,
    redact_mode: str = "commit_and_reveal",
    blocking: bool = True,
    verb: str = "tool_call",
) -> Any:
    """Gates every call of the function. Bare (``@heso.tool``) or with options.

    ``redact``: field paths committed (``commit_and_reveal``) or dropped
    (``destructive``) before anything is signed or written. ``blocking=False`` is
    observe-only: a refusal is recorded but the body runs (never for a delete).
    """
    options = _options(name, redact, redact_mode, blocking, verb)
    if fn is not None:
        return _decorate(fn, options)
    return lambda f: _decorate(f, options)


@overload
def destructive(fn: F) -> F: ...
@overload
def destructive(
    fn: None = None,
    *,
    name: Optional[str] = None,
    redact: Optional[Sequence[str]] = None,
    redact_mode: str = "commit_and_reveal",
    blocking: bool = True,
) -> Callable[[F], F]: ...
def destructive(
    fn: Optional[F] = None,
    *,
    name: Optional[str] = None,
    redact: Optional[Sequence[str]] = None,
    redact_mode: str = "commit_and_reveal",
    blocking: bool = True,
) -> Any:
    """Gates a delete: verb ``delete``, under the delete floor (never runs without a
    person's approval, whatever the policy or ``blocking`` say)."""
    options = _options(name, redact, redact_mode, blocking, "delete", "heso.destructive")
    if fn is not None:
        return _decorate(fn, options)
    return lambda f: _decorate(f, options)


def gated(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Gate:
    """Gates one call of ``fn`` exactly once without running it; ``Gate.run()`` runs it."""
    if not callable(fn):
        raise TypeError(f"heso.gated needs a function to gate, not {type(fn).__name__}")
    inner = getattr(fn, "__heso_gated__", None)
    if inner is not None:
        original, options = inner
    else:
        original, options = fn, _options(None, None, "commit_and_reveal", True, "tool_call")
    tool_name = _tool_name(options, original)
    return _gate(options, tool_name, _bind(original, args, kwargs), original, args, kwargs)


def resume(pending_id: str) -> Any:
    """Runs an approved call once, in the process that holds it. Raises
    ``SuspendedError`` while it waits, ``ApprovalError`` after a rejection, an expiry,
    a second resume, or when this process does not hold the call."""
    if not isinstance(pending_id, str):
        raise TypeError(f"heso.resume: pending_id must be a str, not {type(pending_id).__name__}")
    project = _current()
    with _lock:
        held = _held.get(pending_id)
    if held is None:
        raise ApprovalError(
            f"pending action {pending_id!r:.80} is not held by this process: only the "
            "process that made the call can run it"
        )
    state = project.claim(pending_id)
    if state == "pending":
        item = project.pending_info(pending_id)
        raise SuspendedError(
            f"pending action {pending_id} has not been approved yet",
            action_hash=str(item.get("parked_receipt", "")),
            pending_id=pending_id,
            approvers=list(item.get("approvers", [])),
            expires_at=str(item.get("expires_at", "")),
            rule_id=str(item.get("rule_id", "")),
        )
    if state != "resumed":
        raise ApprovalError(f"pending action {pending_id} cannot run: {state}")
    with _lock:
        _held.pop(pending_id, None)
    fn, args, kwargs = held
    return fn(*args, **kwargs)


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


def _signer_list(signers: Union[str, Sequence[str], None]) -> Optional[list[str]]:
    if signers is None:
        return None
    if isinstance(signers, str):
        return [signers]
    try:
        keys = list(signers)
    except TypeError:
        raise TypeError(
            f"heso.verify: signers must be a list of public keys, not {type(signers).__name__}"
        ) from None
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            raise TypeError(
                f"heso.verify: signers[{index}] must be a public key as a str (did:key or "
                f"base64), not {type(key).__name__}"
            )
    return keys


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``heso.verify``."""

    kind: str
    ok: bool
    detail: str
    trust_level: Optional[str]
    operator: Optional[str]
    approver: Optional[str]
    approver_decision: Optional[str]
    action_hash: Optional[str]

    def __str__(self) -> str:
        return f"Valid ({self.trust_level})" if self.ok else f"{self.kind}: {self.detail}"


def verify(
    receipt: Union[str, bytes, "os.PathLike[str]", Mapping[str, Any]],
    signers: Union[str, Sequence[str], None] = None,
) -> Verdict:
    """Verifies one receipt (a dict, JSON text or bytes, or a file path), offline.

    ``signers=None`` pins the project's keys after ``heso.init()``, and nothing before;
    a list (or one str) pins exactly those keys (did:key or base64). Bytes that are not a
    receipt give a ``Malformed`` verdict; a file that cannot be read raises ``OSError``, a
    signer that is not a key ``ValueError``, a wrong type ``TypeError``."""
    if isinstance(receipt, Mapping):
        data = fields_json(dict(receipt)).encode("utf-8")
    elif isinstance(receipt, (bytes, bytearray, memoryview)):
        data = bytes(receipt)
    elif isinstance(receipt, str) and receipt.lstrip()[:1] in ("{", "["):
        data = receipt.encode("utf-8", "surrogatepass")
    elif isinstance(receipt, (str, os.PathLike)):
        with open(receipt, "rb") as handle:
            data = handle.read()
    else:
        raise TypeError(
            "heso.verify: a receipt is a dict, JSON text, bytes or a file path, not "
            f"{type(receipt).__name__}"
        )
    result = _core.verify(data, _signer_list(signers), _project)
    return Verdict(
        kind=str(result["kind"]),
        ok=bool(result["ok"]),
        detail=str(result["detail"]),
        trust_level=result.get("trust_level"),
        operator=result.get("operator"),
        approver=result.get("approver"),
        approver_decision=result.get("approver_decision"),
        action_hash=result.get("action_hash"),
    )
