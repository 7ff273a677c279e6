"""How long an asyncio event loop stalls while many tasks make gated calls.

    .venv/bin/python heso-py/bench/bench_async.py [--tasks 100] [--rounds 5]

In a fresh project with `durability = "fsync"`, --tasks concurrent tasks each make one
`async def` gated call, --rounds times; a ticker task wakes every 100 µs and records how
late it woke. Reported: the longest and the 99th-percentile lateness of the ticker, for
the gated run and for a baseline: the ticker alone, for as long as the gated run took, in
the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def measure(work: "asyncio.Future[object] | object", stop: asyncio.Event) -> list[float]:
    lateness: list[float] = []
    period = 0.0001
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(period)
        lateness.append(time.perf_counter() - start - period)
    return lateness


async def run(tasks: int, rounds: int, call: "object") -> list[float]:
    stop = asyncio.Event()
    ticker = asyncio.create_task(measure(None, stop))
    await asyncio.sleep(0.01)
    for _ in range(rounds):
        await asyncio.gather(*(call(i) for i in range(tasks)))  # type: ignore[operator]
    stop.set()
    return await ticker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="heso-bench-async-"))
    heso_cli = Path(sys.executable).with_name("heso")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    subprocess.run([str(heso_cli), "init"], cwd=root, check=True, env=env, stdout=subprocess.DEVNULL)
    import heso

    heso.init(root)

    @heso.tool
    async def lookup(i: int) -> int:
        return i

    started = time.perf_counter()
    gated = asyncio.run(run(args.tasks, args.rounds, lookup))
    took = time.perf_counter() - started

    async def idle() -> list[float]:
        stop = asyncio.Event()
        ticker = asyncio.create_task(measure(None, stop))
        await asyncio.sleep(took)
        stop.set()
        return await ticker

    for label, late in (("ticker alone", asyncio.run(idle())), ("@heso.tool, fsync", gated)):
        late.sort()
        p99 = late[int(len(late) * 0.99) - 1] if late else 0.0
        print(
            f"{label:<20} ticks {len(late):>6}  longest stall {max(late) * 1e3:7.3f} ms"
            f"  p99 {p99 * 1e3:7.3f} ms  median {statistics.median(late) * 1e3:7.3f} ms"
        )


if __name__ == "__main__":
    main()
