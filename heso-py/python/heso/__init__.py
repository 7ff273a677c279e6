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

from . import _core
from ._convert import to_json_value
from ._errors import (
    ApprovalError,
    BlockedError,
    ConfigError,
    GateError,
    HesoError,
    SuspendedError,
)
from ._gate import (
    ALLOWED,
    BLOCKED,
    SUSPENDED,
    Gate,
    destructive,
    gated,
    resume,
    resume_async,
    tool,
)
from ._state import init, step
from ._verify import Verdict, verify
from ._wrap import wrap

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
    "resume_async",
    "step",
    "tool",
    "verify",
    "wrap",
    "to_json_value",
]

__version__ = _core.__version__
