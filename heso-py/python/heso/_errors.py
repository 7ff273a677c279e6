"""heso's exceptions. Raised both from Python and from the Rust core (heso._core)."""

from __future__ import annotations

TYPE_CHECKING = False  # read as True by type checkers; importing typing costs 8 ms
if TYPE_CHECKING:
    from typing import Sequence


class HesoError(Exception):
    """Base of every heso exception."""


class ConfigError(HesoError):
    """The project cannot be used: no heso.toml, a broken policy, a key that will not open."""


class GateError(HesoError):
    """The gate could not record the action (log, salts or signing failed): it did not run."""


class ApprovalError(HesoError):
    """An approval step was refused: unknown id, not approved yet, rejected, expired, or resumed twice."""


class BlockedError(HesoError):
    """The policy refused the action. It was recorded and did not run."""

    def __init__(self, message: str, *, action_hash: str, rule_id: str, reason: str) -> None:
        super().__init__(message)
        self.action_hash = action_hash
        self.rule_id = rule_id
        self.reason = reason


class SuspendedError(HesoError):
    """The action needs a person's approval. It was recorded and parked; it did not run.

    Approve it with ``heso approve PENDING_ID --key APPROVER.key``, then call
    ``heso.resume(pending_id)`` in this process to run it once.
    """

    def __init__(
        self,
        message: str,
        *,
        action_hash: str,
        pending_id: str,
        approvers: Sequence[str],
        expires_at: str,
        rule_id: str = "",
    ) -> None:
        super().__init__(message)
        self.action_hash = action_hash
        self.pending_id = pending_id
        self.approvers = list(approvers)
        self.expires_at = expires_at
        self.rule_id = rule_id


__all__ = [
    "ApprovalError",
    "BlockedError",
    "ConfigError",
    "GateError",
    "HesoError",
    "SuspendedError",
]

