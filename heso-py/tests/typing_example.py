"""A usage example type-checked with `mypy --strict` against the installed stubs."""

from __future__ import annotations

import heso


@heso.tool
def search(query: str) -> str:
    return query


@heso.tool(redact=["api_key"], blocking=False)
def call_partner_api(api_key: str, endpoint: str) -> dict[str, str]:
    return {"endpoint": endpoint}


@heso.destructive
def delete_record(record_id: str) -> None:
    return None


def main() -> int:
    heso.init()
    with heso.step(workflow="run-42"):
        found: str = search("pricing")
        reply: dict[str, str] = call_partner_api("k", "https://x.example")
    try:
        delete_record("r-1")
    except heso.SuspendedError as parked:
        pending: str = parked.pending_id
        print(pending, parked.expires_at)
    except heso.BlockedError as blocked:
        print(blocked.rule_id)
    gate = heso.gated(search, "q")
    if gate.status == heso.ALLOWED:
        print(gate.run())
    verdict = heso.verify({"alg": "x"})
    ok: bool = verdict.ok
    print(found, reply, ok, verdict.kind)
    return 0
