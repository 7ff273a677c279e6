"""Type stubs for heso._core, the Rust core of the heso package.

Checked against the built module by ``python -m mypy.stubtest heso._core`` (tests/test_convert.py)."""

from typing import Any, Mapping, Optional, Sequence, final

__all__ = [
    "Call",
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "MAX_VALUES",
    "Project",
    "Shipper",
    "TOO_DEEP",
    "TOO_LARGE",
    "VERBS",
    "__version__",
    "check_field_path",
    "fields_json",
    "run_cli",
    "to_json_value",
    "verify",
    "verify_log",
]
__version__: str
VERBS: tuple[str, ...]
# The conversion's limits (heso.to_json_value), defined once in the core.
MAX_DEPTH: int
MAX_VALUES: int
MAX_SAFE_INTEGER: int
TOO_DEEP: str
TOO_LARGE: str

@final
class Call:
    """One checked action with its converted fields (``Project.prepare``), gated once."""

    def fields(self) -> dict[str, Any]: ...
    def run(self) -> dict[str, Any]: ...

@final
class Project:
    """An open heso project: policy loaded, operator key unlocked, log open."""

    def __new__(cls, path: Optional[str] = None) -> "Project": ...
    @property
    def root(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def gate(
        self,
        verb: str,
        tool_name: str,
        workflow: str,
        account: str,
        target_host: Optional[str],
        fields_json: Optional[str],
        redact: Sequence[str],
        redact_mode: str,
        blocking: bool,
        exact_arguments: Optional[bool] = None,
        *,
        fields: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]: ...
    def prepare(
        self,
        verb: str,
        tool_name: str,
        workflow: str,
        account: str,
        target_host: Optional[str],
        fields_json: Optional[str],
        redact: Sequence[str],
        redact_mode: str,
        blocking: bool,
        exact_arguments: Optional[bool] = None,
        *,
        fields: Optional[Mapping[str, Any]] = None,
        read_twice: bool = False,
    ) -> Call: ...
    def claim(
        self,
        pending_id: str,
        fields_json: Optional[str] = None,
        *,
        fields: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]: ...
    def pending_info(self, pending_id: str) -> dict[str, Any]: ...
    def wait(self, pending_id: str, timeout: float) -> dict[str, Any]: ...

def verify(
    data: bytes, signers: Optional[Sequence[str]] = None, project: Optional[Project] = None
) -> str:
    """The receipt's report as JSON (``heso verify FILE --json``); ``heso.Verdict`` is read
    from it."""

def verify_log(
    data: Optional[bytes] = None,
    path: Optional[str] = None,
    signers: Optional[Sequence[str]] = None,
    project: Optional[Project] = None,
) -> str:
    """The log's report as JSON (``heso verify LOG.jsonl --json``); ``heso.LogReport`` is
    read from it."""

def run_cli(argv: Sequence[str]) -> int: ...
def check_field_path(path: str) -> None: ...
def to_json_value(value: Any, depth: int = 0) -> Any: ...
def fields_json(value: Any) -> str: ...

@final
class Shipper:
    """One `heso push` at a time, for heso.init(ship=True)'s background thread."""

    def __new__(cls, root: Optional[str] = None, url: Optional[str] = None) -> "Shipper": ...
    def step(self) -> tuple[int, int]: ...
