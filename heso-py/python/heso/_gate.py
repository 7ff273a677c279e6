"""The gate as Python sees it: decorators, ``Gate``, ``gated`` and ``resume``."""

from __future__ import annotations

import functools
import inspect
import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar, overload

from . import _core, _state
from ._bind import (
    _bind,
    _Binder,
    _check_redact_paths,
    _check_redactions,
    _name_of,
    _Options,
    _options,
    _self_parameter,
    _signature,
    _tool_name,
)
from ._errors import ApprovalError, SuspendedError

ALLOWED = "allowed"
BLOCKED = "blocked"
SUSPENDED = "suspended"

F = TypeVar("F", bound=Callable[..., Any])

# Calls waiting for approval that this process made: `resume` runs them with the
# arguments held here, after checking they are still the ones that were approved.
_held: dict[str, "_HeldCall"] = {}
# Gated functions by tool name, so `resume` can run a call parked by another process.
_registry: dict[str, tuple[Callable[..., Any], Optional[inspect.Signature]]] = {}


@dataclass(frozen=True)
class _HeldCall:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    fields_of: Callable[[], dict[str, Any]]


def _register(tool_name: str, fn: Callable[..., Any], signature: Optional[inspect.Signature]) -> None:
    """Makes ``fn`` resumable under ``tool_name`` from any process that defines it."""
    with _state._lock:
        _registry[tool_name] = (fn, signature)


class Gate:
    """The outcome of gating one call (from ``heso.gated``), before its body runs."""

    def __init__(
        self,
        outcome: "_core.Outcome",
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fields_of: Callable[[], dict[str, Any]],
    ) -> None:
        self.status: str = outcome.status
        self.action_hash: str = outcome.action_hash
        self.rule_id: str = outcome.rule_id
        self.reason: str = outcome.rule_display
        self.decision: str = outcome.decision
        self.observed: bool = outcome.observed
        self.pending_id: Optional[str] = outcome.pending_id
        self.approvers: list[str] = list(outcome.approvers)
        self.expires_at: Optional[str] = outcome.expires_at
        self._outcome = outcome
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._ran = False
        if self.status == SUSPENDED and self.pending_id:
            with _state._lock:
                _held[self.pending_id] = _HeldCall(fn, args, kwargs, fields_of)

    def __repr__(self) -> str:
        return f"<heso.Gate {self.status} {self.tool_label} action {self.action_hash[:12]}>"

    @property
    def tool_label(self) -> str:
        return getattr(self._fn, "__name__", "call")

    def _raise_if_refused(self) -> None:
        """``BlockedError`` or ``SuspendedError`` (made by the core, with their
        attributes) when the call was refused."""
        self._outcome.raise_if_refused(self.tool_label)

    def run(self, timeout: Optional[float] = None) -> Any:
        """Runs the body once when allowed, or once approved (waiting up to ``timeout``
        seconds for the decision); otherwise raises ``BlockedError`` or
        ``SuspendedError``."""
        if self.status == SUSPENDED and self.pending_id:
            return resume(self.pending_id, timeout=timeout)
        self._raise_if_refused()
        if self._ran:
            raise ApprovalError(f"this gate already ran its call (receipt {self.action_hash})")
        self._ran = True
        return self._fn(*self._args, **self._kwargs)


def _gate_call(
    options: _Options,
    tool_name: str,
    fields: dict[str, Any],
    target_host: Optional[str] = None,
) -> "_core.Call":
    """The core's gate call for one action, prepared on the caller's thread (the current
    step is read and the fields converted there, in the core, which also notes whether
    they are exactly JSON so another process may rebuild the call); calling it decides,
    signs and appends."""
    return _state._current().prepare(
        options,
        tool_name,
        _state._workflow.get(),
        _state._account.get(),
        target_host,
        fields=fields,
        enforce=_state._blocking,
    )


def _gate(
    options: _Options,
    tool_name: str,
    fields: dict[str, Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    target_host: Optional[str] = None,
    fields_of: Optional[Callable[[], dict[str, Any]]] = None,
) -> Gate:
    """Gates one call. ``fields_of`` recomputes ``fields`` from the held arguments (at
    resume, to check they are still the ones approved); by default they are bound to
    ``fn``'s signature again."""
    result = _gate_call(options, tool_name, fields, target_host).run()
    if fields_of is None:
        fields_of = functools.partial(_bind, fn, args, kwargs)
    return Gate(result, fn, args, kwargs, fields_of)


def _prepare(
    options: _Options,
    tool_name: str,
    binder: _Binder,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    project: Optional["_core.Project"],
    workflow: str,
    account: str,
    read_twice: bool = False,
) -> "_core.Call":
    """Binds a call's arguments to its fields and has the core convert and check them
    into the call to gate; every ``redact`` path is then checked on the converted fields,
    exactly what will be recorded. ``read_twice`` for a thread that is not the caller's
    (the caller may change the arguments meanwhile: see ``_core.Project.prepare``).
    ``project``: the one open when the call was made, ``None`` if none was (then
    ``ConfigError``, after a mistake in the arguments is raised)."""
    fields = binder.bind(args, kwargs)
    call = (project or _state._current()).prepare(
        options, tool_name, workflow, account, fields=fields, read_twice=read_twice, enforce=_state._blocking
    )
    if options.redact:
        _check_redactions(_name_of(binder.fn), options.redact, fields, binder.defaults, call.fields)
    return call


def _gate_on_worker(
    options: _Options,
    tool_name: str,
    binder: _Binder,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    project: Optional["_core.Project"],
    workflow: str,
    account: str,
) -> Gate:
    """A decorated coroutine's whole gate, on a heso worker thread: binding, conversion,
    checks, the core's call and the ``Gate``. The event loop only reads the step and
    queues this (see ``_Dispatcher``)."""
    call = _prepare(options, tool_name, binder, args, kwargs, project, workflow, account, True)
    fn = binder.fn
    return Gate(call.run(), fn, args, kwargs, functools.partial(_bind, fn, args, kwargs))


def _run_then_gate(run: Callable[[], Any], gate_args: tuple[Any, ...]) -> Gate:
    """A prepared core call run, and its ``Gate`` built, on a heso worker thread."""
    return Gate(run(), *gate_args)


class _Dispatcher:
    """Runs the gates of coroutines on a few worker threads (the core releases the GIL
    while it decides, signs, appends and waits for the fsync) and completes their futures
    on each event loop in batches: one ``call_soon_threadsafe`` (one wake-up of the loop)
    for every result that finished while the loop had not yet drained the last batch, not
    one per call as ``run_in_executor`` does. The loop itself only makes a future and
    queues the job; the first worker is started from the loop, the others by the workers
    when calls wait, so the loop does not wait for threads to start."""

    WORKERS = 4

    def __init__(self) -> None:
        import queue
        import threading

        self._queue: "queue.SimpleQueue[tuple[Any, Any, Callable[..., Any], tuple[Any, ...]]]" = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._done: dict[Any, list[tuple[Any, Any, Optional[BaseException]]]] = {}
        self._threads: list[Any] = []
        self._threading = threading

    def submit(self, loop: Any, run: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """A future of ``loop`` that gets ``run(*args)``'s result (or exception)."""
        future = loop.create_future()
        self._queue.put((loop, future, run, args))
        if not self._threads:
            self._start()
        return future

    def _start(self) -> None:
        with self._lock:
            if len(self._threads) >= self.WORKERS:
                return
            thread = self._threading.Thread(target=self._work, name="heso-gate", daemon=True)
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            loop, future, run, args = self._queue.get()
            if len(self._threads) < self.WORKERS and not self._queue.empty():
                self._start()  # calls are waiting: one more worker, started off the loop
            try:
                done: tuple[Any, Any, Optional[BaseException]] = (future, run(*args), None)
            except BaseException as error:  # handed to the awaiting task, never lost
                done = (future, None, error)
            args = None  # type: ignore[assignment]  # no reference kept while idle
            with self._lock:
                batch = self._done.setdefault(loop, [])
                batch.append(done)
                first = len(batch) == 1
            if first:
                try:
                    loop.call_soon_threadsafe(self._drain, loop)
                except RuntimeError:  # the loop was closed meanwhile: nobody awaits
                    with self._lock:
                        self._done.pop(loop, None)
            done = None  # type: ignore[assignment]

    def _drain(self, loop: Any) -> None:
        with self._lock:
            batch = self._done.pop(loop, [])
        for future, result, error in batch:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


_dispatcher: Optional[_Dispatcher] = None


def _forget_dispatcher() -> None:
    """In a forked child: the parent's workers do not exist there."""
    global _dispatcher
    _dispatcher = None


os.register_at_fork(after_in_child=_forget_dispatcher)


def _the_dispatcher() -> _Dispatcher:
    """The dispatcher, made on first use: when a coroutine function is decorated, so the
    modules it loads are loaded then, not on an event loop's first gated call."""
    global _dispatcher
    dispatcher = _dispatcher
    if dispatcher is None:
        with _state._lock:
            if _dispatcher is None:
                _dispatcher = _Dispatcher()
            dispatcher = _dispatcher
    return dispatcher


def _run_off_loop(run: Callable[..., Any], *args: Any) -> Any:
    """Awaitable: ``run(*args)`` on a heso worker thread, completed on the running loop."""
    import asyncio  # loaded already wherever a coroutine runs

    return _the_dispatcher().submit(asyncio.get_running_loop(), run, args)


async def _gate_async(
    options: _Options,
    tool_name: str,
    fields: dict[str, Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    target_host: Optional[str] = None,
    fields_of: Optional[Callable[[], dict[str, Any]]] = None,
) -> Gate:
    """``_gate`` for coroutines whose fields are already bound (the integrations'): they are
    converted on the event loop, and the core's call, which releases the GIL while it
    decides, signs, appends and waits for the fsync, runs on a worker thread with the
    ``Gate`` built there, so the loop never waits for the disk (see ``_Dispatcher``)."""
    call = _gate_call(options, tool_name, fields, target_host)
    if fields_of is None:
        fields_of = functools.partial(_bind, fn, args, kwargs)
    return await _run_off_loop(_run_then_gate, call.run, (fn, args, kwargs, fields_of))  # type: ignore[no-any-return]


def _decorate(fn: F, options: _Options) -> F:
    if not callable(fn):
        raise TypeError(
            f"heso.{'destructive' if options.verb == 'delete' else 'tool'} decorates a "
            f"function, not {type(fn).__name__}"
        )
    tool_name = _tool_name(options, fn)
    signature = _signature(fn)  # computed once: binding is on every call's path
    binder = _Binder(fn, signature)
    _check_redact_paths(options, fn, signature)
    if _self_parameter(fn, signature) is None:
        # A method's object is not in its fields, so another process cannot rebuild the
        # call: only the process that parked it may resume it.
        _register(tool_name, fn, signature)
    if inspect.iscoroutinefunction(fn):
        _the_dispatcher()

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            # Only the step (task-local) and the project are read on the loop; the rest
            # of the gate runs on a heso worker thread.
            gate: Gate = await _run_off_loop(
                _gate_on_worker,
                options,
                tool_name,
                binder,
                args,
                kwargs,
                _state._project,
                _state._workflow.get(),
                _state._account.get(),
            )
            gate._raise_if_refused()
            return await fn(*args, **kwargs)

        setattr(async_wrapper, "__heso_gated__", (fn, options))
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _prepare(
            options, tool_name, binder, args, kwargs,
            _state._project, _state._workflow.get(), _state._account.get(),
        )
        outcome = call.run()
        if outcome.status != ALLOWED:
            # A ``Gate`` only for a refusal: it holds a suspended call for ``resume``.
            Gate(outcome, fn, args, kwargs, functools.partial(_bind, fn, args, kwargs))._raise_if_refused()
        return fn(*args, **kwargs)

    setattr(wrapper, "__heso_gated__", (fn, options))
    return wrapper  # type: ignore[return-value]



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
        if inspect.ismethod(fn):  # a decorated method, bound: keep its object
            original = original.__get__(fn.__self__)
    else:
        original, options = fn, _options(None, None, "commit_and_reveal", True, "tool_call")
    tool_name = _tool_name(options, original)
    if inner is None:
        _register(tool_name, original, _signature(original))
    return _gate(options, tool_name, _bind(original, args, kwargs, None, options.redact), original, args, kwargs)


def _check_id(where: str, pending_id: Any, timeout: Any) -> Optional[float]:
    if not isinstance(pending_id, str):
        raise TypeError(f"{where}: pending_id must be a str, not {type(pending_id).__name__}")
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{where}: timeout must be a number of seconds, not {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError(f"{where}: timeout must be 0 or more seconds, not {timeout!r}")
    return float(timeout)


def _suspended(info: Mapping[str, Any]) -> SuspendedError:
    pending_id = str(info["id"])
    return _core.suspended_error(
        str(info.get("tool_name", "call")),
        pending_id,
        [str(a) for a in info.get("approvers", [])],
        str(info.get("expires_at", "")),
        str(info.get("parked_receipt", "")),
        str(info.get("rule_id", "")),
        prefix=f"pending action {pending_id} has not been decided yet. ",
    )


def _claim(pending_id: str) -> Callable[[], Any]:
    """Claims the approved run (durably, exactly once across processes) and returns the
    call to make. Raises ``SuspendedError`` while undecided, ``ApprovalError`` otherwise."""
    project = _state._current()
    with _state._lock:
        held = _held.get(pending_id)
    if held is not None:
        claimed = project.claim(pending_id, fields=held.fields_of())
        if claimed["state"] == "pending":
            raise _suspended(project.pending_info(pending_id))
        with _state._lock:
            _held.pop(pending_id, None)
        return functools.partial(held.fn, *held.args, **held.kwargs)
    info = project.pending_info(pending_id)
    if info["state"] == "pending":
        raise _suspended(info)
    tool_name = str(info["tool_name"])
    with _state._lock:
        target = _registry.get(tool_name)
    if target is None:
        raise ApprovalError(
            f"pending action {pending_id} runs tool {tool_name!r:.80}, which this process "
            "has not defined: import the module that decorates (or wraps) it, then resume"
        )
    claimed = project.claim(pending_id, None)
    if claimed["state"] == "pending":
        raise _suspended(project.pending_info(pending_id))
    fn, signature = target
    args, kwargs = _rebuild(signature, json.loads(claimed["fields_json"]))
    return functools.partial(fn, *args, **kwargs)


def _rebuild(
    signature: Optional[inspect.Signature], fields: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments of a call from its recorded fields (the inverse of ``_bind``)."""
    if signature is None:
        positional = sorted((int(k), v) for k, v in fields.items() if k.isdigit())
        return [v for _, v in positional], {k: v for k, v in fields.items() if not k.isdigit()}
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    known = set(signature.parameters)
    takes_kwargs = False
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            takes_kwargs = True
            kwargs.update(fields.get(name) or {})
            continue
        if name not in fields:
            continue
        value = fields[name]
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            args.extend(value)
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    if takes_kwargs:  # keyword arguments recorded as top-level fields
        kwargs.update({k: v for k, v in fields.items() if k not in known})
    return args, kwargs


def resume(pending_id: str, timeout: Optional[float] = None) -> Any:
    """Runs an approved call once and returns what it returns: from the process that
    made it (with the arguments it holds, which must be the ones approved), or from any
    other process of the project that defines the gated function (with the arguments
    sealed when it was parked).

    ``timeout``: wait up to that many seconds for the decision (without busy-looping).
    Raises ``SuspendedError`` while undecided, ``ApprovalError`` after a rejection, an
    expiry, a second resume, changed arguments, or when this process lacks the tool.
    For an ``async def`` tool it returns the coroutine to await (or use
    ``resume_async``)."""
    timeout = _check_id("heso.resume", pending_id, timeout)
    if timeout is not None:
        _state._current().wait(pending_id, timeout)
    return _claim(pending_id)()


async def resume_async(pending_id: str, timeout: Optional[float] = None) -> Any:
    """``resume`` for asyncio code: waits and claims on a worker thread, so the event
    loop never blocks; awaits the body when it is a coroutine function."""
    import asyncio  # only asyncio code pays for importing it

    timeout = _check_id("heso.resume_async", pending_id, timeout)
    if timeout is not None:
        await asyncio.to_thread(_state._current().wait, pending_id, timeout)
    call = await asyncio.to_thread(_claim, pending_id)
    result = call()
    if inspect.isawaitable(result):
        return await result
    return result
