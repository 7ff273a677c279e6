"""`heso mcp-proxy` with the `mcp` Python package 1.x, beyond the stdio and HTTP tests that run
with it too (test_mcp_proxy.py, test_mcp_proxy_http.py). Runs in mcp-tests/.venv-mcp1, where
mcp-tests/run.sh installs `mcp>=1.20,<2`; skipped where mcp is 2.x (the main .venv)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import heso_cli

mcp = pytest.importorskip("mcp")
MCP_VERSION = importlib.metadata.version("mcp")
pytestmark = pytest.mark.skipif(
    not MCP_VERSION.startswith("1."), reason=f"for mcp 1.x (mcp-tests/run.sh); this is {MCP_VERSION}"
)

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from test_mcp_proxy import count, env_for, is_error, setup, text_of  # noqa: E402
from test_mcp_proxy_http import HTTP_SERVER, proxy, session, upstream  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def mcp2_python() -> str:
    """The main .venv's Python, which has mcp 2.x: the other end of the mixed sessions."""
    python = os.environ.get("HESO_MCP2_PYTHON") or str(REPO / ".venv" / "bin" / "python")
    assert Path(python).exists(), f"no Python with mcp 2.x at {python} (scripts/python-env.sh makes it)"
    return python


def test_this_is_mcp_1x_on_both_ends() -> None:
    assert MCP_VERSION.startswith("1."), MCP_VERSION
    from mcp.server.fastmcp import FastMCP  # the 1.x server the other tests run

    assert FastMCP


def test_a_1x_client_through_the_proxy_to_a_2x_server(project: Path) -> None:
    _, server, calls = setup(project)
    params = StdioServerParameters(
        command=heso_cli(),
        args=["mcp-proxy", "--workflow", "mcp-test", "--", mcp2_python(), str(server)],
        env=env_for(calls),
    )

    async def run() -> tuple[Any, ...]:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                allowed = await s.call_tool("search", {"query": "mixed"})
                blocked = await s.call_tool("wire", {"amount": 1, "to": "x"})
                return init, allowed, blocked

    init, allowed, blocked = asyncio.run(asyncio.wait_for(run(), 60))
    assert init.serverInfo.name == "stub"
    assert not is_error(allowed) and "results for mixed" in text_of(allowed)
    assert is_error(blocked) and "wire.block" in text_of(blocked)
    assert count(calls, "search") == 1 and count(calls, "wire") == 0


def test_an_sse_answer_broken_off_by_a_crash_fails_the_call_at_once(project: Path) -> None:
    # mcp 1.x's client waits for its timeout when a server dies in the middle of an SSE
    # answer, also without the proxy; through it, the call gets the proxy's error at once.
    _, _, calls = setup(project)
    server = project.parent / "http_server.py"
    server.write_text(HTTP_SERVER)

    async def crash(s: ClientSession) -> Any:
        return await s.call_tool("crash", {})

    with upstream(server, calls, "sse") as up, proxy(project, up) as url:
        with pytest.raises(BaseException) as failed:
            session(url, crash)
    text = repr(failed.value)
    assert "broke off its response before answering" in text, text
    assert up in text, text


def test_a_1x_client_through_the_proxy_to_a_typescript_sdk_server(project: Path) -> None:
    # mcp-tests/test/server.mjs: the same tools with @modelcontextprotocol/sdk (run.sh has
    # installed it by now).
    server = REPO / "mcp-tests" / "test" / "server.mjs"
    sdk = REPO / "mcp-tests" / "node_modules" / "@modelcontextprotocol" / "sdk"
    assert sdk.is_dir(), f"no {sdk}: run mcp-tests/run.sh, which installs it"
    node = shutil.which("node")
    assert node, "node is not on PATH"
    _, _, calls = setup(project)
    params = StdioServerParameters(
        command=heso_cli(),
        args=["mcp-proxy", "--workflow", "mcp-test", "--", node, str(server), "stdio"],
        env=env_for(calls),
    )

    async def run() -> tuple[Any, ...]:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                allowed = await s.call_tool("search", {"query": "mixed"})
                blocked = await s.call_tool("wire", {"amount": 1, "to": "x"})
                return init, allowed, blocked

    init, allowed, blocked = asyncio.run(asyncio.wait_for(run(), 60))
    assert init.serverInfo.name == "stub"
    assert not is_error(allowed) and "results for mixed" in text_of(allowed)
    assert is_error(blocked) and "wire.block" in text_of(blocked)
    assert count(calls, "search") == 1 and count(calls, "wire") == 0
