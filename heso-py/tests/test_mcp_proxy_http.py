"""`heso mcp-proxy --listen … --upstream …` between the real `mcp` package's streamable HTTP
client and server: every tools/call is gated before the server sees it, whether the server
answers with JSON or SSE; everything else (sessions, streams) is relayed."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import heso_cli, run_heso
from test_mcp_proxy import SERVER, count, env_for, is_error, log_hashes, setup, text_of

mcp = pytest.importorskip("mcp")
httpx = pytest.importorskip("httpx")
from mcp import ClientSession  # noqa: E402

try:  # mcp 2.x
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as http_client

# The stdio test's server, run over streamable HTTP instead: `server.py PORT json|sse`.
RUN_STDIO = 'if __name__ == "__main__":\n    app.run()\n'
RUN_HTTP = '''if __name__ == "__main__":
    port, json_response = int(sys.argv[1]), sys.argv[2] == "json"
    try:  # mcp 2.x
        app.run("streamable-http", host="127.0.0.1", port=port, json_response=json_response)
    except TypeError:  # mcp 1.x: the settings live on the app
        app.settings.host, app.settings.port = "127.0.0.1", port
        app.settings.json_response = json_response
        app.run("streamable-http")
'''
assert RUN_STDIO in SERVER
HTTP_SERVER = SERVER.replace(RUN_STDIO, RUN_HTTP)

TOOLS_CALL_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port} within 30 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def upstream(server: Path, calls: Path, mode: str) -> Iterator[str]:
    """The MCP server over streamable HTTP; yields its endpoint URL."""
    port = free_port()
    log = open(calls.parent / f"server-{port}.log", "wb")
    process = subprocess.Popen([sys.executable, str(server), str(port), mode],
                               env=env_for(calls), stdout=log, stderr=log)
    try:
        wait_for_port(port, process, "the MCP server")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)
        log.close()


@contextmanager
def proxy(project: Path, upstream_url: str, *extra: str) -> Iterator[str]:
    """`heso mcp-proxy --listen 127.0.0.1:0`; yields the URL it says it listens on."""
    stderr = project.parent / "proxy.stderr"
    with open(stderr, "wb") as err:
        process = subprocess.Popen(
            [heso_cli(), "mcp-proxy", "--workflow", "mcp-test", "--listen", "127.0.0.1:0",
             "--upstream", upstream_url, *extra],
            cwd=project, env=env_for(project.parent / "calls"), stdout=subprocess.DEVNULL, stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        while "listening on " not in stderr.read_text():
            assert process.poll() is None, f"the proxy exited: {stderr.read_text()}"
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        line = next(l for l in stderr.read_text().splitlines() if "listening on " in l)
        yield line.split("listening on ")[1].split(",")[0]
    finally:
        stop(process)


def session(url: str, work: Any) -> Any:
    async def run() -> Any:
        async with http_client(url) as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                return await asyncio.wait_for(work(s), 60)

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sse", "json"])
def test_allowed_blocked_and_approved_calls_over_http(project: Path, mode: str) -> None:
    key, _, calls = setup(project)
    server = project.parent / "http_server.py"
    server.write_text(HTTP_SERVER)

    async def first(s: ClientSession) -> tuple[Any, ...]:
        tools = await s.list_tools()
        allowed = await s.call_tool("search", {"query": "pricing"})
        blocked = await s.call_tool("wire", {"amount": 5000, "to": "acct-9"})
        parked = await s.call_tool("drop_table", {"name": "users"})
        return tools, allowed, blocked, parked

    async def retry(s: ClientSession) -> tuple[Any, Any, Any]:
        other = await s.call_tool("drop_table", {"name": "orders"})
        same = await s.call_tool("drop_table", {"name": "users"})
        again = await s.call_tool("drop_table", {"name": "users"})
        return other, same, again

    with upstream(server, calls, mode) as up, proxy(project, up) as url:
        assert url.endswith("/mcp")
        tools, allowed, blocked, parked = session(url, first)
        assert {t.name for t in tools.tools} >= {"search", "wire", "drop_table"}
        assert not is_error(allowed) and "results for pricing" in text_of(allowed)
        assert count(calls, "search") == 1

        assert is_error(blocked) and "wire.block" in text_of(blocked)
        assert any(h in text_of(blocked) for h in log_hashes(project))
        assert count(calls, "wire") == 0, "a blocked call never reaches the server"

        assert is_error(parked) and "pending action" in text_of(parked)
        assert count(calls, "drop_table") == 0
        pending_id = text_of(parked).split("pending action ")[1].split(".")[0]
        approved = run_heso("approve", pending_id, "--key", str(key), "--yes", cwd=project,
                            env={"HESO_APPROVER_PASSPHRASE": "approver pass"})
        assert approved.returncode == 0, approved.stderr

        other, same, again = session(url, retry)
        assert is_error(other), "an approval covers only the call that was approved"
        assert not is_error(same) and "dropped users" in text_of(same)
        assert is_error(again), "an approval runs once"
        assert count(calls, "drop_table") == 1

    recorded = [json.loads(l)["content"]["action"]
                for l in (project / "heso-local-data" / "receipts.jsonl").read_text().splitlines()]
    tool_calls = [a for a in recorded if a["verb"] == "tool_call"]
    assert tool_calls and all(a["workflow"] == "mcp-test" for a in tool_calls)
    assert any(a["tool_name"] == "search" and a["fields"] == {"query": "pricing"} for a in tool_calls)
    verified = run_heso("log", "verify", cwd=project)
    assert verified.returncode == 0, verified.stdout


def initialize(client: Any, url: str) -> dict[str, str]:
    """A raw initialize; returns the headers the next requests carry (session, version)."""
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
    response = client.post(url, json=init, headers=TOOLS_CALL_ACCEPT)
    assert response.status_code == 200, response.text
    headers = dict(TOOLS_CALL_ACCEPT)
    if "mcp-session-id" in response.headers:
        headers["Mcp-Session-Id"] = response.headers["mcp-session-id"]
    headers["MCP-Protocol-Version"] = "2025-06-18"
    return headers


def sse_messages(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data:"):]) for line in body.splitlines() if line.startswith("data:")]


def test_a_refusal_comes_back_in_the_format_the_client_accepts(project: Path) -> None:
    _, _, calls = setup(project)
    server = project.parent / "http_server.py"
    server.write_text(HTTP_SERVER)
    wire = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "wire", "arguments": {"amount": 1, "to": "x"}}}
    with upstream(server, calls, "json") as up, proxy(project, up) as url, httpx.Client(timeout=30) as client:
        headers = initialize(client, url)
        as_sse = client.post(url, json=wire, headers={**headers, "Accept": "text/event-stream"})
        assert as_sse.status_code == 200
        assert as_sse.headers["content-type"].startswith("text/event-stream")
        assert as_sse.headers["mcp-session-id"] == headers["Mcp-Session-Id"]
        (message,) = sse_messages(as_sse.text)
        assert message["id"] == 5 and message["result"]["isError"] is True

        as_json = client.post(url, json=wire, headers=headers)
        assert as_json.headers["content-type"].startswith("application/json")
        assert as_json.json()["result"]["isError"] is True
        assert "wire.block" in as_json.json()["result"]["content"][0]["text"]

        # The server's own SSE stream (GET) is relayed as it opens, not when it ends.
        get_headers = {**headers, "Accept": "text/event-stream"}
        with client.stream("GET", url, headers=get_headers, timeout=10) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")

        # The session ends with DELETE, relayed: the upstream forgets it.
        ended = client.delete(url, headers=headers)
        assert ended.status_code in (200, 204), ended.text
        after = client.post(url, json={"jsonrpc": "2.0", "id": 6, "method": "tools/list"}, headers=headers)
        assert after.status_code == 404, after.text
    assert count(calls, "wire") == 0


def test_a_server_that_is_down_gives_a_clear_error(project: Path) -> None:
    setup(project)
    dead = f"http://127.0.0.1:{free_port()}/mcp"

    async def nothing(s: ClientSession) -> None:
        return None

    with proxy(project, dead) as url:
        with pytest.raises(BaseException) as failed:
            session(url, nothing)
        assert not isinstance(failed.value, asyncio.TimeoutError), "the client hung"
        with httpx.Client(timeout=30) as client:
            response = client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                   headers=TOOLS_CALL_ACCEPT)
    assert response.status_code == 502
    error = response.json()["error"]
    assert response.json()["id"] == 1
    assert f"the upstream MCP server at {dead} did not answer" in error["message"], error
    assert "refused" in error["message"].lower(), error


def test_malformed_requests_get_a_clear_error_and_never_reach_the_server(project: Path) -> None:
    _, _, calls = setup(project)
    server = project.parent / "http_server.py"
    server.write_text(HTTP_SERVER)
    call = lambda i, body: {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": body}
    with upstream(server, calls, "sse") as up, proxy(project, up) as url, httpx.Client(timeout=30) as client:
        headers = initialize(client, url)
        post = lambda content: client.post(url, content=content, headers=headers)

        not_json = post(b"this is not json")
        assert not_json.status_code == 400 and not_json.json()["error"]["code"] == -32700
        duplicate = post(b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":'
                         b'{"name":"search","name":"wire","arguments":{"amount":1,"to":"x"}}}')
        assert duplicate.status_code == 400 and duplicate.json()["error"]["code"] == -32600
        batch = post(json.dumps([call(8, {"name": "wire", "arguments": {}})]).encode())
        assert batch.status_code == 400 and batch.json()["error"]["code"] == -32600
        notification = post(json.dumps({"jsonrpc": "2.0", "method": "tools/call",
                                        "params": {"name": "wire", "arguments": {}}}).encode())
        assert notification.status_code == 400 and "notification" in notification.json()["error"]["message"]
        no_name = post(json.dumps(call(9, {"arguments": {}})).encode())
        assert no_name.json() == {"jsonrpc": "2.0", "id": 9, "error": no_name.json()["error"]}
        assert no_name.json()["error"]["code"] == -32602
        # Another path is gated too when the body is JSON.
        elsewhere = client.post(url.rsplit("/", 1)[0] + "/other", headers=headers,
                                content=json.dumps(call(10, {"name": "wire", "arguments": {"amount": 1, "to": "x"}})))
        assert elsewhere.json()["result"]["isError"] is True

        # Bytes that are not HTTP: an HTTP error and a closed connection, not a hang.
        host, port = url.split("//")[1].split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"\x00\x01garbage\r\n\r\n")
            answer = raw.recv(4096)
            assert answer.startswith(b"HTTP/1.1 4"), answer

        # A Host that is not this machine (DNS rebinding) is refused.
        rebound = client.post(url, json=call(11, {"name": "search", "arguments": {"query": "x"}}),
                              headers={**headers, "Host": "attacker.example"})
        assert rebound.status_code == 403
    assert count(calls, "wire") == 0 and count(calls, "search") == 0


def test_listen_refuses_a_non_loopback_address(project: Path) -> None:
    refused = run_heso("mcp-proxy", "--listen", "0.0.0.0:0", "--upstream", "http://127.0.0.1:1/mcp", cwd=project)
    assert refused.returncode == 2 and "not a loopback address" in refused.stderr, refused.stderr
    https = run_heso("mcp-proxy", "--listen", "127.0.0.1:0", "--upstream", "https://example.com/mcp", cwd=project)
    assert https.returncode == 2 and "--upstream" in https.stderr, https.stderr
    neither = run_heso("mcp-proxy", "--upstream", "http://127.0.0.1:1/mcp", cwd=project)
    assert neither.returncode == 2, neither.stderr


def test_a_server_that_crashes_mid_call_ends_the_call_without_a_hang(project: Path) -> None:
    _, _, calls = setup(project)
    server = project.parent / "http_server.py"
    server.write_text(HTTP_SERVER)

    async def crash(s: ClientSession) -> Any:
        return await s.call_tool("crash", {})

    with upstream(server, calls, "sse") as up, proxy(project, up) as url:
        started = time.monotonic()
        try:
            result = session(url, crash)
        except BaseException as failed:  # the client may raise instead of returning an error
            assert not isinstance(failed, asyncio.TimeoutError), "the client hung"
        else:
            assert is_error(result), result
        assert time.monotonic() - started < 50, "the client waited for the call's timeout"


def test_an_upstream_that_answers_garbage_gives_a_clear_error(project: Path) -> None:
    setup(project)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer_garbage() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"\x00\x01 this is not HTTP\r\n\r\n")

    import threading

    threading.Thread(target=answer_garbage, daemon=True).start()
    try:
        with proxy(project, f"http://127.0.0.1:{port}/mcp") as url, httpx.Client(timeout=30) as client:
            response = client.post(url, json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
                                   headers=TOOLS_CALL_ACCEPT)
    finally:
        listener.close()
    assert response.status_code == 502, response.text
    assert response.json()["id"] == 3
    message = response.json()["error"]["message"]
    assert f"the upstream MCP server at http://127.0.0.1:{port}/mcp did not answer" in message
    assert "invalid HTTP" in message, message
