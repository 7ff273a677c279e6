"""heso.integrations.anthropic: the tool_use blocks of a real `anthropic` messages.create
response (from a loopback stub server started here) are gated before the caller runs them."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

anthropic = pytest.importorskip("anthropic")

import heso  # noqa: E402
from heso.integrations.anthropic import gate_tool_uses, gate_tool_uses_async  # noqa: E402

from conftest import add_approver, run_heso  # noqa: E402

RULES = """
[[rule]]
id = "no.wire"
order = 1
verb = "tool_call"
tool = "wire_money"
decision = "block"

[[rule]]
id = "export.needs.a.person"
order = 2
verb = "tool_call"
tool = "export_users"
decision = "require_approval"
"""

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [
        {"type": "text", "text": "Working on it."},
        {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"query": "acme"}},
        {"type": "tool_use", "id": "tu_2", "name": "wire_money", "input": {"amount": 5000, "to": "m"}},
        {"type": "tool_use", "id": "tu_3", "name": "export_users", "input": {"table": "users"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(MESSAGE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def client(project: Path) -> Iterator[Any]:
    with open(project / "heso.toml", "a") as f:
        f.write(RULES)
    heso.init()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        with anthropic.Anthropic(base_url=f"http://127.0.0.1:{server.server_address[1]}", api_key="k", max_retries=0) as c:
            yield c
    finally:
        server.shutdown()
        server.server_close()


def read_log(root: Path) -> list[dict[str, Any]]:
    path = root / "heso-local-data" / "receipts.jsonl"
    return [json.loads(line)["content"] for line in path.read_text().splitlines()]


def respond(client: Any) -> Any:
    return client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "go"}])


def test_every_tool_use_block_is_gated_before_the_caller_runs_it(project: Path, client: Any) -> None:
    ran: list[Any] = []
    tools = {
        "lookup": lambda query: ran.append(("lookup", query)) or f"found {query}",
        "wire_money": lambda amount, to: ran.append(("wire_money", amount)) or "sent",
        "export_users": lambda table: ran.append(("export_users", table)) or "exported",
    }
    response = respond(client)
    before = len(read_log(project))
    uses = gate_tool_uses(response)
    assert len(read_log(project)) == before + 3 and ran == []  # all gated, none run yet
    assert [u.id for u in uses] == ["tu_1", "tu_2", "tu_3"]
    results = [u.run(tools[u.name]) for u in uses]
    assert ran == [("lookup", "acme")]
    assert results[0] == {"type": "tool_result", "tool_use_id": "tu_1", "content": "found acme"}
    assert results[1]["is_error"] is True and "no.wire" in results[1]["content"]
    assert results[2]["is_error"] is True and uses[2].pending_id in results[2]["content"]
    log = read_log(project)[-3:]
    assert [r["action"]["tool_name"] for r in log] == ["lookup", "wire_money", "export_users"]
    assert log[1]["action"]["fields"] == {"amount": 5000, "to": "m"}
    # The dict form of a response is read the same way.
    assert [u.name for u in gate_tool_uses(response.model_dump())] == ["lookup", "wire_money", "export_users"]
    with pytest.raises(TypeError):
        gate_tool_uses("not a response")


def test_a_parked_tool_use_runs_once_after_heso_approve(project: Path, client: Any) -> None:
    key = add_approver(project)
    heso.init()
    ran: list[str] = []
    export = lambda table: ran.append(table) or "exported"  # noqa: E731
    use = [u for u in gate_tool_uses(respond(client)) if u.name == "export_users"][0]
    with pytest.raises(heso.SuspendedError):
        use.run_approved(export)
    assert ran == []
    approved = run_heso("approve", use.pending_id or "", "--key", str(key), "--yes", cwd=project,
                        env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
    assert approved.returncode == 0, approved.stderr
    assert use.run_approved(export)["content"] == "exported"
    with pytest.raises(heso.ApprovalError):
        use.run_approved(export)
    assert ran == ["users"]
    blocked = [u for u in gate_tool_uses(respond(client)) if u.name == "wire_money"][0]
    with pytest.raises(heso.ApprovalError):
        blocked.run_approved(export)


def test_async(project: Path, client: Any) -> None:
    uses = asyncio.run(gate_tool_uses_async(respond(client)))
    assert [u.allowed for u in uses] == [True, False, False]
