"""Type stubs for heso._core, the Rust core of the heso package."""

from typing import Any, Optional, Sequence, TypedDict

__version__: str
VERBS: tuple[str, ...]

class Project:
    """An open heso project: policy loaded, operator key unlocked, log open."""

    def __init__(self, path: Optional[str] = None) -> None: ...
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
        fields_json: str,
        redact: Sequence[str],
        redact_mode: str,
        blocking: bool,
        exact_arguments: bool = False,
    ) -> dict[str, Any]: ...
    def claim(self, pending_id: str, fields_json: Optional[str] = None) -> dict[str, Any]: ...
    def pending_info(self, pending_id: str) -> dict[str, Any]: ...
    def wait(self, pending_id: str, timeout: float) -> dict[str, Any]: ...

class VerifyResult(TypedDict):
    """What ``verify`` returns (``heso.Verdict`` is built from it)."""

    kind: str
    ok: bool
    detail: str
    action_hash: Optional[str]
    trust_level: Optional[str]
    operator: Optional[str]
    approver: Optional[str]
    approver_decision: Optional[str]
    pinned: bool
    pinned_keys: list[str]

def verify(
    data: bytes, signers: Optional[Sequence[str]] = None, project: Optional[Project] = None
) -> VerifyResult: ...
def run_cli(argv: Sequence[str]) -> int: ...
def check_field_path(path: str) -> None: ...

class Shipper:
    """One `heso push` at a time, for heso.init(ship=True)'s background thread."""

    def __init__(self, root: Optional[str] = None, url: Optional[str] = None) -> None: ...
    def step(self) -> tuple[int, int]: ...
