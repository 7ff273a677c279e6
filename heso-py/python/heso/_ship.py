"""The shipper of ``heso.init(ship=True)``: the project's log to the fleet store, from a
background thread, never on a gated call's path.

Every ``interval`` seconds it pushes what the store lacks (``heso push``). A failure never
reaches a gated call: it is logged on the ``heso.ship`` logger (once per distinct error,
and again when shipping resumes), kept in ``last_error``, and the shipper tries again. A
log the store says was truncated or rewritten (``Truncated``, ``RootMismatch``) is logged
at CRITICAL. At interpreter exit it makes one last push, waiting at most ``exit_timeout``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Optional, Union

from . import _core

logger = logging.getLogger("heso.ship")


class Shipper:
    """A background thread shipping one project's log; see the module docs."""

    def __init__(
        self,
        root: Union[str, "os.PathLike[str]", None] = None,
        url: Optional[str] = None,
        interval: float = 1.0,
        exit_timeout: float = 5.0,
    ) -> None:
        self._core = _core.Shipper(os.fspath(root) if root is not None else None, url)
        self.interval = interval
        self.exit_timeout = exit_timeout
        self.last_error: Optional[str] = None
        self.refused = False
        self.stored = 0
        self.log_size = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heso-shipper", daemon=True)

    def start(self) -> "Shipper":
        self._thread.start()
        atexit.register(self.stop)
        return self

    def _step(self) -> None:
        try:
            stored, size = self._core.step()
        except RuntimeError as e:
            message = str(e.args[0]) if e.args else str(e)
            refused = len(e.args) > 1 and e.args[1] == "refused"
            if message != self.last_error:
                level = logging.CRITICAL if refused else logging.ERROR
                logger.log(level, "heso: shipping to the fleet store failed: %s", message)
            self.last_error = message
            self.refused = refused
            return
        if self.last_error is not None:
            logger.warning("heso: shipping to the fleet store resumed (%d receipts)", size)
        self.last_error = None
        self.refused = False
        self.stored += stored
        self.log_size = size

    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()
            self._stop.wait(self.interval)
        self._step()

    def stop(self) -> None:
        """Stops the thread after one last push (waiting at most ``exit_timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.exit_timeout)


_lock = threading.Lock()
_current: Optional[Shipper] = None


def start(root: Union[str, "os.PathLike[str]", None] = None, url: Optional[str] = None) -> Shipper:
    """Starts shipping the project at ``root`` (stopping an earlier shipper)."""
    global _current
    with _lock:
        if _current is not None:
            _current.stop()
        _current = Shipper(root, url).start()
        return _current


def stop() -> None:
    """Stops the running shipper (after its last push), if there is one."""
    global _current
    with _lock:
        shipper, _current = _current, None
    if shipper is not None:
        shipper.stop()


def current() -> Optional[Shipper]:
    """The running shipper, if ``heso.init(ship=True)`` started one."""
    return _current
