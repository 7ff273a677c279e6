"""The heso SDK on the installed wheel, in temporary projects."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import heso
from conftest import add_approver, run_heso


def read_log(root: Path) -> list[dict[str, Any]]:
    lines = (root / "heso-local-data" / "receipts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def receipt_for(root: Path, action_hash: str) -> dict[str, Any]:
    return next(r for r in read_log(root) if r["content"]["action_hash"] == action_hash)


def test_quickstart_end_to_end(project: Path) -> None:
    heso.init()

    @heso.tool
    def search(query: str, limit: int = 5) -> str:
        return f"results for {query} ({limit})"

    @heso.destructive
    def delete_record(record_id: str) -> None:
        raise AssertionError("a delete must never run without approval")

    @heso.tool(redact=["api_key"])
    def call_partner_api(api_key: str, endpoint: str) -> dict[str, str]:
        return {"endpoint": endpoint}

    with heso.step(workflow="run-42"):
        assert search("pricing") == "results for pricing (5)"
        assert call_partner_api("sk-live-quickstart-123", "https://partner.example/v1") == {
            "endpoint": "https://partner.example/v1"
        }
        with pytest.raises(heso.SuspendedError) as suspended:
            delete_record("r-981")

    log = read_log(project)
    assert [r["content"]["action"]["tool_name"] for r in log] == [
        "search",
        "call_partner_api",
        "delete_record",
    ]
    first = log[0]["content"]
    assert first["action"]["workflow"] == "run-42"
    assert first["action"]["fields"] == {"query": "pricing", "limit": 5}
    assert first["policy"]["decision_path"] == "allow"
    delete = log[2]["content"]
    assert delete["action"]["verb"] == "delete"
    assert delete["policy"]["decision_path"] == "require_approval"
    assert suspended.value.pending_id
    assert suspended.value.action_hash == delete["action_hash"]

    for receipt in log:
        checked = run_heso("verify", receipt["content"]["action_hash"][:10], cwd=project)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "Valid (L0)" in checked.stdout
    assert run_heso("log", "verify", cwd=project).returncode == 0


def test_blocked_body_never_runs(project: Path, tmp_path: Path) -> None:
    policy = (project / "heso.toml").read_text()
    policy = policy.replace(
        '[[rule]]\nid = "tool.allow"',
        '[[rule]]\nid = "no.wire"\norder = 5\nverb = "tool_call"\ntool = "wire_*"\n'
        'decision = "block"\ndisplay = "never wire money"\n\n[[rule]]\nid = "tool.allow"',
    )
    (project / "heso.toml").write_text(policy)
    heso.init()
    marker = tmp_path / "side-effect"

    @heso.tool
    def wire_money(amount: int) -> None:
        marker.write_text("ran")

    with pytest.raises(heso.BlockedError) as blocked:
        wire_money(10)
    assert not marker.exists()
    assert blocked.value.rule_id == "no.wire"
    assert "never wire money" in blocked.value.reason
    receipt = receipt_for(project, blocked.value.action_hash)
    assert receipt["content"]["policy"]["decision_path"] == "block"
    assert isinstance(blocked.value, heso.HesoError)


def test_observe_only_runs_and_records(project: Path, tmp_path: Path) -> None:
    policy = (project / "heso.toml").read_text().replace(
        '[[rule]]\nid = "tool.allow"',
        '[[rule]]\nid = "no.wire"\norder = 5\nverb = "tool_call"\ntool = "wire_*"\n'
        'decision = "block"\n\n[[rule]]\nid = "tool.allow"',
    )
    (project / "heso.toml").write_text(policy)
    heso.init()
    marker = tmp_path / "side-effect"

    @heso.tool(blocking=False)
    def wire_money(amount: int) -> str:
        marker.write_text("ran")
        return "sent"

    assert wire_money(10) == "sent"
    assert marker.exists()
    last = read_log(project)[-1]["content"]
    assert last["policy"]["decision_path"] == "block"
    assert last["policy"]["rule_display"].endswith("(observed, not enforced)")
    assert not (project / "heso-local-data" / "pending").exists() or not list(
        (project / "heso-local-data" / "pending").glob("*.json")
    )

    @heso.destructive(blocking=False)
    def drop_table(name: str) -> None:
        marker.write_text("dropped")

    marker.unlink()
    with pytest.raises(heso.SuspendedError):
        drop_table("users")
    assert not marker.exists()


def test_approval_round_trip(project: Path, tmp_path: Path) -> None:
    key = add_approver(project)
    heso.init()
    ran: list[str] = []

    @heso.destructive
    def delete_record(record_id: str) -> str:
        ran.append(record_id)
        return f"deleted {record_id}"

    with pytest.raises(heso.SuspendedError) as suspended:
        delete_record("r-1")
    pending_id = suspended.value.pending_id
    assert suspended.value.approvers == ["alice"]
    with pytest.raises(heso.SuspendedError):
        heso.resume(pending_id)
    assert ran == []

    approved = run_heso(
        "approve", pending_id, "--key", str(key), "--reason", "ticket OPS-7", "--yes",
        cwd=project, env={"HESO_APPROVER_PASSPHRASE": "approver pass"},
    )
    assert approved.returncode == 0, approved.stderr
    l1 = read_log(project)[-1]
    assert l1["content"]["trust_level"] == "L1"
    assert l1["content"]["approver_decision"]["decision"] == "approved"
    check = run_heso("verify", l1["content"]["action_hash"][:12], cwd=project)
    assert check.returncode == 0 and "Valid (L1)" in check.stdout, check.stdout

    assert heso.resume(pending_id) == "deleted r-1"
    assert ran == ["r-1"]
    with pytest.raises(heso.ApprovalError):
        heso.resume(pending_id)
    assert ran == ["r-1"]

    with pytest.raises(heso.SuspendedError) as second:
        delete_record("r-2")
    rejected = run_heso(
        "reject", second.value.pending_id, "--key", str(key), "--reason", "no", "--yes",
        cwd=project, env={"HESO_APPROVER_PASSPHRASE": "approver pass"},
    )
    assert rejected.returncode == 0, rejected.stderr
    with pytest.raises(heso.ApprovalError, match="rejected"):
        heso.resume(second.value.pending_id)
    assert ran == ["r-1"]

    # The operator's own key is not an approver.
    again = run_heso(
        "approve", second.value.pending_id, "--key", str(project / "heso-local-data" / "identity.key"), "--yes",
        cwd=project, env={"HESO_APPROVER_PASSPHRASE": "x"},
    )
    assert again.returncode == 2


def test_gated_and_run(project: Path) -> None:
    heso.init()
    calls: list[int] = []

    def plain(x: int) -> int:
        calls.append(x)
        return x * 2

    gate = heso.gated(plain, 21)
    assert gate.status == heso.ALLOWED
    assert calls == []
    assert gate.run() == 42
    assert calls == [21]
    with pytest.raises(heso.ApprovalError):
        gate.run()

    @heso.destructive
    def wipe(x: int) -> None:
        calls.append(-x)

    suspended = heso.gated(wipe, 1)
    assert suspended.status == heso.SUSPENDED
    assert suspended.pending_id
    with pytest.raises(heso.SuspendedError):
        suspended.run()
    assert len(read_log(project)) == 2  # gated exactly once each


def test_redacted_value_never_on_disk(project: Path) -> None:
    heso.init()
    secret = "sk-live-NEVER-ON-DISK-7f3c91ab"

    @heso.tool(redact=["api_key", "headers.Authorization"])
    def call_partner_api(api_key: str, headers: dict[str, str]) -> str:
        return "ok"

    assert call_partner_api(secret, {"Authorization": f"Bearer {secret}", "Accept": "json"}) == "ok"

    @heso.tool(redact=["token"], redact_mode="destructive")
    def other(token: str) -> None:
        return None

    other(secret)
    for path in (project / "heso-local-data").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    content = read_log(project)[0]["content"]
    assert content["action"]["fields"]["api_key"]["_sd"]
    assert [m["field_path"] for m in content["redaction"]["markers"]] == [
        "api_key",
        "headers.Authorization",
    ]
    reveal = run_heso(
        "reveal", content["action_hash"][:10], "api_key", "--value", secret, cwd=project
    )
    assert reveal.returncode == 0, reveal.stdout + reveal.stderr
    wrong = run_heso("reveal", content["action_hash"][:10], "api_key", "--value", "nope", cwd=project)
    assert wrong.returncode == 1


class _Completions:
    def create(self, **kwargs: Any) -> str:
        return f"completion for {kwargs['model']}"


class _AsyncCompletions:
    async def create(self, **kwargs: Any) -> str:
        return "async completion"


class _Chat:
    def __init__(self) -> None:
        self.completions = _Completions()
        self.acompletions = _AsyncCompletions()


class FakeClient:
    def __init__(self) -> None:
        self.base_url = "https://api.fake-llm.example/v1/"
        self.chat = _Chat()
        self.timeout = 30

    def request(self, method: str, url: str) -> str:
        return f"{method} {url}"

    def ping(self) -> str:
        return "pong"


def test_wrap_gates_create_and_request(project: Path) -> None:
    heso.init()
    client = heso.wrap(FakeClient())
    assert isinstance(client, FakeClient)
    assert client.timeout == 30
    assert client.ping() == "pong"
    before = len(read_log(project)) if (project / "heso-local-data" / "receipts.jsonl").exists() else 0
    assert client.chat.completions.create(model="m-1", messages=[{"role": "user", "content": "hi"}]) == (
        "completion for m-1"
    )
    assert asyncio.run(client.chat.acompletions.create(model="m-2")) == "async completion"
    log = read_log(project)[before:]
    assert [r["content"]["action"]["tool_name"] for r in log] == [
        "chat.completions.create",
        "chat.acompletions.create",
    ]
    first = log[0]["content"]["action"]
    assert first["verb"] == "llm_call"
    assert first["target_host"] == "api.fake-llm.example"
    assert first["fields"]["messages"] == [{"role": "user", "content": "hi"}]
    # request: http_request, gated (the default policy has no http rule: approval needed).
    with pytest.raises(heso.SuspendedError):
        client.request("GET", "https://example.org/x")
    assert read_log(project)[-1]["content"]["action"]["verb"] == "http_request"


def test_step_isolated_across_threads_and_tasks(project: Path) -> None:
    heso.init()

    @heso.tool
    def work(tag: str) -> str:
        return tag

    def in_thread(name: str) -> None:
        with heso.step(workflow=name, account=f"acct-{name}"):
            work(name)

    threads = [threading.Thread(target=in_thread, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(name: str) -> None:
        async with heso.step(workflow=name):
            await asyncio.sleep(0)
            work(name)

    async def main() -> None:
        await asyncio.gather(*(task(f"a{i}") for i in range(4)))

    asyncio.run(main())
    with heso.step(workflow="outer"):
        with heso.step(workflow="inner"):
            work("inner")
        work("outer")
    work("none")
    for receipt in read_log(project):
        action = receipt["content"]["action"]
        tag = action["fields"]["tag"]
        expected = {"none": "default"}.get(tag, tag)
        assert action["workflow"] == expected, action
        if tag.startswith("t"):
            assert action["account"] == f"acct-{tag}"
        else:
            assert action["account"] == "default"


def test_verify_stored_and_tampered(project: Path, tmp_path: Path) -> None:
    assert heso.verify  # before init: nothing pinned
    heso.init()

    @heso.tool
    def search(query: str) -> str:
        return query

    search("x")
    receipt = read_log(project)[-1]
    verdict = heso.verify(receipt)
    assert verdict.ok and verdict.kind == "Valid" and verdict.trust_level == "L0"
    assert verdict.operator and verdict.operator.startswith("did:key:z6Mk")
    assert str(verdict) == "Valid (L0)"
    tampered = json.loads(json.dumps(receipt))
    tampered["content"]["action"]["fields"]["query"] = "y"
    bad = heso.verify(tampered)
    assert not bad.ok and bad.kind == "HashMismatch"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(receipt))
    assert heso.verify(path).ok
    assert heso.verify(str(path)).ok
    other = heso.verify(receipt, signers=["did:key:z6MkvRXNYcE7MMduynWTgeKbDaT1iijDSC8pZqXZc8rHPrf2"])
    assert other.kind == "UntrustedSigner"
    assert heso.verify(b"not json").kind == "Malformed"


def test_production_refuses_dev_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HESO_ENV", "production")
    with pytest.raises(heso.ConfigError, match="HESO_KEY_PASSPHRASE"):
        heso.init()


def test_no_project_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(heso.ConfigError, match="heso init"):
        heso.init()


def test_values_that_are_not_json_never_break_the_gate(project: Path) -> None:
    import dataclasses
    import math

    heso.init()

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    @heso.tool
    def odd(**kwargs: Any) -> str:
        return "ran"

    assert (
        odd(
            b=b"\x00\xff",
            s={3, 1, 2},
            t=(1, 2),
            d=Point(1, 2),
            big=2**64,
            nan=math.nan,
            inf=-math.inf,
            lone="a\ud800b",
            keys={1: "one", (2, 3): "tuple"},
            obj=object(),
        )
        == "ran"
    )
    # Keyword arguments collected by **kwargs are top-level fields.
    fields = read_log(project)[-1]["content"]["action"]["fields"]
    assert fields["b"] == {"$bytes_b64": "AP8="}
    assert fields["s"] == [1, 2, 3]
    assert fields["t"] == [1, 2]
    assert fields["d"] == {"x": 1, "y": 2}
    assert fields["big"] == str(2**64)
    assert fields["nan"] == "NaN" and fields["inf"] == "-Infinity"
    assert fields["lone"] == "a\ufffdb"
    assert fields["keys"] == {"1": "one", "[2, 3]": "tuple"}
    assert fields["obj"] == "<object>", "an object without a data shape: its type name only"


def test_async_tool_is_gated_before_the_body(project: Path, tmp_path: Path) -> None:
    heso.init()
    marker = tmp_path / "async-ran"

    @heso.destructive
    async def purge(name: str) -> None:
        marker.write_text(name)

    async def main() -> None:
        with pytest.raises(heso.SuspendedError):
            await purge("everything")

    asyncio.run(main())
    assert not marker.exists()


def test_console_script_is_the_cli(project: Path) -> None:
    out = run_heso("--version", cwd=project)
    assert out.returncode == 0 and out.stdout.startswith("heso ")
    usage = run_heso("verify", cwd=project)
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
