"""`heso.wrap` without gaps (issue 17): every entry point of the real `openai`, `anthropic`,
`httpx` and `requests` clients that sends a request is gated before its first byte, sync
and async, context-manager streams included.

Each case runs one entry point against a loopback stub HTTP server started by the test
(127.0.0.1, port 0, stopped on every path), twice:
- allowed: the stub receives at least one request, and every request it receives arrives
  after the call's receipt is in the log (the stub counts the log's lines when a request
  arrives); the call leaves exactly one receipt, with the expected verb and tool name;
- blocked (inside `heso.step(workflow="blocked")`, which a rule blocks): `BlockedError`,
  one receipt, and the stub receives nothing.
The stub's answers are minimal; an SDK error after the request was sent (a response it
cannot parse) does not matter here and is ignored, a heso error never is."""

from __future__ import annotations

import asyncio
import http.server
import inspect
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

import heso

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
httpx = pytest.importorskip("httpx")
requests = pytest.importorskip("requests")

POLICY = """
[[rule]]
id = "blocked.workflow"
order = 1
workflow = "blocked"
decision = "block"

[[rule]]
id = "clients.allow"
order = 2
verb = ["llm_call", "http_request"]
decision = "allow"
"""


class Stub(http.server.ThreadingHTTPServer):
    """Answers every method and path; records each request with the number of receipts
    the log held when it arrived."""

    daemon_threads = True

    def __init__(self, log: Path) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.log = log
        self.seen: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def receipts(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


class StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Stub

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        with self.server.lock:
            self.server.seen.append((self.command, self.path, self.server.receipts()))
        body = self._body()
        try:
            streaming = json.loads(body).get("stream") is True
        except Exception:
            streaming = False
        if streaming:
            payload = b"data: [DONE]\n\n"
            content_type = "text/event-stream"
        else:
            payload = json.dumps(
                {
                    "id": "x-1",
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "status": "processed",
                    "input_tokens": 1,
                    "results_url": f"{self.server.url}/v1/messages/batches/x-1/results",
                }
            ).encode()
            content_type = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub(project: Path) -> Iterator[Stub]:
    with open(project / "heso.toml", "a") as f:
        f.write(POLICY)
    heso.init()
    server = Stub(project / "heso-local-data" / "receipts.jsonl")
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def last_receipt(stub: Stub) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(stub.log.read_text().splitlines()[-1])["content"]
    return content


# --- what each case calls -------------------------------------------------------------


def _drain(value: Any) -> None:
    """Uses what a call returned the way a caller would (iterates a stream)."""
    if isinstance(value, (openai.Stream, anthropic.Stream)):
        for _ in value:
            pass


async def _adrain(value: Any) -> None:
    if isinstance(value, (openai.AsyncStream, anthropic.AsyncStream)):
        async for _ in value:
            pass


MSG = [{"role": "user", "content": "hi"}]
FILE = ("batch.jsonl", b"{}\n", "application/jsonl")


@dataclass(frozen=True)
class Case:
    package: str
    tool: str
    verb: str
    run: Callable[[Any], Any]  # sync, or async (then awaited in a fresh loop)
    asynchronous: bool = False

    @property
    def id(self) -> str:
        mode = "async" if self.asynchronous else "sync"
        return f"{self.package}-{mode}-{self.tool}-{self.run.__name__}"


def _with(cm_factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(client: Any) -> None:
        with cm_factory(client) as stream:
            if hasattr(stream, "__iter__"):
                for _ in stream:
                    pass

    run.__name__ = "with"
    return run


def _async_with(cm_factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def run(client: Any) -> None:
        async with cm_factory(client) as stream:
            if hasattr(stream, "__aiter__"):
                async for _ in stream:
                    pass

    run.__name__ = "async_with"
    return run


def _call(fn: Callable[[Any], Any], name: str = "call") -> Callable[[Any], Any]:
    def run(client: Any) -> None:
        _drain(fn(client))

    run.__name__ = name
    return run


def _await(fn: Callable[[Any], Any], name: str = "await") -> Callable[[Any], Any]:
    async def run(client: Any) -> None:
        await _adrain(await fn(client))

    run.__name__ = name
    return run


def _async_for(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def run(client: Any) -> None:
        async for _ in fn(client):
            pass

    run.__name__ = "async_for"
    return run


OPENAI_SYNC = [
    Case("openai", "chat.completions.create", "llm_call", _call(lambda c: c.chat.completions.create(model="m", messages=MSG))),
    Case("openai", "chat.completions.create", "llm_call", _call(lambda c: c.chat.completions.create(model="m", messages=MSG, stream=True), "stream_true")),
    Case("openai", "chat.completions.stream", "llm_call", _with(lambda c: c.chat.completions.stream(model="m", messages=MSG))),
    Case("openai", "chat.completions.parse", "llm_call", _call(lambda c: c.chat.completions.parse(model="m", messages=MSG))),
    Case("openai", "chat.completions.create", "llm_call", _call(lambda c: c.chat.completions.with_raw_response.create(model="m", messages=MSG), "raw")),
    Case("openai", "chat.completions.create", "llm_call", _with(lambda c: c.chat.completions.with_streaming_response.create(model="m", messages=MSG))),
    Case("openai", "chat.completions.create", "llm_call", _call(lambda c: c.with_raw_response.chat.completions.create(model="m", messages=MSG), "client_raw")),
    Case("openai", "chat.completions.create", "llm_call", _call(lambda c: c.with_options(timeout=5).chat.completions.create(model="m", messages=MSG), "with_options")),
    Case("openai", "chat.completions.list", "http_request", _call(lambda c: c.chat.completions.list())),
    Case("openai", "responses.create", "llm_call", _call(lambda c: c.responses.create(model="m", input="hi"))),
    Case("openai", "responses.stream", "llm_call", _with(lambda c: c.responses.stream(model="m", input="hi"))),
    Case("openai", "responses.parse", "llm_call", _call(lambda c: c.responses.parse(model="m", input="hi"))),
    Case("openai", "responses.create", "llm_call", _call(lambda c: c.responses.with_raw_response.create(model="m", input="hi"), "raw")),
    Case("openai", "responses.create", "llm_call", _with(lambda c: c.responses.with_streaming_response.create(model="m", input="hi"))),
    Case("openai", "responses.retrieve", "http_request", _call(lambda c: c.responses.retrieve("resp-1"))),
    Case("openai", "completions.create", "llm_call", _call(lambda c: c.completions.create(model="m", prompt="hi"))),
    Case("openai", "embeddings.create", "llm_call", _call(lambda c: c.embeddings.create(model="m", input="hi"))),
    Case("openai", "images.generate", "llm_call", _call(lambda c: c.images.generate(prompt="a cat", model="m"))),
    Case("openai", "audio.speech.create", "llm_call", _call(lambda c: c.audio.speech.create(model="m", voice="alloy", input="hi"))),
    Case("openai", "audio.transcriptions.create", "llm_call", _call(lambda c: c.audio.transcriptions.create(model="m", file=("a.wav", b"RIFF")))),
    Case("openai", "moderations.create", "llm_call", _call(lambda c: c.moderations.create(input="hi"))),
    Case("openai", "files.create", "http_request", _call(lambda c: c.files.create(file=FILE, purpose="batch"))),
    Case("openai", "files.list", "http_request", _call(lambda c: c.files.list())),
    Case("openai", "files.retrieve", "http_request", _call(lambda c: c.files.retrieve("f-1"))),
    Case("openai", "files.content", "http_request", _call(lambda c: c.files.content("f-1"))),
    Case("openai", "files.delete", "http_request", _call(lambda c: c.files.delete("f-1"))),
    Case("openai", "batches.create", "llm_call", _call(lambda c: c.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id="f-1"))),
    Case("openai", "batches.list", "http_request", _call(lambda c: c.batches.list())),
    Case("openai", "batches.retrieve", "http_request", _call(lambda c: c.batches.retrieve("b-1"))),
    Case("openai", "batches.cancel", "http_request", _call(lambda c: c.batches.cancel("b-1"))),
    Case("openai", "models.list", "http_request", _call(lambda c: c.models.list())),
    Case("openai", "get", "http_request", _call(lambda c: c.get("/models", cast_to=object))),
    Case("openai", "post", "http_request", _call(lambda c: c.post("/embeddings", cast_to=object, body={"input": "hi"}))),
    Case("openai", "_client.get", "http_request", _call(lambda c: c._client.get("/models"), "private_http_client")),
]

OPENAI_ASYNC = [
    Case("openai", "chat.completions.create", "llm_call", _await(lambda c: c.chat.completions.create(model="m", messages=MSG)), True),
    Case("openai", "chat.completions.create", "llm_call", _await(lambda c: c.chat.completions.create(model="m", messages=MSG, stream=True), "stream_true"), True),
    Case("openai", "chat.completions.stream", "llm_call", _async_with(lambda c: c.chat.completions.stream(model="m", messages=MSG)), True),
    Case("openai", "chat.completions.parse", "llm_call", _await(lambda c: c.chat.completions.parse(model="m", messages=MSG)), True),
    Case("openai", "chat.completions.create", "llm_call", _await(lambda c: c.chat.completions.with_raw_response.create(model="m", messages=MSG), "raw"), True),
    Case("openai", "chat.completions.create", "llm_call", _async_with(lambda c: c.chat.completions.with_streaming_response.create(model="m", messages=MSG)), True),
    Case("openai", "responses.create", "llm_call", _await(lambda c: c.responses.create(model="m", input="hi")), True),
    Case("openai", "responses.stream", "llm_call", _async_with(lambda c: c.responses.stream(model="m", input="hi")), True),
    Case("openai", "embeddings.create", "llm_call", _await(lambda c: c.embeddings.create(model="m", input="hi")), True),
    Case("openai", "files.list", "http_request", _await(lambda c: c.files.list()), True),
    Case("openai", "files.list", "http_request", _async_for(lambda c: c.files.list()), True),
    Case("openai", "batches.create", "llm_call", _await(lambda c: c.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id="f-1")), True),
]

ANTHROPIC_SYNC = [
    Case("anthropic", "messages.create", "llm_call", _call(lambda c: c.messages.create(model="m", max_tokens=5, messages=MSG))),
    Case("anthropic", "messages.create", "llm_call", _call(lambda c: c.messages.create(model="m", max_tokens=5, messages=MSG, stream=True), "stream_true")),
    Case("anthropic", "messages.stream", "llm_call", _with(lambda c: c.messages.stream(model="m", max_tokens=5, messages=MSG))),
    Case("anthropic", "messages.count_tokens", "llm_call", _call(lambda c: c.messages.count_tokens(model="m", messages=MSG))),
    Case("anthropic", "messages.create", "llm_call", _call(lambda c: c.messages.with_raw_response.create(model="m", max_tokens=5, messages=MSG), "raw")),
    Case("anthropic", "messages.create", "llm_call", _with(lambda c: c.messages.with_streaming_response.create(model="m", max_tokens=5, messages=MSG))),
    Case("anthropic", "messages.batches.create", "llm_call", _call(lambda c: c.messages.batches.create(requests=[{"custom_id": "a", "params": {"model": "m", "max_tokens": 5, "messages": MSG}}]))),
    Case("anthropic", "messages.batches.list", "http_request", _call(lambda c: c.messages.batches.list())),
    Case("anthropic", "messages.batches.retrieve", "http_request", _call(lambda c: c.messages.batches.retrieve("b-1"))),
    Case("anthropic", "messages.batches.cancel", "http_request", _call(lambda c: c.messages.batches.cancel("b-1"))),
    Case("anthropic", "messages.batches.delete", "http_request", _call(lambda c: c.messages.batches.delete("b-1"))),
    Case("anthropic", "models.list", "http_request", _call(lambda c: c.models.list())),
    Case("anthropic", "post", "http_request", _call(lambda c: c.post("/v1/messages", cast_to=object, body={}))),
]

ANTHROPIC_ASYNC = [
    Case("anthropic", "messages.create", "llm_call", _await(lambda c: c.messages.create(model="m", max_tokens=5, messages=MSG)), True),
    Case("anthropic", "messages.stream", "llm_call", _async_with(lambda c: c.messages.stream(model="m", max_tokens=5, messages=MSG)), True),
    Case("anthropic", "messages.count_tokens", "llm_call", _await(lambda c: c.messages.count_tokens(model="m", messages=MSG)), True),
    Case("anthropic", "messages.batches.list", "http_request", _async_for(lambda c: c.messages.batches.list()), True),
]

HTTP_METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]


def _http_method(name: str, asynchronous: bool) -> Callable[[Any], Any]:
    def call(c: Any) -> Any:
        return getattr(c, name)("/v1/" + name)

    return _await(call, name) if asynchronous else _call(call, name)


HTTPX_SYNC = [
    Case("httpx", "request", "http_request", _call(lambda c: c.request("GET", "/v1/request"))),
    *[Case("httpx", m, "http_request", _http_method(m, False)) for m in HTTP_METHODS],
    Case("httpx", "send", "http_request", _call(lambda c: c.send(c.build_request("GET", "/v1/send")))),
    Case("httpx", "stream", "http_request", _with(lambda c: c.stream("GET", "/v1/stream"))),
]

HTTPX_ASYNC = [
    Case("httpx", "request", "http_request", _await(lambda c: c.request("GET", "/v1/request")), True),
    *[Case("httpx", m, "http_request", _http_method(m, True), True) for m in HTTP_METHODS],
    Case("httpx", "send", "http_request", _await(lambda c: c.send(c.build_request("GET", "/v1/send"))), True),
    Case("httpx", "stream", "http_request", _async_with(lambda c: c.stream("GET", "/v1/stream")), True),
]

REQUESTS = [
    Case("requests", "request", "http_request", _call(lambda c: c.request("GET", c.test_base + "/v1/request"))),
    *[
        Case("requests", m, "http_request", _call((lambda m: lambda c: getattr(c, m)(c.test_base + "/v1/" + m))(m), m))
        for m in HTTP_METHODS
    ],
    Case(  # requests has no stream method: a streamed body is get(..., stream=True)
        "requests", "get", "http_request",
        _call(lambda c: c.get(c.test_base + "/v1/stream", stream=True).iter_content(), "stream_true"),
    ),
    Case(
        "requests", "send", "http_request",
        _call(lambda c: c.send(c.prepare_request(requests.Request("GET", c.test_base + "/v1/send")))),
    ),
]

CASES = OPENAI_SYNC + OPENAI_ASYNC + ANTHROPIC_SYNC + ANTHROPIC_ASYNC + HTTPX_SYNC + HTTPX_ASYNC + REQUESTS


def make_client(package: str, asynchronous: bool, base: str) -> Any:
    if package == "openai":
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(base_url=base + "/v1", api_key="sk-test", max_retries=0, timeout=10)
    if package == "anthropic":
        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(base_url=base, api_key="sk-ant-test", max_retries=0, timeout=10)
    if package == "httpx":
        cls = httpx.AsyncClient if asynchronous else httpx.Client
        return cls(base_url=base, timeout=10)
    session = requests.Session()
    session.test_base = base  # type: ignore[attr-defined]  # where the stub is
    return session


def run_case(case: Case, client: Any) -> Optional[BaseException]:
    """Runs one case; returns the SDK's own error (after its request), raises heso's."""
    try:
        if case.asynchronous:
            asyncio.run(case.run(client))
        else:
            case.run(client)
    except heso.HesoError:
        raise
    except Exception as e:  # the stub's minimal answers
        return e
    return None


def close(client: Any, asynchronous: bool) -> None:
    if asynchronous:  # the stub closes every connection: nothing pooled in an old loop
        closer = getattr(client, "aclose", None) or getattr(client, "close")
        result = closer()
        if inspect.isawaitable(result):
            asyncio.run(result)  # type: ignore[arg-type]
    else:
        client.close()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_entry_point_is_gated_before_its_first_byte(stub: Stub, case: Case) -> None:
    raw = make_client(case.package, case.asynchronous, stub.url)
    client = heso.wrap(raw)
    try:
        # Allowed: a receipt first, then the request(s).
        before = stub.receipts()
        error = run_case(case, client)
        seen = list(stub.seen)
        assert seen, f"the call never reached the stub ({error!r})"
        late = [s for s in seen if s[2] <= before]
        assert not late, f"requests reached the stub before their receipt: {late}"
        assert stub.receipts() == before + 1
        receipt = last_receipt(stub)
        assert receipt["action"]["verb"] == case.verb
        assert receipt["action"]["tool_name"] == case.tool
        assert receipt["action"]["target_host"] == "127.0.0.1"
        assert receipt["policy"]["rule_id"] == "clients.allow"

        # Blocked: the stub receives nothing.
        stub.seen.clear()
        before = stub.receipts()
        with heso.step(workflow="blocked"):
            with pytest.raises(heso.BlockedError):
                run_case(case, client)
        assert stub.seen == []
        assert stub.receipts() == before + 1
        assert last_receipt(stub)["policy"]["rule_id"] == "blocked.workflow"
        assert last_receipt(stub)["action"]["tool_name"] == case.tool
    finally:
        close(raw, case.asynchronous)


def test_a_wrapped_client_used_as_a_context_manager_stays_gated(stub: Stub) -> None:
    with heso.wrap(httpx.Client(base_url=stub.url)) as client:
        before = stub.receipts()
        with heso.step(workflow="blocked"), pytest.raises(heso.BlockedError):
            client.get("/v1/x")
        assert stub.seen == [] and stub.receipts() == before + 1

    async def main() -> None:
        async with heso.wrap(openai.AsyncOpenAI(base_url=stub.url + "/v1", api_key="k", max_retries=0)) as client:
            with heso.step(workflow="blocked"), pytest.raises(heso.BlockedError):
                await client.embeddings.create(model="m", input="x")

    asyncio.run(main())
    assert stub.seen == []


def test_a_blocked_async_stream_never_runs_its_coroutine(stub: Stub) -> None:
    """An awaitable blocked before it was awaited is closed, so Python warns of nothing."""
    import warnings

    async def main() -> None:
        async with httpx.AsyncClient(base_url=stub.url) as raw:
            client = heso.wrap(raw)
            with heso.step(workflow="blocked"):
                pending = client.stream("GET", "/v1/x")
            # The step was left before the stream was entered: the call is judged as it
            # was made (inside the step), not where it is first used.
            with pytest.raises(heso.BlockedError):
                async with pending:
                    pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())
    assert stub.seen == []


def test_methods_that_cannot_reach_the_network_pass_through(stub: Stub) -> None:
    before = stub.receipts()
    raw = openai.OpenAI(base_url=stub.url + "/v1", api_key="k", max_retries=0)
    client = heso.wrap(raw)
    copy = client.with_options(timeout=3)
    assert isinstance(copy, openai.OpenAI)
    assert isinstance(client.chat.completions, openai.resources.chat.Completions)
    assert client.base_url == raw.base_url
    assert client.is_closed() is False
    http = heso.wrap(httpx.Client(base_url=stub.url))
    request = http.build_request("GET", "/v1/x")
    assert isinstance(request, httpx.Request)
    assert stub.receipts() == before and stub.seen == []
    http.close()
    client.close()
    assert stub.receipts() == before
