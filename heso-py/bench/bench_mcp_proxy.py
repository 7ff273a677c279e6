"""What `heso mcp-proxy` adds to each tools/call, against a direct connection, in one run.

    .venv/bin/python heso-py/bench/bench_mcp_proxy.py [--calls 1000] [--rounds 2]
        [--heso PATH] [--durability fsync|os]

The real `mcp` package is both client and server (one `echo` tool). For each transport
(stdio, and streamable HTTP with the server answering in SSE) it opens four sessions per
round, direct and through the proxy taking turns, and times --calls sequential
`call_tool("echo", …)`s in each after 20 warm-up calls. The proxy gates each call into a
fresh `heso init` project (the starter policy allows it: one signed receipt appended to the
log per call, with the project's durability setting, fsync unless --durability os). It
prints the median and p95 per call of each, and the difference and ratio proxy/direct.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

try:  # mcp 2.x
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as http_client

SERVER = textwrap.dedent(
    """
    import sys
    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
    except ImportError:
        from mcp.server.fastmcp import FastMCP as Server  # mcp 1.x

    app = Server("bench")

    @app.tool()
    def echo(text: str) -> str:
        return text

    if sys.argv[1] == "stdio":
        app.run()
    else:
        port = int(sys.argv[1])
        try:
            app.run("streamable-http", host="127.0.0.1", port=port, json_response=False)
        except TypeError:
            app.settings.host, app.settings.port = "127.0.0.1", port
            app.run("streamable-http")
    """
)


async def timed_calls(s: ClientSession, calls: int) -> list[int]:
    for i in range(20):
        await s.call_tool("echo", {"text": f"warm {i}"})
    samples = []
    for i in range(calls):
        start = time.perf_counter_ns()
        result = await s.call_tool("echo", {"text": f"call {i}"})
        samples.append(time.perf_counter_ns() - start)
        if getattr(result, "is_error", None) or getattr(result, "isError", None):
            raise SystemExit(f"call {i} failed: {result}")
    return samples


async def over_stdio(command: list[str], cwd: Path, calls: int) -> list[int]:
    params = StdioServerParameters(command=command[0], args=command[1:], cwd=str(cwd))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return await timed_calls(s, calls)


async def over_http(url: str, calls: int) -> list[int]:
    async with http_client(url) as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            return await timed_calls(s, calls)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def summary(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1e3, ordered[int(len(ordered) * 0.95)] / 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--heso", default=str(Path(sys.executable).with_name("heso")))
    parser.add_argument("--durability", choices=["fsync", "os"], default="fsync")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="heso-bench-mcp-"))
    project = work / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    subprocess.run([args.heso, "init"], cwd=project, env=env, check=True, capture_output=True)
    toml = project / "heso.toml"
    if args.durability == "os":
        toml.write_text(toml.read_text().replace('durability = "fsync"', 'durability = "os"'))
    server = work / "server.py"
    server.write_text(SERVER)

    results: dict[str, list[int]] = {}
    direct_cmd = [sys.executable, str(server), "stdio"]
    proxy_cmd = [args.heso, "mcp-proxy", "--", *direct_cmd]

    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(server), str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy_port = free_port()
    proxy = subprocess.Popen(
        [args.heso, "mcp-proxy", "--listen", f"127.0.0.1:{proxy_port}",
         "--upstream", f"http://127.0.0.1:{port}/mcp"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        wait_for(proxy_port)
        for _ in range(args.rounds):
            runs: list[tuple[str, Any]] = [
                ("stdio direct", over_stdio(direct_cmd, project, args.calls)),
                ("stdio proxy", over_stdio(proxy_cmd, project, args.calls)),
                ("http direct", over_http(f"http://127.0.0.1:{port}/mcp", args.calls)),
                ("http proxy", over_http(f"http://127.0.0.1:{proxy_port}/mcp", args.calls)),
            ]
            for name, run in runs:
                results.setdefault(name, []).extend(asyncio.run(run))
    finally:
        for process in (proxy, upstream):
            process.terminate()
            process.wait(10)

    receipts = len((project / "heso-local-data" / "receipts.jsonl").read_text().splitlines())
    print(f"heso: {args.heso}; durability {args.durability}; {args.rounds} rounds x {args.calls} calls;"
          f" load average {os.getloadavg()[0]:.2f}; receipts in the log: {receipts}")
    print(f"{'':14} {'median us':>10} {'p95 us':>10}")
    for name, samples in results.items():
        median, p95 = summary(samples)
        print(f"{name:14} {median:10.0f} {p95:10.0f}")
    for transport in ("stdio", "http"):
        direct, _ = summary(results[f"{transport} direct"])
        through, _ = summary(results[f"{transport} proxy"])
        print(f"{transport}: the proxy adds {through - direct:.0f} us per call (median), "
              f"ratio {through / direct:.2f}")


if __name__ == "__main__":
    main()
