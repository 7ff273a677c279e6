"""`heso mcp-proxy` between the real `mcp` package's client and server (stdio): every
tools/call is gated before the server sees it; everything else passes through."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import add_approver, heso_cli, run_heso

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

SERVER = textwrap.dedent(
    """
    import os, sys
    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
    except ImportError:
        from mcp.server.fastmcp import FastMCP as Server  # mcp 1.x

    app = Server("stub")
    calls = os.environ["CALLS_DIR"]

    def record(name: str) -> None:
        with open(os.path.join(calls, name), "a") as out:
            out.write("x")

    @app.tool()
    def search(query: str) -> str:
        record("search")
        return f"results for {query}"

    @app.tool()
    def wire(amount: int, to: str) -> str:
        record("wire")
        return "sent"

    @app.tool()
    def drop_table(name: str) -> str:
        record("drop_table")
        return f"dropped {name}"

    @app.tool()
    def crash() -> str:
        os._exit(3)

    if __name__ == "__main__":
        app.run()
    """
)

RULES = """
[[rule]]
id = "wire.block"
order = 1
verb = "tool_call"
tool = "wire"
decision = "block"

[[rule]]
id = "drop.approve"
order = 2
verb = "tool_call"
tool = "drop_table"
decision = "require_approval"
"""


def setup(project: Path) -> tuple[Path, Path, Path]:
    key = add_approver(project)
    config = project / "heso.toml"
    config.write_text(config.read_text() + RULES)
    server = project.parent / "server.py"
    server.write_text(SERVER)
    calls = project.parent / "calls"
    calls.mkdir()
    return key, server, calls


def count(calls: Path, tool: str) -> int:
    path = calls / tool
    return len(path.read_text()) if path.exists() else 0


def is_error(result: Any) -> bool:
    value = getattr(result, "is_error", None)
    return bool(result.isError if value is None else value)


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def env_for(calls: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    env["CALLS_DIR"] = str(calls)
    return env


def params(server: Path, calls: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=heso_cli(),
        args=["mcp-proxy", "--workflow", "mcp-test", "--", sys.executable, str(server)],
        env=env_for(calls),
    )


def log_hashes(project: Path) -> list[str]:
    lines = (project / "heso-local-data" / "receipts.jsonl").read_text().splitlines()
    return [json.loads(line)["content"]["action_hash"] for line in lines]


def test_allowed_blocked_and_approved_calls(project: Path) -> None:
    key, server, calls = setup(project)

    async def session(work: Any) -> Any:
        async with stdio_client(params(server, calls)) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                return await asyncio.wait_for(work(s), 60)

    async def first(s: ClientSession) -> tuple[Any, ...]:
        tools = await s.list_tools()
        allowed = await s.call_tool("search", {"query": "pricing"})
        blocked = await s.call_tool("wire", {"amount": 5000, "to": "acct-9"})
        parked = await s.call_tool("drop_table", {"name": "users"})
        return tools, allowed, blocked, parked

    tools, allowed, blocked, parked = asyncio.run(session(first))
    assert {t.name for t in tools.tools} >= {"search", "wire", "drop_table"}
    assert not is_error(allowed) and "results for pricing" in text_of(allowed)
    assert count(calls, "search") == 1

    assert is_error(blocked)
    assert "wire.block" in text_of(blocked)
    assert any(h in text_of(blocked) for h in log_hashes(project))
    assert count(calls, "wire") == 0, "a blocked call never reaches the server"

    assert is_error(parked) and "pending action" in text_of(parked)
    assert count(calls, "drop_table") == 0
    pending_id = text_of(parked).split("pending action ")[1].split(".")[0]
    approved = run_heso("approve", pending_id, "--key", str(key), "--yes", cwd=project,
                        env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
    assert approved.returncode == 0, approved.stderr

    async def retry(s: ClientSession) -> tuple[Any, Any, Any]:
        other = await s.call_tool("drop_table", {"name": "orders"})
        same = await s.call_tool("drop_table", {"name": "users"})
        again = await s.call_tool("drop_table", {"name": "users"})
        return other, same, again

    other, same, again = asyncio.run(session(retry))
    assert is_error(other), "an approval covers only the call that was approved"
    assert not is_error(same) and "dropped users" in text_of(same)
    assert is_error(again), "an approval runs once"
    assert count(calls, "drop_table") == 1

    log = [json.loads(l) for l in (project / "heso-local-data" / "receipts.jsonl").read_text().splitlines()]
    recorded = [r["content"]["action"] for r in log]
    assert {"tool_name": "search", "fields": {"query": "pricing"}}.items() <= {
        k: v for k, v in recorded[0].items() if k in ("tool_name", "fields")
    }.items()
    assert all(a["workflow"] == "mcp-test" for a in recorded if a["verb"] == "tool_call")
    verified = run_heso("log", "verify", cwd=project)
    assert verified.returncode == 0, verified.stdout


def raw_proxy(project: Path, server: Path, calls: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    """Sends raw lines to the proxy, then closes its input; returns every JSON reply."""
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
    payload = json.dumps(init).encode() + b"\n" + b"".join(lines)
    done = subprocess.run(
        [heso_cli(), "mcp-proxy", "--", sys.executable, str(server)],
        input=payload, cwd=project, env=env_for(calls), capture_output=True, timeout=60,
    )
    return [json.loads(l) for l in done.stdout.splitlines() if l.strip()]


def test_malformed_messages_get_a_clear_error_and_never_reach_the_server(project: Path) -> None:
    _, server, calls = setup(project)
    call = lambda i, body: json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": body}).encode() + b"\n"
    replies = raw_proxy(project, server, calls, [
        b"this is not json\n",
        # A duplicate key: the gate and the server could read different tool names.
        b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","name":"wire","arguments":{"amount":1,"to":"x"}}}\n',
        b'[{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"wire","arguments":{}}}]\n',
        call(9, {"arguments": {}}),
        call(10, {"name": "search", "arguments": [1, 2]}),
    ])
    by_id = {r.get("id"): r for r in replies}
    errors = [r for r in replies if "error" in r]
    assert any(e["error"]["code"] == -32700 for e in errors), replies
    assert sum(1 for e in errors if e["error"]["code"] == -32600) == 2, replies
    assert by_id[9]["error"]["code"] == -32602 and by_id[10]["error"]["code"] == -32602
    assert 0 in by_id and "result" in by_id[0], "initialize still passed through"
    assert count(calls, "wire") == 0 and count(calls, "search") == 0


def test_a_server_that_crashes_ends_the_session_without_a_hang(project: Path) -> None:
    _, server, calls = setup(project)

    async def crash() -> Any:
        async with stdio_client(params(server, calls)) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                return await asyncio.wait_for(s.call_tool("crash", {}), 30)

    with pytest.raises(BaseException) as failed:
        asyncio.run(crash())
    assert not isinstance(failed.value, asyncio.TimeoutError), "the client hung"
