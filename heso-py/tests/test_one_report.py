"""One verifier report: `heso verify … --json`, `heso.verify`/`heso.verify_log` and the
browser verifier (heso-wasm's exported functions, called natively by its `report` example)
give the same report, field for field, on the reference vectors, on logs made from them
(tampered lines, a torn tail, two signers) and on a log made with the CLI (a rotated
operator key, so two operator keys and a retired pin), each under several pin sets."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest

import heso
from heso import _core, _state
from conftest import run_heso

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "heso-receipt" / "tests" / "data"


def wasm_report_bin() -> Path:
    """heso-wasm's `report` example: `cargo test --workspace` builds it (scripts/test.sh
    runs that first); built here when missing (a second or two when it is current)."""
    exe = REPO / "target" / "debug" / "examples" / "report"
    built = subprocess.run(
        ["cargo", "build", "--quiet", "-p", "heso-wasm", "--example", "report"],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert built.returncode == 0, built.stderr
    assert exe.exists(), exe
    return exe


@pytest.fixture(scope="module")
def wasm_bin() -> Path:
    return wasm_report_bin()


def keys() -> dict[str, dict[str, str]]:
    return json.loads((VECTORS / "keys.json").read_text())  # type: ignore[no-any-return]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Pin sets: name -> the keys (None: nothing pinned, the CLI's --any-signer).
def pin_sets() -> dict[str, Optional[list[str]]]:
    k = keys()
    return {
        "any": None,
        "operator": [k["operator"]["did_key"]],
        # One as did:key, one as base64: both forms parse the same.
        "both": [k["operator"]["did_key"], k["approver"]["public_key_b64"]],
        # The same key twice, in both forms: pinned once.
        "twice": [k["operator"]["did_key"], k["operator"]["public_key_b64"]],
        "other": [k["other"]["did_key"]],
    }


class Cli:
    """`heso verify … --json` run by `heso._core.run_cli`, the call the `heso` console
    script makes, in this process (its stdout captured at the file descriptor): a process
    per case would cost about 140 ms each, most of this test's time."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd

    def json(self, target: Path, pins: Optional[list[str]], cwd: Path, *extra: str) -> Any:
        flags = ["--any-signer"] if pins is None else [a for key in pins for a in ("--signer", key)]
        before = os.getcwd()
        os.chdir(cwd)
        try:
            self.capfd.readouterr()
            code = _core.run_cli(["heso", "verify", str(target), *flags, "--json", *extra])
            out, err = self.capfd.readouterr()
        finally:
            os.chdir(before)
        assert code in (0, 1), err
        return json.loads(out)


@pytest.fixture
def cli(capfd: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capfd)


def wasm_json(exe: Path, jobs: list[tuple[str, Path, Optional[list[str]]]]) -> list[Any]:
    """The browser verifier's reports for several (receipt|log, file, pins), in one run."""
    args = [a for what, target, pins in jobs for a in (what, str(target), "" if pins is None else ", ".join(pins))]
    result = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def agree(label: str, cli: Any, py: Any, wasm: Any) -> None:
    assert py == cli, f"{label}: heso.verify differs from the CLI\n py:  {compact(py)}\n cli: {compact(cli)}"
    assert wasm == cli, f"{label}: the browser verifier differs from the CLI\n wasm: {compact(wasm)}\n cli:  {compact(cli)}"


def receipt_cases() -> dict[str, bytes]:
    cases: dict[str, bytes] = {}
    for name in ("receipt_l0", "receipt_l1", "redaction_commit_reveal", "redaction_destructive"):
        cases[name] = compact(json.loads((VECTORS / f"{name}.json").read_text())["receipt"]).encode()
    for case in json.loads((VECTORS / "tampered.json").read_text())["cases"]:
        cases["tampered: " + case["name"]] = compact(case["receipt"]).encode()
    cases["not json"] = b"{not json"
    cases["empty"] = b""
    cases["not utf-8"] = b"\xff"
    return cases


def log_cases() -> dict[str, bytes]:
    chain = [compact(r).encode() for r in json.loads((VECTORS / "chain_3.json").read_text())["receipts"]]
    l0 = compact(json.loads((VECTORS / "receipt_l0.json").read_text())["receipt"]).encode()
    l1 = compact(json.loads((VECTORS / "receipt_l1.json").read_text())["receipt"]).encode()
    edited = json.loads(chain[2])
    edited["content"]["action"]["tool_name"] = "exfiltrate"
    cases = {"chain_3": b"".join(line + b"\n" for line in chain)}
    for case in json.loads((VECTORS / "chain_tampered.json").read_text())["cases"]:
        cases["chain_tampered: " + case["name"]] = b"".join(compact(r).encode() + b"\n" for r in case["receipts"])
    mixed = [chain[0], chain[1], compact(edited).encode(), l1, l0, b"", b"{not json", chain[2]]
    cases["mixed, torn tail"] = b"".join(line + b"\n" for line in mixed) + l0[:40]
    cases["empty"] = b""
    cases["only a torn tail"] = l0[:10]
    return cases


def py_verify(data: bytes, pins: Optional[list[str]]) -> Any:
    return heso.verify(data, signers=pins).to_dict()


def test_receipts_get_one_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli, wasm_bin: Path) -> None:
    monkeypatch.setattr(_state, "_project", None)  # nothing pinned unless signers= says so
    cases = []
    for index, (name, data) in enumerate(receipt_cases().items()):
        target = tmp_path / f"receipt-{index}.json"
        target.write_bytes(data)
        for pins_name, pins in pin_sets().items():
            cases.append((f"{name} / pins {pins_name}", data, target, pins))
    wasm = wasm_json(wasm_bin, [("receipt", target, pins) for _, _, target, pins in cases])
    for (label, data, target, pins), from_wasm in zip(cases, wasm):
        from_cli = cli.json(target, pins, tmp_path)
        agree(label, from_cli, py_verify(data, pins), from_wasm)
        assert heso.verify(target, signers=pins).to_dict() == from_cli, label


def test_logs_get_one_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli, wasm_bin: Path) -> None:
    monkeypatch.setattr(_state, "_project", None)
    cases = []
    for index, (name, data) in enumerate(log_cases().items()):
        target = tmp_path / f"log-{index}.jsonl"
        target.write_bytes(data)
        for pins_name, pins in pin_sets().items():
            cases.append((f"{name} / pins {pins_name}", data, target, pins))
    wasm = wasm_json(wasm_bin, [("log", target, pins) for _, _, target, pins in cases])
    seen_kinds: set[str] = set()
    for (label, data, target, pins), from_wasm in zip(cases, wasm):
        from_cli = cli.json(target, pins, tmp_path)
        agree(label, from_cli, heso.verify_log(target, signers=pins).to_dict(), from_wasm)
        assert heso.verify_log(data, signers=pins).to_dict() == from_cli, label
        seen_kinds |= set(from_cli["counts"])
    # The cases reach what they are meant to (a test that could not fail otherwise).
    assert {"Valid", "LinkBroken", "HashMismatch", "Malformed", "UntrustedSigner"} <= seen_kinds


def test_a_log_made_with_the_cli_gets_one_report(project: Path, cli: Cli, wasm_bin: Path) -> None:
    """Two demos around an operator key rotation: two operator keys, one retired; then a
    line edited and a torn tail. Pinned by the project (heso.init), and by keys given."""
    assert run_heso("demo", cwd=project).returncode == 0
    rotated = run_heso("keys", "rotate", cwd=project)
    assert rotated.returncode == 0, rotated.stderr
    assert run_heso("demo", cwd=project).returncode == 0
    log = project / "heso-local-data" / "receipts.jsonl"
    lines = log.read_bytes().split(b"\n")
    assert len(lines) >= 5, lines
    second = json.loads(lines[1])
    second["content"]["captured_at"] = "2020-01-01T00:00:00Z"
    lines[1] = compact(second).encode()
    copy = project.parent / "copy.jsonl"
    copy.write_bytes(b"\n".join(lines) + b'{"alg":"heso-act')

    # Inside the project, `heso verify` pins its keys (the retired one until its retirement).
    project_cli = json.loads(run_heso("verify", str(copy), "--json", cwd=project).stdout)
    assert project_cli["pinned"] is True
    assert len(project_cli["pinned_keys"]) == 2, project_cli
    assert len(project_cli["signers"]) == 2, project_cli
    assert project_cli["torn_tail"] is not None and project_cli["counts"].get("HashMismatch") == 1, project_cli
    heso.init(project)
    try:
        from_py = heso.verify_log(copy).to_dict()
    finally:
        heso.shutdown()
    jobs: list[tuple[str, Path, Optional[list[str]]]] = [("log", copy, project_cli["pinned_keys"])]
    jobs += [("log", copy, pins) for pins in pin_sets().values()]
    wasm = wasm_json(wasm_bin, jobs)
    agree("project pins", project_cli, from_py, wasm[0])
    for (pins_name, pins), from_wasm in zip(pin_sets().items(), wasm[1:]):
        from_cli = cli.json(copy, pins, project.parent)
        agree(f"cli log / pins {pins_name}", from_cli, heso.verify_log(copy, signers=pins).to_dict(), from_wasm)


def test_bundles_get_one_report(project: Path, cli: Cli, wasm_bin: Path) -> None:
    """An inclusion bundle (`heso prove`): the CLI and the browser verifier give the same
    report (heso-receipt's `BundleReport`, with its `pinned`/`pinned_keys`) under every pin
    set, included or not. (Disclosures are verified by the CLI alone; heso-cli's tests
    check their pins.)"""
    for _ in range(2):
        assert run_heso("demo", cwd=project).returncode == 0
    log = project / "heso-local-data" / "receipts.jsonl"
    third = json.loads(log.read_bytes().split(b"\n")[2])["content"]["action_hash"]
    made = run_heso("log", "checkpoint", "--out", "cp.checkpoint", cwd=project)
    assert made.returncode == 0, made.stderr
    outside = project.parent / "auditor"
    outside.mkdir()
    bundle = outside / "bundle.json"
    proved = run_heso("prove", third[:12], "--checkpoint", "cp.checkpoint", "--out", str(bundle), cwd=project)
    assert proved.returncode == 0, proved.stderr
    moved = json.loads(bundle.read_text())
    moved["leaf_index"] += 1
    (outside / "moved.json").write_text(json.dumps(moved))
    jobs: list[tuple[str, Path, Optional[list[str]]]] = [
        ("receipt", outside / name, pins) for name in ("bundle.json", "moved.json") for pins in pin_sets().values()
    ]
    wasm = wasm_json(wasm_bin, jobs)
    verdicts = set()
    for (_, target, pins), from_wasm in zip(jobs, wasm):
        from_cli = cli.json(target, pins, outside)
        assert from_wasm == from_cli, f"{target.name} / {pins}\n wasm: {compact(from_wasm)}\n cli:  {compact(from_cli)}"
        assert from_cli["pinned"] is (pins is not None), from_cli
        verdicts.add(from_cli["verdict"])
    # The cases reach an inclusion, a proof that fails, and an untrusted receipt.
    assert {"Included", "LeafIndexMismatch", "UntrustedSigner"} <= verdicts, verdicts

