"""Per-call cost of a gated call, against baselines measured in the same run.

    .venv/bin/python heso-py/bench/bench_gate.py [--calls 10000] [--big-log 100000]

Reports (median per call): the bare function; an allowed @heso.tool call with
[log] durability = "os" and with the default fsync, once heso.toml is 2 s old (and with
"os" also before: within 2 s of an edit every call reads heso.toml again); with "os", the same call with a
nested argument of 45 values, and the binding's own share of it (the arguments bound and
converted, and the call checked, by `_gate._prepare`, without gating it); as the fsync baseline, a loop that
appends a 1 KB line to a file in the same folder with os.write + os.fsync; the same gated
call after the log holds --big-log receipts; `import heso` against `python -c pass`; and
heso.init().
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_ns(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


def make_project(root: Path, durability: str) -> None:
    heso_bin = Path(sys.executable).with_name("heso")
    subprocess.run([str(heso_bin), "init", str(root)], check=True, capture_output=True)
    toml = root / "heso.toml"
    toml.write_text(toml.read_text().replace('durability = "fsync"', f'durability = "{durability}"'))


def process_time(args: list[str], runs: int = 15) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        subprocess.run(args, check=True, capture_output=True)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--big-log", type=int, default=100_000)
    args = parser.parse_args()

    import heso

    def bare(query: str) -> str:
        return query

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = median_ns(lambda: bare("pricing"), args.calls)
        rows.append(("bare function", base, None))

        for durability in ("os", "fsync"):
            root = Path(tmp) / durability
            make_project(root, durability)
            heso.init(root)
            gated = heso.tool(bare)
            gated("warm-up")
            # Within 2 s of an edit of heso.toml (the coarsest file-system timestamp
            # tick), each call reads it again, since an edit could keep its stamp: a
            # project's first seconds, not its steady state. Measured apart.
            if durability == "os":
                just_written = median_ns(lambda: gated("pricing"), args.calls)
                rows.append(("@heso.tool allowed, os, heso.toml written < 2 s ago", just_written, base))
            time.sleep(max(0.0, 2.1 - (time.time() - (root / "heso.toml").stat().st_ctime)))
            per_call = median_ns(lambda: gated("pricing"), args.calls)
            rows.append((f"@heso.tool allowed, durability={durability}", per_call, base))

            if durability == "os":
                from heso import _bind, _gate

                payload = {
                    "query": "pricing",
                    "filters": {"region": "eu", "tags": ["a", "b", "c"], "limit": 20},
                    "rows": [{"id": i, "name": f"n{i}", "score": i * 0.5} for i in range(10)],
                }

                def rich(payload: dict) -> None:
                    return None

                gated_rich = heso.tool(rich)
                rich_call = median_ns(lambda: gated_rich(payload), args.calls)
                rows.append(("@heso.tool allowed, os, a 45-value argument", rich_call, base))
                options = _bind._options(None, None, "commit_and_reveal", True, "tool_call")
                binder = _bind._Binder(rich, _bind._signature(rich))

                def bind_only() -> None:
                    _gate._prepare(options, "rich", binder, (payload,), {}, None, "default", "default")

                rows.append(("  of which bind + convert + check (not gated)", median_ns(bind_only, args.calls), None))

            if durability == "fsync":
                fd = os.open(root / "baseline.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                line = b"x" * 1023 + b"\n"

                def write_fsync() -> None:
                    os.write(fd, line)
                    os.fsync(fd)

                baseline = median_ns(write_fsync, args.calls)
                os.close(fd)
                rows.append(("baseline: os.write + os.fsync of 1 KB", baseline, None))
                rows.append(("  gated fsync call minus the fsync baseline", per_call - baseline, None))

        # Flat as the log grows: the same call after --big-log receipts (durability os).
        root = Path(tmp) / "os"
        heso.init(root)
        gated = heso.tool(bare)
        for _ in range(args.big_log):
            gated("filler")
        at_big = median_ns(lambda: gated("pricing"), args.calls)
        rows.append((f"@heso.tool allowed, durability=os, after {args.big_log} receipts", at_big, base))

        init_ns = median_ns(lambda: heso.init(root), 20)
        rows.append(("heso.init() (dev passphrase), median of 20", init_ns, None))
        # Closed (its checkpoint kept) before the folder is removed, not at exit.
        heso.shutdown()

    python_pass = process_time([sys.executable, "-c", "pass"])
    python_import = process_time([sys.executable, "-c", "import heso"])
    rows.append(("baseline: python -c pass", python_pass, None))
    rows.append(("python -c 'import heso'", python_import, python_pass))

    for name, ns, against in rows:
        ratio = f"  ({ns / against:.1f}x)" if against else ""
        print(f"{name:<62} {ns / 1000:>10.1f} µs{ratio}")


if __name__ == "__main__":
    main()
