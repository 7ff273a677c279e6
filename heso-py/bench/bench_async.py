"""How long an asyncio event loop stalls while many tasks make gated calls.

    .venv/bin/python heso-py/bench/bench_async.py [--tasks 100] [--rounds 5] [--repeats 3]

In a fresh project with `durability = "fsync"`, --tasks concurrent tasks each make one
`async def` gated call (`asyncio.gather` of them), --rounds times; the baseline is the same
tasks calling a bare `async def` in the same loop, then the loop idle until as much time
has passed as the gated run took (so the probe below sees as many stamps); the two
alternate --repeats times, the gated run first.

Two measures, for both:
- iteration: the loop's busy time per iteration, from the moment its selector returns to
  the moment the loop asks it again (every callback and task step of that iteration, plus
  any wait for the GIL or for a core while they run); the longest one is the longest time
  the loop could not look at a ready event. Timed with perf_counter_ns in a selector
  subclass, and with thread_time_ns: the loop thread's CPU time in the iteration, its own
  work (the longest wall-clock iteration is shown with its CPU time, and the longest CPU
  time of any iteration); and with the loop thread's context switches (getrusage
  RUSAGE_THREAD): an involuntary one means the kernel gave the core to another process
  (the machine's load), a voluntary one that the thread blocked, here for the GIL. The
  longest iteration without an involuntary switch is what the loop and the GIL cost.
- probe: a thread writes its perf_counter_ns to a pipe every 500 µs; the loop's reader
  records how long each stamp took to be read. This adds what the iteration misses: the
  loop thread getting the GIL back after the selector returns, and the wait behind the
  other callbacks of the same iteration.
Also the garbage collector's passes that ran on the loop thread (a pass runs in the
thread whose allocation crosses its threshold).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import selectors
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

_STAMP = struct.Struct("q")


class TimedSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Records the time between leaving ``select`` and entering it again, as wall time
    and as the loop thread's CPU time (the difference is time the thread waited: for the
    GIL, or for a core)."""

    def __init__(self) -> None:
        super().__init__()
        # Per iteration: wall ns, CPU ns, voluntary and involuntary context switches of
        # the loop thread (a wait for the GIL is voluntary; the kernel taking the core for
        # another process is involuntary). Recording when a list.
        self.busy: Optional[list[tuple[int, int, int, int]]] = None
        self._left: Optional[tuple[int, int, int, int]] = None

    @staticmethod
    def _now() -> tuple[int, int, int, int]:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return (time.perf_counter_ns(), time.thread_time_ns(), usage.ru_nvcsw, usage.ru_nivcsw)

    def select(self, timeout: Optional[float] = None) -> Any:
        entered = self._now()
        if self.busy is not None and self._left is not None:
            left = self._left
            self.busy.append(
                (entered[0] - left[0], entered[1] - left[1], entered[2] - left[2], entered[3] - left[3])
            )
        try:
            return super().select(timeout)
        finally:
            self._left = self._now()


class Probe:
    """A thread stamping a pipe every ``period`` s; the loop reads the stamps."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float = 0.0005) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self.latency: Optional[list[int]] = None  # recording when a list
        self._period = period
        self._stop = threading.Event()
        self._pending = b""
        loop.add_reader(self._read, self._on_readable)
        self._thread = threading.Thread(target=self._stamp, name="bench-probe", daemon=True)
        self._thread.start()

    def _stamp(self) -> None:
        while not self._stop.is_set():
            time.sleep(self._period)
            os.write(self._write, _STAMP.pack(time.perf_counter_ns()))

    def _on_readable(self) -> None:
        now = time.perf_counter_ns()
        try:
            data = self._pending + os.read(self._read, 1 << 16)
        except BlockingIOError:
            return
        whole = len(data) - len(data) % _STAMP.size
        self._pending = data[whole:]
        if self.latency is not None:
            for (stamp,) in _STAMP.iter_unpack(data[:whole]):
                self.latency.append(now - stamp)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop.set()
        self._thread.join()
        loop.remove_reader(self._read)
        os.close(self._read)
        os.close(self._write)


class GcWatch:
    """The garbage collector's passes on the loop thread while recording: generation and
    duration (a pass runs in whichever thread's allocation crosses the threshold)."""

    def __init__(self) -> None:
        self.passes: Optional[list[tuple[int, int]]] = None  # recording when a list
        self._loop_thread = threading.get_ident()
        self._started = 0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if self.passes is None or threading.get_ident() != self._loop_thread:
            return
        if phase == "start":
            self._started = time.perf_counter_ns()
        else:
            self.passes.append((info["generation"], time.perf_counter_ns() - self._started))


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0


def report(
    label: str,
    busy: list[tuple[int, int, int, int]],
    latency: list[int],
    passes: list[tuple[int, int]],
    first_round: int,
    took: float,
) -> None:
    ms = 1e-6
    wall = [b[0] for b in busy]
    longest = max(busy)
    unpreempted = max((b for b in busy if b[3] == 0), default=(0, 0, 0, 0))
    longest_gc = max(passes, key=lambda p: p[1], default=(0, 0))
    print(
        f"{label}: {took * 1e3:.1f} ms\n"
        f"  iterations {len(busy):>5}: longest {longest[0] * ms:6.3f} ms (its CPU {longest[1] * ms:6.3f}, "
        f"switches {longest[2]} voluntary, {longest[3]} involuntary), "
        f"first round's {first_round * ms:6.3f}, p99 {percentile(wall, 0.99) * ms:6.3f}, "
        f"longest CPU {max(b[1] for b in busy) * ms:6.3f} ms; "
        f"longest not preempted {unpreempted[0] * ms:6.3f} ms (CPU {unpreempted[1] * ms:6.3f}, "
        f"{unpreempted[2]} voluntary switches), {sum(b[3] > 0 for b in busy)} preempted\n"
        f"  probe {len(latency):>5}: longest {max(latency, default=0) * ms:6.3f} ms, "
        f"p99 {percentile(latency, 0.99) * ms:6.3f}, median {percentile(latency, 0.5) * ms:6.3f} ms; "
        f"GC on the loop: {len(passes)} passes, longest {longest_gc[1] * ms:.3f} ms (gen {longest_gc[0]})"
    )


async def phase(
    call: Callable[[int], Awaitable[Any]],
    tasks: int,
    rounds: int,
    selector: TimedSelector,
    probe: Probe,
    watch: GcWatch,
    at_least: float = 0.0,
) -> tuple[list[tuple[int, int, int, int]], list[int], list[tuple[int, int]], int, float]:
    """Runs ``rounds`` gathers of ``tasks`` calls, then idles until ``at_least`` seconds
    have passed; returns the iterations' busy times, the probe's latencies, the longest
    iteration of the first round and the time the calls took."""
    await asyncio.sleep(0.05)  # let the previous phase's stragglers settle
    busy: list[tuple[int, int, int, int]] = []
    latency: list[int] = []
    passes: list[tuple[int, int]] = []
    selector.busy, probe.latency, watch.passes = busy, latency, passes
    started = time.perf_counter()
    first_round = 0
    for round_ in range(rounds):
        await asyncio.gather(*(call(i) for i in range(tasks)))
        if round_ == 0:
            first_round = max((b[0] for b in busy), default=0)
    took = time.perf_counter() - started
    await asyncio.sleep(max(0.0, at_least - took))
    await asyncio.sleep(0.002)  # a few probe stamps after the last call
    selector.busy, probe.latency, watch.passes = None, None, None
    return busy, latency, passes, first_round, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="heso-bench-async-"))
    heso_cli = Path(sys.executable).with_name("heso")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    subprocess.run([str(heso_cli), "init"], cwd=root, check=True, env=env, stdout=subprocess.DEVNULL)
    assert 'durability = "fsync"' in (root / "heso.toml").read_text()
    import heso

    heso.init(root)

    async def bare(i: int) -> int:
        return i

    gated = heso.tool(bare)

    selector = TimedSelector()
    loop = asyncio.SelectorEventLoop(selector)
    probe = Probe(loop)
    watch = GcWatch()
    try:
        for repeat in range(args.repeats):
            gated_took = 0.0
            for label, call in (("@heso.tool, fsync", gated), ("bare async def", bare)):
                busy, latency, passes, first, took = loop.run_until_complete(
                    phase(call, args.tasks, args.rounds, selector, probe, watch, gated_took)
                )
                gated_took = gated_took or took
                report(f"{repeat + 1}: {label}", busy, latency, passes, first, took)
    finally:
        probe.close(loop)
        loop.close()
        heso.shutdown()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
