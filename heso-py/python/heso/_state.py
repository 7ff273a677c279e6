"""The open project and the context every gated call carries (workflow, account)."""

from __future__ import annotations

import os
import threading
from contextvars import ContextVar, Token
from typing import Any, Optional, Union

from . import _core
from ._errors import ConfigError

_lock = threading.Lock()
_project: Optional[_core.Project] = None
# Whether ``shutdown`` is registered to run at interpreter exit (by the first ``init``).
_exit_hook = False
# False after ``init(blocking=False)``: every gated call of the process is observe-only.
_blocking: bool = True

_workflow: ContextVar[str] = ContextVar("heso_workflow", default="default")
_account: ContextVar[str] = ContextVar("heso_account", default="default")


def init(
    path: Union[str, "os.PathLike[str]", None] = None,
    *,
    blocking: bool = True,
    ship: Union[bool, str] = False,
) -> None:
    """Opens the project: finds heso.toml (``path``, ``HESO_PROJECT_ROOT``, or the nearest
    folder above the working directory), unlocks the operator key and opens the log.
    Calling it again rebinds to the project found then.

    ``blocking=False`` makes every gated call of this process observe-only (as
    ``[enforcement] mode = "observe"`` does for the whole project): a refusal is recorded
    as observed, the call runs and nothing raises, except a delete under the delete floor,
    which still suspends. ``init()`` again (``blocking=True``) enforces again.

    ``ship=True`` (or a store URL) starts shipping the log to the fleet store on a
    background thread (``heso push --follow`` in-process; the URL from ``HESO_STORE_URL``
    or ``[store] url`` when ``True``). It never runs on a gated call's path; its errors go
    to the ``heso.ship`` logger, never to a gated call.

    Raises ``ConfigError`` when there is no project (run ``heso init``), the passphrase is
    wrong or refused (production needs ``HESO_KEY_PASSPHRASE``), or the policy is broken.

    The project is closed (``shutdown``) at interpreter exit, and the one an ``init``
    replaces at once: each close keeps a signed checkpoint of the whole log.
    """
    global _project, _blocking, _exit_hook
    if not isinstance(blocking, bool):
        raise TypeError(f"heso.init: blocking must be a bool, not {type(blocking).__name__}")
    project = _core.Project(os.fsdecode(path) if path is not None else None)
    if not isinstance(ship, (bool, str)):
        raise TypeError(f"heso.init: ship must be a bool or a store URL, not {type(ship).__name__}")
    with _lock:
        previous, _project = _project, project
        _blocking = blocking
        if not _exit_hook:
            import atexit

            atexit.register(shutdown)
            _exit_hook = True
    if previous is not None and previous is not project:
        previous.close()
    if ship:
        from . import _ship

        _ship.start(project.root, ship if isinstance(ship, str) else None)


def shutdown() -> None:
    """Closes the project ``init`` opened: keeps a signed checkpoint of the whole log in
    ``heso-local-data/checkpoints/`` (unless the log is empty or that checkpoint is kept
    already), and stops the shipper ``init(ship=...)`` started, after its last push.
    Gated calls then raise ``ConfigError`` until ``init`` is called again. Runs by itself
    at interpreter exit; calling it again does nothing."""
    global _project
    import sys

    shipping = sys.modules.get(f"{__package__}._ship")
    if shipping is not None:
        shipping.stop()
    with _lock:
        project, _project = _project, None
    if project is not None:
        project.close()


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

