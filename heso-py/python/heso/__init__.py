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

TYPE_CHECKING = False  # read as True by type checkers; importing typing costs 8 ms

from . import _core
from ._errors import (
    ApprovalError,
    BlockedError,
    ConfigError,
    GateError,
    HesoError,
    SuspendedError,
)

if TYPE_CHECKING:
    from typing import Any

    from ._convert import to_json_value
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
    from ._state import init, shutdown, step
    from ._verify import LogReport, Verdict, verify, verify_log
    from ._wrap import wrap

# Where each public name lives. They are imported on first use (PEP 562), so `import
# heso` — and the `heso` console script, which only needs the Rust core — stays cheap.
_LAZY = {
    "to_json_value": "._convert",
    "ALLOWED": "._gate",
    "BLOCKED": "._gate",
    "SUSPENDED": "._gate",
    "Gate": "._gate",
    "destructive": "._gate",
    "gated": "._gate",
    "resume": "._gate",
    "resume_async": "._gate",
    "tool": "._gate",
    "init": "._state",
    "shutdown": "._state",
    "step": "._state",
    "LogReport": "._verify",
    "Verdict": "._verify",
    "verify": "._verify",
    "verify_log": "._verify",
    "wrap": "._wrap",
}


def __getattr__(name: str) -> "Any":
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'heso' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "LogReport",
    "SuspendedError",
    "Verdict",
    "destructive",
    "gated",
    "init",
    "resume",
    "resume_async",
    "shutdown",
    "step",
    "tool",
    "verify",
    "verify_log",
    "wrap",
    "to_json_value",
]

__version__ = _core.__version__
