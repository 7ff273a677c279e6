"""Type stubs for heso._core, the Rust core of the heso package.

Checked against the built module by ``python -m mypy.stubtest heso._core`` (tests/test_convert.py)."""

from typing import Any, Mapping, Optional, Sequence, final

from heso._errors import SuspendedError

__all__ = [
    "Call",
    "Options",
    "Outcome",
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
    "suspended_error",
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
class Options:
    """A decorator's options, checked once (``ValueError`` for an unknown verb or redact
    mode, an empty name, or a redact path that is not a field path)."""

    def __new__(
        cls,
        name: Optional[str] = None,
        redact: Sequence[str] = ...,
        redact_mode: str = "commit_and_reveal",
        blocking: bool = True,
        verb: str = "tool_call",
    ) -> "Options": ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def redact(self) -> tuple[str, ...]: ...
    @property
    def redact_mode(self) -> str: ...
    @property
    def blocking(self) -> bool: ...
    @property
    def verb(self) -> str: ...

@final
class Outcome:
    """What the gate decided for one call (``Call.run``, ``Project.gate``)."""

    @property
    def status(self) -> str: ...
    @property
    def decision(self) -> str: ...
    @property
    def observed(self) -> bool: ...
    @property
    def action_hash(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def rule_display(self) -> str: ...
    @property
    def unmatched_redactions(self) -> list[str]: ...
    @property
    def repaired_tail(self) -> Optional[str]: ...
    @property
    def pending_id(self) -> Optional[str]: ...
    @property
    def approvers(self) -> list[str]: ...
    @property
    def expires_at(self) -> Optional[str]: ...
    def raise_if_refused(self, tool: str) -> None: ...

@final
class Call:
    """One checked action with its converted fields (``Project.prepare``), gated once."""

    def fields(self) -> dict[str, Any]: ...
    def run(self) -> Outcome: ...

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
        options: Options,
        tool_name: str,
        workflow: str,
        account: str,
        target_host: Optional[str] = None,
        fields_json: Optional[str] = None,
        exact_arguments: Optional[bool] = None,
        *,
        fields: Optional[Mapping[str, Any]] = None,
        enforce: bool = True,
    ) -> Outcome: ...
    def prepare(
        self,
        options: Options,
        tool_name: str,
        workflow: str,
        account: str,
        target_host: Optional[str] = None,
        fields_json: Optional[str] = None,
        exact_arguments: Optional[bool] = None,
        *,
        fields: Optional[Mapping[str, Any]] = None,
        read_twice: bool = False,
        enforce: bool = True,
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
def suspended_error(
    tool: str,
    pending_id: str,
    approvers: Sequence[str],
    expires_at: str,
    action_hash: str,
    rule_id: str,
    prefix: str = "",
) -> SuspendedError: ...
def to_json_value(value: Any, depth: int = 0) -> Any: ...
def fields_json(value: Any) -> str: ...

@final
class Shipper:
    """One `heso push` at a time, for heso.init(ship=True)'s background thread."""

    def __new__(cls, root: Optional[str] = None, url: Optional[str] = None) -> "Shipper": ...
    def step(self) -> tuple[int, int]: ...
