"""Several processes and threads gating into one project, some processes killed mid-run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import heso
from conftest import run_heso

CHILD = r"""
import sys, heso
heso.init(sys.argv[1])
def work(n):
    return n
for n in range(int(sys.argv[2])):
    gate = heso.gated(work, n)
    gate.run()
    print(gate.action_hash, flush=True)
"""


def log_entries(root: Path) -> list[dict]:
    text = (root / "heso-local-data" / "receipts.jsonl").read_text()
    return [json.loads(line)["content"] for line in text.splitlines()]


def assert_chain_whole(root: Path) -> None:
    by_session: dict[str, list[int]] = {}
    for content in log_entries(root):
        by_session.setdefault(content["session_id"], []).append(content["seq"])
    for seqs in by_session.values():
        assert seqs == list(range(len(seqs))), "a seq gap or duplicate"


def test_processes_killed_at_random_lose_no_acknowledged_receipt(project: Path) -> None:
    rng = random.Random(42)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(project), "1000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    reported: list[str] = []
    readers = []
    for child in children:
        def read(c: subprocess.Popen[str] = child) -> None:
            assert c.stdout is not None
            for line in c.stdout:
                reported.append(line.strip())
        thread = threading.Thread(target=read)
        thread.start()
        readers.append(thread)
    # Kill two of the four at random moments.
    for victim in rng.sample(children, 2):
        time.sleep(rng.uniform(0.05, 0.4))
        victim.send_signal(signal.SIGKILL)
    for child in children:
        child.wait(timeout=300)
    for thread in readers:
        thread.join()

    # One more gated call repairs a torn tail if a kill left one.
    heso.init(project)

    @heso.tool
    def after(n: int) -> int:
        return n

    assert after(1) == 1
    verified = run_heso("log", "verify", cwd=project)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    hashes = {c["action_hash"] for c in log_entries(project)}
    missing = [h for h in reported if h and h not in hashes]
    assert not missing, f"{len(missing)} acknowledged receipts are missing"
    assert len(reported) >= 2000
    assert_chain_whole(project)


def test_eight_threads_in_one_process(project: Path) -> None:
    heso.init(project)

    @heso.tool
    def work(n: int) -> int:
        return n

    results: list[int] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        for n in range(100):
            value = work(t * 1000 + n)
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(t * 1000 + n for t in range(8) for n in range(100))
    assert len(log_entries(project)) == 800
    assert_chain_whole(project)
    assert run_heso("log", "verify", cwd=project).returncode == 0


def test_a_forked_child_and_its_parent_never_append_at_once(project: Path) -> None:
    # A child forked after init shares the parent's open files: the cross-process lock
    # must still keep their appends apart (one open of the lock file per process).
    toml = project / "heso.toml"
    toml.write_text(toml.read_text().replace('durability = "fsync"', 'durability = "os"'))
    heso.init(project)

    def work(n: int) -> int:
        return n

    gated = heso.tool(work)
    gated(-1)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for n in range(300):
                gated(n)
        except BaseException:
            code = 1
        os._exit(code)
    for n in range(300):
        gated(n)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(log_entries(project)) == 601
    assert_chain_whole(project)
    report = heso.verify_log(project / "heso-local-data" / "receipts.jsonl")
    assert report.all_valid, report
