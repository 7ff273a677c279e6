"""A decorated coroutine's gate runs on heso's worker threads (issue 17): the event loop
only queues the call. What the caller sees must not change: the same exceptions in the
awaiting task, the step of its own task, and arguments changed while they are read are
refused, never recorded half old, half new."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import heso
from heso._bind import _Binder, _bind_fields, _signature


def read_log(root: Path) -> list[dict[str, Any]]:
    path = root / "heso-local-data" / "receipts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_worker_path_keeps_exceptions_steps_and_receipts(project: Path) -> None:
    with open(project / "heso.toml", "a") as f:
        f.write('\n[[rule]]\nid = "no.wire"\norder = 5\nverb = "tool_call"\ntool = "wire_*"\ndecision = "block"\n')
    heso.init()
    ran: list[Any] = []

    @heso.tool
    async def lookup(query: str, limit: int = 5) -> str:
        ran.append(query)
        return f"{query}:{limit}"

    @heso.tool
    async def wire_money(amount: int) -> None:
        ran.append("wire")

    @heso.tool(redact=["card.number"])
    async def pay(card: dict[str, Any]) -> None:
        ran.append("pay")

    async def in_step(i: int) -> str:
        async with heso.step(workflow=f"w{i}", account=f"a{i}"):
            return await lookup(f"q{i}", limit=i)

    async def main() -> None:
        assert await asyncio.gather(*(in_step(i) for i in range(20))) == [f"q{i}:{i}" for i in range(20)]
        with pytest.raises(heso.BlockedError) as blocked:
            await wire_money(5)
        assert blocked.value.rule_id == "no.wire"
        with pytest.raises(TypeError, match="missing a required argument: 'query'"):
            await lookup()  # type: ignore[call-arg]
        with pytest.raises(heso.GateError, match="card.number"):
            await pay({"cvc": "123"})
        await pay({"number": "4111 1111 1111 1111"})

    asyncio.run(main())
    assert "wire" not in ran
    log = read_log(project)
    steps = {r["content"]["action"]["fields"]["query"]: r["content"]["action"] for r in log[:20]}
    for i in range(20):
        action = steps[f"q{i}"]
        assert (action["workflow"], action["account"], action["fields"]["limit"]) == (f"w{i}", f"a{i}", i)
    # The blocked call is recorded; the bad calls are not; the card number is committed.
    assert [r["content"]["action"]["tool_name"] for r in log[20:]] == ["wire_money", "pay"]
    assert "4111" not in json.dumps(log[-1])


def test_arguments_changed_while_read_are_refused(project: Path) -> None:
    """Reading a value that runs Python code (here a model's ``model_dump``) lets other
    threads run; the event loop's task changes an argument meanwhile: the gate refuses
    the call rather than record a mix of the old and new values."""
    heso.init()
    reading, changed = threading.Event(), threading.Event()

    class Model:
        def model_dump(self) -> dict[str, str]:
            reading.set()
            assert changed.wait(10)
            return {"kind": "model"}

    @heso.tool
    async def send(a_headers: dict[str, str], b_model: Model) -> str:
        return "sent"

    async def main() -> None:
        headers = {"to": "alice"}
        call = asyncio.ensure_future(send(headers, Model()))
        assert await asyncio.to_thread(reading.wait, 10)
        headers["to"] = "mallory"  # the worker has read a_headers already, not b_model
        changed.set()
        with pytest.raises(heso.GateError, match="changed while they were being recorded"):
            await call
        # Unchanged arguments of the same shape go through.
        assert await send({"to": "bob"}, Model()) == "sent"

    before = len(read_log(project))
    asyncio.run(main())
    log = read_log(project)
    assert len(log) == before + 1
    assert log[-1]["content"]["action"]["fields"]["a_headers"] == {"to": "bob"}


def test_arguments_changing_under_every_reading_are_refused(project: Path) -> None:
    heso.init()
    shared = {"n": 0}

    class Counter:
        def model_dump(self) -> dict[str, int]:
            shared["n"] += 1
            return {"n": shared["n"]}

    @heso.tool
    async def count(a: Counter, b: dict[str, int]) -> None:
        raise AssertionError("must not run")

    with pytest.raises(heso.GateError, match="changed while they were being recorded"):
        asyncio.run(count(Counter(), shared))
    assert read_log(project) == []


def test_no_project_raises_config_error_in_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    heso.shutdown()

    @heso.tool
    async def lookup(query: str) -> str:
        return query

    with pytest.raises(heso.ConfigError, match="heso.init"):
        asyncio.run(lookup("x"))


def _signatures() -> list[Any]:
    def plain(a, b=2, *, c, d=None): ...  # type: ignore[no-untyped-def]
    def only_kw(*, x, y=1): ...  # type: ignore[no-untyped-def]
    def nothing(): ...  # type: ignore[no-untyped-def]
    def var(a, *args, b=1, **kw): ...  # type: ignore[no-untyped-def]
    def positional(a, /, b=3): ...  # type: ignore[no-untyped-def]

    class K:
        def method(self, x, y=1): ...  # type: ignore[no-untyped-def]

    return [plain, only_kw, nothing, var, positional, K.method]


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((1,), {}),
    ((1, 2), {}),
    ((1, 2, 3), {}),
    ((1,), {"c": 3}),
    ((1, 2), {"c": 3, "d": 4}),
    ((), {"a": 1, "c": 2}),
    ((1,), {"a": 1, "c": 2}),
    ((), {"x": 1}),
    ((), {"x": 1, "y": 2, "z": 3}),
    ((object(),), {"x": 5}),
    ((object(), 5), {"y": 6}),
    ((object(), 5), {"self": 1}),
    ((1, 2, 3, 4), {"b": 2, "q": 1}),
    ((1,), {"b": 2}),
]


def test_the_fast_binding_matches_signature_bind() -> None:
    """``_Binder`` binds plain signatures itself: the same fields, in the same order, and
    the same TypeError, as ``inspect.Signature.bind`` for every call."""
    for fn in _signatures():
        signature = _signature(fn)
        binder = _Binder(fn, signature)
        for args, kwargs in CALLS:
            try:
                expected: Any = _bind_fields(fn, args, kwargs, signature)
            except TypeError as e:
                expected = ("TypeError", str(e))
            try:
                got: Any = binder.bind(args, kwargs)
            except TypeError as e:
                got = ("TypeError", str(e))
            assert got == expected, (fn.__qualname__, args, kwargs)
            if isinstance(expected, dict):
                assert list(got) == list(expected)
        assert inspect.signature(fn) == signature


def test_a_wrapped_async_client_refuses_a_credential_added_while_read(project: Path) -> None:
    """``heso.wrap``'s async methods are gated on the workers too. A credential added to
    the arguments while the worker reads them (after it looked for credentials) must not
    reach the log in the clear: the call is refused."""
    heso.init()
    reading, changed = threading.Event(), threading.Event()

    class Model:
        def model_dump(self) -> dict[str, str]:
            reading.set()
            assert changed.wait(10)
            return {"kind": "model"}

    class Client:
        async def create(self, **kwargs: Any) -> str:
            return "created"

    client = heso.wrap(Client())

    async def main() -> None:
        headers: dict[str, str] = {"Accept": "json"}
        call = asyncio.ensure_future(client.create(headers=headers, body=Model()))
        assert await asyncio.to_thread(reading.wait, 10)
        headers["Authorization"] = "Bearer sk-live-added"
        changed.set()
        with pytest.raises(heso.GateError, match="changed while they were being recorded"):
            await call
        # The same call, left alone, is gated with the credential committed.
        assert await client.create(headers=dict(headers), body=Model()) == "created"

    asyncio.run(main())
    log = read_log(project)
    assert len(log) == 1
    assert "sk-live-added" not in json.dumps(log)
    assert log[0]["content"]["action"]["verb"] == "llm_call"
