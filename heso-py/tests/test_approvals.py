"""Approvals as an attacker with the agent's file access would try them, and as a new user
meets them: only an approver's signed decision in the log lets a parked call run, once,
with the arguments that were approved, from any process of the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import heso
from conftest import add_approver, run_heso

APPROVER_ENV = {"HESO_APPROVER_PASSPHRASE": "approver pass"}


def read_log(root: Path) -> list[dict[str, Any]]:
    lines = (root / "heso-local-data" / "receipts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def item_path(root: Path, pending_id: str) -> Path:
    return root / "heso-local-data" / "pending" / f"{pending_id}.json"


def decide(root: Path, verb: str, pending_id: str, key: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_heso(verb, pending_id, "--key", str(key), "--yes", *extra, cwd=root, env=APPROVER_ENV)


def park(fn: Any, *args: Any) -> str:
    with pytest.raises(heso.SuspendedError) as suspended:
        fn(*args)
    return suspended.value.pending_id


def edit_item(root: Path, pending_id: str, change: Any) -> None:
    path = item_path(root, pending_id)
    item = json.loads(path.read_text())
    change(item)
    path.write_text(json.dumps(item))


def test_an_edited_pending_file_never_runs_the_body(project: Path) -> None:
    key = add_approver(project)
    heso.init()
    ran: list[str] = []

    @heso.destructive
    def delete_record(record_id: str) -> None:
        ran.append(record_id)

    # Status set to approved by hand, before any decision.
    first = park(delete_record, "r-1")
    edit_item(project, first, lambda item: item.update(status="approved", resumed=False))
    with pytest.raises((heso.SuspendedError, heso.ApprovalError)):
        heso.resume(first)
    assert ran == []

    # ... and after a rejection.
    second = park(delete_record, "r-2")
    assert decide(project, "reject", second, key).returncode == 0
    edit_item(project, second, lambda item: item.update(status="approved", resumed=False))
    with pytest.raises(heso.ApprovalError):
        heso.resume(second)
    assert ran == []
    verified = run_heso("log", "verify", cwd=project)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_key_added_to_the_pending_file_cannot_approve(project: Path, tmp_path: Path) -> None:
    add_approver(project)
    heso.init()
    ran: list[str] = []

    @heso.destructive
    def delete_record(record_id: str) -> None:
        ran.append(record_id)

    pending_id = park(delete_record, "r-1")
    # Mallory makes a key of her own (outside the project: heso.toml does not name her).
    mallory_key = tmp_path / "mallory.key"
    made = subprocess.run(
        [sys.executable, "-c", "import heso._core as c, sys; sys.exit(c.run_cli(sys.argv[1:]))",
         "heso", "keys", "new-approver", "mallory", "--out", str(mallory_key)],
        cwd=tmp_path, env={**os.environ, **APPROVER_ENV, "HOME": str(tmp_path)},
        capture_output=True, text=True,
    )
    assert mallory_key.exists(), made.stdout + made.stderr
    did = next(w for w in made.stdout.split() if w.startswith("did:key:"))
    edit_item(project, pending_id, lambda item: item.setdefault("approvers", []).append(
        {"name": "mallory", "key": did}))
    approved = decide(project, "approve", pending_id, mallory_key)
    assert approved.returncode != 0
    with pytest.raises((heso.SuspendedError, heso.ApprovalError)):
        heso.resume(pending_id)
    assert ran == []
    assert all(r["content"]["trust_level"] == "L0" for r in read_log(project))


def test_the_approver_sees_and_signs_the_logged_action_not_the_file(project: Path) -> None:
    key = add_approver(project)
    heso.init()
    ran: list[str] = []

    @heso.destructive
    def delete_record(record_id: str) -> None:
        ran.append(record_id)

    pending_id = park(delete_record, "r-real")

    def swap(item: dict[str, Any]) -> None:
        if "action" in item:
            item["action"]["fields"] = {"record_id": "r-harmless"}
        item["tool_name"] = "harmless_tool"

    edit_item(project, pending_id, swap)
    shown = run_heso("pending", "--json", cwd=project)
    approved = decide(project, "approve", pending_id, key)
    l1s = [r for r in read_log(project) if r["content"]["trust_level"] == "L1"]
    # Either the edit is refused outright, or what was shown and signed is the real action.
    if approved.returncode == 0:
        assert l1s[-1]["content"]["action"]["fields"] == {"record_id": "r-real"}
        document = json.loads(shown.stdout)
        assert document["pending"][0]["fields"] == {"record_id": "r-real"}
        assert document["pending"][0]["tool_name"] == "delete_record"
    else:
        assert l1s == []


def test_pending_and_approve_show_what_is_approved(project: Path) -> None:
    key = add_approver(project)
    heso.init()

    @heso.destructive(redact=["token"])
    def purge(account_id: str, token: str) -> None: ...

    with heso.step(workflow="cleanup", account="acme"):
        pending_id = park(purge, "acct-7", "tok-secret-123")
    listed = run_heso("pending", "--json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    (item,) = document["pending"]
    assert item["id"] == pending_id
    assert item["tool_name"] == "purge" and item["verb"] == "delete"
    assert item["workflow"] == "cleanup" and item["account"] == "acme"
    assert item["fields"]["account_id"] == "acct-7"
    assert "_sd" in item["fields"]["token"]
    assert [a["name"] for a in item["approvers"]] == ["alice"]
    assert item["expires_at"] and item["rule_id"]
    assert "tok-secret-123" not in listed.stdout

    text = run_heso("pending", cwd=project).stdout
    assert "acct-7" in text and "purge" in text and "alice" in text and "cleanup" in text
    # No terminal and no --yes: nothing is signed.
    refused = run_heso("approve", pending_id, "--key", str(key), cwd=project, env=APPROVER_ENV)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "acct-7" in refused.stdout
    assert all(r["content"]["trust_level"] == "L0" for r in read_log(project))


def test_changed_arguments_do_not_run(project: Path) -> None:
    key = add_approver(project)
    heso.init()
    ran: list[Any] = []

    @heso.destructive
    def delete_rows(spec: dict[str, Any]) -> None:
        ran.append(dict(spec))

    spec = {"table": "users", "where": "id = 7"}
    pending_id = park(delete_rows, spec)
    spec["where"] = "1 = 1"  # mutated after parking
    assert decide(project, "approve", pending_id, key).returncode == 0
    with pytest.raises(heso.ApprovalError, match="arguments"):
        heso.resume(pending_id)
    assert ran == []
    spec["where"] = "id = 7"  # back to what was approved
    heso.resume(pending_id)
    assert ran == [{"table": "users", "where": "id = 7"}]


def test_a_removed_approver_decides_nothing_and_their_past_receipts_verify(project: Path) -> None:
    key = add_approver(project)
    heso.init()

    @heso.destructive
    def delete_record(record_id: str) -> None: ...

    done = park(delete_record, "r-1")
    assert decide(project, "approve", done, key).returncode == 0
    later = park(delete_record, "r-2")
    retired = run_heso("keys", "retire-approver", "alice", cwd=project)
    assert retired.returncode == 0, retired.stderr
    refused = decide(project, "approve", later, key)
    assert refused.returncode == 2, refused.stdout
    assert "not an approver" in refused.stderr or "nobody may decide" in refused.stderr
    # The approval alice gave before retiring does not count for a run any more either.
    with pytest.raises(heso.ApprovalError):
        heso.resume(done)
    verified = run_heso("log", "verify", cwd=project)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "retired" in verified.stdout


def test_a_new_user_is_told_how_to_make_an_approver(project: Path, tmp_path: Path) -> None:
    heso.init()

    @heso.destructive
    def delete_record(record_id: str) -> None: ...

    with pytest.raises(heso.SuspendedError) as suspended:
        delete_record("r-1")
    assert "heso keys new-approver" in str(suspended.value)
    assert "APPROVER.key" not in str(suspended.value)
    listed = run_heso("pending", cwd=project)
    assert "heso keys new-approver" in listed.stdout
    missing = run_heso("approve", suspended.value.pending_id, "--key", str(tmp_path / "nope.key"),
                       "--yes", cwd=project, env=APPROVER_ENV)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "heso keys new-approver" in missing.stderr
    unknown = run_heso("approve", "0123456789abcdef", "--yes", cwd=project, env=APPROVER_ENV)
    assert unknown.returncode == 2 and "no pending action" in unknown.stderr

    # new-approver --default writes heso.toml (keeping its comments) and makes it work.
    before = (project / "heso.toml").read_text()
    made = run_heso("keys", "new-approver", "alice", "--out", str(tmp_path / "alice.key"),
                    "--default", cwd=project, env=APPROVER_ENV)
    assert made.returncode == 0, made.stderr
    after = (project / "heso.toml").read_text()
    assert after.startswith(before.split("\n[")[0]), "comments and order are kept"
    assert "[approvers.alice]" in after
    # The action parked before alice existed: the defaults now name her.
    approved = decide(project, "approve", suspended.value.pending_id, tmp_path / "alice.key")
    assert approved.returncode == 0, approved.stderr
    heso.resume(suspended.value.pending_id)


RESUMER = textwrap.dedent(
    """
    import sys, heso
    heso.init()
    ran = []

    @heso.destructive
    def delete_record(record_id: str, force: bool = False) -> str:
        with open(sys.argv[2], "a") as out:
            out.write(f"{record_id} {force}\\n")
        return f"deleted {record_id}"

    try:
        result = heso.resume(sys.argv[1], timeout=float(sys.argv[3]))
        print("RESULT", result)
    except heso.HesoError as e:
        print("ERROR", type(e).__name__, e)
    """
)


def run_resumer(root: Path, pending_id: str, runs: Path, timeout: float = 0) -> subprocess.Popen[str]:
    script = root.parent / "resumer.py"
    script.write_text(RESUMER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    return subprocess.Popen(
        [sys.executable, str(script), pending_id, str(runs), str(timeout)],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def park_in_child(root: Path, tool: str = "delete_record") -> str:
    """Parks a delete in a process that then exits."""
    code = textwrap.dedent(
        f"""
        import heso
        heso.init()

        @heso.destructive
        def {tool}(record_id: str, force: bool = False) -> str: ...

        try:
            {tool}("r-42", force=True)
        except heso.SuspendedError as e:
            print(e.pending_id)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESO_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_resume_from_another_process_runs_exactly_once(project: Path) -> None:
    key = add_approver(project)
    pending_id = park_in_child(project)
    assert pending_id
    runs = project.parent / "runs.txt"
    assert decide(project, "approve", pending_id, key).returncode == 0
    # Two processes race to resume: exactly one body runs.
    first, second = run_resumer(project, pending_id, runs), run_resumer(project, pending_id, runs)
    outputs = [p.communicate(timeout=60)[0] for p in (first, second)]
    assert runs.read_text() == "r-42 True\n", outputs
    assert sum("RESULT deleted r-42" in o for o in outputs) == 1, outputs
    assert sum("already resumed" in o for o in outputs) == 1, outputs
    state = json.loads(run_heso("pending", "--json", cwd=project).stdout)["pending"][0]
    assert state["state"] == "resumed"
    # The log records the run.
    assert read_log(project)[-1]["content"]["policy"]["rule_display"].endswith(")")


def test_a_process_without_the_tool_is_told_which(project: Path) -> None:
    key = add_approver(project)
    pending_id = park_in_child(project, tool="purge_archive")
    assert decide(project, "approve", pending_id, key).returncode == 0
    heso.init()
    with pytest.raises(heso.ApprovalError, match="purge_archive"):
        heso.resume(pending_id)


def test_timeout_waits_for_the_decision(project: Path) -> None:
    key = add_approver(project)
    pending_id = park_in_child(project)
    runs = project.parent / "runs.txt"
    # Nobody decides: the wait ends in SuspendedError.
    started = time.monotonic()
    quiet = run_resumer(project, pending_id, runs, timeout=0.5)
    assert "ERROR SuspendedError" in quiet.communicate(timeout=60)[0]
    assert time.monotonic() - started >= 0.5
    # Someone decides while it waits: it runs.
    waiting = run_resumer(project, pending_id, runs, timeout=30)
    time.sleep(0.5)
    assert decide(project, "approve", pending_id, key).returncode == 0
    assert "RESULT deleted r-42" in waiting.communicate(timeout=60)[0]
    assert runs.read_text() == "r-42 True\n"


def test_timeout_ends_in_approval_error_on_rejection(project: Path) -> None:
    key = add_approver(project)
    heso.init()

    @heso.destructive
    def delete_record(record_id: str) -> None:
        raise AssertionError("must not run")

    pending_id = park(delete_record, "r-1")
    timer = threading.Timer(0.3, lambda: decide(project, "reject", pending_id, key))
    timer.start()
    with pytest.raises(heso.ApprovalError, match="rejected"):
        heso.resume(pending_id, timeout=30)
    timer.join()


def test_gate_run_and_resume_async(project: Path) -> None:
    import asyncio

    key = add_approver(project)
    heso.init()
    ran: list[str] = []

    def delete_record(record_id: str) -> str:
        ran.append(record_id)
        return record_id

    gate = heso.gated(heso.destructive(delete_record), "r-1")
    assert gate.status == heso.SUSPENDED
    with pytest.raises(heso.SuspendedError):
        gate.run(timeout=0.1)
    assert decide(project, "approve", gate.pending_id or "", key).returncode == 0
    assert gate.run(timeout=5) == "r-1"

    @heso.destructive
    async def drop(name: str) -> str:
        ran.append(name)
        return name

    async def main() -> str:
        try:
            await drop("t")
        except heso.SuspendedError as e:
            pending = e.pending_id
        decider = asyncio.get_running_loop().run_in_executor(
            None, lambda: decide(project, "approve", pending, key))
        result = await heso.resume_async(pending, timeout=30)
        await decider
        return str(result)

    assert asyncio.run(main()) == "t"
    assert ran == ["r-1", "t"]
