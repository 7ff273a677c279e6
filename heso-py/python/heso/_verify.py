"""``heso.verify``: one receipt, offline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

from . import _core, _state
from ._convert import fields_json


def _signer_list(signers: Union[str, Sequence[str], None]) -> Optional[list[str]]:
    if signers is None:
        return None
    if isinstance(signers, str):
        return [signers]
    try:
        keys = list(signers)
    except TypeError:
        raise TypeError(
            f"heso.verify: signers must be a list of public keys, not {type(signers).__name__}"
        ) from None
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            raise TypeError(
                f"heso.verify: signers[{index}] must be a public key as a str (did:key or "
                f"base64), not {type(key).__name__}"
            )
    return keys


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``heso.verify``.

    ``pinned`` is True when signers were pinned (the project's keys after ``heso.init()``,
    or ``signers=``), False when any key was accepted; ``pinned_keys`` are the keys pinned,
    as did:key (inside a project: its operator key, the operator keys it retired, its
    approvers)."""

    kind: str
    ok: bool
    detail: str
    trust_level: Optional[str]
    operator: Optional[str]
    approver: Optional[str]
    approver_decision: Optional[str]
    action_hash: Optional[str]
    pinned: bool = False
    pinned_keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"Valid ({self.trust_level})" if self.ok else f"{self.kind}: {self.detail}"


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
    result = _core.verify(data, _signer_list(signers), _state._project)
    return Verdict(
        kind=str(result["kind"]),
        ok=bool(result["ok"]),
        detail=str(result["detail"]),
        trust_level=result.get("trust_level"),
        operator=result.get("operator"),
        approver=result.get("approver"),
        approver_decision=result.get("approver_decision"),
        action_hash=result.get("action_hash"),
        pinned=bool(result["pinned"]),
        pinned_keys=tuple(str(key) for key in result["pinned_keys"]),
    )

