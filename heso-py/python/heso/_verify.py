"""``heso.verify`` and ``heso.verify_log``: a receipt or a log, offline.

Both read the report heso-receipt builds (the Rust core serialises it as ``heso verify
--json`` does), so a ``Verdict`` and a ``LogReport`` have the CLI's fields, with the same
names and values; ``to_dict()`` gives that JSON document back, field for field."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Mapping, Optional, Sequence, Union

from . import _core, _state
from ._convert import fields_json


def _signer_list(signers: Union[str, Sequence[str], None], caller: str = "heso.verify") -> Optional[list[str]]:
    if signers is None:
        return None
    if isinstance(signers, str):
        return [signers]
    try:
        keys = list(signers)
    except TypeError:
        raise TypeError(
            f"{caller}: signers must be a list of public keys, not {type(signers).__name__}"
        ) from None
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            raise TypeError(
                f"{caller}: signers[{index}] must be a public key as a str (did:key or "
                f"base64), not {type(key).__name__}"
            )
    return keys


def _plain(value: Any) -> Any:
    """A report's value as JSON reads it: dataclasses as dicts, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class _Report:
    def to_dict(self) -> dict[str, Any]:
        """The report as ``heso verify … --json`` prints it."""
        out: dict[str, Any] = _plain(self)
        return out


@dataclass(frozen=True)
class Signer(_Report):
    """A key a receipt says signed it (verified only when the verdict is ``Valid``).
    ``pin``: ``"pinned"``, ``"not_pinned"`` or ``"nothing_pinned"``."""

    role: str
    key: str
    pin: str


@dataclass(frozen=True)
class Verdict(_Report):
    """The outcome of ``heso.verify``: the fields of ``heso verify FILE --json``.

    ``pinned`` is True when signers were pinned (the project's keys after ``heso.init()``,
    or ``signers=``), False when any key was accepted; ``pinned_keys`` are the keys pinned,
    as did:key (inside a project: its operator key, the operator keys it retired, its
    approvers); ``signers`` every signature entry's role, key and pin status. ``kind`` and
    ``ok`` are the same as ``verdict`` and ``valid``."""

    action_hash: Optional[str]
    valid: bool
    verdict: str
    detail: str
    trust_level: Optional[str]
    operator: Optional[str]
    approver: Optional[str]
    approver_decision: Optional[str]
    pinned: bool
    pinned_keys: tuple[str, ...]
    signers: tuple[Signer, ...]

    @property
    def kind(self) -> str:
        """The verdict's kind (``Valid``, ``HashMismatch``, …): ``verdict``."""
        return self.verdict

    @property
    def ok(self) -> bool:
        """True for ``Valid``: ``valid``."""
        return self.valid

    def __str__(self) -> str:
        return f"Valid ({self.trust_level})" if self.valid else f"{self.verdict}: {self.detail}"


@dataclass(frozen=True)
class LineFailure(_Report):
    """A line of a log that is not valid: its verdict (``LinkBroken`` for a valid receipt
    whose link is broken) and detail."""

    line: int
    seq: Optional[int]
    verdict: str
    detail: str


@dataclass(frozen=True)
class TornTail(_Report):
    """Bytes after the log's last newline: not a receipt, not verified."""

    line: int
    bytes: int


@dataclass(frozen=True)
class SessionHead(_Report):
    """Where a session's chain ends: record ``head_hash`` elsewhere to detect truncation."""

    session_id: str
    last_seq: int
    head_hash: str
    receipts: int


@dataclass(frozen=True)
class SignerCount(_Report):
    """A key that signed receipts of the log, in one role, and how many (and of those, how
    many valid). ``pin`` as for ``Signer``."""

    role: str
    key: str
    receipts: int
    valid: int
    pin: str


@dataclass(frozen=True)
class LogReport(_Report):
    """The outcome of ``heso.verify_log``: the fields of ``heso verify LOG.jsonl --json``.
    ``counts`` maps each verdict kind to its number of lines; ``failures`` lists the first
    20."""

    receipts: int
    all_valid: bool
    counts: Mapping[str, int]
    failures: tuple[LineFailure, ...]
    torn_tail: Optional[TornTail]
    sessions: tuple[SessionHead, ...]
    signers: tuple[SignerCount, ...]
    pinned: bool
    pinned_keys: tuple[str, ...]

    def __str__(self) -> str:
        if self.all_valid:
            return f"Valid: {self.receipts} receipts, every chain intact"
        failed = self.receipts - self.counts.get("Valid", 0)
        torn = ", and the log ends in a torn tail" if self.torn_tail is not None else ""
        return f"NOT VALID: {failed} of {self.receipts} receipts failed{torn}"


def _verdict(report: Mapping[str, Any]) -> Verdict:
    return Verdict(
        action_hash=report["action_hash"],
        valid=report["valid"],
        verdict=report["verdict"],
        detail=report["detail"],
        trust_level=report["trust_level"],
        operator=report["operator"],
        approver=report["approver"],
        approver_decision=report["approver_decision"],
        pinned=report["pinned"],
        pinned_keys=tuple(report["pinned_keys"]),
        signers=tuple(Signer(**s) for s in report["signers"]),
    )


def _log_report(report: Mapping[str, Any]) -> LogReport:
    torn = report["torn_tail"]
    return LogReport(
        receipts=report["receipts"],
        all_valid=report["all_valid"],
        counts=dict(report["counts"]),
        failures=tuple(LineFailure(**f) for f in report["failures"]),
        torn_tail=None if torn is None else TornTail(**torn),
        sessions=tuple(SessionHead(**s) for s in report["sessions"]),
        signers=tuple(SignerCount(**s) for s in report["signers"]),
        pinned=report["pinned"],
        pinned_keys=tuple(report["pinned_keys"]),
    )


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
    import json

    return _verdict(json.loads(_core.verify(data, _signer_list(signers), _state._project)))


def verify_log(
    log: Union[bytes, str, "os.PathLike[str]"],
    signers: Union[str, Sequence[str], None] = None,
) -> LogReport:
    """Verifies a log (a ``.jsonl`` file path, or its bytes), offline, as ``heso verify
    LOG.jsonl`` does: every receipt, every session's chain, the signers, a torn tail.

    Every complete line is a receipt (a blank one is ``Malformed``); bytes after the last
    newline are a torn tail, reported and not verified. A file is read streaming. ``signers``
    as for ``heso.verify``. A file that cannot be read raises ``OSError``, a signer that is
    not a key ``ValueError``, a wrong type ``TypeError``."""
    keys = _signer_list(signers, "heso.verify_log")
    if isinstance(log, (bytes, bytearray, memoryview)):
        text = _core.verify_log(data=bytes(log), signers=keys, project=_state._project)
    elif isinstance(log, (str, os.PathLike)):
        path = os.fspath(log)
        if not isinstance(path, str):
            raise TypeError("heso.verify_log: a path must be a str path, not bytes")
        text = _core.verify_log(path=path, signers=keys, project=_state._project)
    else:
        raise TypeError(
            f"heso.verify_log: a log is a file path or bytes, not {type(log).__name__}"
        )
    import json

    return _log_report(json.loads(text))
